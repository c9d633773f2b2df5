"""What a run says of a tuning is true: failed trials are counted and said, the direction the study
optimised is said, and the fit time of the tuned model (the refit alone) is told apart from the
search's."""

from __future__ import annotations

from pathlib import Path

from challengers.models.tree import LightGBMChallenger
from challengers.report.sections import _tuning
from challengers.results import ModelResult
from challengers.tuning.records import TuneResult
from challengers.tuning.study import TrialRecord
from tests.conftest import bare_result


def _trial(number: int, state: str, value: float | None, error: str | None = None) -> TrialRecord:
    return TrialRecord(
        number=number,
        state=state,
        value=value,
        params={"num_leaves": 31 + number},
        rounds=None if value is None else 40,
        steps=[],
        seconds=2.0,
        error=error,
        defaults=number == 0,
    )


def _result(metric: str = "brier", seconds: float = 9.5) -> TuneResult:
    return TuneResult(
        name="lgbm",
        model=LightGBMChallenger({"n_estimators": 40}),
        metric=metric,
        best_value=0.0086,
        best_trial=3,
        best_params={"num_leaves": 34, "rounds": 40},
        trials=[
            _trial(0, "COMPLETE", 0.0090),
            _trial(1, "FAIL", None, "ValueError: brier is undefined"),
            _trial(2, "PRUNED", 0.0120),
            _trial(3, "COMPLETE", 0.0086),
        ],
        study_path=Path("out/tuning/lgbm.db"),
        folds=["fit 2024-01-31..2024-02-09, validate 2024-02-17..2024-02-20"],
        seconds=seconds,
    )


def test_failed_trials_and_the_direction_are_said() -> None:
    tuned = _result()
    summary = tuned.summary()
    assert summary["trials"] == 3 and summary["pruned"] == 1 and summary["failed"] == 1
    assert summary["direction"] == "minimize" and summary["search_seconds"] == 9.5
    params = tuned.mlflow_params()
    assert params["tune.failed"] == 1 and params["tune.direction"] == "minimize"
    assert _result(metric="recall_at_fpr_0.01").summary()["direction"] == "maximize"

    model = ModelResult("lgbm", "challenger", "lightgbm", fit_seconds=0.4, tuning=summary)
    (block,) = _tuning(bare_result([model]))
    (line,) = block.items  # type: ignore[attr-defined]
    assert "4 trials: 2 complete, 1 pruned, 1 failed (the first: ValueError: brier is" in line
    assert "lowest validation brier 0.0086 at trial 3" in line
    assert "refit on the whole training window with 40 rounds" in line
    assert "search 9.5 s, not in the model's fit time" in line


def test_a_checkpoint_keeps_what_the_summary_says() -> None:
    tuned = _result()
    again = TuneResult.from_state(tuned.to_state(), tuned.model)
    assert again.summary() == tuned.summary()
    old = {k: v for k, v in tuned.to_state().items() if k != "seconds"}  # an older checkpoint
    assert TuneResult.from_state(old, tuned.model).summary()["search_seconds"] == 0.0
