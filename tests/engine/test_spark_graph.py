"""Graph features computed by Spark's window jobs (and the driver's snapshots) equal the local
features: on a log full of ties, nulls and string ids, and on a slice of the demo."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.engine.base import GraphSettings
from challengers.engine.local import LocalEngine
from challengers.features.temporal import DAY_US
from tests.features.test_graph_features import KW, WINDOWS, early_fraud_log, random_log

pytestmark = pytest.mark.slow  # Spark jobs: seconds each

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo.parquet"


def assert_same_features(
    spark_engine: Any, history: pl.DataFrame, rows: pl.DataFrame, settings: GraphSettings
) -> None:
    local = LocalEngine().graph_features(history, rows, settings)
    session = spark_engine.session
    order = pl.int_range(pl.len(), dtype=pl.Int64).alias("_order")
    remote = spark_engine.graph_features(
        session.createDataFrame(history.to_arrow()),
        session.createDataFrame(rows.with_columns(order).to_arrow()),
        settings,
    )
    fetched = spark_engine.to_polars(remote)  # in the rows' order
    assert fetched.columns == local.columns
    for name in settings.names:
        expected = local.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
        found = fetched.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
        np.testing.assert_allclose(found, expected, rtol=1e-6, atol=0, equal_nan=True, err_msg=name)


def test_graph_features_on_spark_equal_the_local_ones_on_ties_and_nulls(spark_engine: Any) -> None:
    """Hour-rounded times, null devices and amounts, string shops; later rows of the log scored
    against all of it, with a 3-day snapshot cadence."""
    log = random_log(seed=3)
    rows = log.filter(pl.col("t") >= datetime(2024, 3, 5))
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in KW.items()}
    assert_same_features(
        spark_engine, log, rows, GraphSettings(**kw, structure_every_days=3, account="shop")
    )


def test_window_maxima_use_no_sliding_frame_over_the_rows(spark_engine: Any) -> None:
    """Spark recomputes a sliding frame's maximum row by row: ``rangeBetween(-w days, -1)`` over
    a hub's rows (one shop of every card) took 60 s for 5,000 rows and 788 s for 20,000. The
    maxima read running frames of each day and a sliding frame over daily maxima only."""
    log = random_log(seed=3)
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in KW.items()}
    session = spark_engine.session
    frame = session.createDataFrame(log.to_arrow())
    plan = spark_engine.graph_features(frame, frame, GraphSettings(**kw))._jdf.queryExecution()
    text = plan.optimizedPlan().toString()
    for w in WINDOWS:
        assert f"RangeFrame, -{w * DAY_US}, -1" not in text, w


def test_a_nan_entity_is_no_entity_on_spark(spark_engine: Any) -> None:
    """A float device id's NaN makes no node on Spark as locally (Spark's NaN equals NaN: one
    device of every NaN row)."""
    log = random_log(seed=4)
    log = log.with_columns(pl.col("device").cast(pl.Float64).fill_null(float("nan")))
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in KW.items()}
    assert_same_features(spark_engine, log, log.tail(200), GraphSettings(**kw))


@pytest.mark.parametrize("delay", [0, 2])
def test_labels_are_known_from_the_same_day_on_spark(spark_engine: Any, delay: int) -> None:
    """A day's labels are known ``delay + 1`` days later on Spark as locally (the label windows
    read back from the start of the row's day, not from its time)."""
    log = early_fraud_log(delay)
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in KW.items()}
    settings = GraphSettings(**{**kw, "label_delay_days": delay})
    assert_same_features(spark_engine, log, log.tail(log.height - 1), settings)


def test_graph_features_on_spark_equal_the_local_ones_on_the_demo(spark_engine: Any) -> None:
    """The demo's graph challenger (three entities, 1/7/28-day windows, a 7-day label delay) on
    one day of test rows against the 35 days of history their windows read (one day: the Spark
    jobs cost about a CPU-minute)."""
    demo = pl.read_parquet(DEMO)
    t = pl.col("TX_DATETIME")
    history = demo.filter(t.is_between(datetime(2024, 2, 4), datetime(2024, 3, 11)))
    rows = history.filter(t >= datetime(2024, 3, 10))
    settings = GraphSettings(
        entities=("CUSTOMER_ID", "TERMINAL_ID", "DEVICE_ID"),
        time="TX_DATETIME",
        target="TX_FRAUD",
        amount="TX_AMOUNT",
        windows_days=(1, 7, 28),
        label_delay_days=7,
    )
    assert_same_features(spark_engine, history, rows, settings)
