"""Writing a run's files: atomically (temporary file + rename), as JSON, and what a full disk means.

Out of disk, quota or a read-only disk while a run writes is an environment failure (exit 3).

Libraries report a full disk in their own words (an ``OSError`` with ENOSPC, polars' "os error 28",
LightGBM's "Cannot write binary data", XGBoost's "FileStream.Write incomplete", sqlite's "database or
disk is full"); ``environment_failure`` recognises them, so the user sees one line and exit 3, not a
traceback. Every file a run writes goes through a temporary file and a rename (:func:`write_atomic`,
:func:`write_parquet_atomic`), so a full disk never leaves half a file under its real name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
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


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write via a temporary file and a rename: a reader never sees half a parquet file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        frame.write_parquet(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


def _umask() -> int:
    """The process's umask, read without changing it where the system says (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore (a brief window, once per file)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file.

    The file gets the mode any other file of the run gets (0666 less the umask, like the plots and
    parquet files), not the 0600 of a temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EnvironmentFailure(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_json(path: Path, document: Any) -> None:
    write_atomic(path, json.dumps(jsonable(document), indent=2, allow_nan=False) + "\n")
