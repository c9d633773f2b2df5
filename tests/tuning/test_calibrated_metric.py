"""Tuned on a metric of calibrated probabilities (brier), the search does not weight the classes:
a reweighted tree's scores are not probabilities, so every trial that drew imbalance sqrt or
balanced failed (5 of 6 in a run of the simulated data), spending the budget on nothing."""

from __future__ import annotations

from pathlib import Path

from challengers.config import ExperimentConfig
from challengers.models import registry
from challengers.pipeline import RunOptions, prepare
from challengers.pipeline.fitting import _tune
from challengers.progress import SilentProgress
from tests.conftest import sim_config

TUNE = {"trials": 8, "max_rounds": 60, "eval_every": 5, "early_stopping_rounds": 20}


def test_brier_is_tuned_without_class_weights(sim_parquet: Path, tmp_path: Path) -> None:
    tuned = {"name": "lgbm", "kind": "lightgbm", "tune": {**TUNE, "metric": "brier"}}
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet, challengers=[tuned]))
    prepared = prepare(cfg, RunOptions(), SilentProgress())
    (mp,) = prepared.plan.challengers
    model = registry.create(mp.kind, mp.settings, seed=cfg.seed, threads=1)
    result = _tune(cfg, prepared, mp, model, SilentProgress(), (tmp_path, False))
    assert result is not None
    assert len(result.trials) == 8 and all(t.state != "FAIL" for t in result.trials)
    assert all("imbalance" not in t.params for t in result.trials)
    assert result.model.get_params()["imbalance"] == "none"
