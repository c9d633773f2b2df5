"""What a tuning is given and what it gives back, as plain records: the task the pipeline builds,
the result kept in comparison.json, MLflow (nested trial runs) and checkpoints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from challengers.config import TuneConfig
from challengers.data.frames import DataSpec
from challengers.data.split import Windows
from challengers.evaluation.curve import Cost
from challengers.models.base import BaseChallenger
from challengers.tracking import NestedRun
from challengers.tuning.study import TrialRecord


@dataclass(frozen=True)
class TuneTask:
    """Everything one tuning needs, as plain values (the pipeline builds it)."""

    name: str
    config: TuneConfig
    train: pl.DataFrame  # the training window's rows
    spec: DataSpec  # the challenger's features
    windows: Windows
    directory: Path  # <output>/tuning
    fixed: frozenset[str] = frozenset()  # tree params the config set: not searched
    history: pl.DataFrame | None = None
    cost: Cost = field(default_factory=Cost)
    operating_rate: float = 0.005
    seed: int = 42
    resume: bool = False
    data_fingerprint: str = ""

    @property
    def study_path(self) -> Path:
        return self.directory / f"{self.name}.db"


@dataclass
class TuneResult:
    name: str
    model: BaseChallenger  # the kind around the best tree, unfitted: refit on the whole window
    metric: str  # the metric key
    best_value: float
    best_trial: int
    best_params: dict[str, Any]  # searched values, plus the rounds early stopping picked
    trials: list[TrialRecord]
    study_path: Path
    resumed_trials: int = 0  # finished trials found in the store when the run started
    artifacts: list[Path] = field(default_factory=list)
    folds: list[str] = field(default_factory=list)  # the fit and validation days of each fold
    seconds: float = 0.0  # the search's wall time (the pipeline's): not in fit_seconds
    asked: tuple[int | None, float | None] = (None, None)  # tune.trials and tune.timeout_s
    timed_out: bool = False  # the time budget ended the search before its trials finished

    @property
    def direction(self) -> str:
        """The study's direction: its metric's (``tune`` creates the study with it)."""
        from challengers.config.base import metric_from_key

        return "maximize" if metric_from_key(self.metric).info.higher_is_better else "minimize"

    def summary(self) -> dict[str, Any]:
        """For comparison.json and the report."""
        # the library defaults (with early stopping): what tuning improved on; the first trial,
        # or the first after it when an interrupt failed it
        first = next((t for t in self.trials if t.defaults and t.state == "COMPLETE"), None)
        return {
            "metric": self.metric,
            "best_value": self.best_value,
            "defaults_value": None if first is None else first.value,
            "best_trial": self.best_trial,
            "best_params": self.best_params,
            "direction": self.direction,
            "trials": sum(t.state in ("COMPLETE", "PRUNED") for t in self.trials),
            "pruned": sum(t.state == "PRUNED" for t in self.trials),
            "failed": sum(t.state == "FAIL" for t in self.trials),
            "first_error": next((t.error for t in self.trials if t.error), None),
            "search_seconds": self.seconds,
            "trials_asked": self.asked[0],
            "timeout_s": self.asked[1],
            "timed_out": self.timed_out,
            "resumed_trials": self.resumed_trials,
            "folds": self.folds,
            "study": str(self.study_path),
        }

    def to_state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the tuning (JSON): everything but the model, which the
        checkpoint holds refitted."""
        return {
            "name": self.name,
            "metric": self.metric,
            "best_value": self.best_value,
            "best_trial": self.best_trial,
            "best_params": self.best_params,
            "trials": [asdict(t) for t in self.trials],
            "study_path": str(self.study_path),
            "resumed_trials": self.resumed_trials,
            "artifacts": [str(p) for p in self.artifacts],
            "folds": list(self.folds),
            "seconds": self.seconds,
            "asked": list(self.asked),
            "timed_out": self.timed_out,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], model: BaseChallenger) -> TuneResult:
        """The tuning of a restored checkpoint (JSON wrote NaN as null)."""
        return cls(
            name=state["name"],
            model=model,
            metric=state["metric"],
            best_value=_number(state["best_value"]),
            best_trial=int(state["best_trial"]),
            best_params=dict(state["best_params"]),
            trials=[_trial(t) for t in state["trials"]],
            study_path=Path(state["study_path"]),
            resumed_trials=int(state["resumed_trials"]),
            artifacts=[Path(p) for p in state["artifacts"]],
            folds=list(state["folds"]),
            seconds=float(state.get("seconds", 0.0)),  # older checkpoints: not kept
            asked=tuple(state.get("asked", (None, None))),
            timed_out=bool(state.get("timed_out", False)),
        )

    def mlflow_params(self) -> dict[str, Any]:
        finished = sum(t.state in ("COMPLETE", "PRUNED") for t in self.trials)
        return {
            "tune.metric": self.metric,
            "tune.trials": finished,
            "tune.pruned": sum(t.state == "PRUNED" for t in self.trials),
            "tune.failed": sum(t.state == "FAIL" for t in self.trials),
            "tune.direction": self.direction,
            "tune.best_trial": self.best_trial,
            "tune.timed_out": self.timed_out,
            **{f"tune.best.{k}": v for k, v in self.best_params.items()},
        }

    def mlflow_metrics(self) -> dict[str, float]:
        return validation_metrics(self.summary())

    def nested_runs(self) -> list[NestedRun]:
        """The trials as nested runs under the challenger's run."""
        key = f"validation_{self.metric}"
        return [
            NestedRun(
                name=f"{self.name}-trial-{t.number:03d}",
                params={**t.params, **({"rounds": t.rounds} if t.rounds is not None else {})},
                metrics={key: t.value, "seconds": t.seconds} if t.value is not None else {},
                history={f"{key}_by_round": t.steps},
                tags={"optuna_state": t.state, "trial": str(t.number), **_error_tag(t.error)},
                status="FAILED" if t.state == "FAIL" else "FINISHED",
            )
            for t in self.trials
        ]


def validation_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """A tuning's metrics on its model's MLflow run (from its :meth:`TuneResult.summary`):
    the best validation value, which `challenge replicate` compares too."""
    return {f"tune_validation_{summary['metric']}": float(summary["best_value"])}


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _trial(state: Mapping[str, Any]) -> TrialRecord:
    return TrialRecord(
        number=int(state["number"]),
        state=state["state"],
        value=state["value"],
        params=dict(state["params"]),
        rounds=state["rounds"],
        steps=[(int(step), _number(value)) for step, value in state["steps"]],
        seconds=float(state["seconds"]),
        error=state.get("error"),
        defaults=bool(state.get("defaults", int(state["number"]) == 0)),  # older checkpoints
    )


def _error_tag(error: str | None) -> dict[str, str]:
    return {"error": error} if error else {}
