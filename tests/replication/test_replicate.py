"""Replication library: rebuilding the exact config from a record, and comparing values."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml

from challengers.config import load_config, parse_config
from challengers.data.frames import DAY
from challengers.errors import ConfigError
from challengers.pipeline.replicate import MetricCheck, Replication, no_config, rebuild_config
from challengers.replication.records import LoggedModel, RunRecord
from challengers.tracking import StoredRun
from tests.conftest import sim_config
from tests.reliability.conftest import invoke
from tests.replication.champion_files import (
    copy_demo_champion,
    replace_with_another_model,
    sha256,
)


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
        rebuilt.data.path
        == original.data.path
        == str(relative_config.parents[1] / "data/x.parquet")
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
    assert hash_notes == [
        f"config hash {resolved.fingerprint()} differs from the logged 0000000000000000 (the "
        "run's tag config_hash): the config schema changed since the run, or the tag was edited"
    ]


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


# ------------------------------------------------------------- a run that cannot be replayed


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("KILLED", "status KILLED)"),
        ("FAILED", "status FAILED)"),
        ("RUNNING", "status RUNNING: still running, or its process was killed)"),
    ],
)
def test_a_run_that_did_not_finish_is_said_so_with_the_command_that_resumes_it(
    tmp_path: Path, status: str, said: str
) -> None:
    """It logged no config because it never reached its end, not because an older release made
    it ("re-run it"): its output directory still there, the command that resumes it."""
    out = tmp_path / "out"
    out.mkdir()
    run = StoredRun(
        "r" * 32,
        "out",
        "sim",
        status,
        0,
        tags={"output_dir": str(out), "config_file": "/c/experiment.yaml"},
    )
    unfinished = RunRecord(run=run, models=[])
    with pytest.raises(ConfigError) as caught:
        rebuild_config(unfinished)
    assert str(caught.value) == (
        f"run {'r' * 32} did not finish ({said}: it logged no config to replay; resume it with: "
        f"challenge run /c/experiment.yaml --resume --output {out}"
    )
    assert no_config(unfinished, given_uri="sqlite:///s.db").endswith(
        f"--resume --output {out} --tracking-uri sqlite:///s.db"
    )
    out.rmdir()  # nothing left to resume: run its config again
    assert no_config(unfinished).endswith(
        "it logged no config to replay; re-run it with: challenge run /c/experiment.yaml"
    )


@dataclass
class FileChampionRun:
    directory: Path
    uri: str
    champion: Path
    run_id: str


@pytest.fixture(scope="module")
def file_champion_run(
    tmp_path_factory: pytest.TempPathFactory, sim_parquet: Path
) -> FileChampionRun:
    """A small run logged by `challenge run` with a champion model file."""
    directory = tmp_path_factory.mktemp("file-champion")
    champion = copy_demo_champion(directory / "champ.json")
    config = sim_config(sim_parquet)
    config["champion"] = {"name": "champ", "model": "champ.json"}
    config["challengers"] = [{"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 10}}]
    config["evaluation"]["bootstrap"] = 20
    path = directory / "experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    ran = invoke(["run", path, "--tracking-uri", uri, "-o", directory / "out", "-q"])
    assert ran.code == 0, ran.stderr
    comparison = json.loads((directory / "out" / "comparison.json").read_text())
    return FileChampionRun(directory, uri, champion, comparison["run_id"])


def test_a_champion_file_replaced_at_its_path_is_not_replicated(
    file_champion_run: FileChampionRun, sim_frame: pl.DataFrame
) -> None:
    """The champion's run records the file's sha256 (param and tag, as a registry champion's
    digest); another model saved at the path is refused before anything is re-run, where it
    replicated and said only "differs beyond tolerance"."""
    from mlflow import MlflowClient

    logged = file_champion_run
    digest = sha256(logged.champion)
    client = MlflowClient(tracking_uri=logged.uri)
    experiment = client.get_run(logged.run_id).info.experiment_id
    (champion,) = client.search_runs(
        [experiment],
        f"tags.`mlflow.parentRunId` = '{logged.run_id}' and tags.role = 'champion'",
    )
    for recorded in (champion.data.params, champion.data.tags):
        assert recorded["source.digest"] == digest
        assert recorded["source.uri"] == str(logged.champion)
    kept = logged.champion.read_bytes()
    replace_with_another_model(logged.champion, sim_frame)
    try:
        outcome = invoke(["replicate", logged.run_id, "--tracking-uri", logged.uri, "-q"])
        outcome.error(
            2,
            f"champion.model: {logged.champion} is not the file the run used (sha256 "
            f"{digest[:12]} recorded, {sha256(logged.champion)[:12]} now); nothing was re-run",
        )
    finally:
        logged.champion.write_bytes(kept)


def test_a_run_whose_artifacts_were_moved_is_said_so_with_where(
    file_champion_run: FileChampionRun,
) -> None:
    """A finished run whose artifacts are not where the store keeps them was not "made by a
    release that did not record one": the line names the location."""
    from mlflow import MlflowClient

    logged = file_champion_run
    location = Path(MlflowClient(tracking_uri=logged.uri).get_run(logged.run_id).info.artifact_uri)
    moved = logged.directory / "moved"
    location.rename(moved)
    try:
        outcome = invoke(["replicate", logged.run_id, "--tracking-uri", logged.uri, "-q"])
        outcome.error(
            2,
            f"run {logged.run_id} has no logged config: its artifacts are missing at {location} "
            "(moved or deleted)",
        )
    finally:
        moved.rename(location)


def test_the_commands_said_for_an_unfinished_run_paste_into_a_shell(tmp_path: Path) -> None:
    """Each argument quoted: a config or output directory with a space in its path."""
    import shlex

    out = tmp_path / "out dir"
    out.mkdir()
    config = str(tmp_path / "my cfg.yaml")
    run = StoredRun(
        "r" * 32, "out", "sim", "KILLED", 0, tags={"output_dir": str(out), "config_file": config}
    )
    unfinished = RunRecord(run=run, models=[])
    resume = no_config(unfinished, given_uri="sqlite:///s.db").split("resume it with: ", 1)[1]
    assert shlex.split(resume) == [
        "challenge", "run", config, "--resume", "--output", str(out),
        "--tracking-uri", "sqlite:///s.db",
    ]  # fmt: skip
    out.rmdir()
    rerun = no_config(unfinished).split("re-run it with: ", 1)[1]
    assert shlex.split(rerun) == ["challenge", "run", config]
