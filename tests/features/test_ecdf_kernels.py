"""ECOD's and COPOD's compiled scores against the numpy expression they replace, bit for bit: ties,
NaN, infinities, signed zeros, a feature whose fit values are all missing, float32 and float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import skew

from challengers.features.ecdf_kernels import distinct_tables
from challengers.features.outliers import EcdfScorer, column_medians


def numpy_scores(fit: np.ndarray, x: np.ndarray, method: str) -> np.ndarray:
    """The scorer as numpy wrote it (two searchsorted of every value, the tails combined by
    PyOD's rule per feature), kept here as the reference."""
    columns = np.sort(np.asarray(fit, dtype=np.float64).T, axis=1)
    sign = np.sign(np.nan_to_num(skew(fit, axis=0)))
    n = columns.shape[1]
    tail = -np.log((np.arange(n + 1) + 1) / (n + 1))
    total = np.zeros(x.shape[0], dtype=np.float64)
    for j in range(x.shape[1]):
        col = np.asarray(x[:, j], dtype=np.float64)
        u_l = tail[np.searchsorted(columns[j], col, side="right")]
        u_r = tail[n - np.searchsorted(columns[j], col, side="left")]
        s = sign[j]
        u_skew = u_l * -np.sign(s - 1) + u_r * np.sign(s + 1)
        if method == "ecod":
            total += np.maximum(np.maximum(u_l, u_r), u_skew)
        else:
            total += np.maximum(u_skew, (u_l + u_r) / 2)
    return total


def awkward(rows: int, seed: int, dtype: type) -> np.ndarray:
    """Continuous, skewed, count-like (heavy ties), binary, signed-zero and sparse columns."""
    rng = np.random.default_rng(seed)
    columns = [
        rng.standard_normal(rows),
        rng.lognormal(size=rows),
        -rng.exponential(size=rows),
        rng.integers(0, 12, rows).astype(float),
        rng.integers(0, 2, rows).astype(float),
        rng.choice([-0.0, 0.0, 1.5], rows),
        np.where(rng.random(rows) < 0.4, np.nan, rng.standard_normal(rows)),
    ]
    return np.column_stack(columns).astype(dtype)


@pytest.mark.parametrize("method", ["ecod", "copod"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_scores_equal_numpys_bit_for_bit(method: str, dtype: type) -> None:
    fit, x = awkward(3000, 0, dtype), awkward(2000, 1, dtype)
    x[:5, 0], x[5:10, 1], x[10:15, 3] = np.inf, -np.inf, np.nan  # beyond every fit value
    x[15:40, 3] = fit[:25, 3]  # fit values themselves: both tails count their ties
    scorer = EcdfScorer(fit, method)  # type: ignore[arg-type]
    np.testing.assert_array_equal(scorer.decision_function(x), numpy_scores(fit, x, method))


def test_a_feature_missing_from_every_fit_row_scores_as_numpy_does() -> None:
    fit, x = awkward(500, 2, np.float32), awkward(300, 3, np.float32)
    fit[:, 2] = np.nan
    x[::3, 2] = np.nan
    np.testing.assert_array_equal(
        EcdfScorer(fit, "ecod").decision_function(x), numpy_scores(fit, x, "ecod")
    )


def test_distinct_tables_count_the_fit_values_at_or_below_each() -> None:
    column = np.array([[-1.0, 0.0, -0.0, 0.0, 2.0, 2.0, 2.0, np.nan, np.nan]])
    column.sort(axis=1)
    values, counts, starts, numbers = distinct_tables(column)
    np.testing.assert_array_equal(values, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(counts, [1, 4, 7])
    assert counts.dtype == np.int32  # fewer fit rows than 2**31
    np.testing.assert_array_equal(starts, [0, 3])
    np.testing.assert_array_equal(numbers, [7])


def test_scoring_other_features_than_fitted_is_refused() -> None:
    scorer = EcdfScorer(awkward(100, 4, np.float32), "ecod")
    with pytest.raises(ValueError, match="6 features to score; the detector was fitted on 7"):
        scorer.decision_function(awkward(10, 5, np.float32)[:, :6])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_medians_are_numpys_nanmedian(dtype: type) -> None:
    x = awkward(1001, 6, dtype)
    x[:, 2] = np.nan  # no number at all: NaN, as numpy gives
    x[::2, 3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "All-NaN slice"
        expected = np.nanmedian(x, axis=0)
    got = column_medians(x, threads=2)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
