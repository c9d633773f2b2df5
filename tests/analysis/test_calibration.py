"""Calibration: ECE, Brier, reliability, calibration in the large, on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from challengers.analysis.calibration import (
    brier_score,
    calibration,
    expected_calibration_error,
    in_the_large_p,
    reliability,
    wilson,
)


def test_ece_of_a_two_bin_case() -> None:
    # bin 1: score 0.1, observed 1/5 = 0.2; bin 2: score 0.9, observed 4/5 = 0.8 -> ECE 0.1
    scores = np.array([0.1] * 5 + [0.9] * 5)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0])  # 1/5 and 4/5
    assert expected_calibration_error(y, scores, bins=2) == pytest.approx(0.1)
    r = reliability(y, scores, bins=2)
    assert r.count == [5, 5]
    assert r.mean_score == pytest.approx([0.1, 0.9])
    assert r.observed == pytest.approx([0.2, 0.8])


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    scores = np.array([0.25] * 8 + [0.5] * 8)
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0] + [1, 0] * 4)
    assert expected_calibration_error(y, scores, bins=4) == pytest.approx(0.0)
    assert brier_score(y, scores) == pytest.approx(np.mean((scores - y) ** 2))


def test_wilson_interval_matches_the_formula() -> None:
    lo, hi = wilson(np.array([5.0]), np.array([20.0]))
    p, n, z = 0.25, 20, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (lo[0], hi[0]) == pytest.approx((centre - half, centre + half))


def test_calibration_in_the_large() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 30, 50_000)
    y = (rng.random(50_000) < p).astype(float)
    good = calibration("m", y, p, calibrated=True)
    assert good.assessed and good.ratio == pytest.approx(1.0, abs=0.05)
    assert good.ratio_p_value > 0.01
    off = calibration("m", y, p / 2, calibrated=True)  # halves every probability
    assert off.ratio == pytest.approx(0.5, abs=0.03) and off.ratio_p_value < 1e-6
    assert in_the_large_p(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(1.0)


def test_uncalibrated_scores_are_not_assessed() -> None:
    y = np.array([0, 1])
    assert not calibration("m", y, np.array([0.2, 0.7]), calibrated=False).assessed
    out = calibration("m", y, np.array([-3.0, 2.0]), calibrated=True)
    assert not out.assessed and "outside [0, 1]" in out.reason
