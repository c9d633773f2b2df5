"""A model against its twin: the same model without the features its kind adds.

A kind that adds features to a tree (the anomaly hybrid's detector score) may fit that tree without
them, same parameters and seed (the ``HasTwin`` ability of models/abilities.py). The run
scores the twin on the same test rows and compares the two with the same paired bootstrap (same
replicates, same unit and blocks, ROC AUC by DeLong) as the champion comparison, so the report can
say whether the added features help, with an interval and a p-value, instead of leaving it to two
separate deltas against the champion. :func:`adjust_twins` Holm-adjusts the twins' p-values as the
champion comparison's are: the primary metric across the twinned models, the others over the
model x metric family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl

from challengers.evaluation.curve import Cost
from challengers.evaluation.evaluate import TestRows, adjust, evaluate_models
from challengers.evaluation.metrics import MetricSpec
from challengers.results import TwinResult


@dataclass(frozen=True)
class TwinScores:
    label: str  # what the twin is, for the report: "lightgbm without anomaly_iforest"
    scores: np.ndarray
    calibrated: bool


class Scorer(Protocol):
    """A fitted model, as far as its twin comparison needs it."""

    calibrated: bool

    def predict_score(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> np.ndarray: ...


def score_twin(
    twin: Scorer, label: str, frame: pl.DataFrame, history: pl.DataFrame | None
) -> TwinScores:
    """The scores of a model's fitted ``twin`` (``HasTwin.fitted_twin`` in models/abilities.py)."""
    scores = twin.predict_score(frame, history=history)
    return TwinScores(label=label, scores=scores, calibrated=bool(twin.calibrated))


def compare_with_twin(
    rows: TestRows,
    scores: np.ndarray,
    twin: TwinScores,
    *,
    calibrated: bool,
    metrics: Sequence[MetricSpec],
    cost: Cost,
    operating_rate: float,
    bootstrap: int,
    alpha: float,
    seed: int,
    resample: str | None = None,
    resample_force: bool = False,
) -> TwinResult:
    """The twin's metrics with intervals, and the model-minus-twin paired deltas (raw p-values;
    :func:`adjust_twins` adjusts them once every twin of the run is compared)."""
    evaluations = evaluate_models(
        rows,
        {"model": scores, "twin": twin.scores},
        {"model": calibrated, "twin": twin.calibrated},
        champion="twin",
        metrics=metrics,
        cost=cost,
        operating_rate=operating_rate,
        bootstrap=bootstrap,
        alpha=alpha,
        seed=seed,
        resample=resample,
        resample_force=resample_force,
    )
    own, other = evaluations["model"], evaluations["twin"]
    return TwinResult(
        label=twin.label,
        metrics=other.metrics,
        ci=other.ci,
        delta=own.delta,
    )


def adjust_twins(twins: Mapping[str, TwinResult], primary: str) -> None:
    """Holm over the run's twin comparisons, as :func:`challengers.evaluation.evaluate.adjust`."""
    adjust({name: t.delta for name, t in twins.items()}, primary)
