"""Challengers on a distributed engine (``engine: spark``): trained where the rows are, or on a
stratified sample brought to the driver, and scored on the executors.

A kind says which through its abilities (:mod:`challengers.models.abilities`): XGBoost trains on
the executors over every training row (``TrainsOnEngine``); LightGBM and the anomaly detectors fit
on the driver on at most ``engine.sample_rows`` training rows that keep the fraud rate
(``FitsOnSample``); the graph challenger has its graph features computed on the engine for the
training and the test rows (from every loaded row before each, as locally), fits on the driver on
such a sample of the featured training rows, and is scored on the featured rows
(``DerivesOnEngine``); other kinds fit on the driver on every loaded row, as locally. Models
trained on the engine are then scored on the executors, in the driver's row order.
The champion never comes here: it is evaluated as it runs in production.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from challengers.analysis import stability as st
from challengers.analysis.suite import explain_index
from challengers.config import ExperimentConfig
from challengers.data.frames import DataSpec
from challengers.engine.base import Engine, ModelFile, WindowRows
from challengers.models import trees
from challengers.models.abilities import DerivesOnEngine, FitsOnSample, TrainsOnEngine
from challengers.models.base import BaseChallenger
from challengers.models.champion import NativeModelChampion
from challengers.pipeline.prepare import Prepared


@dataclass(frozen=True)
class EngineFit:
    """A challenger the distributed engine trained: how (for the report) and the engine's rows
    its model reads (the split, with the features the kind derives there appended)."""

    training: str
    rows: WindowRows
    derived: bool = False  # the rows hold features the driver's rows lack: every score is theirs
    fit_seconds: float | None = None  # the training's wall time there (None: the model's own)


@contextmanager
def trained_on_engine(
    cfg: ExperimentConfig, prepared: Prepared, features: tuple[str, ...], model: BaseChallenger
) -> Iterator[EngineFit | None]:
    """Fit ``model`` as the engine trains its kind, for a block that scores it (rows derived on
    the engine are held there until the block ends). None: the kind fits on the driver's rows as
    locally, or the run's engine is local."""
    engine, rows = prepared.engine, prepared.engine_rows
    if engine is None or rows is None or not engine.distributed:
        yield None
        return
    spec = prepared.plan.spec.with_features(features)
    if isinstance(model, TrainsOnEngine):
        yield EngineFit(
            model.fit_on_engine(engine, rows.train, spec, workers=cfg.engine.num_workers), rows
        )
    elif isinstance(model, DerivesOnEngine):
        started = time.perf_counter()
        with _derived(engine, prepared.engine_history, rows, spec, model) as featured:
            fit_featured = partial(model.fit_featured, spec=spec)
            # drawn by the data's columns: the rows other kinds fit on, whatever the features
            by = engine.columns(rows.train)
            how = _fit_on_sample(cfg, engine, featured.train, spec, fit_featured, by=by)
            training = f"{model.derived} computed on the {engine.kind} engine, then {how}"
            seconds = time.perf_counter() - started
            yield EngineFit(training, featured, derived=True, fit_seconds=seconds)
    elif isinstance(model, FitsOnSample):
        fit = partial(model.fit, spec=spec, history=prepared.history)
        yield EngineFit(_fit_on_sample(cfg, engine, rows.train, spec, fit), rows)
    else:
        yield None


@contextmanager
def _derived(
    engine: Engine[Any], history: Any, rows: WindowRows, spec: DataSpec, model: DerivesOnEngine
) -> Iterator[WindowRows]:
    """The training and the test rows with the kind's derived features, held on the engine."""
    train = model.features_on_engine(engine, history, rows.train, spec)
    test = model.features_on_engine(engine, history, rows.test, spec)
    with engine.held(train) as held_train, engine.held(test) as held_test:
        yield dataclasses.replace(rows, train=held_train, test=held_test)


def _fit_on_sample(
    cfg: ExperimentConfig,
    engine: Engine[Any],
    train: Any,
    spec: DataSpec,
    fit: Callable[[pl.DataFrame], object],
    *,
    by: Sequence[str] | None = None,
) -> str:
    """``fit`` on a seeded stratified sample of ``train`` brought to the driver (drawn by the
    values of the columns ``by``; default: all); how, for the report."""
    size, seed = cfg.engine.sample_rows, cfg.seed
    negatives, positives = engine.class_counts(train, spec.target)
    sample = engine.sample(train, target=spec.target, size=size, seed=seed, by=by)
    fit(sample)
    total = negatives + positives
    if sample.height >= total:
        return f"fitted on the driver on all {total:,} training rows (engine.sample_rows: {size:,})"
    frauds = int(sample.get_column(spec.target).cast(pl.Int64).sum())
    return (
        f"fitted on the driver on a stratified sample of {sample.height:,} of the {total:,} "
        f"training rows (engine.sample_rows, seed {seed}): {frauds:,} frauds, "
        f"{frauds / sample.height:.3%} as in the window ({positives / total:.3%})"
    )


def champion_rows(prepared: Prepared, model: BaseChallenger) -> WindowRows | None:
    """The engine's rows a champion from a native model file is scored on (on the executors,
    from the file itself: the driver's scores bit for bit), or None: the run's engine is local,
    or the champion is retrained or read from a score column (scored on the driver)."""
    engine = prepared.engine
    if engine is None or not engine.distributed or not isinstance(model, NativeModelChampion):
        return None
    return prepared.engine_rows


def scores_on_engine(
    prepared: Prepared, model: BaseChallenger, rows: Any, expected: int, *, training: bool = False
) -> np.ndarray | None:
    """The scores of ``rows`` (the engine's, ``expected`` of them as on the driver) computed on
    the executors: the champion's native file as it is; a booster that reads data columns only,
    from its native file; a kind fitted on a sample (which scores each row alone) shipped whole.
    ``training``: the model's training rows, scored as it trained on them
    (:meth:`~BaseChallenger.training_score`). None: the model scores on the driver, or the
    run's engine is local."""
    engine = prepared.engine
    if engine is None or not engine.distributed:
        return None
    with _model_file(model) as file:
        if file is not None:
            scores = engine.scores_of(rows, file)
        elif isinstance(model, FitsOnSample):
            scores = engine.scores_by(rows, *_scorer(model, training))
        else:
            return None
    if len(scores) != expected:  # the engine's split is the driver's
        raise RuntimeError(f"the engine scored {len(scores)} rows, the driver holds {expected}")
    return scores


@contextmanager
def scored_on_engine(
    prepared: Prepared,
    model: BaseChallenger,
    rows: Any,
    keep: Sequence[str],
    output: str,
    *,
    training: bool = False,
) -> Iterator[Any | None]:
    """``rows`` (the engine's) with their columns ``keep`` and the model's score in column
    ``output``, computed where they are, as :func:`scores_on_engine` computes them (``training``
    too), for the block (lazily: each job on them scores them again unless they are held; the
    model shipped to the executors is released when the block ends). None: the model scores on
    the driver, or the run's engine is local."""
    engine = prepared.engine
    if engine is None or not engine.distributed:
        yield None
        return
    score, columns = _scorer(model, training)
    read = engine.select(rows, list(dict.fromkeys([*keep, *columns])))
    with ExitStack() as scoring:
        with _model_file(model) as file:  # the file is read (and broadcast) before it goes
            if file is not None:
                scored = scoring.enter_context(engine.score(read, file, output=output))
            elif isinstance(model, FitsOnSample):
                scorer = engine.scored_by(read, score, columns, output=output)
                scored = scoring.enter_context(scorer)
            else:
                scored = None
        yield None if scored is None else engine.select(scored, [*keep, output])


def _scorer(
    model: BaseChallenger, training: bool
) -> tuple[Callable[[pl.DataFrame], np.ndarray], tuple[str, ...]]:
    """The function the executors score ``model``'s rows with, and the columns it reads: its
    training rows' (:meth:`~BaseChallenger.training_score`) or any row's."""
    if training:
        return model.training_score, tuple(model.training_columns())
    return model.predict_score, tuple(model.features_)


def shipped_whole(model: BaseChallenger) -> bool:
    """Whether the executors score ``model`` by receiving it whole (pickled in memory, never
    written: a kind fitted on a sample whose scores no native file gives, such as the anomaly
    detectors), so that once the run ends nothing can score it there again: a checkpoint
    keeps no pickle."""
    return isinstance(model, FitsOnSample) and _data_library(model) is None


def _data_library(model: BaseChallenger) -> trees.TreeLibrary | None:
    """The library of the model's native booster when that booster reads data columns only
    (the model's features, not a detector's score or graph features), else None."""
    booster = model.native_model()
    library = trees.library_of(booster)
    if library is None or tuple(library.feature_names(booster)) != tuple(model.features_):
        return None
    return library


@contextmanager
def _model_file(model: BaseChallenger) -> Iterator[ModelFile | None]:
    """The native file the executors score ``model`` from, for the block: the champion's own;
    a booster's that reads data columns only, saved for the block; None for other models."""
    features = tuple(model.features_)
    if isinstance(model, NativeModelChampion):
        yield ModelFile(model.path, trees.library(model.library), features)
        return
    library = _data_library(model)
    if library is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="challenge-score-") as folder:
        yield ModelFile(str(model.save(Path(folder))), library, features)


def references_on_engine(
    prepared: Prepared, columns: Callable[[Sequence[str]], list[str]], bins: int
) -> dict[str, st.Reference] | None:
    """The PSI references of the training rows' ``columns(their columns)`` computed where the
    rows are (exact quantiles and bin counts, the driver's bit for bit; the rows are kept there
    for the run), when the driver's training rows do not hold the features (``Prepared.narrow``);
    None when the driver computes them from its rows (a few jobs on Spark cost more: at 10M rows
    13-19 s on local[2] against about a second here)."""
    engine, rows = prepared.engine, prepared.engine_rows
    if not prepared.narrow or engine is None or rows is None:
        return None
    train = rows.train
    return st.engine_references(engine, train, columns(engine.columns(train)), bins)


def test_bin_counts_on_engine(
    prepared: Prepared, references: Mapping[str, st.Reference]
) -> dict[str, np.ndarray]:
    """The test rows of each reference feature counted in its bins where the rows are, when the
    driver's test rows do not hold the features (``Prepared.narrow``)."""
    engine, rows = prepared.engine, prepared.engine_rows
    if not prepared.narrow or engine is None or rows is None:
        return {}
    return engine.bin_counts(rows.test, {f: r.edges for f, r in references.items()})


def explain_sample_on_engine(prepared: Prepared, size: int, seed: int) -> pl.DataFrame | None:
    """The explanations' seeded sample of test rows (``explain_index``, the same positions as on
    the driver) brought whole from the engine, when the driver's test rows hold no features."""
    engine, rows = prepared.engine, prepared.engine_rows
    if not prepared.narrow or engine is None or rows is None:
        return None
    return engine.take(rows.test, explain_index(prepared.split.test.height, size, seed))
