"""The simulator: deterministic, exact row counts, every scenario planted, past-only features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.simulate import SimulationSpec, simulate, simulate_frame


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = simulate_frame(5000, seed=1, days=30)
    assert a.equals(simulate_frame(5000, seed=1, days=30))
    assert not a.equals(simulate_frame(5000, seed=2, days=30))


def test_file_is_written_in_row_groups_with_exact_rows(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    spec = SimulationSpec(rows=30_000, seed=4, days=40)
    summary = simulate(spec, tmp_path / "tx.parquet", row_group_rows=5_000)
    meta = pq.ParquetFile(tmp_path / "tx.parquet").metadata
    assert summary.rows == meta.num_rows == 30_000
    assert meta.num_row_groups >= 5  # never the whole table at once
    frame = pl.read_parquet(tmp_path / "tx.parquet")
    assert frame.equals(simulate_frame(30_000, seed=4, days=40))
    assert frame["TRANSACTION_ID"].is_sorted() and frame["TX_DATETIME"].is_sorted()


@pytest.fixture(scope="module")
def world() -> pl.DataFrame:
    return simulate_frame(60_000, seed=8, days=60, rings_per_100k_customers=20.0)


def test_every_fraud_scenario_is_planted(world: pl.DataFrame) -> None:
    counts = dict(world.group_by("TX_FRAUD_SCENARIO").len().iter_rows())
    assert set(counts) == {0, 1, 2, 3, 4}
    assert 0.003 < world["TX_FRAUD"].mean() < 0.05  # type: ignore[operator]
    assert (world["TX_FRAUD"] == (world["TX_FRAUD_SCENARIO"] > 0)).all()


def test_scenario_truths(world: pl.DataFrame) -> None:
    # 1: every legit-looking amount above 220 is fraud
    assert world.filter(pl.col("TX_AMOUNT") > 220)["TX_FRAUD"].min() == 1
    # 4: ring devices are shared by many accounts; household devices by at most two
    degree = (
        world.filter(pl.col("DEVICE_ID").is_not_null())
        .group_by("DEVICE_ID")
        .agg(pl.col("CUSTOMER_ID").n_unique().alias("accounts"), pl.col("TX_FRAUD_SCENARIO").max())
    )
    assert degree.filter(pl.col("TX_FRAUD_SCENARIO") == 4)["accounts"].min() >= 4
    assert degree.filter(pl.col("TX_FRAUD_SCENARIO") == 0)["accounts"].max() <= 2
    # card-present transactions have no device
    assert (
        world.filter(pl.col("IS_ONLINE") == 0)["DEVICE_ID"].null_count()
        == world.filter(pl.col("IS_ONLINE") == 0).height
    )


def test_history_features_use_the_past_only(world: pl.DataFrame) -> None:
    """CUSTOMER_AVG_AMOUNT_30D equals the mean of the customer's amounts on the 30 previous days."""
    day = pl.col("TX_DATETIME").dt.date()
    w = world.with_columns(day.alias("d"))
    sample = w.filter(pl.col("d") == w["d"].max()).head(50)
    for row in sample.iter_rows(named=True):
        past = w.filter(
            (pl.col("CUSTOMER_ID") == row["CUSTOMER_ID"])
            & (pl.col("d") < row["d"])
            & (pl.col("d") >= row["d"] - pl.duration(days=30))
        )
        expected = past["TX_AMOUNT"].mean() if past.height else None
        if expected is None:
            assert row["CUSTOMER_AVG_AMOUNT_30D"] is None
        else:
            assert row["CUSTOMER_AVG_AMOUNT_30D"] == pytest.approx(expected, rel=1e-5)


def test_rows_below_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1000"):
        SimulationSpec(rows=10)
    assert np.isfinite(simulate_frame(2000, seed=0, days=10)["TX_AMOUNT"].to_numpy()).all()
