"""Compiled kernels over a model's rows (numba): the descending order of its scores, the
(day, entity) cells of card precision, and histogram counts against bin edges.

Each is one O(rows) pass (the sort: one pass per byte) that numpy would do with a sort or with
several passes and temporaries; each is tested against the numpy expression it replaces.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_BYTE = np.uint64(0xFF)
_SIGN = np.uint64(63)
_NOT_SIGN = np.uint64(0x7FFFFFFFFFFFFFFF)
RADIX_BITS = 8


@nb.njit(cache=True)
def entity_day_cells(by_day, entity, day, y, n_entities):
    """The (day, entity) cells of entity precision: visiting rows day by day (``by_day``: row
    positions grouped by day, in score order within a day), an entity's first row of a day opens
    its cell; the cell keeps the max label of the entity's rows that day. Returns each cell's
    entity, max label and day, days in order, each day's cells in score order. O(rows)."""
    opened_on = np.full(n_entities, -1, dtype=np.int64)  # the day of the entity's latest cell
    cell_of = np.zeros(n_entities, dtype=np.int64)
    ent = np.empty(by_day.shape[0], dtype=np.int64)
    lab = np.empty(by_day.shape[0])
    cell_day = np.empty(by_day.shape[0], dtype=np.int64)
    cells = 0
    for p in range(by_day.shape[0]):
        i = by_day[p]
        e = entity[i]
        if opened_on[e] != day[i]:
            opened_on[e] = day[i]
            cell_of[e] = cells
            ent[cells] = e
            lab[cells] = y[i]
            cell_day[cells] = day[i]
            cells += 1
        elif y[i] > lab[cell_of[e]]:
            lab[cell_of[e]] = y[i]
    return ent[:cells], lab[:cells], cell_day[:cells]


@nb.njit(cache=True)
def descending_order(bits):
    """Row indices by descending value, ties in row order (``np.argsort(-x, kind="stable")``),
    of finite float64 values given as their bits (``x.view(np.uint64)``, -0.0 made +0.0).

    An LSD radix sort: each value becomes a 64-bit key whose ascending order is the values'
    descending order (positives: every bit but the sign flipped; negatives: as they are), sorted
    one byte at a time from the lowest, each pass stable; a byte equal in every key (the low bytes
    of scores that were float32) needs no pass. O(rows) per pass.
    """
    n = bits.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    counts = np.zeros((8, 256), dtype=np.int64)
    for i in range(n):
        b = bits[i]
        k = b if (b >> _SIGN) else b ^ _NOT_SIGN
        keys[i] = k
        for d in range(8):
            counts[d, (k >> np.uint64(RADIX_BITS * d)) & _BYTE] += 1
    order = np.arange(n)
    keys_out = np.empty(n, dtype=np.uint64)
    order_out = np.empty(n, dtype=np.int64)
    for d in range(8):
        if counts[d].max() == n:  # one value of this byte: the pass would change nothing
            continue
        shift = np.uint64(RADIX_BITS * d)
        start = np.zeros(256, dtype=np.int64)
        for v in range(1, 256):
            start[v] = start[v - 1] + counts[d, v - 1]
        for i in range(n):
            k = keys[i]
            v = (k >> shift) & _BYTE
            at = start[v]
            start[v] = at + 1
            keys_out[at] = k
            order_out[at] = order[i]
        keys, keys_out = keys_out, keys
        order, order_out = order_out, order
    return order


@nb.njit(cache=True)
def bin_counts(values, edges):
    """Rows of ``values`` in each bin ``(-inf, e0], (e0, e1], ... (e_last, inf)``, then the
    non-finite ones: ``np.searchsorted(edges, v, side="left")`` per value, counted in one pass."""
    counts = np.zeros(edges.shape[0] + 2, dtype=np.int64)
    for i in range(values.shape[0]):
        v = values[i]
        if not np.isfinite(v):
            counts[edges.shape[0] + 1] += 1
            continue
        lo, hi = 0, edges.shape[0]
        while lo < hi:  # the number of edges below v
            mid = (lo + hi) // 2
            if edges[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        counts[lo] += 1
    return counts
