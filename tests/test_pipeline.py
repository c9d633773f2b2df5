"""`run_experiment` end to end with real models and a real sqlite MLflow store."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from challengers.config import load_config
from challengers.experiment_result import ExperimentResult
from challengers.figures import NO_PLOTS_NOTE
from challengers.models.library_check import CONFIRM_ROWS
from challengers.pipeline import RunOptions, run_experiment
from challengers.tracking import flatten_params
from tests.conftest import DEMO_RUN, sim_config

# LightGBM bagging so small a fraction of the training window (about 12,000 rows) that it bags no
# row and stops ("Check failed: (num_data) > (0)"): a failure only the rows show; the plan's check
# of the parameters, on CONFIRM_ROWS rows, bags 2 and passes it
BAGS_NOTHING = {"n_estimators": 5, "bagging_fraction": 2 / CONFIRM_ROWS, "bagging_freq": 1}


def _client(uri: str):  # type: ignore[no-untyped-def]
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.tracking.MlflowClient(uri)


def _runs(uri: str, experiment: str) -> tuple[object, list[object]]:
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1
    return parents[0], children


@DEMO_RUN
def test_demo_logs_one_parent_and_a_child_per_model_with_identical_keys(
    demo_run: tuple[ExperimentResult, str],
) -> None:
    result, uri = demo_run
    parent, children = _runs(uri, "demo")
    assert sorted(c.data.tags["mlflow.runName"] for c in children) == [
        "challenger: graph-lgbm",
        "challenger: lgbm",
        "challenger: lgbm-ecod",
        "champion: first-line-xgb",
    ]
    twin = ("twin_", "delta_twin_")  # the hybrid's comparison with its twin: its own keys
    keys = [
        {k for k in c.data.metrics if not k.startswith(twin)}
        for c in children
        if c.data.tags["role"] == "challenger"
    ]
    champion = next(c for c in children if c.data.tags["role"] == "champion")
    assert keys[0] == keys[1] == keys[2]
    assert {
        "roc_auc",
        "roc_auc_ci_low",
        "roc_auc_ci_high",
        "delta_roc_auc",
        "delta_roc_auc_p_value",
    } <= keys[0]
    assert {k for k in keys[0] if not k.startswith("delta_")} == set(champion.data.metrics)
    assert parent.data.tags["data_fingerprint"] == result.data.fingerprint
    assert parent.data.tags["config_hash"] == result.config_hash
    assert all(c.info.status == "FINISHED" for c in children)
    # the metrics in MLflow are the ones in comparison.json
    comparison = json.loads((result.output_dir / "comparison.json").read_text())
    by_name = {m["name"]: m for m in comparison["models"]}
    for child in children:
        model = by_name[child.data.tags["model"]]
        assert child.data.metrics["pr_auc"] == pytest.approx(model["metrics"]["pr_auc"])
        # every kind's MLflow params are its get_params() (its YAML keys, nested ones dotted),
        # plus its features (and, for a champion file, where it came from)
        logged = {p for p in child.data.params if not p.startswith("source.")}
        assert logged == {*flatten_params(model["params"]), "features"}


@DEMO_RUN
def test_comparison_json_has_the_design_schema(demo_run: tuple[ExperimentResult, str]) -> None:
    result, _ = demo_run
    doc = json.loads((result.output_dir / "comparison.json").read_text())
    assert {"run_id", "experiment", "config_hash", "data", "models", "findings"} <= set(doc)
    assert {"fingerprint", "rows_train", "rows_test", "positives_test"} <= set(doc["data"])
    for model in doc["models"]:
        assert {
            "name",
            "role",
            "kind",
            "status",
            "metrics",
            "ci",
            "delta_vs_champion",
            "fit_seconds",
            "predict_seconds",
        } <= set(model)
        for key, (lo, hi) in model["ci"].items():
            value = model["metrics"][key]
            if value is not None and lo is not None:
                assert lo <= value + 1e-9 and value - 1e-9 <= hi, key
    challenger = next(m for m in doc["models"] if m["role"] == "challenger")
    delta = challenger["delta_vs_champion"]["roc_auc"]
    assert set(delta) >= {"value", "ci", "p_value"}
    for finding in doc["findings"]:
        assert finding["severity"] in ("high", "medium", "low", "info")
    predictions = pl.read_parquet(result.output_dir / "predictions.parquet")
    assert predictions.height == doc["data"]["rows_test"]
    assert (result.output_dir / "report.md").read_text().startswith("# Validation report: demo")


@DEMO_RUN
def test_a_run_without_plots_draws_no_figure_anywhere(
    demo_run: tuple[ExperimentResult, str],
) -> None:
    """CHALLENGE_PLOTS=off (the suite's setting, and so this run's): no PNG in the run's
    directory, the audit's chart and the tuning plots included, none in MLflow, and the
    terminal's note says why."""
    result, uri = demo_run
    assert os.environ["CHALLENGE_PLOTS"] == "off"
    assert sorted(result.output_dir.rglob("*.png")) == []
    assert result.audit is not None and result.audit.charts == []
    assert json.loads((result.output_dir / "audit.json").read_text())["charts"] == []
    assert NO_PLOTS_NOTE in result.notes
    parent, children = _runs(uri, "demo")
    client = _client(uri)
    for run in (parent, *children):
        listed = [a.path for a in client.list_artifacts(run.info.run_id)]
        assert not [p for p in listed if p.endswith(".png") or p == "plots"], listed


@DEMO_RUN
def test_demo_claims_are_checked(demo_run: tuple[ExperimentResult, str]) -> None:
    result, _ = demo_run
    # the demo's documentation overstates the champion: both claims must be findings
    ids = {f.id for f in result.findings}
    assert {"claim-roc_auc", "claim-pr_auc"} <= ids


@DEMO_RUN
def test_every_model_of_the_demo_is_explained(demo_run: tuple[ExperimentResult, str]) -> None:
    """Each kind's explanation re-derives its inputs for a sample of the test rows: the graph's
    features from the rows' timestamps, the hybrid's detector score. Each one failed once
    without a word but a line in the report ('no explanation')."""
    result, _ = demo_run
    assert result.explanations is not None
    assert result.explanations.skipped == {}
    explained = {m.model: m for m in result.explanations.models}
    assert set(explained) == {m.name for m in result.models}
    assert explained["lgbm-ecod"].features[-1] == "anomaly_ecod"
    assert "TERMINAL_ID_fraud_rate_7d" in explained["graph-lgbm"].features


def test_a_failing_challenger_does_not_lose_the_others(
    tmp_path: Path, sim_parquet: Path, write_config: Callable[..., Path], tracking_uri: str
) -> None:
    cfg_dict = sim_config(sim_parquet)
    cfg_dict["challengers"].append({"name": "broken", "kind": "lightgbm", "params": BAGS_NOTHING})
    cfg = load_config(write_config(cfg_dict))
    result = run_experiment(cfg, RunOptions(output_dir=tmp_path / "out", tracking_uri=tracking_uri))
    status = {m.name: m.status for m in result.models}
    assert status == {"champ": "ok", "lgbm": "ok", "xgb": "ok", "broken": "failed"}
    broken = next(m for m in result.models if m.name == "broken")
    assert broken.error and "num_data" in broken.error
    assert any(f.id == "run-failed-broken" for f in result.findings)
    _, children = _runs(tracking_uri, "sim")
    assert {c.data.tags["model"]: c.info.status for c in children}["broken"] == "FAILED"


def test_same_config_same_metrics(
    tmp_path: Path, sim_parquet: Path, write_config: Callable[..., Path], tracking_uri: str
) -> None:
    cfg = load_config(write_config(sim_config(sim_parquet)))
    a = run_experiment(cfg, RunOptions(output_dir=tmp_path / "a", tracking_uri=tracking_uri))
    b = run_experiment(cfg, RunOptions(output_dir=tmp_path / "b", tracking_uri=tracking_uri))
    for ma, mb in zip(a.models, b.models, strict=True):
        assert ma.metrics == mb.metrics
        assert ma.ci == mb.ci
    assert a.data.fingerprint == b.data.fingerprint


def test_only_trains_the_named_challengers(
    tmp_path: Path, sim_parquet: Path, write_config: Callable[..., Path], tracking_uri: str
) -> None:
    cfg = load_config(write_config(sim_config(sim_parquet)))
    options = RunOptions(output_dir=tmp_path / "o", tracking_uri=tracking_uri, only=("xgb",))
    result = run_experiment(cfg, options)
    assert [m.name for m in result.models] == ["champ", "xgb"]


def test_a_failing_environment_description_fails_the_run_as_before(
    tmp_path: Path,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """describe() runs in a thread while the data loads: what it raises is raised by the run
    (the CLI's one line and exit code come from that), and the MLflow run is not started."""
    from challengers.errors import EnvironmentFailure
    from challengers.pipeline import run as run_module

    def describe(directory: Path) -> dict[str, str]:
        raise EnvironmentFailure("cannot describe the environment: disk full")

    monkeypatch.setattr(run_module, "describe", describe)
    cfg = load_config(write_config(sim_config(sim_parquet)))
    with pytest.raises(EnvironmentFailure, match="cannot describe the environment: disk full"):
        run_experiment(cfg, RunOptions(output_dir=tmp_path / "out", tracking_uri=tracking_uri))
    assert (
        not Path(tracking_uri.removeprefix("sqlite:///")).exists()
        or _runs_or_none(tracking_uri) == []
    )


def _runs_or_none(uri: str) -> list[object]:
    client = _client(uri)
    experiment = client.get_experiment_by_name("sim")
    if experiment is None:
        return []
    return list(client.search_runs([experiment.experiment_id]))
