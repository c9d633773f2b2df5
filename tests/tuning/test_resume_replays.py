"""A resumed study is the study an uninterrupted run makes: the same trials, the same best
parameters (so `challenge replicate` of a resumed run agrees), the library defaults tried first
even when the interrupt came during that first trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from challengers.config import ExperimentConfig
from challengers.models.tree import LightGBMChallenger
from challengers.pipeline import Prepared, RunOptions, prepare
from challengers.progress import SilentProgress
from challengers.tuning.records import TuneResult, TuneTask
from challengers.tuning.search import tune
from challengers.tuning.space import baseline, search_space
from tests.conftest import sim_config
from tests.tuning.test_search import Recorder, lgbm, make_task


@pytest.fixture(scope="module")
def prepared(sim_parquet: Path) -> Prepared:
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    return prepare(cfg, RunOptions(), SilentProgress())


def finished(result: TuneResult) -> list[tuple[Any, ...]]:
    """The finished trials in order, without their numbers (a failed trial shifts them)."""
    return [(t.state, t.params, t.value) for t in result.trials if t.state != "FAIL"]


def resumed(task: TuneTask) -> TuneTask:
    return TuneTask(**{**vars(task), "resume": True})


def test_an_interrupted_and_resumed_study_is_the_uninterrupted_one(
    prepared: Prepared, tmp_path: Path
) -> None:
    whole = tune(lgbm(), make_task(prepared, tmp_path / "whole", trials=7), SilentProgress())
    task = make_task(prepared, tmp_path / "cut", trials=7)
    with pytest.raises(KeyboardInterrupt):
        tune(lgbm(), task, Recorder(stop_after=3))
    again = tune(lgbm(), resumed(task), SilentProgress())
    assert again.resumed_trials == 3
    assert finished(again) == finished(whole)
    assert again.best_params == whole.best_params and again.best_value == whole.best_value


def test_an_interrupt_in_the_first_trial_still_tries_the_defaults_first(
    prepared: Prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tune(lgbm(), make_task(prepared, tmp_path / "whole", trials=4), SilentProgress())
    task = make_task(prepared, tmp_path / "cut", trials=4)
    real = LightGBMChallenger.train_watched

    def interrupted(self: LightGBMChallenger, *args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(LightGBMChallenger, "train_watched", real)  # the first call only
        raise KeyboardInterrupt

    monkeypatch.setattr(LightGBMChallenger, "train_watched", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(lgbm(), task, SilentProgress())
    again = tune(lgbm(), resumed(task), SilentProgress())
    assert [t.state for t in again.trials][:2] == ["FAIL", "COMPLETE"]
    defaults = baseline(search_space("lightgbm", task.config.space, frozenset()))
    assert again.trials[1].params == defaults
    assert again.summary()["defaults_value"] == whole.summary()["defaults_value"]
    assert finished(again) == finished(whole)


def test_parallel_trials_run_the_defaults_once(prepared: Prepared, tmp_path: Path) -> None:
    """With n_jobs: 2 both workers took the enqueued defaults trial (sqlite has no row locks): the
    search lost a trial, or one worker told a finished trial and the challenger failed with
    'Cannot tell a COMPLETE trial' (3 of 10 searches of 4 trials). Racy, hence several searches."""
    for attempt in range(5):
        task = make_task(
            prepared, tmp_path / str(attempt), trials=4, n_jobs=2, max_rounds=20, pruning=False
        )
        result = tune(LightGBMChallenger({}, seed=7, threads=2), task, SilentProgress())
        assert [t.state for t in result.trials] == ["COMPLETE"] * 4
        assert [t.defaults for t in result.trials] == [True, False, False, False]
