"""The compiled loops of the row hashes (:mod:`.rowhash`): splitmix64's finaliser on each word,
each cell's hash, and the sums of a batch's cells and rows by chunk. numba: imported where a
fingerprint is computed, not when the CLI starts. Each kernel has one signature, compiled or
loaded from numba's cache on import (about 0.3 s: a run imports this module in a thread while
polars reads its first rows, :func:`challengers.engine.rowhash.load_kernels`)."""

from __future__ import annotations

import numba as nb
import numpy as np

BLOCK = 1 << 11  # rows of one chunk code at a time

# the kernels' signatures, compiled (or loaded from numba's cache) when this module is imported:
# inputs read-only, so that polars' read-only views and numpy's arrays both fit them
_IN_WORDS = nb.types.Array(nb.uint64, 1, "C", readonly=True)
_IN_FLAGS = nb.types.Array(nb.uint8, 1, "C", readonly=True)
_IN_CODES = nb.types.Array(nb.int64, 1, "C", readonly=True)
_WORDS, _CODES = nb.uint64[::1], nb.int64[::1]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)


@nb.njit(inline="always")
def splitmix(z: np.uint64) -> np.uint64:
    """splitmix64's finaliser (wraps modulo 2**64): a bijection on 64-bit words."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(inline="always")
def _cell(word: np.uint64, null: np.uint8, key: np.uint64) -> np.uint64:
    """A cell's hash from its canonical word (0 when missing) and whether it is missing."""
    return splitmix(splitmix(word ^ key) + np.uint64(null))


@nb.njit(_WORDS(_WORDS), nogil=True, cache=True)
def mix_in_place(x: np.ndarray) -> np.ndarray:
    """:func:`splitmix` of each word of ``x`` (a 1-d uint64 array), in place."""
    for i in range(x.size):
        x[i] = splitmix(x[i])
    return x


@nb.njit(_WORDS(_IN_WORDS, _IN_FLAGS, nb.uint64), nogil=True, cache=True)
def cell_hashes(words: np.ndarray, nulls: np.ndarray, key: np.uint64) -> np.ndarray:
    """Each cell's hash from its column's canonical words, missing flags and salt."""
    out = np.empty(words.size, np.uint64)
    if nulls.size:
        for i in range(words.size):
            out[i] = _cell(words[i], nulls[i], key)
    else:
        for i in range(words.size):
            out[i] = _cell(words[i], np.uint8(0), key)
    return out


@nb.njit(_CODES(_IN_CODES), nogil=True, cache=True)
def block_codes(codes: np.ndarray) -> np.ndarray:
    """Per block of :data:`BLOCK` rows, the chunk code its rows all share (rows in time order),
    else -1: a block's sums then stay in a register instead of a store per cell."""
    out = np.empty((codes.size + BLOCK - 1) // BLOCK, dtype=np.int64)
    for b in range(out.size):
        lo, hi = b * BLOCK, min((b + 1) * BLOCK, codes.size)
        out[b] = codes[lo]
        for i in range(lo + 1, hi):
            if codes[i] != codes[lo]:
                out[b] = -1
                break
    return out


@nb.njit(
    nb.void(_IN_WORDS, _IN_FLAGS, nb.uint64, _IN_CODES, _IN_CODES, _WORDS, _WORDS),
    nogil=True,
    cache=True,
)
def fold_cells(words, nulls, key, codes, blocks, total, sums):
    """A column's cells hashed, each added to its row's hash in ``total`` and to its chunk's sum
    in ``sums`` (uint64: modulo 2**64). ``total`` is a slice's (:data:`FOLD_ROWS` rows), so it
    stays in the core's cache while every column adds to it (a pass per column over a row-sized
    array was bound by memory). A loop for each case: a test inside the loop took 3 times as
    long."""
    for b in range(blocks.size):
        lo, hi, one = b * BLOCK, min((b + 1) * BLOCK, codes.size), blocks[b]
        if one >= 0 and nulls.size == 0:
            acc = np.uint64(0)
            for i in range(lo, hi):
                h = _cell(words[i], np.uint8(0), key)
                total[i] += h
                acc += h
            sums[one] += acc
        elif one >= 0:
            acc = np.uint64(0)
            for i in range(lo, hi):
                h = _cell(words[i], nulls[i], key)
                total[i] += h
                acc += h
            sums[one] += acc
        elif nulls.size == 0:
            for i in range(lo, hi):
                h = _cell(words[i], np.uint8(0), key)
                total[i] += h
                sums[codes[i]] += h
        else:
            for i in range(lo, hi):
                h = _cell(words[i], nulls[i], key)
                total[i] += h
                sums[codes[i]] += h


@nb.njit(nb.void(_IN_WORDS, _IN_CODES, _IN_CODES, _WORDS, _WORDS), nogil=True, cache=True)
def fold_hashes(hashes, codes, blocks, total, sums):
    """:func:`fold_cells` of cells already hashed (a categorical column's, by code)."""
    for b in range(blocks.size):
        lo, hi, one = b * BLOCK, min((b + 1) * BLOCK, codes.size), blocks[b]
        if one >= 0:
            acc = np.uint64(0)
            for i in range(lo, hi):
                total[i] += hashes[i]
                acc += hashes[i]
            sums[one] += acc
        else:
            for i in range(lo, hi):
                total[i] += hashes[i]
                sums[codes[i]] += hashes[i]


@nb.njit(nb.void(_IN_WORDS, _IN_CODES, _IN_CODES, _WORDS), nogil=True, cache=True)
def fold_rows(total, codes, blocks, sums):
    """Each row's hash (the sum of its cells', mixed) added to its chunk's sum."""
    for b in range(blocks.size):
        lo, hi, one = b * BLOCK, min((b + 1) * BLOCK, codes.size), blocks[b]
        if one >= 0:
            acc = np.uint64(0)
            for i in range(lo, hi):
                acc += splitmix(total[i])
            sums[one] += acc
        else:
            for i in range(lo, hi):
                sums[codes[i]] += splitmix(total[i])
