"""Compiled kernels of the paired Poisson bootstrap (numba).

The weight of block ``j`` in replicate ``b`` is a Poisson(1) draw computed from a counter-based hash of
``(seed, b, j)``: no ``(B, n)`` weight matrix is ever stored, a replicate's weights do not depend on
how replicates are split across threads, and every model of a replicate sees the same weights, which
makes the bootstrap paired. A call draws the block weights of up to 16 replicates into one 64-bit
word per block (4 bits per replicate), then makes one pass over each model's rows in that model's
own score order (sorted once, outside the replicate loop) for all of them.

The pass is cheap because every ranking metric only changes at tie groups that hold a positive:
between two such groups only the running count of weighted rows moves (ROC wins, average precision,
the KS extremes, the alert-budget and FPR-limit crossings can all be read at the positive groups and
just before them). So the inner loop over the ~99% of negative rows is a gather-and-add.

The statistics are turned into metric values by :mod:`challengers.evaluation.bootstrap`; the formulas mirror
:mod:`challengers.evaluation.metrics` (the exact reference), which a test checks on the same weights.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_S24, _S27, _S30, _S31, _S32 = (np.uint64(v) for v in (24, 27, 30, 31, 32))
_LOW32 = np.uint64(0xFFFFFFFF)
MAX_WEIGHT = 15  # P(Poisson(1) > 12) < 2**-32: weights stop growing long before the cap


def _poisson_thresholds() -> np.ndarray:
    """The Poisson(1) CDF in 32-bit integer space: a uniform u draws k = #{t : u >= T[t]}."""
    cdf, term, out = 0.0, math.exp(-1.0), []
    for k in range(MAX_WEIGHT):
        cdf += term
        term /= k + 1
        out.append(min(round(cdf * 2.0**32), 2**32))
    return np.array(out, dtype=np.uint64)


POISSON_T = _poisson_thresholds()
# POISSON_BINS[i]: the draw for the smallest u whose top 8 bits are i. Only 5 of the 256 bins hold
# a threshold, so one lookup and one comparison give almost every draw.
POISSON_BINS = np.array([int(np.sum((i << 24) >= POISSON_T)) for i in range(256)], dtype=np.int64)


@nb.njit(inline="always", cache=True)
def _mix(z: np.uint64) -> np.uint64:
    """splitmix64's finaliser: a bijection of 64-bit integers with full avalanche."""
    z = (z ^ (z >> _S30)) * _MUL1
    z = (z ^ (z >> _S27)) * _MUL2
    return z ^ (z >> _S31)


@nb.njit(inline="always", cache=True)
def replicate_key(seed: int, b: int) -> np.uint64:
    """The hash key of replicate ``b``: independent streams for every (seed, replicate)."""
    return _mix(_mix(np.uint64(seed)) + np.uint64(b + 1) * _GOLDEN)


@nb.njit(inline="always", cache=True)
def _poisson(u: np.uint64) -> np.uint8:
    """The Poisson(1) draw of a 32-bit uniform: the number of CDF thresholds at or below it."""
    k = POISSON_BINS[u >> _S24]
    while k < MAX_WEIGHT and u >= POISSON_T[k]:
        k += 1
    return np.uint8(k)


@nb.njit(inline="always", cache=True)
def _fill_into(key: np.uint64, first_block: int, part: np.ndarray) -> None:
    """Weights of blocks ``first_block .. first_block + len(part) - 1`` (``first_block`` even) into
    ``part``: one hash gives two blocks.

    Loops index from 0 so the compiler can drop negative-index checks (as in ``_run_sums``).
    """
    first = np.uint64(first_block // 2 + 1)
    pairs = part.shape[0] // 2
    for h in range(pairs):
        u = _mix(key + (first + np.uint64(h)) * _GOLDEN)
        part[2 * h] = _poisson(u & _LOW32)
        part[2 * h + 1] = _poisson(u >> _S32)
    if part.shape[0] % 2:
        u = _mix(key + (first + np.uint64(pairs)) * _GOLDEN)
        part[part.shape[0] - 1] = _poisson(u & _LOW32)


@nb.njit(inline="always", cache=True)
def _fill_range(key: np.uint64, out: np.ndarray, start: int, stop: int) -> None:
    """Weights of blocks ``start .. stop-1`` (``start`` even) into ``out[start:stop]``."""
    _fill_into(key, start, out[start:stop])


@nb.njit(nogil=True, cache=True)
def fill_weights(key: np.uint64, out: np.ndarray) -> None:
    """Poisson(1) weight of every block for one replicate key."""
    _fill_range(key, out, 0, out.shape[0])


@nb.njit(nogil=True, cache=True)
def weight_matrix(seed: int, first: int, count: int, n_blocks: int):
    """Block weights of replicates ``first .. first+count-1`` as a ``(count, n_blocks)`` matrix.

    For tests, the reference path and small block counts (days); the engine never builds it.
    """
    out = np.empty((count, n_blocks), dtype=np.uint8)
    for i in range(count):
        fill_weights(replicate_key(seed, first + i), out[i])
    return out


TILE = 8192  # blocks per tile: a tile of every per-block array stays in cache across replicates
# Replicates per call: a weight is at most MAX_WEIGHT = 15, so it takes 4 bits, and one 64-bit
# word holds a block's weights in 16 replicates. The rows are visited in score order, so every row
# gathers the word of a random block: the packed words must stay in the caches (8 bytes a block:
# 14 MB for 1.7M cards), and each gather serves as many replicates as a word holds.
LANES = 16
_NIBBLES = np.uint64(0x000F000F000F000F)  # every fourth nibble: 4 lanes of 16 bits
_S4 = np.uint64(4)
_LANE = np.uint64(0xFFFF)
_NIBBLE = np.uint64(0xF)
FLUSH_ROWS = 4096  # 16-bit lanes hold 4,096 weights of at most 15 (61,440 < 65,536)


# reassociation lets the Brier sums vectorise; it changes only the rounding of the sums
@nb.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _fill_and_total(keys, packed, blk_cnt, pos_blk, pos_cnt, pos_amt, blk_sq, tot, brier):
    """Draw the block weights of a chunk of at most :data:`LANES` replicates into ``packed`` (block
    ``j``'s weight in replicate ``r`` is nibble ``r`` of ``packed[j]``) with their totals (positives,
    rows, fraud amount) and each calibrated model's Brier numerator.

    Tile by tile, so the per-block rows and Brier terms are read once per chunk, not per replicate;
    positives and amounts are summed over the few blocks holding a positive.
    """
    n_rep = keys.shape[0]
    n_blocks = packed.shape[0]
    counts = np.zeros(n_rep, dtype=np.int64)
    tile = np.empty((n_rep, TILE), dtype=np.uint8)
    for t0 in range(0, n_blocks, TILE):
        t1 = min(t0 + TILE, n_blocks)
        cnt = blk_cnt[t0:t1]
        for r in range(n_rep):
            wt = tile[r, : t1 - t0]
            _fill_into(keys[r], t0, wt)
            c = np.int64(0)
            for j in range(wt.shape[0]):
                c += np.int64(wt[j]) * np.int64(cnt[j])
            counts[r] += c
            for m in range(blk_sq.shape[0]):
                sq = blk_sq[m, t0:t1]
                acc = 0.0
                for j in range(wt.shape[0]):
                    acc += np.float64(wt[j]) * sq[j]
                brier[r, m] += acc
        _pack(tile, packed[t0:t1])
    for r in range(n_rep):
        shift = np.uint64(4 * r)
        p = 0.0
        a = 0.0
        for t in range(pos_blk.shape[0]):
            wj = np.float64((packed[pos_blk[t]] >> shift) & _NIBBLE)
            p += wj * pos_cnt[t]
            a += wj * pos_amt[t]
        tot[r, 0] = p
        tot[r, 1] = np.float64(counts[r])
        tot[r, 2] = a


@nb.njit(inline="always", cache=True)
def _pack(tile, out):
    """``out[j]``: the weights ``tile[r, j]`` of every replicate ``r``, nibble ``r`` of one word."""
    for j in range(out.shape[0]):
        word = np.uint64(0)
        for r in range(tile.shape[0]):
            word |= np.uint64(tile[r, j]) << np.uint64(4 * r)
        out[j] = word


@nb.njit(inline="always", cache=True)
def _run_sums(packed, blocks, start, stop, acc):
    """Add the weighted row count of ``blocks[start:stop]`` in every replicate to ``acc`` (int64,
    one per lane): the hot loop over negative rows, all replicates of the chunk in one pass.

    Each row adds its block's packed word, split into four words of four 16-bit lanes (replicates
    ``r`` with the same ``r % 4``), so a row costs one gather for sixteen replicates; the lanes are
    emptied into ``acc`` every :data:`FLUSH_ROWS` rows, before they could overflow. Integer sums:
    exact.
    Indexing slices from 0 lets the compiler drop the negative-index checks.
    """
    run = blocks[start:stop]
    for f in range(0, run.shape[0], FLUSH_ROWS):
        part = run[f : f + FLUSH_ROWS]
        n0 = n1 = n2 = n3 = np.uint64(0)
        for i in range(part.shape[0]):
            word = packed[part[i]]
            n0 += word & _NIBBLES
            n1 += (word >> _S4) & _NIBBLES
            n2 += (word >> np.uint64(8)) & _NIBBLES
            n3 += (word >> np.uint64(12)) & _NIBBLES
        for q in range(4):  # lane q of n_i: replicate 4q + i
            shift = np.uint64(16 * q)
            acc[4 * q] += np.int64((n0 >> shift) & _LANE)
            acc[4 * q + 1] += np.int64((n1 >> shift) & _LANE)
            acc[4 * q + 2] += np.int64((n2 >> shift) & _LANE)
            acc[4 * q + 3] += np.int64((n3 >> shift) & _LANE)


@nb.njit(nogil=True, cache=True)
def _model_pass(packed, blocks, label, amount, groups, tot, limits, rates, out_scalar, out_fpr,
                out_tp, out_amt):  # fmt: skip
    """One pass over one model's rows in score order: every metric's statistics for each replicate
    of the chunk (row ``r`` of ``tot`` and of the outputs; weights in nibble ``r`` of ``packed``).

    ``groups`` holds the (start, stop) of each tie group with a positive, in score order. Writes
    ``out_scalar[r]`` = (ROC wins, sum of recall step x precision, KS), ``out_fpr[r, l]`` = positives
    above the lowest threshold with FPR <= limits[l] (a tie group straddling the limit at its
    expected value under random tie-breaking, as ``metrics.recall_at_fpr``), ``out_tp[r, q]`` /
    ``out_amt[r, q]`` = positives/fraud amount in the top ``rates[q]`` share of the weight (the
    boundary tie group pro rata).

    ROC wins are counted from the positives' side: a positive group scores its negatives below
    (N - fp after it) plus half of its own negatives. The KS gap is monotone between positive
    groups, so its maximum is at a positive group's end or just before one. Every replicate's
    floating-point sums run in the same order as a pass of its own would.
    """
    n_rep = tot.shape[0]
    has_amt = amount.shape[0] > 0
    neg_total = tot[:, 1] - tot[:, 0]
    ks_ok = (tot[:, 0] > 0) & (neg_total > 0)
    inv_p = np.where(ks_ok, 1.0 / np.where(ks_ok, tot[:, 0], 1.0), 0.0)
    inv_n = np.where(ks_ok, 1.0 / np.where(ks_ok, neg_total, 1.0), 0.0)
    budgets = np.empty((n_rep, rates.shape[0]))
    max_budget = np.full(n_rep, -1.0)
    max_limit = np.full(n_rep, -1.0)
    early = np.zeros(n_rep, dtype=np.bool_)  # still at the top of the ranking
    for r in range(n_rep):
        for q in range(rates.shape[0]):
            budgets[r, q] = rates[q] * tot[r, 1]
        if rates.shape[0]:
            max_budget[r] = budgets[r].max()
        if limits.shape[0] and neg_total[r] > 0:
            max_limit[r] = limits.max() + 1e-12
        early[r] = max_budget[r] > 0 or max_limit[r] >= 0
    tp = np.zeros(n_rep)
    cnt = np.zeros(n_rep)
    wins = np.zeros(n_rep)
    ap = np.zeros(n_rep)
    ks = np.zeros(n_rep)
    acc = np.zeros(LANES, dtype=np.int64)
    g_cnt = np.zeros(n_rep)
    g_pos = np.zeros(n_rep)
    g_amt = np.zeros(n_rep)
    prev = 0
    k = 0  # positives met so far: ``amount`` holds the positives' amounts in score order
    for g in range(groups.shape[0]):
        start, stop = groups[g, 0], groups[g, 1]
        acc[:] = 0
        _run_sums(packed, blocks, prev, start, acc)
        for r in range(n_rep):
            cnt[r] += np.float64(acc[r])
            ks[r] = max(ks[r], abs(tp[r] * inv_p[r] - (cnt[r] - tp[r]) * inv_n[r]))
        # the group's weighted rows as the runs between groups are counted (tie groups of tree
        # scores hold thousands of genuines); its positives one replicate at a time
        acc[:] = 0
        _run_sums(packed, blocks, start, stop, acc)
        g_pos[:] = 0.0
        g_amt[:] = 0.0
        for i in range(start, stop):
            if label[i]:
                word = packed[blocks[i]]
                for r in range(n_rep):
                    wi = np.float64((word >> np.uint64(4 * r)) & _NIBBLE)
                    g_pos[r] += wi
                    if has_amt:
                        g_amt[r] += wi * amount[k]
                k += 1
        for r in range(n_rep):
            g_cnt[r] = np.float64(acc[r])
        for r in range(n_rep):
            cnt_before = cnt[r]
            tp[r] += g_pos[r]
            cnt[r] += g_cnt[r]
            fp = cnt[r] - tp[r]
            if g_pos[r] > 0:
                wins[r] += g_pos[r] * (neg_total[r] - fp) + 0.5 * g_pos[r] * (g_cnt[r] - g_pos[r])
                ap[r] += g_pos[r] * tp[r] / cnt[r]
            ks[r] = max(ks[r], abs(tp[r] * inv_p[r] - fp * inv_n[r]))
            if early[r]:
                _top_of_ranking(cnt_before, cnt[r], tp[r], g_cnt[r], g_pos[r], g_amt[r],
                                neg_total[r], budgets[r], limits, out_tp[r], out_amt[r],
                                out_fpr[r])  # fmt: skip
                early[r] = cnt[r] < max_budget[r] or (
                    neg_total[r] > 0 and fp / neg_total[r] <= max_limit[r]
                )
        prev = stop
    for r in range(n_rep):
        out_scalar[r, 0] = wins[r]
        out_scalar[r, 1] = ap[r]
        out_scalar[r, 2] = ks[r] if ks_ok[r] else 0.0


@nb.njit(inline="always", cache=True)
def _top_of_ranking(
    cnt_before, cnt, tp, g_cnt, g_pos, g_amt, neg_total, budgets, limits, out_tp, out_amt, out_fpr
):
    """Alert-budget and FPR-limit statistics at the end of one positive tie group."""
    if g_cnt > 0:
        for r in range(budgets.shape[0]):
            if cnt_before < budgets[r]:
                share = min((budgets[r] - cnt_before) / g_cnt, 1.0)
                out_tp[r] += share * g_pos
                out_amt[r] += share * g_amt
    if neg_total > 0:
        fp = cnt - tp
        fp_before = cnt_before - (tp - g_pos)
        for lim in range(limits.shape[0]):
            allowed = (limits[lim] + 1e-12) * neg_total
            if fp <= allowed:
                out_fpr[lim] = tp
            elif fp_before <= allowed:  # the group straddles the limit: its expected frauds
                r = math.floor(allowed - fp_before)
                out_fpr[lim] = tp - g_pos + g_pos * (r + 1) / (g_cnt - g_pos + 1)


@nb.njit(nogil=True, cache=True)
def _entity_precision(packed, shift, ent, lab, tie_end, day_start, ks, keep, out):
    """The handbook's card precision top-k per day, averaged over days, for one model and replicate.

    ``ent``/``lab``: one (day, entity) cell per position, days in order, each day sorted by the
    entity's max score, ``tie_end`` marking the last cell of each tie group; the weights
    (entity-block bootstrap) are the nibbles at ``shift`` of ``packed``, indexed by entity. As
    :func:`challengers.evaluation.metrics._per_day_precision`: entities tied at the cut share the
    places left pro rata, and a detected entity leaves later days with its chance of detection
    (``keep``: a scratch buffer of ones, the chance each entity is still undetected, reset on
    return).
    """
    n_days = day_start.shape[0] - 1
    for q in range(ks.shape[0]):
        k = ks[q]
        total = 0.0
        touched = []
        for d in range(n_days):
            cum = 0.0
            hits = 0.0
            start = day_start[d]
            stop = day_start[d + 1]
            while start < stop and cum < k:
                end = start  # the group's last cell
                while not tie_end[end]:
                    end += 1
                group_w = 0.0
                frauds = 0.0
                present = 0
                for idx in range(start, end + 1):
                    e = ent[idx]
                    we = np.float64((packed[e] >> shift) & _NIBBLE) * keep[e]
                    if we > 0:
                        group_w += we
                        present += 1
                        if lab[idx]:
                            frauds += we
                if group_w > 0:
                    inc = min(k - cum, group_w)
                    hits += inc * (frauds / group_w)
                    for idx in range(start, end + 1):
                        e = ent[idx]
                        if not lab[idx] or keep[e] == 0:
                            continue
                        if ((packed[e] >> shift) & _NIBBLE) == 0:
                            continue
                        # a lone entity: its first copy in; tied ones: their share of places
                        det = min(1.0, inc / keep[e]) if present == 1 else inc / group_w
                        if keep[e] == 1.0:
                            touched.append(e)
                        keep[e] = keep[e] * (1.0 - det)
                    cum += group_w
                start = end + 1
            total += hits / k
        out[q] = total / n_days if n_days else np.nan
        for e in touched:
            keep[e] = 1.0


@nb.njit(nogil=True, cache=True)
def run_replicates(
    seed, first, count, n_blocks, blk_cnt, pos_blk, pos_cnt, pos_amt, blk_sq,
    blocks, label, amount, groups, group_start, limits, rates, ent, lab, tie_end, day_start,
    ks_param,
):  # fmt: skip
    """Statistics of every model in replicates ``first .. first+count-1`` (``count`` at most
    :data:`LANES`; releases the GIL).

    ``groups`` stacks every model's positive tie groups, model m's at rows
    ``group_start[m]:group_start[m+1]``. Returns totals ``(count, 3)`` (positives, rows, fraud
    amount), Brier numerators ``(count, calibrated models)``, scalars ``(count, M, 3)``,
    ``fpr (count, M, L)``, ``tp``/``amt`` ``(count, M, R)`` and entity precision ``(count, M, Q)``.
    """
    n_models = blocks.shape[0]
    tot = np.zeros((count, 3))
    brier = np.zeros((count, blk_sq.shape[0]))
    scal = np.zeros((n_models, count, 3))
    fpr = np.zeros((n_models, count, limits.shape[0]))
    tp = np.zeros((n_models, count, rates.shape[0]))
    amt = np.zeros((n_models, count, rates.shape[0]))
    entp = np.zeros((count, n_models, ks_param.shape[0]))
    keys = np.empty(count, dtype=np.uint64)
    for i in range(count):
        keys[i] = replicate_key(seed, first + i)
    packed = np.empty(n_blocks, dtype=np.uint64)
    _fill_and_total(keys, packed, blk_cnt, pos_blk, pos_cnt, pos_amt, blk_sq, tot, brier)
    keep = np.ones(n_blocks if ks_param.shape[0] else 0)
    for m in range(n_models):
        _model_pass(
            packed, blocks[m], label[m], amount[m], groups[group_start[m] : group_start[m + 1]],
            tot, limits, rates, scal[m], fpr[m], tp[m], amt[m],
        )  # fmt: skip
        if ks_param.shape[0]:
            for i in range(count):
                shift = np.uint64(4 * i)
                _entity_precision(packed, shift, ent[m], lab[m], tie_end[m], day_start, ks_param,
                                  keep, entp[i, m])  # fmt: skip
    return (
        tot,
        brier,
        np.ascontiguousarray(scal.transpose(1, 0, 2)),
        np.ascontiguousarray(fpr.transpose(1, 0, 2)),
        np.ascontiguousarray(tp.transpose(1, 0, 2)),
        np.ascontiguousarray(amt.transpose(1, 0, 2)),
        entp,
    )
