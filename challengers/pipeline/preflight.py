"""What `run` needs from its environment, checked by `check` and by `run` before the first model
trains, and the claim a run lays on its output directory.

The rule: a run that starts is not stopped by its environment after training. Names must fit the
file system (NAME_MAX for every file the run writes under a name from the config); the output
directory is one run's alone (a lock; an existing run directory is refused without ``--resume``).
The tracking store (writable, lock creatable) is checked by ``tracking.check_reachable``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from challengers.config import ExperimentConfig
from challengers.errors import ConfigError, EnvironmentFailure

LOCK = ".challenge.lock"
# what a run writes into its output directory: any of them marks a run directory
RUN_FILES = ("comparison.json", "predictions.parquet", "models", "config.yaml", "report.md")
# the longest file name a run builds from a name: "<experiment>-replication-YYYYmmdd-HHMMSS" for
# the experiment; "<model>-importance.png" and their atomic-write temporaries for a model
NAME_MARGIN = {"name": 32, "model": 32}


def name_max(path: Path) -> int:
    """The longest file name (bytes) the file system under ``path`` takes (255 when unknown)."""
    existing = next((p for p in [path, *path.parents] if _exists(p)), Path.cwd())
    try:
        return os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a component too long, for one
        return False


def check_names(cfg: ExperimentConfig, out: Path | None) -> None:
    """Every name of the config fits the file system once the run adds its suffixes; refused
    here, before the data loads, rather than after training when the files are written."""
    limit = name_max(out or Path.cwd())
    names = [
        ("name", cfg.name, NAME_MARGIN["name"]),
        ("champion.name", cfg.champion.name, NAME_MARGIN["model"]),
        *(
            (f"challengers[{i}].name", c.name, NAME_MARGIN["model"])
            for i, c in enumerate(cfg.challengers)
        ),
    ]
    for where, name, margin in names:
        size = len(name.encode())
        if size + margin > limit:
            raise ConfigError(
                f"{where}: '{name[:20]}...' is {size} bytes; file names on this file system "
                f"hold at most {limit} and the run adds up to {margin} to it; shorten it to at "
                f"most {limit - margin}"
            )
    if out is not None:
        long = next((p for p in out.parts if len(p.encode()) > limit), None)
        if long is not None:
            raise ConfigError(
                f"--output: the path component '{long[:20]}...' is {len(long.encode())} bytes; "
                f"file names on this file system hold at most {limit}; shorten it"
            )


@contextlib.contextmanager
def claimed(out: Path, *, resume: bool) -> Iterator[None]:
    """Hold ``out`` for this run: a second run into it at the same time is refused (an exclusive
    lock, released when the process ends however it ends), and so is a new run into the
    directory of an earlier one (its comparison, report and models would be replaced in silence)
    unless it is ``--resume``d."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the run-directory check still holds
        fcntl = None  # type: ignore[assignment]
    lock_path = out / LOCK
    created = not lock_path.exists()
    try:  # unbuffered: a full disk cannot fail a later flush of the holder's pid
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise EnvironmentFailure(
            f"--output {out}: cannot create the run's lock file ({exc.strerror}); choose a "
            "writable location"
        ) from exc
    started = False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                raise ConfigError(
                    f"--output {out}: another run is writing there now "
                    f"({holder or 'another process'}); wait for it to finish or choose another "
                    "directory"
                ) from None
        if not resume:
            found = [n for n in RUN_FILES if (out / n).exists()]
            if found:
                raise ConfigError(
                    f"--output {out} holds an earlier run ({found[0]}); choose a new "
                    "directory, or add --resume to continue that run"
                )
        with contextlib.suppress(OSError):  # who holds it, for the refusal; a full disk
            os.ftruncate(fd, 0)  # fails later, where the run writes, with its own message
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        started = True
        yield
    finally:
        os.close(fd)  # releases the lock
        written = started and any((out / n).exists() for n in RUN_FILES)
        if created and not written:
            with contextlib.suppress(OSError):  # refused early: leave no trace
                lock_path.unlink()
