"""`challenge replicate` and `challenge compare` end to end, on a real sqlite MLflow store.

One small simulated run is logged and replicated per module (threads 1, bootstrap 100); the tests
read what the commands printed and what the store holds.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from challengers.cli.main import app
from tests.conftest import sim_config

runner = CliRunner()

# one worker, so the module's logged run is set up once (the suite at a load of 5 set it up
# on both workers: 65 s on each worker)
pytestmark = pytest.mark.xdist_group("cli-replicate")


@dataclass
class Logged:
    directory: Path
    uri: str
    data: Path
    config: Path
    original: str
    replication: str
    replicate_exit: int
    replicate_output: str


def _run_id(output: str) -> str:
    match = re.search(r"MLflow run\s+([0-9a-f]{32})", output)
    assert match, output
    return match.group(1)


def _client(uri: str):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _children(uri: str, parent: str) -> dict[str, dict[str, float]]:
    client = _client(uri)
    experiment = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent}'")
    return {r.data.tags["model"]: dict(r.data.metrics) for r in runs}


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, sim_parquet: Path) -> Iterator[Logged]:
    """A run logged by `challenge run` (data path relative to the config) and its replication."""
    directory = tmp_path_factory.mktemp("replicate")
    (directory / "data").mkdir()
    data = directory / "data" / "transactions.parquet"
    shutil.copy(sim_parquet, data)
    config = sim_config(Path("data/transactions.parquet"), threads=1)
    path = directory / "experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    ran = runner.invoke(
        app, ["run", str(path), "--tracking-uri", uri, "--output", str(directory / "run")]
    )
    assert ran.exit_code == 0, ran.output
    original = _run_id(ran.output)
    replicated = runner.invoke(
        app,
        ["replicate", original, "--tracking-uri", uri, "--output", str(directory / "replication")],
    )
    match = re.search(r"as\s+([0-9a-f]{32})", replicated.output)
    yield Logged(
        directory,
        uri,
        data,
        path,
        original,
        match.group(1) if match else "",
        replicated.exit_code,
        replicated.output,
    )


def test_replicating_a_logged_run_gives_identical_metrics_and_exit_0(logged: Logged) -> None:
    assert logged.replicate_exit == 0, logged.replicate_output
    assert "identical" in logged.replicate_output
    assert "0 beyond tolerance" in logged.replicate_output
    assert "!" not in logged.replicate_output  # no notes: config and environment as logged
    before = _children(logged.uri, logged.original)
    after = _children(logged.uri, logged.replication)
    assert set(before) == set(after) == {"champ", "lgbm", "xgb"}
    assert "delta_pr_auc_p_value" in before["lgbm"]  # deltas and p-values are compared too
    timings = {"fit_seconds", "predict_seconds"}
    for model, metrics in before.items():
        assert metrics.keys() == after[model].keys()
        assert len(metrics) >= 3 * 4 + 2  # each metric with its interval, and the timings
        for key, value in metrics.items():
            if key not in timings:
                assert after[model][key] == value, (model, key)


def test_the_replication_is_a_new_run_tagged_with_the_original(logged: Logged) -> None:
    run = _client(logged.uri).get_run(logged.replication)
    assert run.data.tags["replication_of"] == logged.original
    assert run.data.tags["replication_status"] == "identical"
    assert run.data.metrics["replication_max_abs_diff"] == 0.0
    assert (
        run.data.tags["data_fingerprint"]
        == (_client(logged.uri).get_run(logged.original).data.tags["data_fingerprint"])
    )


def test_the_run_records_environment_threads_config_and_fingerprint(logged: Logged) -> None:
    import json

    from challengers.config import load_config
    from challengers.tracking import read_artifact_text

    run = _client(logged.uri).get_run(logged.original)
    tags = run.data.tags
    for key in ("python", "platform", "version.lightgbm", "version.polars", "installed_hash"):
        assert tags[key]
    assert tags["threads"] == "1" and run.data.params["threads"] == "1"
    assert tags["config_file"] == str(logged.config)
    text = read_artifact_text(logged.uri, logged.original, "config.yaml")
    assert text == logged.config.read_text()  # as written: the relative path is kept
    assert "path: data/transactions.parquet" in (text or "")
    resolved = read_artifact_text(logged.uri, logged.original, "config.resolved.yaml")
    assert yaml.safe_load(resolved or "")["data"]["path"] == str(logged.data)
    assert tags["config_hash"] == load_config(logged.config).fingerprint()
    printed = json.loads(read_artifact_text(logged.uri, logged.original, "fingerprint.json") or "")
    assert printed["digest"] == tags["data_fingerprint"]
    assert {"TX_AMOUNT", "TX_DATETIME", "TX_FRAUD", "CUSTOMER_ID"} <= set(printed["columns"])
    windows = printed["windows"]
    assert windows["train"] == run.data.metrics["rows_train"]
    assert windows["test"] == run.data.metrics["rows_test"]
    assert windows["loaded"] > windows["train"] + windows["test"]  # the gap days are read too


def test_one_altered_value_is_a_fingerprint_mismatch_exit_2(logged: Logged, tmp_path: Path) -> None:
    original = logged.data.read_bytes()
    frame = pl.read_parquet(logged.data)
    row = frame.height // 2
    altered = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.col("TX_AMOUNT") + 0.01)
        .otherwise(pl.col("TX_AMOUNT"))
        .alias("TX_AMOUNT")
    )
    try:
        altered.write_parquet(logged.data)
        result = runner.invoke(
            app, ["replicate", logged.original, "--tracking-uri", logged.uri, "-o", str(tmp_path)]
        )
    finally:
        logged.data.write_bytes(original)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith(f"error: data fingerprint mismatch: {logged.data} is not the data")
    assert logged.original in lines[0]
    # the mismatch is placed on the altered row's day (the fingerprint hashes rows per day)
    day = frame.get_column("TX_DATETIME")[row].date()
    assert re.search(r"values differ in 1 of \d+ column\(s\): TX_AMOUNT; first on ", lines[1])
    assert lines[1].endswith(f"first on {day}"), lines[1]
    assert "nothing was re-run" in lines[2]
    assert "Challenger" not in result.output  # stopped before any training


def test_altered_data_is_caught_by_the_digest_when_fingerprint_json_is_lost(
    logged: Logged, tmp_path: Path
) -> None:
    """The run's fingerprint.json deleted (or cut short) on disk: the changed data was replicated
    with a note that it 'was not verified' (exit 0, 'identical' where the change missed the
    models), though the run's data_fingerprint tag holds the digest (a truncated one was refused,
    'unreadable', with no way on)."""
    location = Path(_client(logged.uri).get_run(logged.original).info.artifact_uri)
    logged_print = location / "fingerprint.json"
    kept_print, kept_data = logged_print.read_bytes(), logged.data.read_bytes()
    frame = pl.read_parquet(logged.data)
    row = frame.height // 2
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.col("TX_AMOUNT") + 0.01)
        .otherwise(pl.col("TX_AMOUNT"))
        .alias("TX_AMOUNT")
    ).write_parquet(logged.data)
    outcomes = []
    try:
        for lost, damage in (
            ("is missing from its artifacts", logged_print.unlink),
            (
                "is unreadable (JSONDecodeError: Unterminated string starting at: line 2 column 3 "
                "(char 4))",
                lambda: logged_print.write_bytes(kept_print[:10]),
            ),
        ):
            damage()
            args = ["replicate", logged.original, "--tracking-uri", logged.uri, "-q"]
            outcomes.append((lost, runner.invoke(app, [*args, "-o", str(tmp_path / "r")])))
    finally:
        logged_print.write_bytes(kept_print)
        logged.data.write_bytes(kept_data)
    for lost, outcome in outcomes:
        assert outcome.exit_code == 2, outcome.output
        lines = outcome.stderr.splitlines()
        assert lines[0].startswith(f"error: data fingerprint mismatch: {logged.data} is not the ")
        assert lines[1:] == [
            f"error:   which rows and columns differ cannot be said: the run's fingerprint.json "
            f"{lost} (or the run was made by a release that fingerprinted the data otherwise)",
            "error:   nothing was re-run: restore the data the run used (and the run's "
            "fingerprint.json, to see what differs), or evaluate this data with `challenge run`",
        ]
    assert not (tmp_path / "r" / "comparison.json").exists()


def test_deleted_config_artifacts_are_said_deleted_not_from_an_older_release(
    logged: Logged, tmp_path: Path
) -> None:
    """Both configs deleted from the run's artifacts: 'it was made by a release of challenge that
    did not record one'; the resolved one alone: 'no resolved config logged'. Every release that
    logs fingerprint.json logs them with it."""
    location = Path(_client(logged.uri).get_run(logged.original).info.artifact_uri)
    resolved, text = location / "config.resolved.yaml", location / "config.yaml"
    kept = resolved.read_bytes(), text.read_bytes()
    try:
        resolved.unlink()
        replayed = runner.invoke(
            app,
            ["replicate", logged.original, "--tracking-uri", logged.uri, "-o", str(tmp_path / "a")],
            env={"COLUMNS": "300"},
        )
        text.unlink()
        refused = runner.invoke(
            app,
            ["replicate", logged.original, "--tracking-uri", logged.uri, "-o", str(tmp_path / "b")],
        )
    finally:
        resolved.write_bytes(kept[0])
        text.write_bytes(kept[1])
    assert replayed.exit_code == 0, replayed.output
    assert (
        "! config.resolved.yaml was deleted from the run's artifacts (fingerprint.json, logged "
        "with it, is there): replaying the config as written (config.yaml) with this release's "
        "defaults"
    ) in replayed.stdout.splitlines()
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.strip() == (
        f"error: run {logged.original} has no logged config: config.resolved.yaml and "
        f"config.yaml were deleted from its artifacts at {location} (fingerprint.json, logged "
        "with them, is there); put them back there, or re-run it with `challenge run`"
    )


def test_data_moved_or_changed_in_its_columns_is_said_of_the_data_not_the_config(
    logged: Logged, tmp_path: Path
) -> None:
    """Moved: 'data.path: file not found ...; check data.path in the config', a config replicate
    reads from the store; a column dropped: 'column not in the data ... did you mean' alone."""
    kept = logged.data.read_bytes()
    args = ["replicate", logged.original, "--tracking-uri", logged.uri, "-q"]
    try:
        logged.data.unlink()
        moved = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
        pl.read_parquet(kept).drop("TX_AMOUNT").write_parquet(logged.data)
        dropped = runner.invoke(app, [*args, "-o", str(tmp_path / "b")])
    finally:
        logged.data.write_bytes(kept)
    assert moved.exit_code == 2, moved.output
    assert moved.stderr.strip() == (
        f"error: data.path: {logged.data} is not there; run {logged.original} read its data from "
        "it (moved or deleted since?): nothing was re-run: put the data the run used back at "
        "that path, or evaluate other data with `challenge run`"
    )
    assert dropped.exit_code == 2, dropped.output
    lines = dropped.stderr.strip().splitlines()
    assert lines[0].startswith("error: column not in the data: 'TX_AMOUNT' (data.amount)")
    assert lines[1:] == [
        f"error:   run {logged.original} loaded {logged.data} with this config without this "
        "error: the data changed since; nothing was re-run: restore the data the run used, or "
        "evaluate this data with `challenge run`"
    ]


def test_a_metric_that_does_not_replicate_is_exit_1(logged: Logged, tmp_path: Path) -> None:
    """Planted: the logged pr_auc of lgbm is moved by 0.01; only that value must be flagged."""
    client = _client(logged.uri)
    child = next(
        r
        for r in client.search_runs(
            [client.get_run(logged.original).info.experiment_id],
            f"tags.`mlflow.parentRunId` = '{logged.original}' and tags.model = 'lgbm'",
        )
    )
    true_value = child.data.metrics["pr_auc"]
    client.log_metric(child.info.run_id, "pr_auc", true_value + 0.01, step=10)
    try:
        result = runner.invoke(
            app,
            [
                "replicate",
                logged.original,
                "--tracking-uri",
                logged.uri,
                "-q",
                "-o",
                str(tmp_path / "a"),
            ],
        )
        verbose = runner.invoke(
            app,
            [
                "replicate",
                logged.original,
                "--tracking-uri",
                logged.uri,
                "--tolerance",
                "0.02",
                "-o",
                str(tmp_path / "b"),
            ],
        )
    finally:
        client.log_metric(child.info.run_id, "pr_auc", true_value, step=20)
    assert result.exit_code == 1, result.output
    assert verbose.exit_code == 0, verbose.output  # 0.01 is within a 0.02 tolerance
    assert "within tolerance 0.02" in verbose.output
    # the model heads its rows; the value row: key, logged, replicated, difference
    assert re.search(r"\n\s*lgbm\s*\n(.*\n)*?\s+pr_auc\s+\S+\s+\S+\s+1\.00e-02", verbose.output)


def test_compare_prints_both_runs_side_by_side(logged: Logged) -> None:
    result = runner.invoke(
        app,
        ["compare", logged.original, logged.replication, "--tracking-uri", logged.uri],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert logged.original in result.output and logged.replication in result.output
    assert f"replicates {logged.original[:8]}" in result.output
    metrics = _children(logged.uri, logged.original)
    roc_row = next(line for line in result.output.splitlines() if line.startswith("│ roc_auc"))
    cells = [c.strip() for c in roc_row.split("│")[2:-1]]
    order = ["champ", "lgbm", "xgb"]
    header = next(line for line in result.output.splitlines() if "champ" in line)
    assert re.findall(r"champ|lgbm|xgb", header) == order * 2
    expected = [f"{metrics[name]['roc_auc']:.4f}" for name in order] * 2
    assert cells == expected
    low, high = metrics["lgbm"]["roc_auc_ci_low"], metrics["lgbm"]["roc_auc_ci_high"]
    assert f"[{low:.4f}, {high:.4f}]" in result.output


def test_compare_in_80_columns_shows_every_value_and_id_whole(logged: Logged) -> None:
    """A pipe or a file gets 80 columns, where the grid was cut to 0.21… and 91e825…: the narrow
    layout (a block per metric, a line per model of each run) has every figure in full."""
    runs = [logged.original, logged.replication]
    result = runner.invoke(app, ["compare", *runs, "--tracking-uri", logged.uri])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())
    assert all(run in result.output for run in runs)
    metrics = _children(logged.uri, logged.original)
    lines = result.output.splitlines()
    block = lines[lines.index(next(line for line in lines if line.strip() == "roc_auc")) + 1 :]
    for name in ("champ", "lgbm", "xgb"):
        values = metrics[name]
        row = next(line for line in block if f"{logged.original[:8]} {name} " in line)
        low, high = values["roc_auc_ci_low"], values["roc_auc_ci_high"]
        assert row.split()[-3:] == [f"{values['roc_auc']:.4f}", f"[{low:.4f},", f"{high:.4f}]"]


def test_compare_says_when_the_runs_were_measured_on_different_test_rows(
    logged: Logged, tmp_path: Path
) -> None:
    """A run of the same data and windows that keeps the known fraudsters' rows: metrics of
    other rows under the same data fingerprint (which covers the windows' rows)."""
    config = yaml.safe_load(logged.config.read_text())
    config["data"]["path"] = str(logged.data)
    config["challengers"] = [{"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 5}}]
    config["evaluation"]["bootstrap"] = 0
    config["split"]["exclude_known_frauds"] = False
    shorter = tmp_path / "shorter.yaml"
    shorter.write_text(yaml.safe_dump(config))
    ran = runner.invoke(
        app, ["run", str(shorter), "--tracking-uri", logged.uri, "-o", tmp_path / "o"]
    )
    assert ran.exit_code == 0, ran.output
    other = _run_id(ran.output)
    note = "the runs were measured on different test rows"
    result = runner.invoke(app, ["compare", logged.original, other, "--tracking-uri", logged.uri])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert note in text
    lines = re.findall(
        r"test 2024-02-28\.\.2024-03-10 \(([\d,]+) rows(, known frauds excluded)?\)", text
    )
    (kept, excluded), (all_rows, none) = sorted(lines, key=lambda found: found[1], reverse=True)
    assert excluded and not none and int(all_rows.replace(",", "")) > int(kept.replace(",", ""))
    same = runner.invoke(
        app, ["compare", logged.original, logged.replication, "--tracking-uri", logged.uri]
    )
    assert note not in " ".join(same.output.split())


def test_a_run_is_found_by_the_first_characters_of_its_id(logged: Logged) -> None:
    whole = runner.invoke(
        app, ["compare", logged.original, "--tracking-uri", logged.uri], env={"COLUMNS": "200"}
    )
    short = runner.invoke(
        app, ["compare", logged.original[:8], "--tracking-uri", logged.uri], env={"COLUMNS": "200"}
    )
    assert short.exit_code == 0, short.output
    assert short.output == whole.output


def test_a_run_named_twice_is_compared_once(logged: Logged) -> None:
    """`compare ID ID` showed the run twice: its id, its first characters and one of its model
    runs name one run, shown once, in the order first given."""
    child = _client(logged.uri).search_runs(
        [_client(logged.uri).get_run(logged.original).info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{logged.original}'",
    )[0]
    once = runner.invoke(
        app,
        ["compare", logged.replication, logged.original, "--tracking-uri", logged.uri],
        env={"COLUMNS": "200"},
    )
    named = [logged.replication, logged.original, logged.original[:8], child.info.run_id]
    twice = runner.invoke(
        app,
        ["compare", *named, logged.replication, "--tracking-uri", logged.uri],
        env={"COLUMNS": "200"},
    )
    assert twice.exit_code == 0, twice.output
    assert twice.output == once.output


def test_the_first_characters_of_several_runs_ids_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """17 runs: two of them share their first hex digit, which is then allowed as a prefix."""
    from challengers.tracking import reading

    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    client = _client(uri)
    experiment = client.create_experiment("many")
    ids = [client.create_run(experiment).info.run_id for _ in range(17)]
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    monkeypatch.setattr(reading, "RUN_ID_PREFIX", re.compile(r"[0-9a-f]{1,31}"))
    result = runner.invoke(app, ["compare", shared, "--tracking-uri", uri])
    assert result.exit_code == 2, result.stderr
    assert f"error: run id '{shared}' begins several runs in {uri} (" in result.stderr
    assert result.stderr.strip().endswith("give more of its characters")


def test_compare_only_the_metrics_asked_for(logged: Logged) -> None:
    result = runner.invoke(
        app, ["compare", logged.original, "--metric", "pr_auc", "--tracking-uri", logged.uri]
    )
    assert result.exit_code == 0, result.output
    assert "│ pr_auc" in result.output and "│ roc_auc" not in result.output
    wrong = runner.invoke(
        app, ["compare", logged.original, "--metric", "pr_aux", "--tracking-uri", logged.uri]
    )
    assert wrong.exit_code == 2
    assert "did you mean 'pr_auc'" in wrong.stderr


def test_compare_takes_every_key_the_model_runs_log(logged: Logged) -> None:
    """Interval bounds and deltas are logged on the model runs: --metric refused them as 'not
    logged by these runs'."""
    result = runner.invoke(
        app,
        ["compare", logged.original, "--metric", "delta_pr_auc", "-m", "pr_auc_ci_low",
         "--tracking-uri", logged.uri],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "│ pr_auc_ci_low" in result.output and "│ delta_pr_auc " in result.output
    assert "│ pr_auc " not in result.output and "│ roc_auc" not in result.output
    lgbm = _children(logged.uri, logged.original)["lgbm"]
    assert f"{lgbm['pr_auc_ci_low']:.4f}" in result.output
    assert f"{lgbm['delta_pr_auc']:.4f}" in result.output
    wrong = runner.invoke(
        app, ["compare", logged.original, "-m", "delta_pr_aux", "--tracking-uri", logged.uri]
    )
    assert wrong.exit_code == 2
    assert "did you mean 'delta_pr_auc'" in wrong.stderr


def test_a_model_run_id_is_followed_to_its_parent(logged: Logged) -> None:
    client = _client(logged.uri)
    experiment = client.get_run(logged.original).info.experiment_id
    child = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{logged.original}'")[0]
    result = runner.invoke(
        app, ["compare", child.info.run_id, "--tracking-uri", logged.uri], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert f"using its parent run {logged.original}" in result.output


def test_a_tuning_trial_id_is_followed_to_the_challenge_run(logged: Logged, tmp_path: Path) -> None:
    """A trial's run sits under its model run (tracking/writing.py's nested runs): its id went up
    one level and was refused, 'run <model run> was not logged by `challenge run`'."""
    shutil.copyfile(logged.directory / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = _client(uri)
    experiment = client.get_run(logged.original).info.experiment_id
    model = client.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{logged.original}' and tags.model = 'lgbm'"
    )[0]
    trial = client.create_run(
        experiment,
        run_name="lgbm-trial-003",
        tags={"mlflow.parentRunId": model.info.run_id, "trial": "3"},
    ).info.run_id
    client.set_terminated(trial, "FINISHED")
    shown = runner.invoke(app, ["compare", trial, "--tracking-uri", uri], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == (
        f"! {trial} is the run 'lgbm-trial-003' inside the model run 'challenger: lgbm' "
        f"({model.info.run_id}); using their parent run {logged.original}"
    )


def test_replicate_into_an_earlier_run_suggests_what_replicate_takes(logged: Logged) -> None:
    """It said 'or add --resume to continue that run': replicate has no --resume."""
    run_dir = logged.directory / "run"
    again = runner.invoke(
        app, ["replicate", logged.original, "--tracking-uri", logged.uri, "-o", str(run_dir)]
    )
    assert again.exit_code == 2, again.output
    assert again.stderr.strip() == (
        f"error: --output {run_dir} holds an earlier run (comparison.json); choose a new "
        "directory, or leave out --output for a new one"
    )


def test_a_deleted_run_is_said_so_by_id_and_prefix_and_not_replicated(
    logged: Logged, tmp_path: Path
) -> None:
    """compare showed a deleted run as FINISHED by its whole id and 'not found' by its first
    characters; replicate re-ran it. A copy of the store, the run deleted there."""
    shutil.copyfile(logged.directory / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _client(uri).delete_run(logged.original)
    restore = f"`MLFLOW_TRACKING_URI={uri} mlflow runs restore --run-id {logged.original}`"
    for given in (logged.original, logged.original[:8]):
        shown = runner.invoke(
            app, ["compare", given, "--tracking-uri", uri], env={"COLUMNS": "300"}
        )
        assert shown.exit_code == 0, shown.output
        words = " ".join(shown.stdout.split())  # the note wraps at the terminal's width
        assert words.startswith(
            f"! run {logged.original} is deleted in the tracking store {uri}; restore it with "
            f"{restore} Runs"
        )
        assert "FINISHED, deleted" in words
    out = tmp_path / "replication"
    refused = runner.invoke(
        app, ["replicate", logged.original[:8], "--tracking-uri", uri, "-o", str(out)]
    )
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.strip() == (
        f"error: run {logged.original} is deleted in the tracking store {uri}, so it is not "
        f"replicated; restore it with {restore}"
    )
    assert not out.exists()


def test_a_deleted_model_run_is_shown_compared_and_said_so(logged: Logged, tmp_path: Path) -> None:
    """A model's child run deleted in the store: compare showed the run without that model, and
    replicate said 'xgb: in the replication, not in the logged run' (exit 1, differs)."""
    shutil.copyfile(logged.directory / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    child = _client(uri).search_runs(
        [_client(uri).get_run(logged.original).info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{logged.original}' and tags.model = 'xgb'",
    )[0]
    _client(uri).delete_run(child.info.run_id)
    note = (
        f"! model 'xgb': run {child.info.run_id} is deleted in the tracking store {uri}, its "
        "logged values are read all the same; restore it with `MLFLOW_TRACKING_URI="
        f"{uri} mlflow runs restore --run-id {child.info.run_id}`"
    )
    shown = runner.invoke(
        app, ["compare", logged.original, "--tracking-uri", uri], env={"COLUMNS": "300"}
    )
    assert shown.exit_code == 0, shown.output
    assert " ".join(shown.stdout.split()).startswith(note)
    assert "challenger · xgboost" in shown.stdout
    again = runner.invoke(
        app,
        ["replicate", logged.original, "--tracking-uri", uri, "-o", str(tmp_path / "r")],
        env={"COLUMNS": "300"},
    )
    assert again.exit_code == 0, again.output
    words = " ".join(again.stdout.split())
    assert note in words
    assert "for 3 models" in words and "not in the logged run" not in words


def test_a_model_run_whose_tags_were_removed_is_read_from_its_name_and_status(
    logged: Logged, tmp_path: Path
) -> None:
    """The tags model and status removed from xgb's run: replicate said 'challenger: xgb: in the
    logged run, not in the replication' and 'xgb: in the replication, not in the logged run'
    (exit 1, differs)."""
    shutil.copyfile(logged.directory / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = _client(uri)
    child = client.search_runs(
        [client.get_run(logged.original).info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{logged.original}' and tags.model = 'xgb'",
    )[0]
    for tag in ("model", "status"):
        client.delete_tag(child.info.run_id, tag)
    again = runner.invoke(
        app,
        ["replicate", logged.original, "--tracking-uri", uri, "-o", str(tmp_path / "r")],
        env={"COLUMNS": "300"},
    )
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[0] == (
        f"! model run {child.info.run_id} ('challenger: xgb') has no tag model, status (removed "
        "since it was logged?): read from its run name and status"
    )
    assert "for 3 models" in again.stdout and "not in the" not in again.stdout


def test_a_run_of_some_challengers_whose_only_tag_was_removed_replicates_those(
    logged: Logged, tmp_path: Path
) -> None:
    """`run --only lgbm`, its tag only removed: the replication trained xgb too and said 'xgb: in
    the replication, not in the logged run' (exit 1, differs)."""
    shutil.copyfile(logged.directory / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ran = runner.invoke(
        app,
        [
            "run",
            str(logged.config),
            "--only",
            "lgbm",
            "--tracking-uri",
            uri,
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert ran.exit_code == 0, ran.output
    run_id = _run_id(ran.output)
    _client(uri).delete_tag(run_id, "only")
    again = runner.invoke(
        app,
        ["replicate", run_id, "--tracking-uri", uri, "-o", str(tmp_path / "r")],
        env={"COLUMNS": "300"},
    )
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[0] == (
        "! the run has no tag only (removed since it was logged?), and logged 1 of the config's "
        "2 challengers: replicating lgbm (as --only)"
    )
    assert "for 2 models" in again.stdout and "not in the" not in again.stdout


def test_a_run_whose_role_tag_was_removed_is_still_read_as_a_challenge_run(
    logged: Logged, tmp_path: Path
) -> None:
    """It was refused: 'run ... was not logged by `challenge run` (no tag role=experiment)'."""
    shutil.copyfile(logged.directory / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _client(uri).delete_tag(logged.original, "role")
    shown = runner.invoke(
        app, ["compare", logged.original, "--tracking-uri", uri], env={"COLUMNS": "300"}
    )
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == (
        f"! run {logged.original} has no tag role (removed since it was logged?); read as a "
        "`challenge run`, which its tags config_hash and data_fingerprint say it is"
    )
    assert "challenger · xgboost" in shown.stdout


def test_unknown_run_missing_store_and_bad_arguments_are_exit_2(
    logged: Logged, tmp_path: Path
) -> None:
    unknown = runner.invoke(
        app, ["replicate", "0" * 32, "--tracking-uri", logged.uri, "-o", str(tmp_path)]
    )
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith(f"error: run '{'0' * 32}' not found in {logged.uri}")
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    store = runner.invoke(app, ["compare", logged.original, "--tracking-uri", missing])
    assert store.exit_code == 2
    assert "no tracking store at" in store.stderr and "does not exist" in store.stderr
    assert not (tmp_path / "nowhere.db").exists()  # reading never creates a store
    (tmp_path / "empty.db").touch()  # a store cut to nothing: it was made a new store
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    for command in (["compare"], ["replicate"], ["promote"]):
        arguments = [*command, logged.original, *(["lgbm"] if command == ["promote"] else [])]
        emptied = runner.invoke(app, [*arguments, "--tracking-uri", empty])
        assert emptied.exit_code == 2, emptied.output
        assert emptied.stderr.strip() == (
            f"error: no tracking store at {empty} (the file is empty); pass --tracking-uri or set "
            "MLFLOW_TRACKING_URI to the store the run was logged to, or restore the file"
        )
    assert (tmp_path / "empty.db").stat().st_size == 0
    neither = runner.invoke(app, ["replicate"])
    assert neither.exit_code == 2
    assert neither.stderr.strip() == "error: give a RUN_ID or --config PATH (one of them)"


def test_replicate_config_runs_twice_and_compares(
    sim_parquet: Path, write_config, tracking_uri: str, tmp_path: Path
) -> None:
    config = sim_config(
        sim_parquet,
        threads=1,
        challengers=[{"name": "xgb", "kind": "xgboost", "params": {"n_estimators": 20}}],
    )
    path = write_config(config)
    result = runner.invoke(
        app,
        ["replicate", "--config", str(path), "--tracking-uri", tracking_uri, "-o", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "identical" in result.output
    assert (tmp_path / "run" / "comparison.json").exists()
    assert (tmp_path / "replication" / "comparison.json").exists()
    client = _client(tracking_uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("sim").experiment_id], "tags.role = 'experiment'"
    )
    assert len(runs) == 2
    tagged = [r for r in runs if "replication_of" in r.data.tags]
    assert len(tagged) == 1
    assert tagged[0].data.tags["replication_of"] in {r.info.run_id for r in runs} - {
        tagged[0].info.run_id
    }


@pytest.mark.parametrize("command", ["replicate", "compare"])
def test_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert f"challenge {command} " in result.output  # the examples
    assert "--tracking-uri" in result.output


def test_a_replication_logs_beside_the_run_in_its_renamed_experiment(
    logged: Logged, tmp_path: Path
) -> None:
    """The experiment renamed in the UI after the run: the replication went to a new experiment
    under the config's name, away from the run it replicates (compared in the UI side by side)."""
    shutil.copyfile(logged.directory / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = _client(uri)
    experiment = client.get_run(logged.original).info.experiment_id
    client.rename_experiment(experiment, "fraud model validation 2024")
    again = runner.invoke(
        app, ["replicate", logged.original, "--tracking-uri", uri, "-o", str(tmp_path / "r")]
    )
    assert again.exit_code == 0, again.output
    replication = re.search(r"as\s+([0-9a-f]{32})", again.output)
    assert replication, again.output
    assert client.get_run(replication.group(1)).info.experiment_id == experiment
    assert client.get_experiment_by_name("sim") is None  # no experiment of the config's name
