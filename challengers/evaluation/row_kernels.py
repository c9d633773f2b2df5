"""Compiled kernels over a model's rows (numba): the descending order of its scores, the
(day, entity) cells of card precision, histogram counts against bin edges, DeLong's
structural components read from a ranking, and the two passes of an exact selection of order
statistics (quantiles without a sort or a partition of every row).

Each is one O(rows) pass (the sort: one pass per digit) that numpy would do with a sort or with
several passes and temporaries; each is tested against the numpy expression it replaces.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_SIGN = np.uint64(63)
_NOT_SIGN = np.uint64(0x7FFFFFFFFFFFFFFF)
_MINUS_ZERO = np.uint64(0x8000000000000000)  # the bits of -0.0
RADIX_BITS = 11  # a digit's widest: its 2,048 counters stay in the L1 cache


@nb.njit(nogil=True, cache=True)
def entity_day_cells(entity, day, order, y, n_entities, n_days):
    """The (day, entity) cells of entity precision: visiting rows (in score order) day by day, an
    entity's first row of a day opens its cell; the cell keeps the max label of the entity's rows
    that day. Returns each cell's entity (int32), max label (uint8), day (int32) and the
    score-order position of its first row (int64: its tie group, which card precision reads to
    treat tied entities alike), days in order, each day's cells in score order. ``entity`` and
    ``day`` are in the rows' order, read in score order through ``order`` (``y`` is in score
    order).

    O(rows), and one pass reads the rows at random: it copies each row's entity, label and
    position, in score order, into its day's run of a counting sort (13 bytes a row); the passes
    that open the cells then read those runs in sequence. (Reading ``entity[order[i]]`` through
    the sorted positions in every pass was 3.6x slower at 31.8M rows: 8.2 s a model.) The
    cells' arrays are copied out at their own length."""
    n = y.shape[0]
    ends = np.zeros(n_days + 1, dtype=np.int64)
    for r in range(n):  # rows per day: the counts do not depend on the order
        ends[day[r] + 1] += 1
    for d in range(n_days):
        ends[d + 1] += ends[d]
    ent_by_day = np.empty(n, dtype=np.int32)  # each row's entity and label, grouped by day,
    y_by_day = np.empty(n, dtype=np.uint8)  # in score order within the day
    at_by_day = np.empty(n, dtype=np.int64)  # and its position in score order
    for i in range(n):
        r = order[i]
        d = day[r]
        p = ends[d]
        ent_by_day[p] = entity[r]
        y_by_day[p] = 1 if y[i] > 0 else 0
        at_by_day[p] = i
        ends[d] = p + 1  # once every row is placed, ends[d] is where day d's run ends
    opened_on = np.full(n_entities, -1, dtype=np.int32)  # the day of the entity's latest cell
    cells = 0
    p = 0
    for d in range(n_days):  # first pass: count the cells
        while p < ends[d]:
            e = ent_by_day[p]
            if opened_on[e] != d:
                opened_on[e] = d
                cells += 1
            p += 1
    ent = np.empty(cells, dtype=np.int32)
    lab = np.zeros(cells, dtype=np.uint8)
    cell_day = np.empty(cells, dtype=np.int32)
    first = np.empty(cells, dtype=at_by_day.dtype)
    cell_of = np.zeros(n_entities, dtype=np.int64)
    opened_on[:] = -1
    c = 0
    p = 0
    for d in range(n_days):
        while p < ends[d]:
            e = ent_by_day[p]
            if opened_on[e] != d:
                opened_on[e] = d
                cell_of[e] = c
                ent[c] = e
                cell_day[c] = d
                first[c] = at_by_day[p]
                c += 1
            if y_by_day[p]:
                lab[cell_of[e]] = 1
            p += 1
    return ent, lab, cell_day, first


@nb.njit(nogil=True, cache=True)
def descending_order(bits, order, order_out):
    """Row indices by descending value, ties in row order (``np.argsort(-x, kind="stable")``),
    of finite float64 values given as their bits (``x.view(np.uint64)``; -0.0 read as +0.0),
    written into ``order`` or ``order_out`` (two buffers of the rows' size and the indices'
    type, int32 below 2**31 rows), whichever is returned, and the position of the last row of
    each tie group (the indices' type), read from the sorted keys in sequence: gathering the
    scores in score order to compare them was a random read of every row (31.8M rows: 1.5 s).

    An LSD radix sort: each value becomes a 64-bit key whose ascending order is the values'
    descending order (positives: every bit but the sign flipped; negatives: as they are), sorted
    one digit at a time from the lowest, each pass stable. Only the bits that differ between
    keys are sorted, in digits of equal width up to :data:`RADIX_BITS`: probabilities in float64
    (sign and top exponent bits alike) take 6 passes, not 8 bytes' 8; scores that were float32
    (29 low bits zero) take 3, not 5. O(rows) per pass.
    """
    n = bits.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    varying = np.uint64(0)  # the bits in which some key differs from the first
    first = _descending_key(bits[0]) if n else np.uint64(0)
    for i in range(n):
        k = _descending_key(bits[i])
        keys[i] = k
        varying |= k ^ first
        order[i] = i
    if varying == 0:  # one value (or none): the row order is the order
        return order, _ends_of_runs(keys, order.dtype)
    lowest, span = _bit_span(varying)
    passes = (span + RADIX_BITS - 1) // RADIX_BITS
    width = np.uint64((span + passes - 1) // passes)
    digit = (np.uint64(1) << width) - np.uint64(1)
    counts = np.zeros((passes, 1 << int(width)), dtype=np.int64)
    for i in range(n):
        k = keys[i] >> lowest
        for d in range(passes):
            counts[d, (k >> (width * np.uint64(d))) & digit] += 1
    keys_out = np.empty(n, dtype=np.uint64)
    for d in range(passes):
        if counts[d].max() == n:  # one value of this digit: the pass would change nothing
            continue
        shift = lowest + width * np.uint64(d)
        start = np.zeros(counts.shape[1], dtype=np.int64)
        for v in range(1, counts.shape[1]):
            start[v] = start[v - 1] + counts[d, v - 1]
        for i in range(n):
            k = keys[i]
            v = (k >> shift) & digit
            at = start[v]
            start[v] = at + 1
            keys_out[at] = k
            order_out[at] = order[i]
        keys, keys_out = keys_out, keys
        order, order_out = order_out, order
    return order, _ends_of_runs(keys, order.dtype)


@nb.njit(cache=True, inline="always")
def _descending_key(b):
    """A float64's bits as a key that sorts ascending as the values sort descending."""
    if b == _MINUS_ZERO:  # ties with +0.0
        b = np.uint64(0)
    return b if (b >> _SIGN) else b ^ _NOT_SIGN


@nb.njit(nogil=True, cache=True)
def _bit_span(mask):
    """The lowest set bit of a non-zero ``mask`` (as uint64) and the number of bits from it to
    the highest set bit, both included."""
    one = np.uint64(1)
    lowest = np.uint64(0)
    while not (mask >> lowest) & one:
        lowest += one
    highest = np.uint64(63)
    while not (mask >> highest) & one:
        highest -= one
    return lowest, int(highest - lowest) + 1


@nb.njit(nogil=True, cache=True)
def _ends_of_runs(values, dtype):
    """The position of the last value of each run of equal values (the last value ends one)."""
    n = values.shape[0]
    runs = 0
    for i in range(n):
        if i == n - 1 or values[i + 1] != values[i]:
            runs += 1
    ends = np.empty(runs, dtype=dtype)
    r = 0
    for i in range(n):
        if i == n - 1 or values[i + 1] != values[i]:
            ends[r] = i
            r += 1
    return ends


LINEAR_EDGES = 32  # up to this many edges a value's bin is counted edge by edge, not searched


@nb.njit(nogil=True, cache=True)
def bin_counts(values, edges):
    """Rows of ``values`` in each bin ``(-inf, e0], (e0, e1], ... (e_last, inf)``, then the
    non-finite ones: ``np.searchsorted(edges, v, side="left")`` per value (``edges`` ascending),
    counted in one pass. ``values`` float32 or float64: a float32 value compares with the float64
    edges as its float64 copy would, so a feature's column is read as it is held.

    The edges below a value are counted one by one up to :data:`LINEAR_EDGES` of them (a PSI's
    9): no branch to mispredict, 6x faster than the binary search, which more edges use."""
    m = edges.shape[0]
    counts = np.zeros(m + 2, dtype=np.int64)
    linear = m <= LINEAR_EDGES
    for i in range(values.shape[0]):
        v = values[i]
        if not np.isfinite(v):
            counts[m + 1] += 1
            continue
        if linear:
            lo = 0
            for j in range(m):
                lo += edges[j] < v
        else:
            lo, hi = 0, m
            while lo < hi:  # the number of edges below v
                mid = (lo + hi) // 2
                if edges[mid] < v:
                    lo = mid + 1
                else:
                    hi = mid
        counts[lo] += 1
    return counts


@nb.njit(cache=True, inline="always")
def _group_components(p, q, pos_above, neg_above, m, n):
    """DeLong's components of a tie group of ``p`` positives and ``q`` negatives with
    ``pos_above`` and ``neg_above`` rows above it: a positive's share of negatives below it, a
    negative's one minus the share of positives below it, ties counting half."""
    v10 = ((n - neg_above - q) + q / 2.0) / n
    v01 = 1.0 - ((m - pos_above - p) + p / 2.0) / m
    return v10, v01


@nb.njit(nogil=True, cache=True)
def delong_by_row(y, ends, order, m, n):
    """DeLong's components of every row from a descending ranking (``y`` 0/1 and ``order`` in
    score order, ``ends`` the last position of each tie group; ``m`` positives, ``n``
    negatives), and twice the positives' summed ascending midranks.

    The same numbers as the midrank differences of :func:`challengers.evaluation.delong.components`
    (each a half-integer, exact in float64, then divided the same way), in one pass, no sort."""
    rows = y.shape[0]
    out = np.empty(rows)
    pos_above, neg_above, start, twice_ranks = 0, 0, 0, 0
    for g in range(ends.shape[0]):
        end = ends[g] + 1
        p = 0
        for i in range(start, end):
            p += y[i]
        q = end - start - p
        v10, v01 = _group_components(p, q, pos_above, neg_above, m, n)
        for i in range(start, end):
            out[order[i]] = v10 if y[i] > 0 else v01
        # the group's ascending midrank, doubled: rows below it, plus (size + 1) / 2
        twice_ranks += p * (2 * (rows - end) + end - start + 1)
        pos_above += p
        neg_above += q
        start = end
    return out, twice_ranks


@nb.njit(nogil=True, cache=True)
def delong_by_cluster(y, ends, order, m, n, clusters, k):
    """:func:`delong_by_row`'s components summed per cluster (``clusters``: each row's code
    0..k-1, in the rows' order): the positives' V10 and the negatives' V01 of each cluster and
    its positives and negatives, and twice the positives' summed midranks. O(clusters) memory:
    the clustered variance needs only these sums, not a row-sized array per model."""
    rows = y.shape[0]
    v10_sums, v01_sums = np.zeros(k), np.zeros(k)
    positives, negatives = np.zeros(k, np.int64), np.zeros(k, np.int64)
    pos_above, neg_above, start, twice_ranks = 0, 0, 0, 0
    for g in range(ends.shape[0]):
        end = ends[g] + 1
        p = 0
        for i in range(start, end):
            p += y[i]
        q = end - start - p
        v10, v01 = _group_components(p, q, pos_above, neg_above, m, n)
        for i in range(start, end):
            c = clusters[order[i]]
            if y[i] > 0:
                v10_sums[c] += v10
                positives[c] += 1
            else:
                v01_sums[c] += v01
                negatives[c] += 1
        twice_ranks += p * (2 * (rows - end) + end - start + 1)
        pos_above += p
        neg_above += q
        start = end
    return v10_sums, v01_sums, positives, negatives, twice_ranks


_EXPONENT = np.uint64(0x7FF0000000000000)
_SIGN_BIT = np.uint64(0x8000000000000000)
SELECT_BITS = 20  # the first pass's buckets: 2**20 counts (8 MB), a key's top 20 bits


@nb.njit(nogil=True, cache=True)
def _ascending_key(b):
    """The 64-bit key of a finite float64's bits whose ascending order is the values' (-0.0 as
    +0.0): positives with the sign bit set, negatives with every bit flipped."""
    if b == _SIGN_BIT:
        b = np.uint64(0)
    return ~b if (b >> _SIGN) else b | _SIGN_BIT


@nb.njit(nogil=True, cache=True)
def key_buckets(bits):
    """The finite values (given as their bits) counted per bucket of the top ``SELECT_BITS``
    bits of their ascending key: the buckets in value order, so their running counts say which
    bucket holds the k-th smallest value. Non-finite values are not counted."""
    counts = np.zeros(1 << SELECT_BITS, dtype=np.int64)
    shift = np.uint64(64 - SELECT_BITS)
    for i in range(bits.shape[0]):
        b = bits[i]
        if (b & _EXPONENT) == _EXPONENT:  # inf or nan
            continue
        counts[_ascending_key(b) >> shift] += 1
    return counts


@nb.njit(nogil=True, cache=True)
def values_in_buckets(values, bits, slot_of_bucket, starts):
    """The finite ``values`` (``bits``: their bits) of the buckets with a slot (``slot_of_bucket`` >= 0), grouped by slot:
    slot ``s``'s values at ``starts[s]`` onwards (-0.0 as +0.0), in row order."""
    out = np.empty(starts[-1])
    filled = starts[:-1].copy()
    shift = np.uint64(64 - SELECT_BITS)
    for i in range(bits.shape[0]):
        b = bits[i]
        if (b & _EXPONENT) == _EXPONENT:
            continue
        slot = slot_of_bucket[_ascending_key(b) >> shift]
        if slot >= 0:
            out[filled[slot]] = values[i] + 0.0
            filled[slot] += 1
    return out


@nb.njit(nogil=True, cache=True)
def positions_by_code(codes, order, n_codes, out):
    """The positions 0..n-1 grouped by ``codes[order[i]]`` (each code's in ascending order),
    written to ``out`` (int32 below 2**31 rows), and each code's count: ``np.argsort(
    codes[order], kind="stable")`` by a counting sort, without the gathered codes or argsort's
    int64 result beside it (10 bytes a row, for each model a diagnostic splits by part).
    ``order`` is a permutation of the rows of ``codes``: each code's count is read in the rows'
    own order, in sequence (only the second pass reads the codes at random; both did, 4.7 s at
    31.8M rows)."""
    n = order.shape[0]
    counts = np.zeros(n_codes, np.int64)
    for r in range(codes.shape[0]):
        counts[codes[r]] += 1
    start = np.zeros(n_codes, np.int64)
    for c in range(1, n_codes):
        start[c] = start[c - 1] + counts[c - 1]
    for i in range(n):
        c = codes[order[i]]
        out[start[c]] = i
        start[c] += 1
    return out, counts


@nb.njit(nogil=True, cache=True)
def part_tie_ends(at, ends, out):
    """The last position of each tie group of a part of a ranking: ``at`` the part's positions
    in the ranking's score order (ascending), ``ends`` the ranking's tie groups' last positions.
    Two of the part's rows tie where they sit in the same group of the ranking, so its groups
    are the runs of the ranking's group among ``at``; each row's group is found by a galloping
    search from the previous row's (``at`` ascends), no score read. Written to ``out`` (``at``'s
    size and index type), whose first entries are returned."""
    k = at.shape[0]
    groups = ends.shape[0]
    g = 0
    c = 0
    for j in range(k):
        x = at[j]
        if ends[g] < x:  # the first group at or after g ending at or after x: gallop, then halve
            below, step = g, 1
            above = g + 1
            while above < groups and ends[above] < x:
                below = above
                step *= 2
                above = below + step
            g, above = below + 1, min(above, groups - 1)
            while g < above:
                mid = (g + above) // 2
                if ends[mid] < x:
                    g = mid + 1
                else:
                    above = mid
            if j > 0:
                out[c] = j - 1  # the previous row was the last of its group
                c += 1
    if k:
        out[c] = k - 1
        c += 1
    return out[:c]


@nb.njit(nogil=True, cache=True)
def positions_in_range(order, start, stop, at, part_order):
    """The positions ``i`` (ascending) where ``start <= order[i] < stop``, written to ``at``, and
    ``order[i] - start`` there, written to ``part_order`` (both of the range's size): a part of
    consecutive rows read from a ranking of every row, without the masks and the int64
    positions of ``np.flatnonzero((order >= start) & (order < stop))``."""
    k = 0
    for i in range(order.shape[0]):
        o = order[i]
        if o >= start and o < stop:
            at[k] = i
            part_order[k] = o - start
            k += 1
    return at, part_order


@nb.njit(nogil=True, cache=True)
def positives_at_ends(y, fraud, ends, with_amount):
    """Running positives and, ``with_amount``, running fraud amount (``fraud``: the positives'
    amounts in score order) at each tie group's last row: ``np.cumsum(y)[ends]`` and
    ``np.cumsum(amounts)[ends]`` (float64, summed left to right as numpy's cumsum does; a
    genuine row's amount, 0, changes no sum) without row-sized running sums and amounts."""
    groups = ends.shape[0]
    tp = np.empty(groups)
    amount = np.empty(groups if with_amount else 0)
    count, total, j, g = 0.0, 0.0, 0, 0
    for i in range(y.shape[0]):
        if y[i] > 0:
            count += 1.0
            if with_amount:
                total += fraud[j]
            j += 1
        if g < groups and ends[g] == i:
            tp[g] = count
            if with_amount:
                amount[g] = total
            g += 1
    return tp, amount


@nb.njit(nogil=True, cache=True)
def roc_wins(y, ends):
    """Each tie group's negatives times the positives ranked above it, ties counting half, and
    the positives: ``metrics.roc_auc``'s terms from a curve (the same float64 operations on the
    same values), read from a ranking's labels in one pass, with one array of the groups' size
    where the curve held five (positives, rows, negatives, the shifted sums, the terms)."""
    groups = ends.shape[0]
    wins = np.empty(groups)
    tp, before_tp, before_fp, g = 0.0, 0.0, 0.0, 0
    for i in range(y.shape[0]):
        if y[i] > 0:
            tp += 1.0
        if g < groups and ends[g] == i:
            fp = (ends[g] + 1.0) - tp
            wins[g] = (fp - before_fp) * (before_tp + (tp - before_tp) * 0.5)
            before_tp, before_fp = tp, fp
            g += 1
    return wins, tp
