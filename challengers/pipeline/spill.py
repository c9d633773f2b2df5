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

Spilling costs time (the writes, and the pages read in again after each step lets them go), so
by default a window goes to disk only when the windows left in memory would pass an eighth of the
memory the run may use (:data:`SPILL_SHARE`; :func:`~challengers.pipeline.memory.usable`): on a
24 GB machine the 100M windows (2.4 GB) stay in memory and the 300M ones (7.3 GB) go; under
``CHALLENGE_MEMORY=8G``, or on an 8 GB machine, the 100M ones go too.
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
from challengers.pipeline.memory import usable
from challengers.progress import Progress

log = logging.getLogger(__name__)

SPILL_FROM = 1 << 28  # bytes of a window's frame from which it may be spilled (auto)
# Held in memory, the windows' frames are about a third of a run's peak (100M rows: 2.44 GB of
# frames, a 6.74 GB peak, XGBoost's buffers the rest): frames up to an eighth of the memory the
# run may use stay in memory, where reading them costs nothing (spilling the 100M windows cost
# 15 s of a 730 s run: the writes, and the pages read in again); past it they go to disk.
SPILL_SHARE = 8


def spill_mode() -> str:
    """``CHALLENGE_SPILL``: ``auto`` (frames of :data:`SPILL_FROM` bytes or more, once the
    windows held would pass the :data:`SPILL_SHARE` of memory), ``on`` or ``off``."""
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
    kept: int = 0  # bytes of the frames left in memory so far
    failed: bool = False  # a write failed (a full disk): the later frames are not tried

    def __call__(self, name: str, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (the ``name`` rows), or the same frame mapped from a file."""
        size = int(frame.estimated_size())
        where = self.directory
        if self.failed or not spills(
            size,
            lambda: shutil.disk_usage(where).free,
            lambda: in_memory_fs(where),
            memory=usable,
            held=self.kept,
        ):
            self.kept += size
            return frame
        with self.progress.stage(f"Moving the {name} rows to disk ({size / 2**30:.1f} GB)"):
            try:
                mapped, mapping = mapped_frame(frame, where)
            except Exception as exc:  # a full disk, a type Arrow's files do not hold: the frame
                # stays in memory, as without spilling (never a reason to stop)
                log.warning("the %s rows stay in memory: %s", name, exc)
                self.failed = True
                self.kept += size
                return frame
        read_in_again(mapping)
        self.spilled += size
        log.info("the %s rows (%.0f MB) are read from a file's pages from here", name, size / 2**20)
        return mapped


def spills(
    size: int,
    free: Callable[[], int],
    in_memory: Callable[[], bool],
    memory: Callable[[], int | None] = lambda: None,
    held: int = 0,
) -> bool:
    """Whether a frame of ``size`` bytes is spilled (:func:`spill_mode`), given the disk's
    ``free`` bytes (room for the file and as much again for the run's own outputs), whether the
    disk is held in memory (tmpfs: by default not, ``on`` all the same), the bytes the run may
    use in all (``memory``; None: unknown, the frame's size alone decides) and the bytes of the
    frames already left in memory (``held``); each asked only when it decides."""
    mode = spill_mode()
    if (
        mode == "off"
        or (mode == "auto" and (size < SPILL_FROM or in_memory() or _fits(size + held, memory)))
        or not hasattr(mmap, "MADV_DONTNEED")
        or _address_space_limited()
    ):
        return False
    room = free()
    if room < 2 * size:
        log.info("the windows' rows stay in memory: %d bytes free on the output's disk", room)
        return False
    return True


def _fits(windows: int, memory: Callable[[], int | None]) -> bool:
    """Whether ``windows`` bytes of frames stay within the :data:`SPILL_SHARE` of the memory the
    run may use (never when that memory is unknown)."""
    usable_bytes = memory()
    if usable_bytes is not None and windows <= usable_bytes // SPILL_SHARE:
        log.info("the windows' rows stay in memory: %d of %d bytes", windows, usable_bytes)
        return True
    return False


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
