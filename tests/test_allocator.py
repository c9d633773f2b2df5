"""Freed memory goes back to the operating system between a run's steps (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

try:
    ctypes.CDLL("libc.so.6").malloc_trim  # noqa: B018
    GLIBC = True
except (OSError, AttributeError):
    GLIBC = False

# In a fresh process: after a 20 MB array is freed, glibc serves blocks below 20 MB from its heaps;
# 300 arrays of 1 MB are made and freed (a small block made last pins the heap's top, as the live
# objects of a run do). Prints the resident memory after the frees, then after release_freed_memory.
SCRIPT = """
import numpy as np
from pathlib import Path
from challengers.allocator import release_freed_memory

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

big = np.ones(20 * 2**20 // 8); del big
arrays = [np.ones(2**20 // 8) for _ in range(300)]
pin = np.ones(8192)
del arrays
freed = rss_mb()
release_freed_memory()
print(freed, rss_mb())
"""


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_memory_a_step_freed_goes_back_to_the_system() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    freed, released = (float(v) for v in done.stdout.split())
    # the 300 MB stay resident after the frees (what a run's next step would stack on), and
    # go back to the system once released (without the release: 326 MB and 326 MB)
    assert freed - released > 250, (freed, released)
