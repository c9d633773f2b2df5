"""Give the memory a step freed back to the operating system before the next step (glibc).

glibc's malloc keeps freed blocks in its heaps for reuse, and after a large block is freed it raises
its threshold for serving blocks from their own mappings (up to 32 MB): from then on the arrays of a
step (a week's rows, a model's inputs, a metric's temporaries) come from the heaps, and freeing them
does not lower the resident memory. The next step's peak then stacks on what the previous one left.
``malloc_trim(0)`` returns the free pages of every heap; it costs milliseconds. Measured on the
10M-row scale run (bench/bench_scale.py): the resident memory while writing outputs and logging to
MLflow 2.15 -> 1.44-1.60 GB, the whole run's peak 2.2 -> 1.9 GB with the feature PSI read one column
at a time. Elsewhere than glibc (musl, macOS) this is a no-op.

Arrow's memory pool (mimalloc in pyarrow's wheels) keeps what it freed the same way, until it is
asked: the Arrow tables a Spark run brings to the driver (the test window's rows, each model's
scores) stayed resident after they were read (860 MB of freed 4 MB buffers: 914 MB resident before
the ask, 60 MB after). It is asked too, when pyarrow is loaded (it is not imported for this).

The file mappings registered with :func:`read_in_again` (the spilled windows: pipeline/spill.py)
let go of the pages the last step read: their contents are the file's, and the next step that
reads them has the kernel read them in again. Within a step that reads a window block by block
(a tree library binning it, a model scoring it, the PSI references column by column),
:func:`drop_read_pages` lets go of each block's pages alone: at 100M rows in the file the pages
a fit had read stayed resident through its every round, 1.0 GB of its 4.3 GB peak.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import mmap
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator

# blocks from this size on get their own mapping, whatever was freed before (see below)
MAPPED_FROM = 4 * 2**20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


@functools.cache
def _glibc(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc
        return None


def map_large_blocks(threshold: int = MAPPED_FROM) -> None:
    """Serve every block of ``threshold`` bytes or more from its own mapping, which goes back to
    the system when freed, for the rest of the process.

    ``release_freed_memory`` returns what a step freed once it ends; within a step the views
    follow one another (the diagnostics: alerts, weeks, days, segments, curves), and with
    glibc's raised threshold each view's arrays of 1-32 MB came from the heaps, where the next
    view's did not fit in the holes left: the resident memory climbed 10-15 MB a view.
    Setting the threshold also stops glibc from raising it. Measured on the 7.95M test rows of a
    30M-row file (bench/bench_eval_memory.py --data): the diagnostics' peak 1.27-1.29 -> 1.20
    GB, the evaluation's 1.26-1.27 -> 1.21. A threshold set in the environment
    (``MALLOC_MMAP_THRESHOLD_``) is left as it is; elsewhere than glibc this is a no-op."""
    mallopt = _glibc("mallopt")
    if mallopt is not None and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, threshold)
        _HEAPS.mapped_from = threshold


_M_TRIM_THRESHOLD = -1
_TRIM_DEFAULT = 128 * 1024  # glibc's, which a fixed mapping threshold keeps
_HEAP_UP_TO = 32 * 2**20  # glibc's own highest mapping threshold (64-bit)


class _Heaps:
    """map_large_blocks' threshold (None: not called), and how many reused_blocks are open."""

    def __init__(self) -> None:
        self.lock, self.depth = threading.Lock(), 0
        self.mapped_from: int | None = None


_HEAPS = _Heaps()


@contextlib.contextmanager
def reused_blocks() -> Iterator[None]:
    """Inside the block, blocks up to 32 MB from the heaps, and the heaps' top kept, as glibc
    does on its own: for a tree library's training, which allocates and frees its buffers every
    round. Mapped afresh each time (:func:`map_large_blocks`), every page of them was faulted in
    again each round: XGBoost's 60 rounds on 3.18M rows, 272,000 page faults against 80,000,
    and 2-6% longer. After the block, the mapping threshold is back and the heaps are trimmed.
    Nothing changes where map_large_blocks was not called."""
    mallopt = _glibc("mallopt")
    mapped_from = _HEAPS.mapped_from
    if mallopt is None or mapped_from is None:
        yield
        return
    with _HEAPS.lock:  # blocks nest (a hybrid's trees inside its fit): the outermost decides
        _HEAPS.depth += 1
        if _HEAPS.depth == 1:
            mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO)
            mallopt(_M_TRIM_THRESHOLD, 8 * _HEAP_UP_TO)
    try:
        yield
    finally:
        with _HEAPS.lock:
            _HEAPS.depth -= 1
            last = _HEAPS.depth == 0
            if last:
                mallopt(_M_MMAP_THRESHOLD, mapped_from)
                mallopt(_M_TRIM_THRESHOLD, _TRIM_DEFAULT)
        if last:
            release_freed_memory()


# read-only file mappings whose pages a release lets go of, for as long as something maps them
_FILE_PAGES: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()


def read_in_again(mapping: mmap.mmap) -> None:
    """Let :func:`release_freed_memory` drop ``mapping``'s resident pages, until it is unmapped
    (a read-only mapping of a file: what a step reads of it, the kernel reads in again)."""
    if hasattr(mmap, "MADV_DONTNEED"):
        _FILE_PAGES.add(mapping)


def release_freed_memory() -> None:
    """Return the heaps' and Arrow's pool's free pages to the operating system, and drop the
    pages read in from the registered file mappings (between a run's steps)."""
    trim = _glibc("malloc_trim")
    if trim is not None:
        trim(0)
    # pyarrow may be half imported: the run's warm-up thread imports it beside the steps, and a
    # module is in sys.modules before its names are bound (its pool is then still unused)
    pool = getattr(sys.modules.get("pyarrow"), "default_memory_pool", None)
    if pool is not None:
        pool().release_unused()
    drop_read_pages()


def drop_read_pages() -> None:
    """Drop the pages read in from the registered file mappings (:func:`read_in_again`), and
    nothing else: cheap enough between the blocks of rows a step reads one after another (a
    syscall a mapping), where the heaps' trim is not."""
    for mapping in list(_FILE_PAGES):
        with contextlib.suppress(ValueError):  # closed meanwhile
            mapping.madvise(mmap.MADV_DONTNEED)
