"""The points the plots draw, computed here so the report only renders.

ROC and precision-recall curves are read exactly from the ranked test rows (tie groups as single
steps) and kept at a fixed grid of points, so a curve over 100M rows is a few hundred numbers. The ROC
grid is dense at low false-positive rates, where fraud models operate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from challengers.evaluation.curve import Curve, Ranked

FPR_GRID = np.unique(np.concatenate([[0.0], np.geomspace(1e-5, 1.0, 120), np.linspace(0, 1, 41)]))
RECALL_GRID = np.linspace(0.0, 1.0, 101)


@dataclass
class RocPr:
    fpr: list[float]
    tpr: list[float]
    recall: list[float]
    precision: list[float]


def roc_pr(y: np.ndarray, scores: np.ndarray, ranked: Ranked | None = None) -> RocPr:
    """ROC: the best TPR at each grid FPR. PR: the best precision at each grid recall or above
    (the interpolated curve a reader expects; average precision itself stays the step-wise one).
    ``ranked``: the rows already ranked by ``scores`` (else sorted here).

    Read at the grid's points alone: the running positives at the tie groups' ends are the one
    array of the groups' size held; the points are found by bisection (the rates only grow
    along the ranking) and the best precision from each point on by a scan of bounded pieces,
    where whole-curve arrays of TPR, FPR, precision, recall and their running maxima were about
    80 bytes a test row and model. The same numbers: each rate is the same division."""
    r = ranked if ranked is not None else Ranked.build(y, scores)
    tp = Curve(r).tp[0]  # running positives at each group end; Curve.count is ends + 1
    groups = tp.size
    pos = float(tp[-1])
    neg = float(r.ends[-1] + 1.0 - tp[-1])

    def fpr(i: int) -> float:  # the ROC's i-th point; the first is the origin
        return float(r.ends[i - 1] + 1.0 - tp[i - 1]) / neg if i and neg else 0.0

    def recall(i: int) -> float:
        return float(tp[i]) / pos if pos else 0.0

    # the last point with fpr <= each grid value
    at = [_searchsorted(fpr, g, groups + 1, "right") - 1 for g in FPR_GRID.tolist()]
    roc_tpr = [float(tp[i - 1]) / pos if i and pos else 0.0 for i in at]  # TPR never falls
    targets = (RECALL_GRID - 1e-12).tolist()  # k/P equal to r counts
    idx = [_searchsorted(recall, t, groups, "left") for t in targets]
    best = _best_from(lambda a, b: tp[a:b] / np.maximum(r.ends[a:b] + 1.0, 1), idx, groups)
    pr = [best[i] if i < groups else float("nan") for i in idx]
    return RocPr(FPR_GRID.tolist(), roc_tpr, RECALL_GRID.tolist(), pr)


def _searchsorted(value: Callable[[int], float], limit: float, stop: int, side: str) -> int:
    """``np.searchsorted`` of ``limit`` among the ascending values ``value(0..stop-1)``, found
    by bisection without their array: the first ``i`` whose value is at least ``limit``
    (``side="left"``) or above it (``"right"``), else ``stop``."""
    lo, hi = 0, stop
    while lo < hi:
        mid = (lo + hi) // 2
        v = value(mid)
        if v < limit or (side == "right" and v == limit):
            lo = mid + 1
        else:
            hi = mid
    return lo


PIECE = 1 << 20  # groups read at a time by _best_from


def _best_from(
    values: Callable[[int, int], np.ndarray], starts: list[int], stop: int
) -> dict[int, float]:
    """The largest of ``values(a, b)`` (the values at positions ``a..b-1``) from each of
    ``starts`` to ``stop``, read from the end in pieces of at most :data:`PIECE` positions."""
    best, running, end = {}, -math.inf, stop
    for start in sorted({s for s in starts if s < stop}, reverse=True):
        for a in range(start, end, PIECE):
            running = max(running, float(values(a, min(a + PIECE, end)).max()))
        best[start], end = running, start
    return best


@dataclass
class ScoreHistogram:
    """Density of the scores of frauds and of genuine rows on shared bins."""

    edges: list[float]
    fraud: list[float]
    genuine: list[float]
    log_scale: bool


def score_histogram(y: np.ndarray, scores: np.ndarray, bins: int = 40) -> ScoreHistogram:
    """Log-spaced bins for positive scores spanning decades (probabilities near 0), else linear."""
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = float(s.min()), float(s.max())
    log_scale = lo > 0 and hi / lo > 100
    if log_scale:
        edges = np.geomspace(lo, hi, bins + 1)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    fraud = y > 0
    f, _ = np.histogram(s[fraud], bins=edges)
    g, _ = np.histogram(s[~fraud], bins=edges)
    return ScoreHistogram(
        edges=edges.tolist(),
        fraud=(f / max(f.sum(), 1)).tolist(),
        genuine=(g / max(g.sum(), 1)).tolist(),
        log_scale=bool(log_scale),
    )


@dataclass
class Curves:
    roc_pr: dict[str, RocPr] = field(default_factory=dict)
    scores: dict[str, ScoreHistogram] = field(default_factory=dict)


def curves(
    y: np.ndarray, scores: Mapping[str, np.ndarray], ranked: Mapping[str, Ranked] | None = None
) -> Curves:
    return Curves(
        roc_pr={name: roc_pr(y, s, ranked[name] if ranked else None) for name, s in scores.items()},
        scores={name: score_histogram(y, s) for name, s in scores.items()},
    )
