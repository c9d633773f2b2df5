"""Replication library: rebuilding the exact config from a record, and comparing values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from challengers.config import load_config, parse_config
from challengers.data.frames import DAY
from challengers.errors import ConfigError
from challengers.pipeline.replicate import MetricCheck, Replication, rebuild_config
from challengers.replication.records import LoggedModel, RunRecord
from challengers.tracking import StoredRun
from tests.conftest import sim_config


def record(**kwargs: object) -> RunRecord:
    tags = kwargs.pop("tags", {})
    run = StoredRun("r" * 32, "run", "sim", "FINISHED", 0, tags=dict(tags))  # type: ignore[arg-type]
    return RunRecord(run=run, models=[], **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def relative_config(tmp_path: Path) -> Path:
    """A config whose data path is relative to it, the way users write them."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.parquet").write_bytes(b"not read here")
    path = tmp_path / "conf" / "experiment.yaml"
    path.parent.mkdir()
    config = sim_config(Path("../data/x.parquet"))
    del config["threads"]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_resolved_fills_threads_and_round_trips_through_yaml(relative_config: Path) -> None:
    import os

    cfg = load_config(relative_config)
    assert cfg.threads is None
    resolved = cfg.resolved()
    assert resolved.threads == os.cpu_count()
    assert resolved.resolved() is resolved
    text = yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False)
    again = parse_config(text, source=Path("/elsewhere/config.resolved.yaml"))
    assert again == resolved and again.fingerprint() == resolved.fingerprint()


def test_rebuild_from_the_text_as_written_keeps_relative_paths_and_logged_threads(
    relative_config: Path,
) -> None:
    original = load_config(relative_config)
    rebuilt, notes = rebuild_config(
        record(
            config_text=relative_config.read_text(),
            tags={"config_file": str(relative_config), "threads": "3"},
        )
    )
    assert (
        rebuilt.data.path == original.data.path == str(relative_config.parent / "../data/x.parquet")
    )
    assert rebuilt.threads == 3  # the logged count, not this machine's
    assert rebuilt == original.model_copy(update={"threads": 3})
    assert notes == ["no resolved config logged: replaying the config as written"]


def test_rebuild_prefers_the_resolved_config_and_notes_differences(relative_config: Path) -> None:
    resolved = load_config(relative_config).model_copy(update={"threads": 1, "seed": 99})
    dumped = yaml.safe_dump(resolved.model_dump(mode="json"))
    rebuilt, notes = rebuild_config(
        record(
            config_text=relative_config.read_text(),
            config_resolved=dumped,
            tags={
                "config_file": str(relative_config),
                "threads": "1",
                "config_hash": resolved.fingerprint(),
            },
        )
    )
    assert rebuilt == resolved  # seed 99: the resolved config is what replays
    assert len(notes) == 1 and "gives a different config under this release" in notes[0]
    _, hash_notes = rebuild_config(record(config_resolved=dumped, tags={"config_hash": "0" * 16}))
    assert "differs from the logged 0000000000000000" in hash_notes[0]


def test_a_run_without_a_logged_config_cannot_be_replicated() -> None:
    with pytest.raises(ConfigError, match="has no logged config"):
        rebuild_config(record())


def test_a_logged_config_that_no_longer_validates_names_its_line(relative_config: Path) -> None:
    text = relative_config.read_text().replace("seed: 7", "seed: 7\nsede: 8")
    with pytest.raises(
        ConfigError,
        match=r"config\.resolved\.yaml:3: sede: unknown key 'sede'; did you mean 'seed'",
    ):
        rebuild_config(record(config_resolved=text))


@pytest.mark.parametrize(
    ("logged", "now", "tolerance", "within"),
    [
        (0.5, 0.5, 0.0, True),
        (0.5, 0.5 + 1e-7, 1e-6, True),
        (0.5, 0.5 + 2e-6, 1e-6, False),
        (25_000.0, 25_000.01, 1e-6, True),  # costs: relative, 1e-6 x 25,000
        (25_000.0, 25_000.1, 1e-6, False),
        (math.nan, math.nan, 0.0, True),  # undefined both times (MLflow drops NaN)
        (math.nan, 0.3, 1.0, False),
        (0.3, math.nan, 1.0, False),
    ],
)
def test_metric_check_tolerance(logged: float, now: float, tolerance: float, within: bool) -> None:
    assert MetricCheck("m", "k", logged, now, True).within(tolerance) is within


def test_replication_status() -> None:
    same = [MetricCheck("m", "auc", 0.7, 0.7, True)]
    close = [*same, MetricCheck("m", "auc_ci_low", 0.6, 0.6 + 1e-9, False)]
    assert Replication("a", "b", 1e-6, same).status == "identical"
    assert Replication("a", "b", 1e-6, close).status == "within_tolerance"
    assert Replication("a", "b", 0.0, close).status == "differs"
    assert (
        Replication("a", "b", 1e-6, same, status_changes=["x: ok logged, failed now"]).ok is False
    )


def test_logged_model_excludes_timings_and_reads_intervals() -> None:
    m = LoggedModel(
        "m",
        "challenger",
        "lightgbm",
        "ok",
        "id",
        {"pr_auc": 0.3, "pr_auc_ci_low": 0.2, "pr_auc_ci_high": 0.4, "fit_seconds": 2.0},
    )
    assert "fit_seconds" not in m.comparable()
    assert m.interval("pr_auc") == (0.2, 0.4)
    assert m.interval("roc_auc") is None and math.isnan(m.value("roc_auc"))


def test_the_data_check_names_the_column_and_the_rows_that_changed(
    sim_parquet: Path, write_config
) -> None:
    import polars as pl

    from challengers.errors import DataError
    from challengers.pipeline import RunOptions, prepare
    from challengers.pipeline.replicate import data_check
    from challengers.progress import SilentProgress
    from challengers.replication.fingerprint import fingerprint_frame

    cfg = load_config(write_config(sim_config(sim_parquet, threads=1)))
    prepared = prepare(cfg, RunOptions(), SilentProgress())
    now = prepared.data_print
    assert now is not None and now.windows["loaded"] == prepared.history.height
    notes: list[str] = []
    data_check(record(fingerprint=now), "data.parquet", notes)(prepared)  # the same data
    assert notes == []
    data_check(record(), "data.parquet", notes)(prepared)  # an older run: noted, not stopped
    assert notes and "the data was not verified" in notes[0]

    flipped = prepared.history.with_columns(  # planted: the run saw row 1,500's label flipped
        pl.when(pl.int_range(pl.len()) == 1500)
        .then(1 - pl.col("TX_FRAUD"))
        .otherwise(pl.col("TX_FRAUD"))
        .alias("TX_FRAUD")
    )
    logged = fingerprint_frame(flipped, list(now.columns), windows=now.windows, chunk_by=DAY)
    with pytest.raises(DataError) as caught:
        data_check(record(fingerprint=logged), "data.parquet", [])(prepared)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("data fingerprint mismatch: data.parquet is not the data run r")
    day = prepared.history.get_column(DAY)[1500]
    assert lines[1] == (
        f"  values differ in 1 of {len(now.columns)} column(s): TX_FRAUD; first on {day}"
    )
