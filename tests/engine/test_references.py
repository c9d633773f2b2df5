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
from challengers.engine import radix, spark_quantiles

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
            # distinct values 2**-40 apart: their keys share their first 48 bits by sixteens
            "dense": rng.permutation(1.0 + np.arange(ROWS) * 2.0**-40),
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
@pytest.mark.parametrize("limit", [0, 40])
def test_ranks_in_crowded_buckets_are_counted_by_their_next_digits(
    spark_engine: Any, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """A rank's bucket of more than LIMIT values is counted by its next bits: with LIMIT 0
    every rank is narrowed until its bucket holds one value (no value is brought to the
    driver; the dense column's to 56 bits, 256 keys), with 40 the dense column's ranks are read
    off the values of buckets 48 bits deep (16 values each); the same values either way."""
    data = frame().select("amount", "codes", "float32", "dense")
    rows = spark_engine.session.createDataFrame(data.to_arrow()).repartition(3)
    digit_counts, bucket_values = spark_quantiles._digit_counts, spark_quantiles._bucket_values
    depths: list[int] = []
    collected: list[radix.Bucket] = []

    def counting(values: Any, buckets: list[radix.Bucket], *, filtered: bool) -> Any:
        depths.extend(b.depth for b in buckets)
        return digit_counts(values, buckets, filtered=filtered)

    def collecting(values: Any, buckets: list[radix.Bucket]) -> Any:
        collected.extend(buckets)
        return bucket_values(values, buckets)

    monkeypatch.setattr(spark_quantiles, "LIMIT", limit)
    monkeypatch.setattr(spark_quantiles, "_digit_counts", counting)
    monkeypatch.setattr(spark_quantiles, "_bucket_values", collecting)
    _assert_same(references(spark_engine, rows, data.columns, 10), _expected(data, 10))
    if limit == 0:
        assert max(depths) == 48 and not collected
    else:
        assert max(depths) == 40 and max(b.depth for b in collected) == 48
