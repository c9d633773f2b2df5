"""What a replication needs to know about the machine and the software that produced a run."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from email import message_from_string
from email.message import Message
from importlib.metadata import Distribution, PackageNotFoundError, distributions, version
from pathlib import Path

PACKAGES = (
    "challenge",
    "polars",
    "numpy",
    "lightgbm",
    "xgboost-cpu",
    "optuna",
    "mlflow",
    "networkx",
    "pyod",
    "pydantic",
    "scipy",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_commit(directory: Path) -> str | None:
    """The commit of the repository holding ``directory`` (with '+dirty' when modified), if any."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def lock_hash() -> str | None:
    """Hash of the requirements.lock the project was installed from, when it is at hand."""
    lock = Path(__file__).resolve().parent.parent / "requirements.lock"
    if not lock.exists():
        return None
    return hashlib.sha256(lock.read_bytes()).hexdigest()[:16]


def installed_hash() -> str:
    """Hash of every installed distribution and its version: the environment even without a lock."""
    headers = (_headers(d) for d in distributions())
    names = sorted(f"{h['Name'].lower()}=={h['Version']}" for h in headers if h["Name"])
    return hashlib.sha256("\n".join(dict.fromkeys(names)).encode()).hexdigest()[:16]


def _headers(dist: Distribution) -> Message:
    """The distribution's metadata headers, as ``dist.metadata`` reads them, without parsing the
    description after them (a package's whole README: 0.10 -> 0.02 CPU-s for 127 packages, in a
    thread that shares the interpreter with the loading). The files are importlib's, in its
    order: a legacy ``.egg-info`` that is a file, not a folder, is its own metadata (``""``)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("") or ""
    return message_from_string(text.partition("\n\n")[0])


def describe(config_dir: Path) -> dict[str, str]:
    """The run tags a replication compares: interpreter, machine, package versions, lock hash."""
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count() or 1),
        "executable": sys.executable,
        "installed_hash": installed_hash(),
        **{f"version.{k}": v for k, v in package_versions().items()},
    }
    commit = git_commit(config_dir)
    if commit:
        env["git_commit"] = commit
    lock = lock_hash()
    if lock:
        env["lock_hash"] = lock
    return env


def cpu_model() -> str:
    """The processor's model name (Linux's /proc/cpuinfo, else the platform's word for it): the
    libraries pick SIMD code paths by processor, whose floating-point sums round differently."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# tags that change results when they differ (the rest only explain a difference)
RESULT_RELEVANT = ("python", "machine", "cpu", "lock_hash", "installed_hash")


def differences(logged: dict[str, str], now: dict[str, str]) -> list[str]:
    """Human lines for each environment tag that differs between a logged run and now."""
    keys = [k for k in logged if k.startswith("version.") or k in (*RESULT_RELEVANT, "platform")]
    out = []
    for key in keys:
        if key in now and logged[key] != now[key]:
            out.append(f"{key.removeprefix('version.')}: {logged[key]} logged, {now[key]} now")
    return out
