"""Helpers of the reliability tests: run a command as the user would, read its one error line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from challengers.cli.main import app
from tests.conftest import new_store, sim_config

CHALLENGE = str(Path(sys.executable).parent / "challenge")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def error(self, code: int, *fragments: str) -> str:
        """The one stderr line of a failed command; checks its exit code and its words."""
        assert self.code == code, f"exit {self.code}, expected {code}:\n{self.stderr}{self.stdout}"
        assert "Traceback" not in self.stderr + self.stdout
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one stderr line, got {lines}"
        line = lines[0]
        assert line.startswith("error: "), line
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}"
        return line


def invoke(args: list[str], env: dict[str, str] | None = None) -> Outcome:
    """The command in-process (Typer's runner); an uncaught exception fails the test loudly."""
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def run_process(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> Outcome:
    """The real `challenge` executable in a subprocess: what reaches the terminal, native
    libraries' own output included."""
    done = subprocess.run(
        [CHALLENGE, *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def wait_until_it_holds(process: subprocess.Popen[str], out: Path, timeout_s: float = 120) -> None:
    """Until the `challenge run` ``process`` holds the lock of its output directory ``out`` (the
    lock file names its pid); fails if it ends first."""
    deadline = time.monotonic() + timeout_s
    lock = out / ".challenge.lock"
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)


def tiny_config(data_path: Path, **overrides: Any) -> dict[str, Any]:
    """The suite's simulated config with small models and 20 bootstrap replicates."""
    cfg = sim_config(data_path, **overrides)
    cfg["champion"]["retrain"]["params"] = {"n_estimators": 5}
    cfg["challengers"] = [{"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 10}}]
    cfg["evaluation"]["bootstrap"] = 20
    return cfg


@pytest.fixture
def store(tmp_path: Path, empty_store: Path) -> str:
    return new_store(empty_store, tmp_path)


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """Write a config (a dict, or raw text/bytes) into the test's directory."""

    def write(config: dict[str, Any] | str | bytes, name: str = "experiment.yaml") -> Path:
        path = tmp_path / name
        if isinstance(config, bytes):
            path.write_bytes(config)
        elif isinstance(config, str):
            path.write_text(config)
        else:
            path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write


def _mount_tmpfs(target: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True
    )
    return done.returncode == 0


def _unmount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """A real small filesystem (tmpfs, root only); skips where mounting is not permitted."""
    mounted: list[Path] = []

    def make(size: str, *, read_only: bool = False) -> Path:
        target = tmp_path / f"fs{len(mounted)}"
        target.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        if not _mount_tmpfs(target, options):
            pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
        mounted.append(target)
        return target

    yield make  # type: ignore[misc]
    for target in mounted:
        _unmount(target)


@pytest.fixture
def unwritable_dir(tmp_path: Path, tmpfs: Callable[..., Path]) -> Path:
    """A directory nobody can create files in: a read-only filesystem as root (root ignores
    permissions), a directory without write permission otherwise."""
    if os.geteuid() == 0:
        return tmpfs("1m", read_only=True)  # type: ignore[call-arg]
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    return locked
