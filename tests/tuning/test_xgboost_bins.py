"""A tuned XGBoost with max_bin set (or searched) trains its trials: the trial's quantile matrix
is built with the tree's max_bin, as the refit's is (it was built with XGBoost's 256, and every
trial failed: "Inconsistent max_bin ... (64 vs. 256)", the challenger with them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from challengers.config import ExperimentConfig
from challengers.models.tree import XGBoostChallenger
from challengers.pipeline import Prepared, RunOptions, prepare
from challengers.progress import SilentProgress
from challengers.tuning.search import tune
from tests.conftest import sim_config
from tests.tuning.test_search import make_task, validation_metric


@pytest.fixture(scope="module")
def prepared(sim_parquet: Path) -> Prepared:
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    return prepare(cfg, RunOptions(), SilentProgress())


def test_a_fixed_max_bin_is_the_trials_own(prepared: Prepared, tmp_path: Path) -> None:
    task = make_task(prepared, tmp_path, trials=3, space={}, metric="pr_auc")
    task = type(task)(**{**vars(task), "fixed": frozenset({"max_bin"})})
    result = tune(XGBoostChallenger({"max_bin": 64}, seed=7, threads=1), task, SilentProgress())
    assert [t.state for t in result.trials] == ["COMPLETE"] * 3, result.trials[-1].error
    assert result.model.get_params()["params"]["max_bin"] == 64
    # the study's best value is the refit model's on the validation slice: the same bins
    assert result.best_value == pytest.approx(validation_metric(prepared, result.model, task))


def test_a_searched_max_bin_trains(prepared: Prepared, tmp_path: Path) -> None:
    space = {"max_bin": {"low": 16, "high": 64, "int": True}}
    task = make_task(prepared, tmp_path, trials=3, space=space)
    result = tune(XGBoostChallenger({}, seed=7, threads=1), task, SilentProgress())
    assert [t.state for t in result.trials] == ["COMPLETE"] * 3, result.trials[-1].error
