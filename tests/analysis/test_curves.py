"""ROC and PR points against scikit-learn's curves; score histograms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from challengers.analysis.curves import FPR_GRID, RECALL_GRID, roc_pr, score_histogram


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
