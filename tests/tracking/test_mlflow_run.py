"""A run against a real sqlite MLflow store, as a validator browses it: MLflow's conventions,
per-model artifacts, the champion's lineage to the registry, registration, promotion by hand,
and a replication that uses the recorded version and refuses when it is gone."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from challengers.pipeline.plan import SCORE_PREFIX
from challengers.pipeline.registering import best_challenger
from challengers.results import Finding
from tests.tracking.roundtrip import REGISTERED, invoke, log_champion, write_project

# one worker, so the module's logged run is set up once (the suite at a load of 5 set it up
# on both workers: 50 s on each worker)
pytestmark = pytest.mark.xdist_group("mlflow-run")


@dataclass
class Logged:
    uri: str
    root: Path
    out: Path
    run_id: str
    comparison: dict[str, Any]
    champion_version: str


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, sim_parquet: Path, sim_frame: pl.DataFrame
) -> Iterator[Logged]:
    root = tmp_path_factory.mktemp("mlflow-run")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    version = log_champion(uri, sim_frame)
    config = write_project(root / "project", sim_parquet)
    out = root / "out"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CHALLENGE_PLOTS", "on")  # the suite turns them off; their artifacts are checked
        result = invoke("run", str(config), "-o", str(out), "--tracking-uri", uri, "--quiet")
    assert result.exit_code == 0, result.output
    comparison = json.loads((out / "comparison.json").read_text())
    yield Logged(uri, root, out, comparison["run_id"], comparison, version)


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _children(logged: Logged) -> dict[str, Any]:
    client = _client(logged.uri)
    experiment = client.get_run(logged.run_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{logged.run_id}'")
    return {r.data.tags["model"]: r for r in runs}


def test_mlflow_conventions(logged: Logged) -> None:
    import mlflow

    client = _client(logged.uri)
    parent = client.get_run(logged.run_id)
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.tags["mlflow.note.content"].startswith("Second-line validation")
    commit = parent.data.tags["mlflow.source.git.commit"]
    assert len(commit) == 40 and "git_commit" not in parent.data.tags
    children = _children(logged)
    names = sorted(r.info.run_name for r in children.values())
    assert names == ["challenger: lgbm", "challenger: xgb", "champion: first-line"]
    for run in [parent, *children.values()]:
        assert Path(run.data.tags["mlflow.source.name"]).is_absolute()
    # hyperparameters: one param each, named as in the YAML, searchable
    lgbm = children["lgbm"].data.params
    assert (lgbm["num_leaves"], lgbm["n_estimators"], lgbm["imbalance"]) == ("31", "40", "none")
    assert "params" not in lgbm
    found = mlflow.search_runs(
        [experiment.experiment_id], filter_string="params.num_leaves = '31'", output_format="list"
    )
    assert [r.data.tags["model"] for r in found] == ["lgbm"]
    # datasets: absolute, normalised source; the fingerprint as digest; the schema
    data = str((logged.root / "project" / "data" / "tx.parquet").resolve())
    for run in (parent, children["lgbm"]):
        inputs = run.inputs.dataset_inputs
        assert {i.tags[0].value for i in inputs} == {"train", "test"}
        for i in inputs:
            assert json.loads(i.dataset.source)["uri"] == data
            assert i.dataset.digest == logged.comparison["data"]["fingerprint"][:16]
            columns = {c["name"]: c["type"] for c in json.loads(i.dataset.schema)["mlflow_colspec"]}
            assert columns["TX_AMOUNT"] == "double" and columns["MCC"] == "long"


def test_each_child_run_has_its_plots_scores_sample_and_named_model(logged: Logged) -> None:
    import mlflow

    client = _client(logged.uri)
    for name, run in _children(logged).items():
        files = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        # every model here is a tree (the champion a native booster): each has SHAP values
        assert files == {f"plots/{p}.png" for p in ("roc", "pr", "calibration", "shap_summary")}
        sample = pl.read_csv(
            mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path="scores_sample.csv", tracking_uri=logged.uri
            )
        )
        assert sample.columns == ["CUSTOMER_ID", "TX_FRAUD", "score"]
        assert 0 < sample.height <= 5_000
        predictions = pl.read_parquet(logged.out / "predictions.parquet")
        scores = predictions.get_column(f"{SCORE_PREFIX}{name}")
        assert set(sample.get_column("score").to_list()) <= set(scores.to_list())
        [model] = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
        )
        assert model.name == name
        # the model carries its run's metrics (logged naming it, not linked afterwards)
        assert {m.key for m in model.metrics or []} == set(run.data.metrics)
        info = mlflow.models.get_model_info(f"models:/{model.model_id}")
        inputs = [c["name"] for c in info.signature.inputs.to_dict()]
        assert (
            inputs == next(m for m in logged.comparison["models"] if m["name"] == name)["features"]
        )
        assert info.saved_input_example_info is not None
        assert "CUSTOMER_ID" not in inputs and "TRANSACTION_ID" not in inputs


def test_champion_lineage_is_recorded_everywhere(logged: Logged) -> None:
    client = _client(logged.uri)
    version = client.get_model_version(REGISTERED, logged.champion_version)
    expected = {
        "source.uri": f"models:/{REGISTERED}@champion",
        "source.registered_model": REGISTERED,
        "source.version": logged.champion_version,
        "source.model_id": version.source.removeprefix("models:/"),
        "source.run_id": version.run_id,
    }
    assert expected["source.model_id"].startswith("m-")
    champion = _children(logged)["first-line"]
    for record in (champion.data.params, champion.data.tags, logged.comparison["champion_source"]):
        assert {k: record.get(k) for k in expected} == expected
        assert len(record["source.digest"]) == 64
    assert champion.data.params["path"] == expected["source.uri"]  # not a local cache path
    report = (logged.out / "report.md").read_text()
    scope = report[report.index("Scope and data") :]
    assert (
        f"Champion model: `models:/{REGISTERED}@champion` resolved to registered model "
        f"`{REGISTERED}` version {logged.champion_version}, model id `{expected['source.model_id']}`"
    ) in scope


def test_every_file_of_the_run_has_the_same_mode(logged: Logged) -> None:
    modes = {
        p.relative_to(logged.out).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in logged.out.rglob("*")
        if p.is_file()
    }
    assert {"report.md", "comparison.json", "plots/roc.png"} <= modes.keys()
    assert len(set(modes.values())) == 1, modes


def test_challengers_registered_and_the_best_gets_the_alias(logged: Logged) -> None:
    client = _client(logged.uri)
    versions = {
        v.tags["challenge.model"]: v
        for v in client.search_model_versions(f"tags.`challenge.run` = '{logged.run_id}'")
    }
    assert sorted(versions) == ["lgbm", "xgb"]
    findings = [
        Finding(**{**f, "models": tuple(f["models"])}) for f in logged.comparison["findings"]
    ]
    best = best_challenger(findings)
    assert best is not None  # the planted weak champion is beaten
    alias = client.get_model_version_by_alias(REGISTERED, "challenger")
    assert alias.version == versions[best].version
    champion = client.get_model_version_by_alias(REGISTERED, "champion")
    assert str(champion.version) == logged.champion_version  # never promoted by a run


def test_a_recorded_version_whose_files_changed_is_refused(logged: Logged) -> None:
    """Planted: the recorded digest differs from the version's files (as when an artifact was
    overwritten); fetching the pinned version must refuse, naming URI, version and digests."""
    from challengers.errors import ModelError
    from challengers.tracking import ModelSource, fetch_champion

    recorded = ModelSource.from_record(logged.comparison["champion_source"])
    assert recorded is not None
    same = fetch_champion(recorded.uri, logged.uri, recorded)
    assert same.source == recorded  # the pinned version, its files unchanged
    altered = ModelSource(**{**recorded.__dict__, "digest": "0" * 64})
    with pytest.raises(ModelError) as refused:
        fetch_champion(recorded.uri, logged.uri, altered)
    assert str(refused.value) == (
        f"champion.model models:/{REGISTERED}@champion: the run used version "
        f"{logged.champion_version}, whose files changed (digest 000000000000 recorded, "
        f"{recorded.digest[:12]} now); nothing was re-run"
    )


def test_promote_then_replicate_uses_the_recorded_version_until_it_is_gone(
    logged: Logged,
) -> None:
    client = _client(logged.uri)
    # the run named by the first characters of its id, as the tool's tables show it; the version
    # records the whole id
    promoted = invoke("promote", logged.run_id[:8], "lgbm", "--tracking-uri", logged.uri)
    assert promoted.exit_code == 0, promoted.output
    lgbm = client.get_model_version_by_alias(REGISTERED, "champion")
    assert promoted.output.strip() == (
        f"{REGISTERED}@champion -> version {lgbm.version} (from version "
        f"{logged.champion_version}); justified by run {logged.run_id}"
    )
    assert lgbm.tags["challenge.promoted_by_run"] == logged.run_id
    # the alias moved: a replication still evaluates the version the run used
    same = invoke(
        "replicate", logged.run_id[:8], "--tracking-uri", logged.uri, "-o", str(logged.root / "r1")
    )
    assert same.exit_code == 0, same.output
    # that version gone: exit 2, one line naming the URI, the recorded version and what is there
    client.delete_model_version(REGISTERED, logged.champion_version)
    gone = invoke(
        "replicate", logged.run_id, "--tracking-uri", logged.uri, "-o", str(logged.root / "r2")
    )
    assert gone.exit_code == 2
    assert gone.output.strip().splitlines() == [
        f"error: champion.model models:/{REGISTERED}@champion: the run used version "
        f"{logged.champion_version} of '{REGISTERED}', which is gone (it resolves to version "
        f"{lgbm.version} now); nothing was re-run: restore that version, or evaluate the "
        "current one with `challenge run`"
    ]


def _page_text(browser: str, profile: Path, url: str) -> list[str]:
    """The text of a page as headless Chromium renders it (scripts run, requests answered)."""
    import re

    from tests.report.test_report_run import headless

    # wide: the table renders only the columns in view
    wide = "--window-size=5000,1200"
    shown = headless(browser, profile, "--virtual-time-budget=30000", wide, "--dump-dom", url)
    body = re.sub(r"<style.*?</style>|<script.*?</script>", "", shown.stdout, flags=re.S)
    return [line.strip() for line in re.sub(r"<[^>]+>", "\n", body).splitlines() if line.strip()]


def test_the_mlflow_ui_shows_named_runs_and_one_column_per_param(
    logged: Logged, tmp_path: Path
) -> None:
    """Headless Chromium on the MLflow UI of this run's store: the experiment's runs view as
    the run saved it, and the compare view of its three child runs."""
    from challengers.tracking.server import MlflowServer, free_port
    from tests.report.test_report_run import chromium

    browser = chromium()
    client = _client(logged.uri)
    view = client.get_run(logged.run_id).data.tags["mlflow_view"]
    children = _children(logged)
    experiment = next(iter(children.values())).info.experiment_id
    ids = json.dumps([r.info.run_id for r in children.values()])
    with MlflowServer(logged.uri, port=free_port()) as server:
        server.wait_ready(timeout_s=120)
        runs = _page_text(browser, tmp_path / "p1", f"{server.url}/{view}")
        compare = _page_text(
            browser,
            tmp_path / "p3",
            f'{server.url}/#/compare-runs?runs={ids}&experiments=["{experiment}"]',
        )
    names = ["champion: first-line", "challenger: lgbm", "challenger: xgb"]
    # the run's saved view of the runs table: one row per model, named; each hyperparameter
    # and metric its own column, no dict-string "params"
    assert all(name in runs for name in names), "\n".join(runs)
    header = runs[runs.index("Run Name") : runs.index("Hide run")]
    assert {"Parameters", "Metrics"} <= set(header), header
    assert {"num_leaves", "max_depth", "n_estimators", "roc_auc", "pr_auc"} <= set(header), header
    assert "params" not in header
    # the compare view: the three runs side by side, one row per hyperparameter
    assert all(name in compare for name in names), "\n".join(compare)
    assert {"num_leaves", "max_depth", "n_estimators", "imbalance"} <= set(compare)
    assert "31" in compare[compare.index("num_leaves") :][:5]
