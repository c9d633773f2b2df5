"""The in-sample diagnostics of a run whose training rows stay on a distributed engine
(``Prepared.narrow``): each model's metrics on its training window (the train/test gap) and the
PSI reference of its training scores, computed where the rows are.

Each model's scores are written as a column of the engine's training rows (held there for the
model's jobs, released after), and only aggregates come back: per group of scores the counts of
every exact metric (about twice the window's frauds: :meth:`Engine.score_groups`), each day's first
entities for card precision, and the order statistics and bin counts of the score's deciles (the
driver's :meth:`Reference.of` bit for bit). No training row and no training score reaches the
driver, where they took about 100 bytes a training row (3 GB at 100M rows in the file).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

from challengers.analysis import stability as st
from challengers.analysis.suite import AnalysisInput, TrainingWindow, reference_features
from challengers.engine.metrics import metrics_on_engine
from challengers.errors import ChallengeError
from challengers.models.base import BaseChallenger
from challengers.pipeline.distributed import references_on_engine, scored_on_engine
from challengers.pipeline.prepare import Prepared, ranked_by

log = logging.getLogger(__name__)

SCORE = "_in_sample_score"  # the model's score, a column of the engine's training rows


def training_window_on_engine(
    prepared: Prepared, inputs: AnalysisInput, models: Mapping[str, BaseChallenger]
) -> TrainingWindow | None:
    """What the diagnostics need of the training window (see the module), for each of
    ``models`` that the engine scores; None when the driver holds the training rows (a local
    run, or a Spark run whose models read the features on the driver)."""
    if not prepared.narrow or prepared.engine is None or prepared.engine_rows is None:
        return None
    bins = inputs.settings.psi_bins
    features = references_on_engine(prepared, partial(reference_features, inputs), bins)
    metrics: dict[str, dict[str, float]] = {}
    scores: dict[str, st.Reference] = {}
    for name, model in models.items():
        found = _in_sample(prepared, inputs, name, model)
        if found is not None:
            metrics[name], scores[name] = found
    return TrainingWindow(metrics=metrics, scores=scores, features=dict(features or {}))


def _in_sample(
    prepared: Prepared, inputs: AnalysisInput, name: str, model: BaseChallenger
) -> tuple[dict[str, float], st.Reference] | None:
    """One model's in-sample metrics and score reference. A model that cannot score its
    training window loses only those diagnostics, as on the driver; the engine's own failures
    (a lost executor: EnvironmentFailure) stop the run."""
    engine, rows, s = prepared.engine, prepared.engine_rows, inputs.spec
    assert engine is not None and rows is not None
    keep = ranked_by(prepared.plan)
    try:
        with scored_on_engine(prepared, model, rows.train, keep, SCORE) as scored:
            if scored is None:
                raise ValueError(f"{model.kind} is not scored on the {engine.kind} engine")
            with engine.held(scored) as held:  # scored once for the model's jobs, then released
                metrics = metrics_on_engine(
                    engine,
                    held,
                    inputs.metrics,
                    score=SCORE,
                    target=s.target,
                    amount=s.amount,
                    entity=s.entity,
                    operating_rate=inputs.budget.rate,
                    calibrated=inputs.calibrated.get(name, False),
                    cost=inputs.cost,
                )
                reference = st.engine_references(engine, held, [SCORE], inputs.settings.psi_bins)
    except ChallengeError:
        raise
    except Exception as exc:
        log.warning(
            "%s: no training-window scores (%s); drift and gap diagnostics skip it", name, exc
        )
        return None
    return metrics, reference[SCORE]
