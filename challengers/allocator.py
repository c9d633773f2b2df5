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
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Return the heaps' and Arrow's pool's free pages to the operating system (between a run's
    steps)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
