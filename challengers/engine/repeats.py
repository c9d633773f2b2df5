"""How many 64-bit keys repeat an earlier one, without sorting them (numba).

``n - distinct``: what sorting the keys and counting equal neighbours gives, which at 100M keys is a
9-second single-threaded ``np.sort``. Here the keys go through splitmix64's finaliser (a bijection:
equal after it exactly when equal before, and spread evenly whatever the ids looked like), are
grouped in place by their top byte and, inside each of those groups (a few MB), by the next byte,
which leaves groups of about ``n / 65536`` keys that fit in the core's cache; each is counted with a
small open-addressing table. The top-byte groups are shared among threads. No memory besides the
keys (overwritten) and a 128 KB table per thread; about 3 s at 100M keys on 2 cores.

Keys already strictly increasing (ids as most extracts write them) are seen in one pass and have no
repeats.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from challengers.engine.rowhash_kernels import splitmix
from challengers.threads import each, workers

_TOP, _NEXT = np.uint64(56), np.uint64(48)  # the bytes the keys are grouped by
_BYTE = np.uint64(255)
TABLE = 1 << 14  # the table's slots: a group of more than half as many keys is sorted instead


def repeats(keys: np.ndarray, threads: int | None = None) -> int:
    """Integer keys equal to an earlier key: ``keys.size - distinct``. ``keys`` (when 64-bit) is
    overwritten (reordered and scrambled) unless it is strictly increasing."""
    if keys.size < 2:
        return 0
    if keys.dtype.itemsize != 8:  # narrower integers: as int64, the same repeats
        keys = keys.astype(np.int64)
    words = keys.view(np.uint64)
    if increasing(keys):
        return 0
    counts = np.zeros(256, np.int64)
    _mix_and_count(words, counts)
    starts = _group(words, 0, counts, _TOP)
    parts = min(workers(threads), 256)
    cuts = [256 * i // parts for i in range(parts + 1)]
    found = each(lambda i: _distinct_in(words, starts, cuts[i], cuts[i + 1]), range(parts), parts)
    return keys.size - sum(int(d) for d in found)


def increasing(keys: np.ndarray) -> bool:
    """Whether ``keys`` (integers) are strictly increasing: then none repeats."""
    return keys.size < 2 or bool(_increasing(keys))


@nb.njit(nogil=True, cache=True)
def _increasing(keys: np.ndarray) -> bool:
    for i in range(1, keys.size):  # noqa: SIM110 (a compiled loop; no generator in numba)
        if keys[i] <= keys[i - 1]:
            return False
    return True


@nb.njit(nogil=True, cache=True)
def _mix_and_count(words: np.ndarray, counts: np.ndarray) -> None:
    """Each key through splitmix64's finaliser, in place; ``counts`` per top byte."""
    for i in range(words.size):
        z = splitmix(words[i])
        words[i] = z
        counts[np.int64(z >> _TOP)] += 1


@nb.njit(nogil=True, cache=True)
def _group(words: np.ndarray, lo: int, counts: np.ndarray, shift: np.uint64) -> np.ndarray:
    """``words[lo : lo + counts.sum()]`` grouped in place by the byte at ``shift`` (American flag
    sort's pass: each key swapped straight into its group); the 257 group bounds."""
    starts = np.empty(257, np.int64)
    starts[0] = lo
    for b in range(256):
        starts[b + 1] = starts[b] + counts[b]
    heads = starts[:-1].copy()
    for b in range(256):
        end = starts[b + 1]
        while heads[b] < end:
            v = words[heads[b]]
            d = np.int64((v >> shift) & _BYTE)
            while d != b:  # v belongs elsewhere: put it there, carry on with the key it displaces
                at = heads[d]
                heads[d] = at + 1
                w = words[at]
                words[at] = v
                v = w
                d = np.int64((v >> shift) & _BYTE)
            words[heads[b]] = v
            heads[b] += 1
    return starts


@nb.njit(nogil=True, cache=True)
def _distinct_in(words: np.ndarray, starts: np.ndarray, lo: int, hi: int) -> int:
    """Distinct keys in the top-byte groups lo..hi-1, each grouped by its next byte first."""
    table = np.zeros(TABLE, np.uint64)
    counts = np.zeros(256, np.int64)
    found = 0
    for b in range(lo, hi):
        counts[:] = 0
        for i in range(starts[b], starts[b + 1]):
            counts[np.int64((words[i] >> _NEXT) & _BYTE)] += 1
        sub = _group(words, starts[b], counts, _NEXT)
        for s in range(256):
            found += _distinct_small(words[sub[s] : sub[s + 1]], table)
    return found


@nb.njit(nogil=True, cache=True)
def _distinct_small(part: np.ndarray, table: np.ndarray) -> int:
    """Distinct keys of a small group: linear probing on the low bits (the top 16 bits are the
    group's). A group too large for the table (many equal keys) is sorted."""
    m = part.size
    if 2 * m > table.size:
        part.sort()
        found = 1
        for i in range(1, m):
            if part[i] != part[i - 1]:
                found += 1
        return found
    size = 64
    while size < 2 * m:
        size *= 2
    mask = size - 1
    table[:size] = 0  # 0 marks an empty slot; the key 0 is counted apart
    found, zero = 0, False
    for i in range(m):
        v = part[i]
        if v == 0:
            zero = True
            continue
        j = np.int64(v) & mask
        while True:
            t = table[j]
            if t == 0:
                table[j] = v
                found += 1
                break
            if t == v:
                break
            j = (j + 1) & mask
    return found + (1 if zero else 0)
