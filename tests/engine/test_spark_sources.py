"""Where Spark reads rows from: a table of the session's catalog (`data.table`) and CSV files give the
rows, in the same order, the fingerprint and (a table) the data audit that the local engine gives
for the same rows in a parquet or CSV file; a table that is not there, and a table on the local engine, are one line and
exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from challengers.cli.main import app
from challengers.config import load_config
from challengers.pipeline import RunOptions, prepare
from challengers.pipeline.auditing import audit_experiment, audit_plan
from challengers.progress import SilentProgress
from tests.conftest import sim_config

DATABASE = "challenge_test"
TABLE = f"{DATABASE}.transactions"
runner = CliRunner()


@pytest.fixture(scope="module")
def table(spark_engine: Any, sim_parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The simulated rows as a table of the session's catalog (its files in a temporary
    directory, not a spark-warehouse in the working directory)."""
    session = spark_engine.session
    location = tmp_path_factory.mktemp("warehouse")
    session.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE} LOCATION '{location}'")
    session.read.parquet(str(sim_parquet)).write.mode("overwrite").saveAsTable(TABLE)
    return TABLE


def _table_config(data: Path, table: str | None) -> dict[str, Any]:
    config = sim_config(data)
    if table is not None:
        del config["data"]["path"]
        config["data"]["table"] = table
    return config


def _prepared(config: Path, engine: str | None) -> Any:
    cfg = load_config(config).with_engine(engine, "local[2]" if engine else None)
    return prepare(cfg, RunOptions(), SilentProgress())


@pytest.mark.slow
def test_a_table_gives_the_rows_and_fingerprint_of_its_parquet_file_read_locally(
    spark_engine: Any, table: str, sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    config = write_config(_table_config(sim_parquet, None))
    local = _prepared(config, None)
    remote = _prepared(write_config(_table_config(sim_parquet, table), "table.yaml"), "spark")
    try:
        assert remote.history.equals(local.history)  # values, types and row order
        assert remote.fingerprint == local.fingerprint
        assert remote.data_print == local.data_print
        # the plan's rows (the audit's, the checks') are the table's, queried through Spark
        assert remote.plan.schema == local.plan.schema
        days = pl.col("TX_DATETIME").dt.date()
        query = local.plan.lf.select(pl.len(), days.min(), pl.col("TX_AMOUNT").sum())
        assert (
            remote.plan.lf.select(pl.len(), days.min(), pl.col("TX_AMOUNT").sum())
            .collect()
            .equals(query.collect())
        )
        # a run's data audit: the table's every row, through Spark, gives the file's audit
        thresholds = load_config(config).evaluation.findings
        audited, remote_audit = (
            audit_plan(local.plan, thresholds),
            audit_plan(remote.plan, thresholds),
        )
        assert remote_audit.findings == audited.findings
        assert remote_audit.findings  # the simulated data has findings (leaky column, drift)
        assert remote_audit.tables == audited.tables
    finally:
        remote.close()
    assert spark_engine.session.getActiveSession() is not None  # not the run's to stop


@pytest.mark.slow
def test_challenge_audit_of_a_table_queries_it_through_spark_and_equals_the_files_audit(
    spark_engine: Any,
    table: str,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """`challenge audit` of a catalog table: each of the audit's queries reads the table through
    the session (kept open until the audit ends, not every row collected first), and gives the
    audit of the parquet file read locally."""
    config = write_config(_table_config(sim_parquet, None))
    local = audit_experiment(
        load_config(config), RunOptions(output_dir=tmp_path / "local"), SilentProgress()
    )
    remote_cfg = load_config(write_config(_table_config(sim_parquet, table), "table.yaml"))
    remote = audit_experiment(
        remote_cfg.with_engine("spark", "local[2]"),
        RunOptions(output_dir=tmp_path / "spark"),
        SilentProgress(),
    )
    assert remote.findings == local.findings and remote.findings
    assert remote.tables == local.tables
    assert spark_engine.session.getActiveSession() is not None  # not the audit's to stop


@pytest.mark.slow
def test_a_table_that_is_not_there_is_one_line_naming_what_the_catalog_holds(
    spark_engine: Any, table: str, sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    config = write_config(_table_config(sim_parquet, f"{DATABASE}.transaction"))
    result = runner.invoke(app, ["check", str(config), "--engine", "spark"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"error: data.table: no table {DATABASE}.transaction in the Spark catalog ("
    )
    assert f"tables in {DATABASE}: transactions)" in lines[0], lines[0]
    assert "databases: challenge_test, default;" in lines[0], lines[0]


def test_a_table_on_the_local_engine_is_one_line_and_exit_2(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    result = runner.invoke(app, ["check", str(write_config(_table_config(sim_parquet, TABLE)))])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: data.table: {TABLE} is a table of a Spark catalog, which the local engine cannot read; "
        "set engine.kind: spark (or run with --engine spark), or give data.path (a parquet or "
        "csv file)"
    )


@pytest.mark.slow
def test_a_uri_only_spark_reads_gives_the_rows_and_fingerprint_of_the_local_file(
    spark_engine: Any, sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    """``data.path`` as a URI (here file://; hdfs://, s3a://, ... alike) is read by Spark through
    its own file systems: planned from Spark's schema, its rows and fingerprint the local
    file's, and the checks' queries run through Spark."""
    local = _prepared(write_config(sim_config(sim_parquet)), None)
    uri = sim_config(sim_parquet)
    uri["data"]["path"] = sim_parquet.resolve().as_uri()
    remote = _prepared(write_config(uri, "uri.yaml"), "spark")
    try:
        assert remote.plan.lf.collect().equals(local.plan.lf.collect())
        assert remote.history.equals(local.history)  # values, types and row order
        assert remote.fingerprint == local.fingerprint
        assert remote.data_print == local.data_print
    finally:
        remote.close()


def test_a_uri_on_the_local_engine_is_one_line_and_exit_2(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    config = sim_config(sim_parquet)
    config["data"]["path"] = "hdfs://namenode:8020/fraud/transactions/*.parquet"
    result = runner.invoke(app, ["check", str(write_config(config))])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: data.path: hdfs://namenode:8020/fraud/transactions/*.parquet is a URI that only "
        "Spark reads; set engine.kind: spark (or run with --engine spark), or copy the files "
        "here and give their local path"
    )


@pytest.mark.slow
def test_a_uri_spark_cannot_read_is_one_line_and_exit_2(
    spark_engine: Any, sim_parquet: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = sim_config(sim_parquet)
    missing = (tmp_path / "nowhere" / "transactions.parquet").as_uri()
    config["data"]["path"] = missing
    result = runner.invoke(app, ["check", str(write_config(config)), "--engine", "spark"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: data.path: cannot read {missing}: "), lines[0]


@pytest.mark.slow
def test_csv_on_spark_gives_the_local_engine_s_rows_and_fingerprint(
    spark_engine: Any, sim_frame: pl.DataFrame, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    """Types as polars infers them (the times as text, parsed as locally); quotes doubled."""
    path = tmp_path / "transactions.csv"
    sim_frame.with_columns(pl.col("REGION").str.replace("north", 'north, "upper"')).write_csv(path)
    config = write_config(sim_config(path))
    local, remote = _prepared(config, None), _prepared(config, "spark")
    try:
        assert remote.history.equals(local.history)
        assert remote.fingerprint == local.fingerprint
        assert 'north, "upper"' in remote.history.get_column("REGION").to_list()
    finally:
        remote.close()


@pytest.mark.slow
def test_a_file_named_with_glob_characters_is_that_file_on_spark(
    spark_engine: Any, sim_parquet: Path, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    """data.path tx[1].parquet beside a tx1.parquet: Hadoop's glob read tx1.parquet's rows (or
    found no file); the local engine reads the file named, and so does Spark."""
    named = tmp_path / "tx[1].parquet"
    named.write_bytes(sim_parquet.read_bytes())
    pl.read_parquet(sim_parquet).head(100).write_parquet(tmp_path / "tx1.parquet")
    config = write_config(sim_config(named))
    local, remote = _prepared(config, None), _prepared(config, "spark")
    try:
        assert remote.history.equals(local.history)
        assert remote.fingerprint == local.fingerprint
    finally:
        remote.close()
