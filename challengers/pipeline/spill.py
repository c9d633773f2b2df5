"""The windows' rows on disk while the models train, read back through the page cache.

A run holds its training and test frames from loading to the evaluation, but each model's fit
reads only the training window's features and labels, and its scoring only the test window's
features. At 100M transactions the frames are 2.9 GB, of which a fit reads 0.6; at 300M they
are 9 GB, half of the run's peak. Written once as an uncompressed Arrow IPC file and memory-
mapped, they are the same frames (polars reads Arrow's buffers in place), but their pages belong
to the file: the kernel reads them in when a step touches them and can take them back without
killing the run, and between steps the run lets go of what the last one read
(:func:`~challengers.allocator.release_freed_memory`). The file has no name: nothing is left on
disk when the run ends, however it ends.

Each window is written as soon as it is read and fingerprinted (:class:`Spiller`, given to
:func:`~challengers.pipeline.prepare.prepare`): the training rows are out of the heap before the
test rows are read, so loading holds one window at a time (100M rows: loading's peak 5.7 -> 3.7
GB, and 7 s less than writing both windows once loaded).
"""

from __future__ import annotations

import logging
import mmap
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from challengers.allocator import read_in_again
from challengers.progress import Progress

log = logging.getLogger(__name__)

SPILL_FROM = 1 << 28  # bytes of a window's frame from which it is spilled (CHALLENGE_SPILL=auto)


def spill_mode() -> str:
    """``CHALLENGE_SPILL``: ``auto`` (frames from :data:`SPILL_FROM` bytes), ``on`` or ``off``."""
    mode = os.environ.get("CHALLENGE_SPILL", "auto").strip().lower()
    return mode if mode in ("auto", "on", "off") else "auto"


@dataclass
class Spiller:
    """Moves each window's frame into a file in ``directory`` (the run's output directory) as
    soon as it is final (:func:`~challengers.pipeline.loading.load_windows`: the training rows
    before the test rows are read), when it is large enough (:func:`spills`)."""

    directory: Path
    progress: Progress
    spilled: int = 0  # bytes moved so far
    failed: bool = False  # a write failed (a full disk): the later frames are not tried

    def __call__(self, name: str, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (the ``name`` rows), or the same frame mapped from a file."""
        size = int(frame.estimated_size())
        where = self.directory
        if self.failed or not spills(
            size, lambda: shutil.disk_usage(where).free, lambda: in_memory_fs(where)
        ):
            return frame
        with self.progress.stage(f"Moving the {name} rows to disk ({size / 2**30:.1f} GB)"):
            try:
                mapped, mapping = mapped_frame(frame, where)
            except Exception as exc:  # a full disk, a type Arrow's files do not hold: the frame
                # stays in memory, as without spilling (never a reason to stop)
                log.warning("the %s rows stay in memory: %s", name, exc)
                self.failed = True
                return frame
        read_in_again(mapping)
        self.spilled += size
        log.info("the %s rows (%.0f MB) are read from a file's pages from here", name, size / 2**20)
        return mapped


def spills(size: int, free: Callable[[], int], in_memory: Callable[[], bool]) -> bool:
    """Whether frames of ``size`` bytes are spilled (:func:`spill_mode`), given the disk's
    ``free`` bytes (room for the file and as much again for the run's own outputs) and whether
    the disk is held in memory (tmpfs: by default not, ``on`` all the same); each asked only
    when it decides."""
    mode = spill_mode()
    if (
        mode == "off"
        or (mode == "auto" and (size < SPILL_FROM or in_memory()))
        or not hasattr(mmap, "MADV_DONTNEED")
        or _address_space_limited()
    ):
        return False
    room = free()
    if room < 2 * size:
        log.info("the windows' rows stay in memory: %d bytes free on the output's disk", room)
        return False
    return True


def mapped_frame(frame: pl.DataFrame, directory: Path) -> tuple[pl.DataFrame, mmap.mmap]:
    """``frame`` read back from an uncompressed Arrow IPC file in ``directory``, mapped: the
    frame's columns are views of the mapping (one chunk a column, as written). The file has no
    name (``O_TMPFILE``; where the file system cannot, a name unlinked once mapped): nothing is
    left on disk once the mapping goes, however the process ends."""
    import pyarrow as pa

    fd, path = _unnamed_file(directory)
    try:
        table = frame.to_arrow()  # a batch per chunk: polars' own writer cuts batches of ~122k rows
        with open(fd, "wb", closefd=False) as file, pa.ipc.new_file(file, table.schema) as writer:
            writer.write_table(table)
        del table
        mapping = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
        if path is not None:
            path.unlink(missing_ok=True)
    table = pa.ipc.open_file(pa.py_buffer(mapping)).read_all()
    read = pl.from_arrow(table, rechunk=False)
    assert isinstance(read, pl.DataFrame)
    return read, mapping


def _unnamed_file(directory: Path) -> tuple[int, Path | None]:
    """A new file in ``directory`` opened for writing and reading, and its name (None: it has
    none)."""
    flags = getattr(os, "O_TMPFILE", 0)
    if flags:
        try:
            return os.open(directory, flags | os.O_RDWR, 0o600), None
        except OSError:  # a file system without unnamed files
            pass
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".rows-", delete=False) as file:
        return os.dup(file.fileno()), Path(file.name)


MEMORY_FILE_SYSTEMS = ("tmpfs", "ramfs")


def in_memory_fs(directory: Path, mounts: str | None = None) -> bool:
    """Whether ``directory`` is on a file system held in memory (tmpfs: /tmp on many machines),
    where a spilled file's pages are memory the kernel cannot take back without swap. ``mounts``:
    /proc/self/mounts' text (read when None; no such file: False)."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return False
    where, best = str(directory.resolve()), ("", "")
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, fields[2])
    return best[1] in MEMORY_FILE_SYSTEMS


def _address_space_limited() -> bool:
    """Whether the process has an address-space limit (ulimit -v), which a file's mapping counts
    against as the heap does, while the heap's freed frames may stay reserved in it."""
    try:
        import resource
    except ImportError:  # not POSIX
        return False
    return resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY
