"""Distinct counts of the integrity profile (challengers/audit/distinct.py): exact for columns few by
type and for small counts, within 2% for large ones, nulls and NaN not counted, every dtype."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from challengers.audit import distinct


def count(series: pl.Series, seed: int = 3) -> int:
    lf = series.to_frame("x").lazy()
    return distinct.count(distinct.aggregate("x", series.dtype, seed).query(lf).collect())


def truth(series: pl.Series) -> int:
    if series.dtype.is_float():
        series = series.fill_nan(None)
    return series.drop_nulls().n_unique()


N = 30_000
RNG = np.random.default_rng(11)
COLUMNS = {
    "int64": pl.Series(RNG.integers(0, 20_000, N)),
    "uint64": pl.Series(RNG.integers(0, 2**63, N, dtype=np.uint64)),
    "int32_13": pl.Series((np.arange(N) % 13).astype(np.int32)),
    "int8": pl.Series((np.arange(N) % 100).astype(np.int8)),
    "int16": pl.Series((np.arange(N) % 5_000).astype(np.int16)),
    "float64": pl.Series(np.round(RNG.uniform(0, 100, N), 2)),
    "float32": pl.Series(RNG.normal(size=N).astype(np.float32)),
    "string": pl.Series([f"k{i % 7_000}" for i in range(N)]),
    "categorical": pl.Series([f"c{i % 40}" for i in range(N)], dtype=pl.Categorical),
    "enum": pl.Series(["a", "b", "c"] * (N // 3), dtype=pl.Enum(["a", "b", "c", "d"])),
    "boolean": pl.Series(np.arange(N) % 2 == 0),
    "date": pl.Series([date(2020, 1, 1) + timedelta(days=i % 900) for i in range(N)]),
    "datetime": pl.Series([datetime(2024, 1, 1) + timedelta(seconds=37 * i) for i in range(N)]),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_each_dtype_is_counted_within_2_percent_and_small_counts_exactly(name: str) -> None:
    series = COLUMNS[name]
    exact = truth(series)
    if exact <= 200:
        assert count(series) == exact
    else:
        assert count(series) == pytest.approx(exact, rel=0.02)


def test_nulls_and_nan_are_not_values() -> None:
    values = pl.Series([1.0, 2.0, None, float("nan"), 2.0, None, float("nan")])
    assert count(values) == 2
    assert count(pl.Series([None, None], dtype=pl.Int64)) == 0
    assert count(pl.Series([None, "a", "b", None])) == 2
    assert count(pl.Series([None, True], dtype=pl.Boolean)) == 1
    assert count(pl.Series([], dtype=pl.Int64)) == 0


@pytest.mark.parametrize("n", [1, 2, 13, 50, 51, 200])
def test_small_counts_are_exact(n: int) -> None:
    for seed in range(5):
        assert count(pl.Series(np.arange(n) * 7_919 + 3), seed=seed) == n


def test_a_thousand_values_are_counted_within_a_few() -> None:
    """Off only where three values share a register (about 0.6 of them at 1,000 values)."""
    for seed in range(5):
        assert abs(count(pl.Series(np.arange(1_000) * 7_919 + 3), seed=seed) - 1_000) <= 3


@pytest.mark.parametrize("n", [10_000, 100_000, 400_000])
def test_large_counts_are_within_2_percent(n: int) -> None:
    values = pl.Series(np.random.default_rng(n).permutation(n) + 10**12)
    assert count(values) == pytest.approx(n, rel=0.02)
    assert count(pl.concat([values, values.head(n // 3)])) == pytest.approx(n, rel=0.02)


def test_columns_few_by_type_are_counted_exactly_without_a_sketch() -> None:
    lf = pl.LazyFrame({"x": pl.Series(np.arange(60_000) % 40_000, dtype=pl.UInt16)})
    result = distinct.aggregate("x", pl.UInt16, 1).query(lf).collect()
    assert distinct.count(result) == 40_000 and "rank" not in result.columns
