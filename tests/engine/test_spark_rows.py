"""Spark loads, checks, cuts windows and fingerprints rows exactly as the local engine does."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from challengers.data.frames import DAY, require_columns
from challengers.data.split import Windows
from challengers.engine.local import LocalEngine
from challengers.errors import DataError
from challengers.replication.fingerprint import fingerprint_frame, from_sums
from tests.conftest import SIM_WINDOWS

pytestmark = pytest.mark.slow  # a Spark session and its jobs: seconds each

COLUMNS = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TX_AMOUNT", "REGION", "TX_FRAUD"]
WINDOWS = SIM_WINDOWS


def load(
    engine: Any, path: Path, columns: list[str] = COLUMNS, windows: Windows | None = None
) -> Any:
    return engine.load_days(
        str(path),
        columns=columns,
        time="TX_DATETIME",
        target="TX_FRAUD",
        start=WINDOWS.first_day,
        end=WINDOWS.last_day,
        windows=windows,
    )


def test_loaded_rows_and_their_fingerprint_are_the_local_engine_s(
    spark_engine: Any, local_engine: LocalEngine, sim_parquet: Path
) -> None:
    local = load(local_engine, sim_parquet)
    remote = load(spark_engine, sim_parquet)
    assert spark_engine.schema(str(sim_parquet)) == local_engine.schema(str(sim_parquet))
    fetched = spark_engine.to_polars(remote)
    assert fetched.schema == local.schema  # naive UTC times, the _day column, the same types
    key = "TRANSACTION_ID"
    assert fetched.sort(key).equals(local.sort(key))
    # the fingerprint sums, computed on the executors over 4 and then 3 partitions
    expected = fingerprint_frame(local, COLUMNS, chunk_by=DAY)
    for rows in (remote, remote.repartition(3, "CUSTOMER_ID")):
        sums = spark_engine.row_sums(rows, COLUMNS, chunk_by=DAY)
        assert from_sums(sums) == expected
    assert len(expected.row_print.chunks) == (WINDOWS.last_day - WINDOWS.first_day).days + 1


def test_windows_label_delay_and_known_fraud_exclusion_give_the_same_rows(
    spark_engine: Any, local_engine: LocalEngine, sim_parquet: Path
) -> None:
    local = local_engine.split(
        load(local_engine, sim_parquet), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID"
    )
    remote = spark_engine.split(
        load(spark_engine, sim_parquet), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID"
    )
    assert local.excluded_rows > 0  # the planted case: known frauds are there to exclude
    assert (remote.excluded_rows, remote.excluded_positives) == (
        local.excluded_rows,
        local.excluded_positives,
    )
    for mine, theirs in ((remote.train, local.train), (remote.test, local.test)):
        assert spark_engine.count(mine) == theirs.height
        sums = spark_engine.row_sums(mine, COLUMNS, chunk_by=DAY)
        assert from_sums(sums).digest == fingerprint_frame(theirs, COLUMNS, chunk_by=DAY).digest


def _error(
    engine: Any, path: Path, columns: list[str] = COLUMNS, windows: Windows | None = None
) -> str:
    with pytest.raises(DataError) as caught:
        load(engine, path, columns, windows)
    text = str(caught.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_bad_data_gives_the_local_engine_s_one_line_errors(
    spark_engine: Any, local_engine: LocalEngine, sim_frame: pl.DataFrame, tmp_path: Path
) -> None:
    missing = tmp_path / "nothing-*.parquet"
    assert _error(spark_engine, missing) == _error(local_engine, missing)
    labels = tmp_path / "labels.parquet"
    sim_frame.with_columns(pl.col("TX_FRAUD") * 2).write_parquet(labels)
    assert _error(spark_engine, labels) == _error(local_engine, labels)
    assert "values other than 0/1 (2)" in _error(spark_engine, labels)
    wrong = [*COLUMNS[:-1], "TX_FRAUDS"]
    with pytest.raises(DataError) as caught:  # what the plan says before loading, locally
        require_columns(local_engine.schema(str(labels)), [(c, "data") for c in wrong])
    assert _error(spark_engine, labels, wrong) == str(caught.value)
    other = tmp_path / "rows.json"
    sim_frame.head(10).write_ndjson(other)
    assert _error(spark_engine, other) == _error(local_engine, other)
    assert "unsupported file type '.json'" in _error(spark_engine, other)
    broken = tmp_path / "broken.csv"  # csv: the local engine's checks, then Spark reads it
    broken.write_text(sim_frame.head(10).write_csv().replace("\n3,", "\n3,4,", 1))
    assert _error(spark_engine, broken) == _error(local_engine, broken)
    assert "found more fields than defined" in _error(spark_engine, broken)
    empty = tmp_path / "empty.parquet"
    sim_frame.head(0).write_parquet(empty)
    assert (
        _error(spark_engine, empty)
        == f"data.path: {empty} holds no rows (only a header or a schema)"
    )


def test_decimals_and_missing_labels_are_read_as_locally(
    spark_engine: Any, local_engine: LocalEngine, sim_frame: pl.DataFrame, tmp_path: Path
) -> None:
    """Spark reads Decimal columns as a local plan does (whole ones of up to 18 digits as 64-bit
    integers, the others as doubles): the same rows, types and fingerprint, and no Decimal on the
    driver; labels missing in the gap between the windows are the local engine's one line."""
    decimals = tmp_path / "decimals.parquet"
    sim_frame.with_columns(
        pl.col("CUSTOMER_ID").cast(pl.Decimal(18, 0)),
        pl.col("TX_AMOUNT").cast(pl.Decimal(12, 2)),
        pl.col("TRANSACTION_ID").cast(pl.Decimal(38, 0)),  # wider than 64 bits: a double
    ).write_parquet(decimals)
    local = load(local_engine, decimals)
    remote = load(spark_engine, decimals)
    assert spark_engine.schema(str(decimals)) == local_engine.schema(str(decimals))
    fetched = spark_engine.to_polars(remote)
    assert fetched.schema == local.schema
    assert [local.schema[c] for c in ("CUSTOMER_ID", "TX_AMOUNT", "TRANSACTION_ID")] == [
        pl.Int64,
        pl.Float64,
        pl.Float64,
    ]
    key = "TRANSACTION_ID"
    assert fetched.sort(key).equals(local.sort(key))
    sums = spark_engine.row_sums(remote, COLUMNS, chunk_by=DAY)
    assert from_sums(sums) == fingerprint_frame(local, COLUMNS, chunk_by=DAY)
    gap = tmp_path / "gap.parquet"
    in_gap = pl.col("TX_DATETIME").dt.date().is_between(date(2024, 2, 21), date(2024, 2, 27))
    sim_frame.with_columns(
        pl.when(in_gap).then(None).otherwise(pl.col("TX_FRAUD")).alias("TX_FRAUD")
    ).write_parquet(gap)
    said = _error(local_engine, gap, windows=WINDOWS)
    assert "null labels in the gap between the training and test windows" in said
    assert _error(spark_engine, gap, windows=WINDOWS) == said
    # read by nothing (no known-fraud exclusion, no rows before training): loaded by both
    unread = replace(WINDOWS, exclude_known_frauds=False)
    nulled = load(local_engine, gap, windows=unread)
    assert nulled.get_column("TX_FRAUD").null_count() > 0
    assert (
        spark_engine.to_polars(load(spark_engine, gap, windows=unread))
        .sort(key)
        .equals(nulled.sort(key))
    )


def test_head_take_and_select_give_the_local_rows_in_file_order(
    spark_engine: Any, local_engine: Any, tmp_path: Path
) -> None:
    """The rows a run brings to the driver by place (the input examples, the explanations'
    sample, the columns it keeps) are the local engine's, in the files' order, on a file of many
    row groups read by several tasks and a filter that leaves gaps, as a window's does."""
    rng = np.random.default_rng(3)
    frame = pl.DataFrame(
        {"id": np.arange(50_000), "x": rng.normal(size=50_000), "y": rng.integers(0, 2, 50_000)}
    )
    path = tmp_path / "rows.parquet"
    frame.write_parquet(path, row_group_size=4_000)  # several tasks read it
    rows = spark_engine.file_rows(str(path)).where("y = 1 or x > 0")
    local = frame.filter((pl.col("y") == 1) | (pl.col("x") > 0))
    positions = np.sort(rng.choice(local.height, size=300, replace=False))
    assert spark_engine.head(rows, 7).equals(local_engine.head(local, 7))
    assert spark_engine.take(rows, positions).equals(local_engine.take(local, positions))
    selected = spark_engine.to_polars(spark_engine.select(rows, ["y", "id"]))
    assert selected.equals(local_engine.select(local, ["y", "id"]))


def test_missing_counts_are_the_local_engine_s(
    spark_engine: Any, local_engine: LocalEngine, tmp_path: Path
) -> None:
    frame = pl.DataFrame(
        {
            "ints": [1, None, 3, None],
            "floats": [1.0, float("nan"), None, 2.0],
            "text": ["a", None, "c", "d"],
        }
    )
    path = tmp_path / "missing.parquet"
    frame.write_parquet(path)
    rows = spark_engine.session.read.parquet(str(path))
    expected = {"ints": (2, 0), "floats": (1, 1), "text": (1, 0)}
    for column, counts in expected.items():
        assert local_engine.missing_counts(frame, column) == counts
        assert spark_engine.missing_counts(rows, column) == counts


def test_a_missing_training_entity_is_refused_where_the_training_rows_stay_on_spark(
    spark_engine: Any, sim_frame: pl.DataFrame, tmp_path: Path
) -> None:
    """A narrow run brings no training row to the driver, whose check of the entities then saw
    none: a null customer id in the training window passed on Spark where it is refused locally
    (locally it had crashed the process after the fits)."""
    from challengers.config import load_config
    from challengers.pipeline.prepare import prepare
    from challengers.pipeline.run import RunOptions
    from challengers.progress import SilentProgress
    from tests.conftest import ROOT, sim_config

    in_train = pl.col("TX_DATETIME").dt.date().is_between(WINDOWS.train_start, WINDOWS.train_end)
    first = sim_frame.filter(in_train)["TRANSACTION_ID"][0]
    holed = sim_frame.with_columns(
        pl.when(pl.col("TRANSACTION_ID") == first)
        .then(None)
        .otherwise(pl.col("CUSTOMER_ID"))
        .alias("CUSTOMER_ID")
    )
    data = tmp_path / "holed.parquet"
    holed.write_parquet(data)
    champion = {"name": "champ", "model": str(ROOT / "data" / "champion.json")}
    challengers = [{"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 5}}]
    (tmp_path / "experiment.yaml").write_text(
        yaml.safe_dump(sim_config(data, champion=champion, challengers=challengers))
    )
    cfg = load_config(tmp_path / "experiment.yaml")
    messages = {}
    for engine, master in (("local", None), ("spark", "local[2]")):
        with pytest.raises(DataError) as caught:  # keep_history=False: a run's preparation
            prepare(
                cfg.with_engine(engine, master), RunOptions(), SilentProgress(), keep_history=False
            )
        messages[engine] = str(caught.value)
    assert messages["spark"] == messages["local"]
    assert "data.entity: column 'CUSTOMER_ID' is null in 1 of the" in messages["spark"]
    assert "rows of the training window" in messages["spark"]
