"""The audit's statistics against reference implementations and known values."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp, norm
from sklearn.metrics import roc_auc_score

from challengers.audit.measures import (
    categorical_psi,
    grouped_auc,
    ks,
    missing_auc,
    numeric_psi,
    psi,
    rank_auc,
    two_proportion_p,
)

RNG = np.random.default_rng(3)


def test_rank_auc_matches_sklearn_with_ties_and_missing_values() -> None:
    n = 3000
    y = (RNG.uniform(size=n) < 0.1).astype(np.int8)
    x = np.round(RNG.normal(size=n) + y, 1)  # rounded: many ties
    missing = RNG.uniform(size=n) < 0.2
    frame = pl.DataFrame({"y": y, "x": np.where(missing, np.nan, x), "d": x.astype(np.int64)})
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("d")).alias("d")
    )
    aucs = rank_auc(frame, ["x", "d"], "y")
    assert aucs["x"] == pytest.approx(roc_auc_score(y[~missing], x[~missing]), abs=1e-12)
    kept = frame.drop_nulls("d")
    assert aucs["d"] == pytest.approx(roc_auc_score(kept["y"], kept["d"]), abs=1e-12)


def test_rank_auc_of_a_single_class_is_nan() -> None:
    frame = pl.DataFrame({"y": [0, 0, 0], "x": [1.0, 2.0, 3.0]})
    assert math.isnan(rank_auc(frame, ["x"], "y")["x"])


def test_grouped_auc_known_value() -> None:
    # a: 3 frauds / 1 genuine, b: 1 fraud / 3 genuine -> frauds rank above genuine 14 of 16 pairs
    frame = pl.DataFrame({"c": list("aaaabbbb"), "y": [1, 1, 1, 0, 1, 0, 0, 0]})
    scores = np.array([0.75] * 4 + [0.25] * 4)
    assert grouped_auc(frame, "c", "y") == pytest.approx(roc_auc_score(frame["y"], scores))


def test_missing_auc() -> None:
    frame = pl.DataFrame({"y": [1, 1, 0, 0, 0, 0], "x": [None, None, 1.0, 2.0, None, 3.0]})
    # P(missing | fraud) = 1, P(missing | genuine) = 0.25
    assert missing_auc(frame, "x", "y") == pytest.approx(0.5 + 0.75 / 2)


def test_psi_known_value() -> None:
    expected = np.array([50.0, 50.0])
    actual = np.array([25.0, 75.0])
    truth = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(expected, actual) == pytest.approx(truth)
    assert psi(expected, expected) == 0.0


def test_numeric_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    a, b = pl.Series(RNG.normal(size=20_000)), pl.Series(RNG.normal(size=20_000))
    assert numeric_psi(a, b) < 0.01
    assert numeric_psi(a, b + 1) > 0.5


def test_categorical_psi_counts_missing_as_a_category() -> None:
    a = pl.Series(["x"] * 50 + [None] * 50)
    b = pl.Series(["x"] * 25 + [None] * 75)
    assert categorical_psi(a, b) == pytest.approx(
        psi(np.array([50.0, 50.0]), np.array([25.0, 75.0]))
    )


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.3])
def test_ks_matches_scipy(shift: float) -> None:
    a, b = RNG.normal(size=800), RNG.normal(shift, size=600)
    stat, p = ks(pl.Series(a), pl.Series(b))
    reference = ks_2samp(a, b, method="asymp")
    assert stat == pytest.approx(reference.statistic, abs=1e-12)
    assert p == pytest.approx(reference.pvalue, rel=0.05, abs=1e-4)


def test_two_proportion_p() -> None:
    assert two_proportion_p(50, 1000, 50, 1000) == pytest.approx(1.0)
    # 10% vs 15% on 1000 each: pooled 12.5%, z = 0.05 / sqrt(0.125 * 0.875 * 2 / 1000) = 3.381
    z = 0.05 / math.sqrt(0.125 * 0.875 * 2 / 1000)
    assert two_proportion_p(100, 1000, 150, 1000) == pytest.approx(2 * norm.sf(z))
    assert two_proportion_p(100, 1000, 150, 1000) == pytest.approx(7.23e-4, abs=1e-6)


def test_numeric_psi_of_a_feature_missing_in_one_window_is_large_either_way() -> None:
    """Missing in every training row and present in the test rows read NaN (ranked last, no
    finding) where the reverse read 16: both are a whole population shift."""
    values = pl.Series(RNG.normal(size=5_000))
    missing = pl.Series([None] * 5_000, dtype=pl.Float64)
    assert numeric_psi(missing, values) > 10
    assert numeric_psi(values, missing) > 10
    assert numeric_psi(missing, missing) == 0.0  # no shift: missing in both
