"""The ECDF detectors' fit on several threads gives what one thread gives, bit for bit: each
column's sort, and scipy's skew on blocks of columns (whose signs choose each feature's tails)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import skew

from challengers.features.outliers import SKEW_BLOCK, EcdfScorer, column_skew


def matrix(
    rows: int, columns: int, dtype: type, seed: int = 0, missing: bool = False
) -> np.ndarray:
    """Columns of every kind an encoded fit sample holds: continuous, heavy ties, skewed both
    ways, constant, huge values; with ``missing``, one all NaN (a feature no fit row has)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, columns))
    kinds = np.arange(columns) % 7
    x[:, kinds == 1] = np.round(x[:, kinds == 1] * 2)  # ties
    x[:, kinds == 2] = rng.exponential(size=(rows, int(np.sum(kinds == 2))))
    x[:, kinds == 3] = -rng.exponential(size=(rows, int(np.sum(kinds == 3))))
    x[:, kinds == 4] = 3.0  # constant
    x[:, kinds == 5] *= 1e6
    if missing:
        x[:, 6] = np.nan
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("rows", "columns"),
    [(60, 2 * SKEW_BLOCK), (1_000, 2 * SKEW_BLOCK + 1), (5_000, 100), (20_000, 309), (300, 31)],
)
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("missing", [False, True])
def test_column_skew_is_scipys_bit_for_bit(
    rows: int, columns: int, dtype: type, threads: int, missing: bool
) -> None:
    x = matrix(rows, columns, dtype, missing=missing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of the constant columns
        np.testing.assert_array_equal(column_skew(x, threads), skew(x, axis=0))


@pytest.mark.parametrize("method", ["ecod", "copod"])
def test_the_scorer_fitted_on_threads_is_the_one_fitted_on_one(method: str) -> None:
    fit = matrix(4_000, 3 * SKEW_BLOCK, np.float32, seed=1)
    rows = matrix(500, 3 * SKEW_BLOCK, np.float32, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one, two = EcdfScorer(fit, method, 1), EcdfScorer(fit, method, 2)
    for name in ("values_", "counts_", "starts_", "numbers_", "left_weight_", "right_weight_"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    np.testing.assert_array_equal(one.decision_function(rows), two.decision_function(rows))
