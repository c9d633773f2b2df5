"""A Ctrl-C that lands after optuna has created a trial and before the trial's own code runs: the
trial is failed, not left RUNNING (a test of a real SIGINT saw it RUNNING once the search ran one
``study.optimize`` per trial)."""

from __future__ import annotations

from typing import Any

import pytest

from challengers.config import TuneConfig
from challengers.progress import SilentProgress
from challengers.tuning.study import optimize, optuna_module


def test_an_interrupt_between_a_trials_creation_and_its_start_fails_the_trial() -> None:
    optuna = optuna_module()
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("seed", 1)
    asked = study.ask

    def ask_then_interrupt(*args: Any, **kwargs: Any) -> Any:
        trial = asked(*args, **kwargs)
        if len(study.trials) == 3:  # two trials done, the third created: then the Ctrl-C
            raise KeyboardInterrupt
        return trial

    study.ask = ask_then_interrupt  # type: ignore[method-assign]
    config = TuneConfig.model_validate({"trials": 6})
    with pytest.raises(KeyboardInterrupt):
        optimize(
            study,
            lambda t: t.suggest_float("x", 0, 1),
            config,
            label="x",
            progress=SilentProgress(),
        )
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]
