"""What a replication needs to know about the machine and the software that produced a run."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
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


def describe(config_dir: Path) -> dict[str, str]:
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        **{f"version.{k}": v for k, v in package_versions().items()},
    }
    commit = git_commit(config_dir)
    if commit:
        env["git_commit"] = commit
    lock = lock_hash()
    if lock:
        env["lock_hash"] = lock
    return env
