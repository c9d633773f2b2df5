"""A challenger that fails is a failed child run with its error; the others, the comparison, the
report and the terminal summary complete and say which one failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from challengers.config import load_config
from challengers.models.library_check import CONFIRM_ROWS
from challengers.pipeline import RunOptions, run_experiment
from tests.reliability.conftest import invoke, tiny_config

# LightGBM bagging so small a fraction of the training window (about 12,000 rows) that it bags no
# row and stops ("[Fatal] Check failed: (num_data) > (0)"); the plan's check of the parameters, on
# CONFIRM_ROWS rows, bags 2 and passes it
BAGS_NOTHING = {"n_estimators": 5, "bagging_fraction": 2 / CONFIRM_ROWS, "bagging_freq": 1}


def test_failed_challengers_are_reported_everywhere_and_the_rest_completes(
    tmp_path: Path, sim_parquet: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from challengers.models.tree import XGBoostChallenger

    # two ways to fail inside the libraries, one of them with LightGBM's native "[Fatal]". A
    # parameter the library refuses whatever the rows is refused before any row is read
    # (pipeline/tree_params.py), so XGBoost is asked for a depth it refuses as it trains, and
    # LightGBM bags none of the training window's rows (only the rows show that)
    real = XGBoostChallenger._fit

    def refused_as_it_trains(self: XGBoostChallenger, *args: Any) -> None:
        self.params = {**(self.params or {}), "max_depth": -3}
        real(self, *args)

    monkeypatch.setattr(XGBoostChallenger, "_fit", refused_as_it_trains)
    cfg = tiny_config(sim_parquet)
    cfg["challengers"] += [
        {"name": "bad-xgb", "kind": "xgboost", "params": {"n_estimators": 5}},
        {"name": "bad-lgbm", "kind": "lightgbm", "params": BAGS_NOTHING},
    ]
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "out"
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store])
    assert outcome.code == 0, outcome.stderr

    # the terminal: the table has the models that worked, the summary names each failure
    stdout = " ".join(outcome.stdout.split())
    assert "lgbm" in stdout and "champ" in stdout
    assert "✗ bad-xgb (xgboost) failed: XGBoostError" in stdout
    assert "✗ bad-lgbm (lightgbm) failed: LightGBMError" in stdout
    assert "challenger 'bad-lgbm' failed" in outcome.stderr
    assert "[LightGBM] [Fatal]" not in outcome.stderr + outcome.stdout

    # comparison.json: status and error per model; the others evaluated with the champion
    comparison = json.loads((out / "comparison.json").read_text())
    models = {m["name"]: m for m in comparison["models"]}
    assert {n: m["status"] for n, m in models.items()} == {
        "champ": "ok",
        "lgbm": "ok",
        "bad-xgb": "failed",
        "bad-lgbm": "failed",
    }
    assert "max_depth" in models["bad-xgb"]["error"]
    assert "num_data" in models["bad-lgbm"]["error"]
    assert models["lgbm"]["delta_vs_champion"]["roc_auc"]["p_value"] is not None
    assert not models["bad-xgb"]["metrics"]
    ids = {f["id"] for f in comparison["findings"]}
    assert {"run-failed-bad-xgb", "run-failed-bad-lgbm"} <= ids

    # the report (Markdown and HTML) lists them
    report = (out / "report.md").read_text()
    assert "**bad-xgb** (xgboost) failed: XGBoostError" in report
    assert "**bad-lgbm** (lightgbm) failed: LightGBMError" in report
    html = (out / "report.html").read_text()
    assert "bad-xgb" in html and "XGBoostError" in html and "LightGBMError" in html

    # MLflow: FAILED child runs with the error as a tag; the others and the parent FINISHED
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("sim")
    runs = {
        r.data.tags.get("model", r.info.run_name): r
        for r in client.search_runs([experiment.experiment_id])
    }
    assert runs["bad-xgb"].info.status == "FAILED"
    assert "max_depth" in runs["bad-xgb"].data.tags["error"]
    assert runs["bad-lgbm"].info.status == "FAILED"
    assert runs["lgbm"].info.status == runs["champ"].info.status == "FINISHED"
    assert runs["out"].info.status == "FINISHED"
    assert runs["lgbm"].data.metrics["roc_auc"] == models["lgbm"]["metrics"]["roc_auc"]

    # a failed challenger keeps no checkpoint: --resume tries it again
    assert (out / "models" / "lgbm" / "checkpoint.json").exists()
    assert not (out / "models" / "bad-xgb" / "checkpoint.json").exists()


def test_a_challenger_failing_with_a_blank_message_is_isolated_too(
    tmp_path: Path, sim_parquet: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library error whose message is only whitespace once escaped the isolation (IndexError
    on its first line); planted here in the XGBoost challenger's fit."""
    from challengers.models.tree import XGBoostChallenger

    def blank(*args: object, **kwargs: object) -> None:
        raise ValueError("  \n  ")

    monkeypatch.setattr(XGBoostChallenger, "_fit", blank)
    cfg = tiny_config(sim_parquet)
    cfg["challengers"] += [{"name": "xgb", "kind": "xgboost", "params": {"n_estimators": 5}}]
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    result = run_experiment(
        load_config(config), RunOptions(output_dir=tmp_path / "out", tracking_uri=store)
    )
    status = {m.name: (m.status, m.error) for m in result.models}
    assert status["xgb"] == ("failed", "ValueError")
    assert all(s == "ok" for name, (s, _) in status.items() if name != "xgb")
