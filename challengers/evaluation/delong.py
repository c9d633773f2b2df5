"""DeLong's test for the difference of two correlated ROC AUCs on the same rows.

The AUC is a two-sample U-statistic; DeLong, DeLong & Clarke-Pearson (1988) estimate its variance
from the structural components: for each positive, the share of negatives it outranks (V10), for each
negative, the share of positives that outrank it (V01), ties counting half. Sun & Xu (2014) get them
in O(n log n) from midranks: V10 = (rank among all - rank among positives) / N, V01 = 1 - (rank among
all - rank among negatives) / M.

Rows of one card are not independent. With ``clusters`` (entity or day codes) the variance is the
clustered form of Obuchowski (1997): the components are summed per cluster and the clusters, not the
rows, are the independent units. With one row per cluster it is DeLong's variance up to the small-
sample factor (K / (K - 1) instead of M / (M - 1) and N / (N - 1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` in ascending order, tied values sharing their mean rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x)
    out = np.empty(x.size)
    out[order] = _sorted_midranks(x[order])
    return out


def _sorted_midranks(s: np.ndarray) -> np.ndarray:
    """Midranks of an ascending array, in its own order."""
    if s.size == 0:
        return np.empty(0)
    # a tie group spans [first, last]; its midrank is the mean of the 1-based positions
    new_group = np.concatenate([[True], s[1:] != s[:-1]])
    group = np.cumsum(new_group) - 1
    first = np.flatnonzero(new_group)
    last = np.concatenate([first[1:], [s.size]]) - 1
    return (first[group] + last[group]) / 2.0 + 1.0


@dataclass(frozen=True)
class Components:
    """A model's AUC and its structural components, positives and negatives in row order."""

    auc: float
    v10: np.ndarray
    v01: np.ndarray


def components(y: np.ndarray, score: np.ndarray, ascending: np.ndarray | None = None) -> Components:
    """AUC and DeLong's structural components by midranks (Sun & Xu 2014), O(n log n).

    One sort serves all three rankings: the positives (negatives) in sorted order are sorted too.
    ``ascending``: row indices in ascending score order when the caller has them (e.g. a ranking's
    order reversed); how tied rows are ordered does not change any midrank.
    """
    pos = np.asarray(y) > 0
    score = np.asarray(score, dtype=np.float64)
    m, n = int(pos.sum()), int((~pos).sum())
    if m < 2 or n < 2:  # one fraud (or one genuine row): the variance is not estimable
        return Components(float("nan"), np.full(m, np.nan), np.full(n, np.nan))
    order = np.argsort(score) if ascending is None else ascending
    s, is_pos = score[order], pos[order]
    tz = _sorted_midranks(s)
    by_row = np.empty(score.size)
    by_row[order[is_pos]] = (tz[is_pos] - _sorted_midranks(s[is_pos])) / n
    by_row[order[~is_pos]] = 1.0 - (tz[~is_pos] - _sorted_midranks(s[~is_pos])) / m
    auc = (tz[is_pos].sum() - m * (m + 1) / 2.0) / (m * n)
    return Components(float(auc), by_row[pos], by_row[~pos])


def components_of_ranking(
    y: np.ndarray, ranked_y: np.ndarray, ends: np.ndarray, order: np.ndarray
) -> Components:
    """:func:`components` read from a model's descending ranking (``ranked_y`` the labels, and
    ``order`` the row indices, in score order; ``ends`` the last position of each tie group, as
    :class:`~challengers.evaluation.curve.Ranked` holds them): the same numbers in one pass, with
    no gather of the scores and no midrank arrays (three to five row-sized temporaries)."""
    pos = np.asarray(y) > 0
    m = int(pos.sum())
    n = pos.size - m
    if m < 2 or n < 2:  # one fraud (or one genuine row): the variance is not estimable
        return Components(float("nan"), np.full(m, np.nan), np.full(n, np.nan))
    from challengers.evaluation.row_kernels import delong_by_row  # numba loads only when needed

    by_row, twice_ranks = delong_by_row(ranked_y, ends, order, m, n)
    auc = (twice_ranks / 2.0 - m * (m + 1) / 2.0) / (m * n)
    return Components(float(auc), by_row[pos], by_row[~pos])


@dataclass(frozen=True)
class ClusterComponents:
    """A model's AUC and its structural components summed per cluster: all the clustered
    variance reads (:func:`delong_from_cluster_sums`), a few arrays of the clusters' size."""

    auc: float
    v10: np.ndarray  # each cluster's sum of its positives' V10
    v01: np.ndarray  # each cluster's sum of its negatives' V01
    positives: np.ndarray  # each cluster's positives
    negatives: np.ndarray  # each cluster's negatives


def cluster_components_of_ranking(
    ranked_y: np.ndarray, ends: np.ndarray, order: np.ndarray, clusters: np.ndarray
) -> ClusterComponents:
    """:func:`components_of_ranking` summed per cluster (``clusters``: each row's code, in the
    rows' order) in the same pass: no row-sized array per model (8 bytes a row each, held for
    every pair a run tests, and the pair's differences beside them)."""
    from challengers.evaluation.row_kernels import delong_by_cluster  # numba: when needed

    codes = _cluster_codes(np.asarray(clusters))
    m = int(np.count_nonzero(ranked_y))
    n = ranked_y.size - m
    if m < 2 or n < 2:  # one fraud (or one genuine row): counted, nothing to sum
        none = np.zeros(1)
        return ClusterComponents(float("nan"), none, none, np.array([m]), np.array([n]))
    v10, v01, positives, negatives, twice_ranks = delong_by_cluster(
        ranked_y, ends, order, m, n, codes, int(codes.max()) + 1
    )
    auc = (twice_ranks / 2.0 - m * (m + 1) / 2.0) / (m * n)
    return ClusterComponents(float(auc), v10, v01, positives, negatives)


@dataclass(frozen=True)
class DeLongResult:
    auc_a: float
    auc_b: float
    delta: float  # auc_a - auc_b
    se: float
    z: float
    p_value: float  # two-sided
    clusters: int | None  # None: rows are independent


def delong_test(
    y: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    clusters: np.ndarray | None = None,
) -> DeLongResult:
    """Two-sided test of AUC(a) = AUC(b) on the same rows; ``clusters`` codes dependent rows."""
    return delong_from_components(
        y, components(y, score_a), components(y, score_b), clusters=clusters
    )


def delong_from_components(
    y: np.ndarray, a: Components, b: Components, *, clusters: np.ndarray | None = None
) -> DeLongResult:
    """DeLong's test from precomputed components (compute each model's once, test many pairs)."""
    pos = np.asarray(y) > 0
    m, n = a.v10.size, a.v01.size
    delta = a.auc - b.auc
    if m < 2 or n < 2:  # one fraud (or one genuine row): the variance is not estimable
        return _not_estimable(a.auc, b.auc)
    d10, d01 = a.v10 - b.v10, a.v01 - b.v01
    if clusters is None:
        var = _var(d10) / m + _var(d01) / n
        k = None
    else:
        codes = _dense(np.asarray(clusters))
        k = int(codes.max()) + 1
        size = k
        # each cluster's contribution to the linearised delta; clusters are the independent units
        x = np.bincount(codes[pos], weights=d10 - delta, minlength=size) / m
        x += np.bincount(codes[~pos], weights=d01 - delta, minlength=size) / n
        var = k / (k - 1) * float(np.sum(x * x)) if k > 1 else float("nan")
    return _tested(a.auc, b.auc, var, k)


def delong_from_cluster_sums(a: ClusterComponents, b: ClusterComponents) -> DeLongResult:
    """:func:`delong_from_components` with ``clusters`` from the components' per-cluster sums
    (:func:`cluster_components_of_ranking`, the same clusters for both models): each cluster's
    linearised delta is the difference of the two models' sums less delta per row, the same
    number summed in another order (equal to about 1e-15)."""
    m, n = int(a.positives.sum()), int(a.negatives.sum())
    if m < 2 or n < 2:  # one fraud (or one genuine row): the variance is not estimable
        return _not_estimable(a.auc, b.auc)
    delta = a.auc - b.auc
    x = (a.v10 - b.v10 - delta * a.positives) / m + (a.v01 - b.v01 - delta * a.negatives) / n
    k = int(np.count_nonzero(a.positives + a.negatives))  # a code no row has is no cluster
    var = k / (k - 1) * float(np.sum(x * x)) if k > 1 else float("nan")
    return _tested(a.auc, b.auc, var, k)


def _tested(auc_a: float, auc_b: float, var: float, k: int | None) -> DeLongResult:
    """The two-sided z-test of AUC(a) - AUC(b) with variance ``var``."""
    delta = auc_a - auc_b
    se = math.sqrt(var) if var >= 0 else float("nan")
    if se == 0:
        z, p = (0.0, 1.0) if delta == 0 else (math.copysign(math.inf, delta), 0.0)
    else:
        z = delta / se
        p = math.erfc(abs(z) / math.sqrt(2.0))
    return DeLongResult(auc_a, auc_b, float(delta), se, z, p, k)


def _not_estimable(auc_a: float, auc_b: float) -> DeLongResult:
    """One fraud (or one genuine row): neither the delta's variance nor the test exists."""
    nan = float("nan")
    return DeLongResult(auc_a, auc_b, nan, nan, nan, nan, None)


def _cluster_codes(codes: np.ndarray) -> np.ndarray:
    """Codes the per-cluster sums can index as they are (non-negative integers, the largest
    at most a few times the rows: a code no row has is no cluster), else :func:`_dense`'s:
    the rows' int32 entity codes are not copied to int64 (8 bytes a row, per model)."""
    indexable = codes.dtype.kind in "iu" and codes.size and codes.min() >= 0
    return codes if indexable and codes.max() <= 4 * codes.size else _dense(codes)


def _dense(codes: np.ndarray) -> np.ndarray:
    """``np.unique(codes, return_inverse=True)[1]``; in O(n) for small non-negative integer codes
    (a table of the codes present), already dense ones (every code 0..K-1 used) as they are."""
    if (
        codes.dtype.kind not in "iu"
        or not codes.size
        or codes.min() < 0
        or codes.max() > 4 * codes.size
    ):
        return np.unique(codes, return_inverse=True)[1]
    present = np.bincount(codes) > 0
    if present.all():
        return codes.astype(np.intp, copy=False)
    return (np.cumsum(present) - 1)[codes]


def _var(v: np.ndarray) -> float:
    return float(np.var(v, ddof=1)) if v.size > 1 else 0.0
