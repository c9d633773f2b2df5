"""PSI references of an engine's rows (challengers.engine.references): the same quantile edges and
bin shares, bit for bit, as ``Reference.of`` on the driver's values, on columns built to break a
quantile: ties across a quantile, few distinct values, missing and non-finite values, a column
with no finite value, one with a single value."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.analysis.stability import Reference
from challengers.analysis.stability import engine_references as references
from challengers.engine import spark_quantiles

ROWS = 20_011  # not a multiple of the bins: every quantile interpolates


def frame() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    amount = rng.lognormal(3.0, 1.2, ROWS)
    amount[rng.random(ROWS) < 0.05] = np.nan
    amount[:3] = [np.inf, -np.inf, 1e300]
    codes = rng.integers(0, 13, ROWS)  # 13 values: every decile edge sits inside a tie
    return pl.DataFrame(
        {
            "amount": amount,
            "float32": rng.normal(size=ROWS).astype(np.float32),
            "codes": pl.Series(codes, dtype=pl.Int32),
            "flag": rng.random(ROWS) < 0.03,  # two values, one rare
            "sparse": pl.Series([None if i % 7 else float(i % 5) for i in range(ROWS)]),
            "empty": pl.Series([None] * ROWS, dtype=pl.Float64),
            "single": np.full(ROWS, 2.5),
            "tiny": pl.Series([1e-300 * (i % 3) for i in range(ROWS)]),
        }
    )


def _expected(data: pl.DataFrame, bins: int) -> dict[str, Reference]:
    return {
        c: Reference.of(data.get_column(c).cast(pl.Float64).to_numpy(), bins) for c in data.columns
    }


def _assert_same(actual: dict[str, Reference], expected: dict[str, Reference]) -> None:
    assert actual.keys() == expected.keys()
    for c, want in expected.items():
        np.testing.assert_array_equal(actual[c].edges, want.edges, err_msg=c)
        np.testing.assert_array_equal(actual[c].shares, want.shares, err_msg=c)


@pytest.mark.parametrize("bins", [10, 7])
def test_local_engine_references_equal_the_drivers(local_engine: Any, bins: int) -> None:
    data = frame()
    _assert_same(references(local_engine, data, data.columns, bins), _expected(data, bins))


@pytest.mark.slow
def test_spark_references_equal_the_drivers_bit_for_bit(spark_engine: Any) -> None:
    data = frame()
    rows = spark_engine.session.createDataFrame(data.to_arrow()).repartition(3)
    _assert_same(references(spark_engine, rows, data.columns, 10), _expected(data, 10))


@pytest.mark.slow
def test_a_bracket_that_misses_its_rank_is_widened_until_proven(
    spark_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """approxQuantile's bound makes the first brackets hold their ranks; here the first round's
    brackets are made to miss (an empty interval above every value), so the ranks are found by
    the next round, Spark's exact one (the minimum and the maximum), with the same values."""
    data = frame().select("amount", "codes")
    rows = spark_engine.session.createDataFrame(data.to_arrow())
    brackets = spark_quantiles._brackets
    rounds: list[float] = []

    def missing_first(values: Any, names: Any, wanted: Any, counts: Any, error: float) -> Any:
        rounds.append(error)
        found = brackets(values, names, wanted, counts, error)
        if len(rounds) == 1:
            return {c: [(1e308, 1e308)] * len(pairs) for c, pairs in found.items()}
        return found

    monkeypatch.setattr(spark_quantiles, "ERRORS", (1e-4, 0.0))
    monkeypatch.setattr(spark_quantiles, "_brackets", missing_first)
    _assert_same(references(spark_engine, rows, data.columns, 10), _expected(data, 10))
    assert rounds == [1e-4, 0.0]
