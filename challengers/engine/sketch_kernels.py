"""The HyperLogLog register update of :mod:`challengers.engine.distinct` (numba, loaded when a
sketch is first fed: the audit's kernels load in a thread while polars reads the file)."""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros


@nb.njit(nogil=True, cache=True)
def add_hashes(
    registers: np.ndarray, hashes: np.ndarray, precision: int
) -> None:  # pragma: no cover - numba
    """Each hash's top ``precision`` bits pick a register, which keeps the largest rank (leading
    zeros + 1) of the bits below them."""
    index_shift = np.uint64(64 - precision)
    shift = np.uint64(precision)
    sentinel = np.uint64(1) << np.uint64(precision - 1)  # bounds the rank when the rest is zero
    for i in range(hashes.size):
        h = hashes[i]
        rank = leading_zeros((h << shift) | sentinel) + 1  # type: ignore[call-arg]
        index = h >> index_shift
        if rank > registers[index]:
            registers[index] = rank
