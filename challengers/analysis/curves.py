"""The points the plots draw, computed here so the report only renders.

ROC and precision-recall curves are read exactly from the ranked test rows (tie groups as single
steps) and kept at a fixed grid of points, so a curve over 100M rows is a few hundred numbers. The ROC
grid is dense at low false-positive rates, where fraud models operate.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    ``ranked``: the rows already ranked by ``scores`` (else sorted here)."""
    c = Curve(ranked if ranked is not None else Ranked.build(y, scores))
    tp, fp = c.tp[0], c.fp[0]
    pos, neg = float(tp[-1]), float(fp[-1])
    tpr = np.concatenate([[0.0], tp / pos]) if pos else np.zeros(len(tp) + 1)
    fpr = np.concatenate([[0.0], fp / neg]) if neg else np.zeros(len(fp) + 1)
    at = np.searchsorted(fpr, FPR_GRID, side="right") - 1  # last point with fpr <= grid
    roc_tpr = np.maximum.accumulate(tpr)[at]
    precision = tp / np.maximum(c.count[0], 1)
    recall = tp / pos if pos else np.zeros(len(tp))
    # best precision at recall >= r: a running max from the end
    best_from = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_GRID - 1e-12, side="left")  # k/P equal to r counts
    valid = idx < len(recall)
    pr = np.where(valid, best_from[np.minimum(idx, len(recall) - 1)], np.nan)
    return RocPr(FPR_GRID.tolist(), roc_tpr.tolist(), RECALL_GRID.tolist(), pr.tolist())


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
