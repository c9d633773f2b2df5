"""Challengers on a distributed engine (``engine: spark``): trained where the rows are, or on a
stratified sample brought to the driver, and scored on the executors.

A kind says which through its abilities (:mod:`challengers.models.abilities`): XGBoost trains on
the executors over every training row (``TrainsOnEngine``); LightGBM and the anomaly detectors fit
on the driver on at most ``engine.sample_rows`` training rows that keep the fraud rate
(``FitsOnSample``); other kinds (graph) fit on the driver on every loaded row, as locally. Models
trained either way are then scored on the executors, in the driver's row order.
The champion never comes here: it is evaluated as it runs in production.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from challengers.config import ExperimentConfig
from challengers.engine.base import ModelFile
from challengers.models import trees
from challengers.models.abilities import FitsOnSample, TrainsOnEngine
from challengers.models.base import BaseChallenger
from challengers.pipeline.prepare import Prepared


def train_on_engine(
    cfg: ExperimentConfig, prepared: Prepared, features: tuple[str, ...], model: BaseChallenger
) -> str | None:
    """Fit ``model`` as the engine trains its kind; how, for the report (None: the kind fits on
    the driver's rows as locally, or the run's engine is local)."""
    engine, rows = prepared.engine, prepared.engine_rows
    if engine is None or rows is None or not engine.distributed:
        return None
    spec = prepared.plan.spec.with_features(features)
    if isinstance(model, TrainsOnEngine):
        return model.fit_on_engine(engine, rows.train, spec, workers=cfg.engine.num_workers)
    if not isinstance(model, FitsOnSample):
        return None
    size, seed = cfg.engine.sample_rows, cfg.seed
    negatives, positives = engine.class_counts(rows.train, spec.target)
    sample = engine.sample(rows.train, target=spec.target, size=size, seed=seed)
    model.fit(sample, spec, history=prepared.history)
    total = negatives + positives
    if sample.height >= total:
        return f"fitted on the driver on all {total:,} training rows (engine.sample_rows: {size:,})"
    frauds = int(sample.get_column(spec.target).cast(pl.Int64).sum())
    return (
        f"fitted on the driver on a stratified sample of {sample.height:,} of the {total:,} "
        f"training rows (engine.sample_rows, seed {seed}): {frauds:,} frauds, "
        f"{frauds / sample.height:.3%} as in the window ({positives / total:.3%})"
    )


def scores_on_engine(prepared: Prepared, model: BaseChallenger) -> np.ndarray | None:
    """The test rows' scores computed on the executors: a booster that reads data columns only
    from its native file, as the champion; a kind fitted on a sample (which scores each row
    alone) shipped whole. None: the model scores on the driver, or the run's engine is local."""
    engine, rows = prepared.engine, prepared.engine_rows
    if engine is None or rows is None or not engine.distributed:
        return None
    booster = model.native_model()
    library = trees.library_of(booster)
    features = tuple(model.features_)
    if library is not None and tuple(library.feature_names(booster)) == features:
        with tempfile.TemporaryDirectory(prefix="challenge-score-") as folder:
            path = model.save(Path(folder))
            scores = engine.scores_of(rows.test, ModelFile(str(path), library, features))
    elif isinstance(model, FitsOnSample):
        scores = engine.scores_by(rows.test, model.predict_score, features)
    else:
        return None
    if len(scores) != prepared.split.test.height:  # the engine's split is the driver's
        raise RuntimeError(
            f"the engine scored {len(scores)} test rows, the driver holds {prepared.split.test.height}"
        )
    return scores
