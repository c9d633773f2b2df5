"""Compiled kernels of the paired Poisson bootstrap (numba).

The weight of block ``j`` in replicate ``b`` is a Poisson(1) draw computed from a counter-based hash of
``(seed, b, j)``: no ``(B, n)`` weight matrix is ever stored, a replicate's weights do not depend on
how replicates are split across threads, and every model of a replicate sees the same weights, which
makes the bootstrap paired. Each replicate draws its block weights once into a small buffer, then
makes one pass over each model's rows in that model's own score order (sorted once, outside the
replicate loop).

The pass is cheap because every ranking metric only changes at tie groups that hold a positive:
between two such groups only the running count of weighted rows moves (ROC wins, average precision,
the KS extremes, the alert-budget and FPR-limit crossings can all be read at the positive groups and
just before them). So the inner loop over the ~99% of negative rows is a gather-and-add.

The statistics are turned into metric values by :mod:`challengers.stats`; the formulas mirror
:mod:`challengers.metrics` (the exact reference), which a test checks on the same weights.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
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
def _poisson(u: np.uint64, thresholds: np.ndarray) -> np.uint8:
    # branch-free for the common values (P(k >= 6) ~ 6e-4), a loop for the tail
    k = (
        np.int64(u >= thresholds[0])
        + np.int64(u >= thresholds[1])
        + np.int64(u >= thresholds[2])
        + np.int64(u >= thresholds[3])
        + np.int64(u >= thresholds[4])
        + np.int64(u >= thresholds[5])
    )
    while k >= 6 and k < MAX_WEIGHT and u >= thresholds[k]:
        k += 1
    return np.uint8(k)


@nb.njit(cache=True)
def fill_weights(key: np.uint64, out: np.ndarray, thresholds: np.ndarray) -> None:
    """Poisson(1) weight of every block for one replicate key; one hash gives two blocks."""
    n = out.shape[0]
    for h in range((n + 1) // 2):
        u = _mix(key + np.uint64(h + 1) * _GOLDEN)
        out[2 * h] = _poisson(u & _LOW32, thresholds)
        if 2 * h + 1 < n:
            out[2 * h + 1] = _poisson(u >> _S32, thresholds)


@nb.njit(nogil=True, cache=True)
def weight_matrix(seed: int, first: int, count: int, n_blocks: int, thresholds: np.ndarray):
    """Block weights of replicates ``first .. first+count-1`` as a ``(count, n_blocks)`` matrix.

    For tests, the reference path and small block counts (days); the engine never builds it.
    """
    out = np.empty((count, n_blocks), dtype=np.uint8)
    for i in range(count):
        fill_weights(replicate_key(seed, first + i), out[i], thresholds)
    return out


@nb.njit(cache=True)
def _fill_and_total(key, thresholds, w, blk_cnt, pos_blk, pos_cnt, pos_amt, blk_sq, tot, brier):
    """Draw a replicate's block weights; its totals (positives, rows, fraud amount) and each
    calibrated model's Brier numerator. Positives and amounts are summed over the few blocks
    holding a positive; the rest is fused with the draws so each block is read once."""
    fill_weights(key, w, thresholds)
    c = np.int64(0)
    for j in range(w.shape[0]):
        c += np.int64(w[j]) * np.int64(blk_cnt[j])
    p = 0.0
    a = 0.0
    for t in range(pos_blk.shape[0]):
        wj = np.float64(w[pos_blk[t]])
        p += wj * pos_cnt[t]
        a += wj * pos_amt[t]
    for m in range(blk_sq.shape[0]):
        sq = blk_sq[m]
        acc = 0.0
        for j in range(sq.shape[0]):
            acc += np.float64(w[j]) * sq[j]
        brier[m] = acc
    tot[0] = p
    tot[1] = np.float64(c)
    tot[2] = a


@nb.njit(inline="always", cache=True)
def _run_sum(w, blocks, start, stop):
    """Weighted row count of ``blocks[start:stop]``: the hot loop over negative rows.

    Indexing a slice from 0 lets the compiler drop the negative-index checks (twice as fast).
    """
    run = blocks[start:stop]
    s = np.int64(0)
    for i in range(run.shape[0]):
        s += np.int64(w[run[i]])
    return np.float64(s)


@nb.njit(cache=True)
def _model_pass(w, blocks, label, amount, groups, tot, limits, rates, out_scalar, out_fpr, out_tp,
                out_amt):  # fmt: skip
    """One pass over one model's rows in score order: every metric's statistics for a replicate.

    ``groups`` holds the (start, stop) of each tie group with a positive, in score order. Writes
    ``out_scalar`` = (ROC wins, sum of recall step x precision, KS), ``out_fpr[l]`` = positives above
    the lowest threshold with FPR <= limits[l], ``out_tp[r]``/``out_amt[r]`` = positives/fraud amount
    in the top ``rates[r]`` share of the weight (the boundary tie group pro rata).

    ROC wins are counted from the positives' side: a positive group scores its negatives below
    (N - fp after it) plus half of its own negatives. The KS gap is monotone between positive
    groups, so its maximum is at a positive group's end or just before one.
    """
    pos_total = tot[0]
    neg_total = tot[1] - tot[0]
    has_amt = amount.shape[0] > 0
    budgets = rates * tot[1]
    max_budget = budgets.max() if budgets.shape[0] else -1.0
    max_limit = limits.max() + 1e-12 if limits.shape[0] and neg_total > 0 else -1.0
    ks_ok = pos_total > 0 and neg_total > 0
    inv_p = 1.0 / pos_total if ks_ok else 0.0
    inv_n = 1.0 / neg_total if ks_ok else 0.0
    early = max_budget > 0 or max_limit >= 0  # still at the top of the ranking
    tp = cnt = 0.0
    wins = ap = ks = 0.0
    prev = 0
    for g in range(groups.shape[0]):
        start, stop = groups[g, 0], groups[g, 1]
        cnt += _run_sum(w, blocks, prev, start)
        ks = max(ks, abs(tp * inv_p - (cnt - tp) * inv_n))
        g_cnt = g_pos = g_amt = 0.0
        for i in range(start, stop):
            wi = np.float64(w[blocks[i]])
            g_cnt += wi
            if label[i]:
                g_pos += wi
                if has_amt:
                    g_amt += wi * amount[i]
        cnt_before = cnt
        tp += g_pos
        cnt += g_cnt
        fp = cnt - tp
        if g_pos > 0:
            wins += g_pos * (neg_total - fp) + 0.5 * g_pos * (g_cnt - g_pos)
            ap += g_pos * tp / cnt
        ks = max(ks, abs(tp * inv_p - fp * inv_n))
        if early:
            _top_of_ranking(cnt_before, cnt, tp, g_cnt, g_pos, g_amt, neg_total, budgets,
                            limits, out_tp, out_amt, out_fpr)  # fmt: skip
            early = cnt < max_budget or (neg_total > 0 and fp / neg_total <= max_limit)
        prev = stop
    out_scalar[0] = wins
    out_scalar[1] = ap
    out_scalar[2] = ks if ks_ok else 0.0


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
        fpr = (cnt - tp) / neg_total
        for lim in range(limits.shape[0]):
            if fpr <= limits[lim] + 1e-12:
                out_fpr[lim] = tp


@nb.njit(cache=True)
def _entity_precision(w, ent, lab, day_start, ks, removed, out):
    """The handbook's card precision top-k per day, averaged over days, for one model and replicate.

    ``ent``/``lab``: one (day, entity) cell per position, days in order, each day sorted by the
    entity's max score; ``w`` is indexed by entity (entity-block bootstrap). Entities detected on a
    day are left out of later days. ``removed`` is a zeroed scratch buffer, zeroed again on return.
    """
    n_days = day_start.shape[0] - 1
    for q in range(ks.shape[0]):
        k = ks[q]
        total = 0.0
        touched = []
        for d in range(n_days):
            cum = 0.0
            hits = 0.0
            for idx in range(day_start[d], day_start[d + 1]):
                e = ent[idx]
                if removed[e]:
                    continue
                we = np.float64(w[e])
                if we == 0:
                    continue
                inc = min(k - cum, we)
                if inc <= 0:
                    break
                cum += we
                if lab[idx]:
                    hits += inc
                    removed[e] = True
                    touched.append(e)
            total += hits / k
        out[q] = total / n_days if n_days else np.nan
        for e in touched:
            removed[e] = False


@nb.njit(nogil=True, cache=True)
def run_replicates(
    seed, first, count, thresholds, n_blocks, blk_cnt, pos_blk, pos_cnt, pos_amt, blk_sq,
    blocks, label, amount, groups, group_start, limits, rates, ent, lab, day_start, ks_param,
):  # fmt: skip
    """Statistics of every model in replicates ``first .. first+count-1`` (releases the GIL).

    ``groups`` stacks every model's positive tie groups, model m's at rows
    ``group_start[m]:group_start[m+1]``. Returns totals ``(count, 3)`` (positives, rows, fraud
    amount), Brier numerators ``(count, calibrated models)``, scalars ``(count, M, 3)``,
    ``fpr (count, M, L)``, ``tp``/``amt`` ``(count, M, R)`` and entity precision ``(count, M, Q)``.
    """
    n_models = blocks.shape[0]
    tot = np.zeros((count, 3))
    brier = np.zeros((count, blk_sq.shape[0]))
    scal = np.zeros((count, n_models, 3))
    fpr = np.zeros((count, n_models, limits.shape[0]))
    tp = np.zeros((count, n_models, rates.shape[0]))
    amt = np.zeros((count, n_models, rates.shape[0]))
    entp = np.zeros((count, n_models, ks_param.shape[0]))
    n_entities = n_blocks if ks_param.shape[0] else 0
    for i in range(count):
        w = np.empty(n_blocks, dtype=np.uint8)
        key = replicate_key(seed, first + i)
        _fill_and_total(
            key, thresholds, w, blk_cnt, pos_blk, pos_cnt, pos_amt, blk_sq, tot[i], brier[i]
        )
        removed = np.zeros(n_entities, dtype=np.bool_)
        for m in range(n_models):
            _model_pass(
                w, blocks[m], label[m], amount[m], groups[group_start[m] : group_start[m + 1]],
                tot[i], limits, rates, scal[i, m], fpr[i, m], tp[i, m], amt[i, m],
            )  # fmt: skip
            if ks_param.shape[0]:
                _entity_precision(w, ent[m], lab[m], day_start, ks_param, removed, entp[i, m])
    return tot, brier, scal, fpr, tp, amt, entp
