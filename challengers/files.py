"""Writing a run's files: atomically (temporary file + rename), as JSON, and what a full disk means.

Out of disk, quota or a read-only disk while a run writes is an environment failure (exit 3).

Libraries report a full disk in their own words (an ``OSError`` with ENOSPC, polars' "os error 28",
LightGBM's "Cannot write binary data", XGBoost's "FileStream.Write incomplete", sqlite's "database or
disk is full"); ``environment_failure`` recognises them, so the user sees one line and exit 3, not a
traceback. Every file a run writes goes through a temporary file and a rename (:func:`write_atomic`,
:func:`write_parquet_atomic`), so a full disk never leaves half a file under its real name.
"""

from __future__ import annotations

import errno
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from challengers.errors import EnvironmentFailure, first_line

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
DISK_MESSAGES = (
    "no space left on device",
    "os error 28",
    "disk quota exceeded",
    "database or disk is full",
    "read-only file system",
    "file too large",
    "cannot write binary data",  # LightGBM
    "filestream.write incomplete",  # XGBoost (dmlc)
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def environment_failure(exc: BaseException) -> EnvironmentFailure | None:
    """The exit-3 error for a full or read-only disk anywhere in ``exc``'s chain, else None."""
    for link in _chain(exc):
        text = str(link).lower()
        by_errno = isinstance(link, OSError) and link.errno in DISK_ERRNOS
        if by_errno or any(m in text for m in DISK_MESSAGES):
            return EnvironmentFailure(
                f"out of disk space (or the disk is read-only) while writing: {first_line(link)}; free "
                "space or choose another --output (the run is recorded as FAILED, nothing as "
                "finished)"
            )
    return None


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the file to; renamed onto ``path`` when the block
    ends, removed when it fails: a reader (or a resumed run) never sees half a file under the real
    name. The one atomic writer of the package: every file a run writes goes through it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write a parquet file atomically."""
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)


def jsonable(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_atomic(path: Path, text: str) -> None:
    """Write a text file atomically and durably (fsync before the rename); a failing disk is an
    environment failure (exit 3). The mode follows the umask, like every other file of a run."""
    try:
        with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        failure = environment_failure(exc)  # a full disk says so, as everywhere else
        raise failure or EnvironmentFailure(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_json(path: Path, document: Any) -> None:
    write_atomic(path, json.dumps(jsonable(document), indent=2, allow_nan=False) + "\n")
