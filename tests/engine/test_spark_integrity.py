"""The audit's integrity step on Spark's executors (challengers/engine/spark_aggregates.py): bit for
bit the local audit's tables and findings, on files read by several tasks and holding every problem
the step looks for; the driver receives results, never the duplicate keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.audit import AuditResult, ModelInputs, run_audit
from challengers.audit.distinct import REGISTERS
from challengers.engine import local
from challengers.engine.aggregates import Aggregate
from tests.audit.frames import FEATURES, NOW, WINDOWS, clean_frame, spec, thresholds

ROWS = 45_000  # TRANSACTION_ID, F1, F2 and CARD: more distinct values than 2 * REGISTERS


def planted(rows: int = ROWS) -> pl.DataFrame:
    """The clean frame with every problem of the integrity step planted, spread over the rows."""
    assert rows > 2 * REGISTERS  # the HyperLogLog estimate, not the registers' occupancy
    frame = clean_frame(rows, seed=4)
    rng = np.random.default_rng(5)
    n = frame.height
    nan_or_null = rng.choice([0.0, 1.0, 2.0], n, p=[0.3, 0.1, 0.6])
    frame = frame.with_columns(
        pl.Series("F2", np.where(nan_or_null == 1.0, np.nan, frame["F2"].to_numpy())),
        pl.when(pl.Series(nan_or_null == 2.0)).then(None).otherwise(pl.col("F1")).alias("F1"),
        pl.lit(7, dtype=pl.Int32).alias("CONSTANT"),
        (pl.lit(4_000_000_000_000_000) + pl.int_range(n)).alias("CARD"),  # card-sized integers
        pl.Series("CODE", rng.integers(0, 50, n), dtype=pl.UInt32),  # read as long by Spark
        pl.col("TX_DATETIME").dt.cast_time_unit("ms").alias("SEEN"),  # read in microseconds
        pl.Series("FLAG", rng.uniform(size=n) < 0.3),
        pl.Series(
            "AS_TEXT",
            [f" {v:.2f}" if v < 0.9 else "n/a" for v in rng.uniform(size=n)],  # numbers as text
        ),
        pl.Series("EMPTY", [None] * n, dtype=pl.Float64),
        pl.col("TX_AMOUNT") * pl.Series(rng.choice([1.0, -1.0, 0.0], n, p=[0.98, 0.01, 0.01])),
    )
    # timestamps in the future and implausibly old; an infinite amount
    frame = frame.with_columns(
        pl.when(pl.int_range(n) == 17)
        .then(pl.lit(datetime(2031, 1, 1)))
        .when(pl.int_range(n) == 18)
        .then(pl.lit(datetime(1970, 1, 1)))
        .otherwise(pl.col("TX_DATETIME"))
        .dt.cast_time_unit("us")
        .alias("TX_DATETIME"),
        pl.when(pl.int_range(n) == 19)
        .then(float("inf"))
        .otherwise(pl.col("TX_AMOUNT"))
        .alias("TX_AMOUNT"),
    )
    # repeated ids (other content) and repeated rows (another id), far from their originals
    first = frame.head(300)
    same_id = first.head(120).with_columns(pl.col("F3") + 1)
    same_row = first.tail(180).with_columns(pl.col("TRANSACTION_ID") + 10**9)
    twice = first.slice(200, 30).with_columns(pl.col("TRANSACTION_ID") + 2 * 10**9)
    return pl.concat([frame, same_id, same_row, twice, twice])


def write_files(frame: pl.DataFrame, folder: Path, files: int = 3) -> str:
    """``frame`` in ``files`` parquet files of row groups of 4,000 rows: a glob."""
    folder.mkdir()
    size = -(-frame.height // files)
    for i in range(files):
        frame.slice(i * size, size).write_parquet(folder / f"part-{i}.parquet", row_group_size=4000)
    return str(folder / "*.parquet")


@contextmanager
def small_splits(engine: Any) -> Iterator[None]:
    """Spark splits the files by ~64 KB: each file is read by several tasks."""
    conf = engine.session.conf
    before = conf.get("spark.sql.files.maxPartitionBytes")
    conf.set("spark.sql.files.maxPartitionBytes", "65536")
    try:
        yield
    finally:
        conf.set("spark.sql.files.maxPartitionBytes", before)


MODELS = [ModelInputs("champ", "lightgbm", (*FEATURES, "CONSTANT", "EMPTY", "AS_TEXT"))]


def audited(path: str, engine: Any = None) -> AuditResult:
    lf = pl.scan_parquet(path)
    return run_audit(
        lf,
        spec((*FEATURES, "CONSTANT", "EMPTY", "AS_TEXT")),
        WINDOWS,
        MODELS,
        thresholds(),
        seed=3,
        now=NOW,
        engine=engine,
        rows=None if engine is None else engine.read(path),
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_files(planted(), tmp_path_factory.mktemp("planted") / "files")


def _no_driver_repeats(keys: pl.Series) -> int:
    raise AssertionError(f"the driver counted {keys.len()} keys")


def test_the_integrity_step_on_spark_equals_the_local_one_bit_for_bit(
    spark_engine: Any, files: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = audited(files)
    findings = {f.id for f in expected.findings}
    planted_problems = {
        "integrity-duplicate-ids",
        "integrity-duplicate-rows",
        "integrity-constant-CONSTANT",
        "integrity-constant-EMPTY",
        "integrity-nulls-F1",
        "integrity-type-AS_TEXT",
        "integrity-amount-negative",
        "integrity-amount-zero",
        "integrity-amount-nonfinite",
        "integrity-time-future",
        "integrity-time-implausible",
    }
    assert planted_problems <= findings, planted_problems - findings
    columns = {row["column"]: row for row in expected.tables["columns"]}
    assert columns["CARD"]["large_integers"] and not columns["F3"]["large_integers"]
    assert columns["TRANSACTION_ID"]["distinct"] > 2 * REGISTERS  # the HyperLogLog path
    assert columns["CODE"]["distinct"] == 50 and columns["FLAG"]["distinct"] == 2
    assert 0.85 < columns["AS_TEXT"]["numeric_text_share"] < 0.95

    monkeypatch.setattr(local, "repeated", _no_driver_repeats)  # keys never counted here
    with small_splits(spark_engine):
        assert spark_engine.read(files).rdd.getNumPartitions() >= 6  # several tasks a file
        result = audited(files, spark_engine)
    assert integrity(result) == integrity(expected)
    timeless = {"seconds", "audited_at"}
    assert {k: v for k, v in result.summary.items() if k not in timeless} == {
        k: v for k, v in expected.summary.items() if k not in timeless
    }


INTEGRITY_TABLES = ("columns", "label_rate_daily", "label_rate_weekly", "rows_per_window")


def integrity(result: AuditResult) -> tuple[list[Any], dict[str, Any]]:
    """The integrity step's findings and tables. (The other steps run on the driver on both
    engines, from samples whose row order polars does not fix: two local audits of a glob
    differ in a PSI's last bit.)"""
    findings = [f for f in result.findings if f.area == "integrity"]
    return findings, {name: result.tables[name] for name in INTEGRITY_TABLES}


def test_the_repeats_and_aggregates_merge_exactly_across_tasks(
    spark_engine: Any, local_engine: local.LocalEngine, tmp_path: Path
) -> None:
    """Each aggregate's merged frame is the local one (rows in any order), and the repeats are
    those of an independent count (n - distinct), keys repeating within and across files."""
    frame = planted(40_000)
    path = write_files(frame, tmp_path / "files", files=4)
    keys = [pl.col("TRANSACTION_ID").alias("id"), pl.col("CUSTOMER_ID").alias("entity")]
    aggregates = [
        Aggregate(partial(_by_customer), by=("CUSTOMER_ID",), merge=_BY_CUSTOMER),
        Aggregate(partial(_values_of, "REGION"), by=("REGION",)),
    ]
    schema = pl.scan_parquet(path).collect_schema()
    expected, expected_repeats = local_engine.aggregate(
        pl.scan_parquet(path), aggregates, repeats=keys
    )
    with small_splits(spark_engine):
        found, repeats = spark_engine.aggregate(
            spark_engine.read(path), aggregates, repeats=keys, schema=schema
        )
    independent = [frame.height - frame[c].n_unique() for c in ("TRANSACTION_ID", "CUSTOMER_ID")]
    assert repeats == expected_repeats == independent
    assert repeats[0] == 120 + 30  # the ids repeated with other content, and a block twice
    for got, want, a in zip(found, expected, aggregates, strict=True):
        assert got.sort(a.by).equals(want.sort(a.by).cast(got.schema)), a.by


_BY_CUSTOMER = (("rows", "sum"), ("first", "min"), ("last", "max"), ("amount", "max"))


def _by_customer(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.group_by("CUSTOMER_ID").agg(
        pl.len().alias("rows"),
        pl.col("TX_DATETIME").min().alias("first"),
        pl.col("TX_DATETIME").max().alias("last"),
        pl.col("TX_AMOUNT").max().alias("amount"),
    )


def _values_of(column: str, lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select(column).unique()


def test_an_aggregate_that_does_not_name_its_columns_or_sums_floats_is_refused() -> None:
    schema = pl.Schema({"a": pl.Float64()})
    with pytest.raises(ValueError, match="names"):
        Aggregate(partial(_select_sum, "a")).on(schema)
    with pytest.raises(ValueError, match="sums 'a'"):
        Aggregate(partial(_select_sum, "a"), merge=(("a", "sum"),)).on(schema)


def _select_sum(column: str, lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select(pl.col(column).sum())


def test_the_local_path_still_counts_the_keys_on_the_driver(
    files: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard above can fail: the local audit does call the driver's count."""
    monkeypatch.setattr(local, "repeated", _no_driver_repeats)
    with pytest.raises(AssertionError, match="the driver counted"):
        audited(files)
