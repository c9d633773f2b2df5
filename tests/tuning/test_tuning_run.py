"""Tuning inside `challenge run`: trials as nested MLflow runs, the best parameters refit and
evaluated, a real Ctrl-C and `--resume`, and the demo's acceptance check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challengers.config import ExperimentConfig, load_config
from challengers.pipeline import RunOptions, run_experiment
from challengers.progress import SilentProgress
from tests.conftest import PLOTS_ON, ROOT, sim_config

TUNE: dict[str, Any] = {
    "trials": 4,
    "max_rounds": 60,
    "eval_every": 5,
    "early_stopping_rounds": 20,
    "space": {"num_leaves": {"low": 4, "high": 32, "int": True, "log": True}},
}


def tuned_config(data: Path, tune: dict[str, Any], **extra: Any) -> dict[str, Any]:
    config = sim_config(
        data,
        threads=1,
        challengers=[
            {"name": "lgbm", "kind": "lightgbm", "tune": tune},
            {"name": "xgb", "kind": "xgboost", "params": {"n_estimators": 20}},
        ],
        **extra,
    )
    config["evaluation"]["bootstrap"] = 0
    return config


@PLOTS_ON  # the study's plots are among the artifacts checked
def test_a_run_logs_the_trials_as_nested_runs(
    sim_parquet: Path, tmp_path: Path, tracking_uri: str
) -> None:
    from mlflow import MlflowClient

    cfg = ExperimentConfig.model_validate(tuned_config(sim_parquet, TUNE))
    out = tmp_path / "out"
    result = run_experiment(
        cfg, RunOptions(output_dir=out, tracking_uri=tracking_uri), SilentProgress()
    )
    lgbm = next(m for m in result.models if m.name == "lgbm")
    assert lgbm.status == "ok" and lgbm.run_id is not None
    assert (out / "tuning" / "lgbm.db").exists()

    client = MlflowClient(tracking_uri)
    child = client.get_run(lgbm.run_id)
    trials = client.search_runs(
        [child.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{lgbm.run_id}'",
        order_by=["tags.trial ASC"],
    )
    assert len(trials) == 4
    values = {int(r.data.tags["trial"]): r.data.metrics.get("validation_pr_auc") for r in trials}
    best = max(v for v in values.values() if v is not None)
    params = child.data.params
    assert float(params["tune.best.num_leaves"]) == float(
        next(r for r in trials if r.data.metrics.get("validation_pr_auc") == best).data.params[
            "num_leaves"
        ]
    )
    assert child.data.metrics["tune_validation_pr_auc"] == pytest.approx(best)
    # the refit model carries the best parameters and the rounds early stopping chose
    assert params["n_estimators"] == params["tune.best.rounds"]
    curve = client.get_metric_history(trials[0].info.run_id, "validation_pr_auc_by_round")
    assert [m.step for m in curve][:3] == [5, 10, 15]
    artifacts = {a.path for a in client.list_artifacts(lgbm.run_id)}
    assert {"lgbm-history.png", "lgbm-importance.png"} <= artifacts
    comparison = json.loads((out / "comparison.json").read_text())
    summary = next(m for m in comparison["models"] if m["name"] == "lgbm")["tuning"]
    assert summary["trials"] == 4 and summary["best_value"] == pytest.approx(best)
    assert summary["defaults_value"] == pytest.approx(values[0])
    assert summary["folds"] == ["fit 2024-01-31..2024-02-09, validate 2024-02-17..2024-02-20"]
    assert "tuned (Optuna): 4 trials" in (out / "report.md").read_text()
    # the untuned challenger has no nested runs
    xgb = next(m for m in result.models if m.name == "xgb")
    assert not client.search_runs(
        [child.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{xgb.run_id}'"
    )


def _study_states(path: Path) -> list[tuple[int, str, Any, Any]]:
    from challengers.tuning.study import optuna_module

    optuna = optuna_module()
    study = optuna.load_study(study_name="lgbm", storage=f"sqlite:///{path}")
    return [(t.number, t.state.name, t.params, t.value) for t in study.trials]


def _complete_trials(path: Path) -> int:
    """Read-only peek at the study being written by another process (0 until it exists)."""
    import sqlite3

    if not path.exists():
        return 0
    try:
        # a plain connection: read-only ones cannot always open a WAL database another process
        # is writing (no -shm yet), which would hide every trial until the run ended
        with sqlite3.connect(path, timeout=0.5) as connection:  # locked: asked again soon
            rows = connection.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'")
            return int(rows.fetchone()[0])
    except sqlite3.Error:  # tables not created yet
        return 0


def test_ctrl_c_then_resume_continues_the_study(
    sim_parquet: Path, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    """A real SIGINT in the middle of a tuning; `--resume` finishes it without redoing trials."""
    # enough trials that the Ctrl-C lands in the search: 8 were all done before a poll saw 2
    # (a clean clone, under the suite's load)
    tune = {**TUNE, "trials": 24, "max_rounds": 400, "early_stopping_rounds": 400, "pruning": False}
    path = write_config(tuned_config(sim_parquet, tune))
    out = tmp_path / "out"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    challenge = str(Path(sys.executable).parent / "challenge")
    command = [challenge, "run", str(path), "-o", str(out), "-q"]
    study = out / "tuning" / "lgbm.db"
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
            if _complete_trials(study) >= 2:
                break
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    before = _study_states(study)
    complete = [s for s in before if s[1] == "COMPLETE"]
    assert 2 <= len(complete) < 24
    # the trial in flight, if any, is failed (not left RUNNING): the only one lost
    assert [s[1] for s in before if s[1] != "COMPLETE"] in ([], ["FAIL"])
    print("states after Ctrl-C:", [s[1] for s in before])

    resumed = subprocess.run(
        [*command, "--resume"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    after = _study_states(study)
    assert after[: len(before)] == before  # nothing lost, nothing redone
    assert sum(s[1] == "COMPLETE" for s in after) == 24
    assert [s[0] for s in after] == list(range(len(after)))


@pytest.mark.slow
def test_on_the_demo_data_tuning_beats_the_untuned_twin(tmp_path: Path, tracking_uri: str) -> None:
    """Acceptance: the demo's LightGBM, tuned, beats its untuned twin on the validation slice."""
    from challengers.data.split import tuning_folds
    from challengers.evaluation import evaluate
    from challengers.evaluation.curve import Cost
    from challengers.evaluation.metrics import parse_metric
    from challengers.models.tree import LightGBMChallenger

    demo = load_config(ROOT / "configs" / "demo.yaml")
    twin = demo.challenger("lgbm")
    tuned = {"name": "lgbm-tuned", "kind": "lightgbm", "tune": {"trials": 10, "max_rounds": 300}}
    raw = demo.model_dump(mode="json")
    raw.update(threads=1, challengers=[twin.model_dump(mode="json"), tuned])
    raw["evaluation"]["bootstrap"] = 0
    cfg = ExperimentConfig.model_validate(raw)
    result = run_experiment(
        cfg, RunOptions(output_dir=tmp_path / "out", tracking_uri=tracking_uri), SilentProgress()
    )
    model = next(m for m in result.models if m.name == "lgbm-tuned")
    assert model.status == "ok", model.error

    from challengers.pipeline import prepare

    prepared = prepare(cfg, RunOptions(tracking_uri=tracking_uri), SilentProgress())
    ((_, part),) = tuning_folds(
        prepared.split.train,
        prepared.plan.windows,
        validation_days=None,
        folds=1,
        target="TX_FRAUD",
        entity="CUSTOMER_ID",
    )
    untuned = LightGBMChallenger(dict(twin.params), seed=cfg.seed, threads=1)  # type: ignore[union-attr]
    scores = untuned.fit(part.train, prepared.plan.spec).predict_score(part.test)
    rows = evaluate.TestRows.from_frame(
        part.test, target="TX_FRAUD", amount="TX_AMOUNT", entity="CUSTOMER_ID"
    )
    metric = parse_metric("pr_auc")
    ranked = evaluate.rank_scores(rows, scores, calibrated=True)
    twin_value = evaluate.headline(ranked, [metric], cost=Cost(), operating_rate=0.005)["pr_auc"]

    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri).get_run(model.run_id or "")
    tuned_value = run.data.metrics["tune_validation_pr_auc"]
    assert tuned_value > twin_value
    test = {m.name: m.metrics.get("pr_auc", float("nan")) for m in result.models}
    print(
        f"demo validation pr_auc: tuned {tuned_value:.4f} vs untuned twin {twin_value:.4f}; "
        f"test pr_auc: {test}; tuned params: {model.params}"
    )
