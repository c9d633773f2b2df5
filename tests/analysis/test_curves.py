"""ROC and PR points against scikit-learn's curves; score histograms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from challengers.analysis import curves as curves_module
from challengers.analysis.curves import FPR_GRID, RECALL_GRID, RocPr, roc_pr, score_histogram
from challengers.evaluation.curve import Curve, Ranked


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.05).astype(float)
    scores = np.round(y * 0.8 + rng.normal(0, 0.6, 3000), 2)  # rounding makes ties
    return y, scores


def test_roc_points_follow_the_reference_curve(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    fpr, tpr, _ = roc_curve(y, s)
    c = roc_pr(y, s)
    expected = [tpr[fpr <= g + 1e-12].max() for g in FPR_GRID]
    np.testing.assert_allclose(c.tpr, expected, atol=1e-12)
    assert c.fpr == FPR_GRID.tolist()


def test_pr_points_are_the_interpolated_reference(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    precision, recall, _ = precision_recall_curve(y, s)
    c = roc_pr(y, s)
    for r, p in zip(RECALL_GRID[1:], c.precision[1:], strict=True):
        assert p == pytest.approx(precision[recall >= r - 1e-12].max())


def test_score_histogram_shares_and_scale() -> None:
    y = np.array([1, 0, 0, 0])
    h = score_histogram(y, np.array([0.9, 0.1, 0.2, 0.3]), bins=4)
    assert sum(h.fraud) == pytest.approx(1.0) and sum(h.genuine) == pytest.approx(1.0)
    assert not h.log_scale and h.fraud[-1] == 1.0
    assert score_histogram(y, np.array([0.5, 1e-5, 1e-4, 1e-3])).log_scale


def _whole_curve_roc_pr(y: np.ndarray, scores: np.ndarray) -> RocPr:
    """roc_pr as it was written before it read the grid's points alone (whole-curve arrays of
    TPR, FPR, precision, recall and their running maxima): the reference, bit for bit."""
    c = Curve(Ranked.build(y, scores))
    tp, fp = c.tp[0], c.fp[0]
    pos, neg = float(tp[-1]), float(fp[-1])
    tpr = np.concatenate([[0.0], tp / pos]) if pos else np.zeros(len(tp) + 1)
    fpr = np.concatenate([[0.0], fp / neg]) if neg else np.zeros(len(fp) + 1)
    at = np.searchsorted(fpr, FPR_GRID, side="right") - 1
    roc_tpr = np.maximum.accumulate(tpr)[at]
    precision = tp / np.maximum(c.count[0], 1)
    recall = tp / pos if pos else np.zeros(len(tp))
    best_from = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_GRID - 1e-12, side="left")
    valid = idx < len(recall)
    pr = np.where(valid, best_from[np.minimum(idx, len(recall) - 1)], np.nan)
    return RocPr(FPR_GRID.tolist(), roc_tpr.tolist(), RECALL_GRID.tolist(), pr.tolist())


@pytest.mark.parametrize("seed", range(12))
def test_grid_points_equal_the_whole_curve_bit_for_bit(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grid's points read by bisection and the best precisions by a scan of pieces (small
    pieces here, so that a scan crosses several) are the whole-curve arrays' values exactly:
    ties, no fraud, only frauds, one row, a few rows, float32-like scores."""
    monkeypatch.setattr(curves_module, "PIECE", 7)
    rng = np.random.default_rng(seed)
    n = [1, 2, 5, 40, 3000, 20000][seed % 6]
    rate = [0.0, 1.0, 0.03, 0.3][seed % 4] if seed > 5 else 0.05
    y = (rng.random(n) < rate).astype(np.int8)
    scores = np.round(rng.random(n) + 0.3 * y, int(rng.integers(1, 5)))
    if seed % 3 == 0:
        scores = scores.astype(np.float32).astype(np.float64)
    got, want = roc_pr(y, scores), _whole_curve_roc_pr(y, scores)
    for name in ("fpr", "tpr", "recall", "precision"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
