"""Freed memory goes back to the operating system between a run's steps (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import types

import pytest

try:
    ctypes.CDLL("libc.so.6").malloc_trim  # noqa: B018
    GLIBC = True
except (OSError, AttributeError):
    GLIBC = False

# In a fresh process, glibc set as it raises itself once a large block is freed (blocks up to 32 MB
# from its heaps, the heaps' top not trimmed: set here, as whether a 20 MB array's free raised it
# depended on what the process had allocated before); 300 arrays of 1 MB are made and freed (a
# small block made last pins the heap's top, as the live objects of a run do). Prints the resident
# memory after the frees, then after release_freed_memory.
SCRIPT = """
import ctypes
import numpy as np
from pathlib import Path
from challengers.allocator import release_freed_memory

libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
libc.mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

arrays = [np.ones(2**20 // 8) for _ in range(300)]
pin = np.ones(8192)
del arrays
freed = rss_mb()
release_freed_memory()
print(freed, rss_mb())
"""


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_memory_a_step_freed_goes_back_to_the_system() -> None:
    freed, released = _resident_mb(SCRIPT)
    # the 300 MB stay resident after the frees (what a run's next step would stack on), and
    # go back to the system once released (without the release: 326 MB and 326 MB)
    assert freed - released > 250, (freed, released)


# Arrow's pool (mimalloc in the wheels): 200 buffers of 4 MB, each page touched, then freed, as the
# record batches of a Spark result are once read.
ARROW_SCRIPT = """
import pyarrow as pa
from pathlib import Path
from challengers.allocator import release_freed_memory

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

buffers = [pa.allocate_buffer(4 * 2**20) for _ in range(200)]
for b in buffers:
    view = memoryview(b).cast("B")
    view[::4096] = bytes(len(range(0, len(view), 4096)))
del buffers, view
freed = rss_mb()
release_freed_memory()
print(freed, rss_mb())
"""


def test_memory_arrow_freed_goes_back_to_the_system() -> None:
    freed, released = _resident_mb(ARROW_SCRIPT)
    # the 800 MB stay resident in Arrow's pool after the frees (measured: 914 MB, and 914 MB
    # still without the release) and go back to the system once released (60 MB)
    assert freed - released > 600, (freed, released)


def _resident_mb(script: str, *args: str) -> tuple[float, float]:
    """The two resident MB figures ``script`` prints in a fresh process (with ``args``)."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    freed, released = (float(v) for v in done.stdout.split())
    return freed, released


# After a 20 MB array is freed glibc serves blocks below 20 MB from its heaps: 60 arrays of 5 MB
# are made and freed, and a small block made last pins the heap's top. With large blocks mapped
# (as a run does from its start) they went back to the system when freed, no release asked.
MAPPED_SCRIPT = """
import sys
import types
import numpy as np
from pathlib import Path
from challengers.allocator import map_large_blocks

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

if sys.argv[1] == "mapped":
    map_large_blocks()
before = rss_mb()
big = np.ones(20 * 2**20 // 8); del big
arrays = [np.ones(5 * 2**20 // 8) for _ in range(60)]
pin = np.ones(8192)
del arrays
print(before, rss_mb())
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_large_blocks_go_back_to_the_system_when_freed() -> None:
    before, after = _resident_mb(MAPPED_SCRIPT, "mapped")
    assert after - before < 30, (before, after)
    before, after = _resident_mb(MAPPED_SCRIPT, "heaps")  # glibc's default keeps them
    assert after - before > 250, (before, after)


def test_a_release_while_another_thread_imports_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    # a run's warm-up thread imports pyarrow beside the steps: for a moment sys.modules holds the
    # package without its names (the handbook benchmark's run failed there: "partially
    # initialized module 'pyarrow' has no attribute 'default_memory_pool'")
    from challengers.allocator import release_freed_memory

    monkeypatch.setitem(sys.modules, "pyarrow", types.ModuleType("pyarrow"))
    release_freed_memory()  # raised AttributeError


# A library's round: a 10 MB buffer made, written and freed, 40 times; the minor page faults of
# each phase. Outside reused_blocks every buffer is mapped afresh (map_large_blocks) and each of
# its 2,560 pages faulted in again; inside, the heap's block is reused. Nested blocks: the inner
# one's end leaves the outer one's setting; after the outer one, buffers are mapped again.
ROUNDS_SCRIPT = """
import resource
import numpy as np
from challengers.allocator import map_large_blocks, reused_blocks

def faults(rounds=40):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        buffer = np.empty(10 * 2**20, dtype=np.uint8)
        buffer[::4096] = 1
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

map_large_blocks()
mapped = faults()
with reused_blocks():
    with reused_blocks():
        pass
    reused = faults()
after = faults()
print(mapped, reused, after)
"""


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_a_fits_buffers_come_from_the_heap_and_are_mapped_again_after() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ROUNDS_SCRIPT], capture_output=True, text=True, check=True
    )
    mapped, reused, after = (int(v) for v in done.stdout.split())
    assert mapped > 40 * 100, mapped  # the buffer's pages faulted in again each time
    assert reused < mapped / 10, (mapped, reused)
    assert after > 40 * 100, after
