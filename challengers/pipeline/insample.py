"""The in-sample diagnostics of a run whose training rows stay on a distributed engine
(``Prepared.narrow``): each model's metrics on its training window (the train/test gap) and the
PSI reference of its training scores, computed where the rows are.

Each model's scores are written as a column of the engine's training rows (held there for the
model's jobs, released after), and only aggregates come back: per group of scores the counts of
every exact metric (about twice the window's frauds: :meth:`Engine.score_groups`), each day's first
entities for card precision, and the order statistics and bin counts of the score's deciles (the
driver's :meth:`Reference.of` bit for bit). No training row and no training score reaches the
driver, where they took about 100 bytes a training row (3 GB at 100M rows in the file).

Most models are scored for this in the diagnostics, a restored one from its native file. A model
the executors score only by receiving it whole (the anomaly detectors: :func:`shipped_whole`)
has its numbers computed as soon as it is fitted instead (:func:`computed_at_fit`), and its
checkpoint keeps them (:class:`InSample`): no pickle is checkpointed, so on ``--resume`` nothing
could score it there again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from challengers.analysis import stability as st
from challengers.analysis.budget import Budget
from challengers.analysis.suite import AnalysisInput, TrainingWindow, reference_features
from challengers.config import ExperimentConfig
from challengers.engine.metrics import metrics_on_engine
from challengers.errors import ChallengeError
from challengers.evaluation.curve import Cost
from challengers.evaluation.metrics import MetricSpec
from challengers.models.base import BaseChallenger
from challengers.pipeline.distributed import references_on_engine, scored_on_engine, shipped_whole
from challengers.pipeline.prepare import Prepared, ranked_by

log = logging.getLogger(__name__)

SCORE = "_in_sample_score"  # the model's score, a column of the engine's training rows


@dataclass(frozen=True)
class InSampleSettings:
    """What a model's in-sample numbers depend on besides its scores: the run's metrics, their
    cost and operating rate (the champion's budget), and the PSI bins."""

    metrics: tuple[MetricSpec, ...]
    cost: Cost
    operating_rate: float
    bins: int

    @classmethod
    def of(cls, cfg: ExperimentConfig, budget: Budget) -> InSampleSettings:
        e = cfg.evaluation
        cost = Cost(e.cost.false_positive, cfg.cost_false_negative)
        return cls(tuple(e.metric_specs), cost, budget.rate, e.diagnostics.psi_bins)


@dataclass(frozen=True)
class InSample:
    """One model's in-sample numbers: its metrics on the training window and the PSI reference
    of its training scores."""

    metrics: dict[str, float]
    reference: st.Reference

    def to_state(self) -> dict[str, Any]:
        """For a checkpoint's JSON, every float exactly (NaN and infinities spelt as text)."""
        return {
            "metrics": {key: _exact(value) for key, value in self.metrics.items()},
            "edges": [_exact(v) for v in self.reference.edges.tolist()],
            "shares": [_exact(v) for v in self.reference.shares.tolist()],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> InSample | None:
        """What :meth:`to_state` wrote; None for None (a checkpoint without them)."""
        if state is None:
            return None
        metrics = {str(key): float(value) for key, value in state["metrics"].items()}
        return cls(metrics, st.Reference(_floats(state["edges"]), _floats(state["shares"])))


def _exact(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)  # float() reads "nan", "inf" back


def _floats(values: list[float | str]) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=np.float64)


def computed_at_fit(prepared: Prepared, model: BaseChallenger) -> bool:
    """Whether ``model``'s in-sample numbers are computed as soon as it is fitted, to be kept in
    its checkpoint, rather than in the diagnostics: in a narrow run, a model the executors score
    only by receiving it whole, which a restored model (no pickle) could not give them."""
    return prepared.narrow and shipped_whole(model)


def training_window_on_engine(
    prepared: Prepared,
    inputs: AnalysisInput,
    settings: InSampleSettings,
    models: Mapping[str, BaseChallenger],
    known: Mapping[str, InSample] | None = None,
) -> TrainingWindow | None:
    """What the diagnostics need of the training window (see the module), for each of
    ``models`` that the engine scores or whose numbers are ``known`` (computed when it was
    fitted, or restored from its checkpoint); None when the driver holds the training rows (a
    local run, or a Spark run whose models read the features on the driver)."""
    if not prepared.narrow or prepared.engine is None or prepared.engine_rows is None:
        return None
    known = known or {}
    features = references_on_engine(prepared, partial(reference_features, inputs), settings.bins)
    metrics: dict[str, dict[str, float]] = {}
    scores: dict[str, st.Reference] = {}
    for name, model in models.items():
        found = known.get(name)
        if found is None and not computed_at_fit(prepared, model):  # else: it warned then
            found = in_sample_on_engine(prepared, settings, name, model)
        if found is not None:
            metrics[name], scores[name] = found.metrics, found.reference
    return TrainingWindow(metrics=metrics, scores=scores, features=dict(features or {}))


def in_sample_on_engine(
    prepared: Prepared, settings: InSampleSettings, name: str, model: BaseChallenger
) -> InSample | None:
    """One model's in-sample metrics and score reference. A model that cannot score its
    training window loses only those diagnostics, as on the driver; the engine's own failures
    (a lost executor: EnvironmentFailure) stop the run."""
    engine, rows, s = prepared.engine, prepared.engine_rows, prepared.plan.spec
    assert engine is not None and rows is not None
    keep = ranked_by(prepared.plan)
    try:
        with scored_on_engine(prepared, model, rows.train, keep, SCORE, training=True) as scored:
            if scored is None:
                raise ValueError(f"{model.kind} is not scored on the {engine.kind} engine")
            with engine.held(scored) as held:  # scored once for the model's jobs, then released
                metrics = metrics_on_engine(
                    engine,
                    held,
                    settings.metrics,
                    score=SCORE,
                    target=s.target,
                    amount=s.amount,
                    entity=s.entity,
                    operating_rate=settings.operating_rate,
                    calibrated=bool(model.calibrated),
                    cost=settings.cost,
                )
                reference = st.engine_references(engine, held, [SCORE], settings.bins)
    except ChallengeError:
        raise
    except Exception as exc:
        log.warning(
            "%s: no training-window scores (%s); drift and gap diagnostics skip it", name, exc
        )
        return None
    return InSample(metrics, reference[SCORE])
