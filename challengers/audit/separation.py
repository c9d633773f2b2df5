"""How well a column's values alone separate fraud, whatever the shape of the relation.

A rank AUC sees only a monotone relation: a code whose fraud values sit between genuine ones
(frauds at 0.3 and 0.7, genuine rows at 0.1, 0.2, 0.4, ...) or a narrow band of a continuous
column reads about 0.5. Here each value, or each quantile bin of values, is scored by its fraud
rate, and the AUC of that score is measured out of fold: the rows are split in ``FOLDS`` folds
(stratified by class), each fold scored by the rates the other folds show. A column with many
values cannot fit noise that way (a per-row unique id reads exactly 0.5); an honest feature reads
about its true separation, or a little less (rates estimated on part of the rows are noisy).

Work per column of the sample: a sort of its values (by value) or of 20,000 of them (bins),
a binary search per row, and counts per (fold, bin); no loop over rows.
"""

from __future__ import annotations

import math

import numpy as np

# Ten folds, each scored by rates from the other nine. With two halves the rates were noisy enough
# to move the figure by the split alone: a leak planted in 0.45-0.55 of a uniform column (131
# frauds, ideal AUC 0.952) read 0.927 +- 0.020 over 20 seeds with 2 folds, 0.9499 +- 0.0008
# with 10 (0.9496 +- 0.0006 with 20: no gain past 10).
FOLDS = 10
# Quantile bins: as many as the sample has frauds, at most 200. A bin must expect a few frauds
# for its rate to mean something: on that band with 65 frauds, 30 / 60 / 100 / 200 bins read
# 0.945 / 0.948 / 0.940 / 0.931 (the finer, the more bins inside the band hold no fraud of the
# other folds); with 131 frauds 100 / 200 / 300 bins read 0.949 / 0.950 / 0.938. 200 bins still
# give a band holding 5% of the genuine rows 10 bins. Finer or coarser bins only lower an honest
# column's figure (noisier rates, or a coarser shape), never raise it.
MAX_BINS = 200
MIN_BINS = 10
# The bin edges are quantiles of at most this many evenly spaced rows: sorting them is 0.6 ms
# where sorting a 200,000-row sample was 14-22 ms of a column's 36 (about 100 rows per bin: the
# bins hold about equal shares, which is all they need).
EDGE_ROWS = 20_000
# A value's rate is (frauds + PRIOR_ROWS x sample rate) / (rows + PRIOR_ROWS): a value the other
# folds never saw scores the sample's rate in every fold (a tie, not a guess).
PRIOR_ROWS = 1.0


def folds(y: np.ndarray, seed: int, k: int = FOLDS) -> np.ndarray:
    """0..k-1 per row: a seeded split in k folds, each class spread evenly (a fold whose frauds
    all fell elsewhere would be scored by rates that saw every fraud)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=np.int64)
    for cls in (False, True):
        rows = rng.permutation(np.flatnonzero(y == cls))
        fold[rows] = np.arange(rows.size) % k
    return fold


def value_codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's index among the distinct values (0..k-1), and k."""
    values, codes = np.unique(x, return_inverse=True)
    return codes.ravel(), values.size


def bin_codes(x: np.ndarray, bins: int) -> tuple[np.ndarray, int]:
    """Quantile bins, a value at a bin edge a bin of its own; each row's bin (0..k-1), and k.
    A column that is mostly one value (0 for 95% of rows) has its quantiles all on that value:
    with plain bins every row fell in one bin (a label copy, 0 or 1-4, read AUC 0.5); here that
    value, the rows below it and those above it are three bins."""
    ordered = np.sort(x[:: max(1, x.size // EDGE_ROWS)])
    positions = (np.arange(1, bins) * (ordered.size / bins)).astype(np.int64)
    edges = np.unique(ordered[positions])
    index = np.searchsorted(edges, x, side="left")  # x <= edges[index]
    on_edge = edges[np.minimum(index, edges.size - 1)] == x
    return 2 * index + on_edge, 2 * edges.size + 1


def bins_for(positives: int) -> int:
    return int(min(MAX_BINS, max(MIN_BINS, positives)))


def out_of_fold_auc(codes: np.ndarray, k: int, y: np.ndarray, fold: np.ndarray) -> float:
    """AUC of "the fraud rate of this row's value (bin) in the other folds" as a score, ties
    averaged. ``codes``: each row's value or bin, 0..k-1; ``y``: 1 for fraud; ``fold``: 0..n-1."""
    y = np.asarray(y, dtype=np.float64)
    positives = int(y.sum())
    if not positives or positives == y.size:
        return math.nan
    n = int(fold.max()) + 1
    group = fold * k + codes  # (fold, code): every row of a group gets the same score
    rows = np.bincount(group, minlength=n * k).reshape(n, k).astype(np.float64)
    frauds = np.bincount(group, weights=y, minlength=n * k).reshape(n, k)
    other_rows, other_frauds = rows.sum(axis=0) - rows, frauds.sum(axis=0) - frauds
    score = (other_frauds + PRIOR_ROWS * positives / y.size) / (other_rows + PRIOR_ROWS)
    held = rows.ravel() > 0  # a code of 200,000 values: 2M (fold, value) pairs, few filled
    frauds = frauds.ravel()[held]
    return groups_auc(score.ravel()[held], frauds, rows.ravel()[held] - frauds)


def groups_auc(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC of rows grouped by score: ``pos`` frauds and ``neg`` genuine rows score
    ``score``; equal scores are ties (half a pair)."""
    levels, which = np.unique(score, return_inverse=True)
    pos = np.bincount(which.ravel(), weights=pos, minlength=levels.size)
    neg = np.bincount(which.ravel(), weights=neg, minlength=levels.size)
    total_pos, total_neg = pos.sum(), neg.sum()
    if not total_pos or not total_neg:
        return math.nan
    below = np.cumsum(neg) - neg  # genuine rows scored strictly lower
    return float(np.sum(pos * (below + 0.5 * neg)) / (total_pos * total_neg))
