"""Calibration of probability scores: Brier score, expected calibration error, reliability curve.

Only calibrated kinds are assessed; the others (reweighted classes, anomaly or graph scores, scores
outside [0, 1]) are listed with the reason, because a calibration figure for a score that never
claimed to be a probability means nothing.

Bins hold equal numbers of rows (quantiles of the score): fraud scores crowd near zero, so equal-width
bins would put almost every row in the first bin and hide the top of the range. The expected
calibration error is the row-weighted mean of |mean score - fraud rate| over those bins. Everything is
computed on every test row: the binning needs one sort, no sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from challengers.analysis.distributions import normal_sf


def quantile_bins(scores: np.ndarray, bins: int) -> np.ndarray:
    """The bin (0..k-1) of each score; edges are score quantiles, duplicates merged."""
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, scores, side="left")


@dataclass
class Reliability:
    """Per bin: rows, mean score, observed fraud rate and its Wilson 95% interval."""

    count: list[int]
    mean_score: list[float]
    observed: list[float]
    observed_low: list[float]
    observed_high: list[float]


def wilson(successes: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion, vectorised; (nan, nan) where n is 0."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def reliability(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> Reliability:
    b = quantile_bins(scores, bins)
    k = int(b.max()) + 1 if b.size else 0
    count = np.bincount(b, minlength=k)
    keep = count > 0
    count = count[keep]
    score_sum = np.bincount(b, weights=scores, minlength=k)[keep]
    fraud = np.bincount(b, weights=(y > 0).astype(np.float64), minlength=k)[keep]
    low, high = wilson(fraud, count)
    return Reliability(
        count=count.tolist(),
        mean_score=(score_sum / count).tolist(),
        observed=(fraud / count).tolist(),
        observed_low=low.tolist(),
        observed_high=high.tolist(),
    )


def expected_calibration_error(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean |mean score - fraud rate| over equal-mass score bins."""
    return ece_of(reliability(y, scores, bins))


def ece_of(r: Reliability) -> float:
    count = np.asarray(r.count, dtype=np.float64)
    gap = np.abs(np.asarray(r.mean_score) - np.asarray(r.observed))
    return float(np.sum(count * gap) / count.sum()) if count.sum() else float("nan")


def in_the_large_p(y: np.ndarray, scores: np.ndarray) -> float:
    """Two-sided p-value of 'observed frauds = expected frauds (the sum of scores)': a z-test with
    the variance of a sum of independent Bernoulli(score) labels."""
    variance = float(np.sum(scores * (1 - scores)))
    if variance <= 0:
        return float("nan")
    z = (float(np.sum(y > 0)) - float(np.sum(scores))) / math.sqrt(variance)
    return 2 * normal_sf(abs(z))


def brier_score(y: np.ndarray, scores: np.ndarray) -> float:
    return float(np.mean((scores - (y > 0)) ** 2)) if len(y) else float("nan")


@dataclass
class Calibration:
    """One model's calibration, or why it was not assessed."""

    model: str
    assessed: bool
    reason: str = ""
    brier: float = float("nan")
    ece: float = float("nan")
    mean_score: float = float("nan")
    fraud_rate: float = float("nan")
    ratio: float = float("nan")  # mean score / fraud rate: 1 is calibrated in the large
    ratio_p_value: float = float("nan")  # observed frauds vs the sum of scores (z-test)
    bins: int = 0
    curve: Reliability | None = None


def calibration(
    model: str, y: np.ndarray, scores: np.ndarray, *, calibrated: bool, bins: int = 10
) -> Calibration:
    """Brier, ECE, calibration in the large and the reliability curve of a probability score."""
    if not calibrated:
        return Calibration(
            model,
            False,
            "its scores are not calibrated probabilities (reweighted classes or a non-probability "
            "score), so calibration does not apply",
        )
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        return Calibration(model, False, "its scores fall outside [0, 1]")
    fraud_rate = float(np.mean(y > 0)) if len(y) else float("nan")
    mean_score = float(np.mean(scores)) if len(y) else float("nan")
    curve = reliability(y, scores, bins)
    return Calibration(
        model=model,
        assessed=True,
        brier=brier_score(y, scores),
        ece=ece_of(curve),
        mean_score=mean_score,
        fraud_rate=fraud_rate,
        ratio=mean_score / fraud_rate if fraud_rate > 0 else math.nan,
        ratio_p_value=in_the_large_p(y, scores),
        bins=bins,
        curve=curve,
    )
