"""Fitting and scoring each model: the champion from its source, every challenger (tuned when
its config asks), in-sample scores for the diagnostics. One challenger failing never loses the
others."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Hashable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from challengers import interrupts
from challengers.config import ExperimentConfig
from challengers.data.frames import DataSpec
from challengers.engine.base import WindowRows
from challengers.errors import ChallengeError, EnvironmentFailure, ModelError, describe
from challengers.evaluation.curve import Cost
from challengers.evaluation.twins import TwinScores, score_twin
from challengers.models import registry
from challengers.models.abilities import HasTwin
from challengers.models.base import BaseChallenger
from challengers.models.champion import ScoreColumnChampion
from challengers.pipeline.distributed import (
    champion_rows,
    scores_on_engine,
    trained_on_engine,
)
from challengers.pipeline.insample import (
    InSample,
    InSampleSettings,
    computed_at_fit,
    in_sample_on_engine,
)
from challengers.pipeline.plan import ModelPlan
from challengers.pipeline.prepare import Prepared
from challengers.progress import Progress
from challengers.tuning.records import TuneResult

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    plan: ModelPlan
    model: BaseChallenger | None = None
    scores: np.ndarray | None = None
    train_scores: np.ndarray | None = None  # in-sample: drift (PSI) and the train/test gap
    in_sample: InSample | None = None  # a narrow run's, for a model shipped whole (insample.py)
    error: str | None = None
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    twin: TwinScores | None = None  # the model without its kind's added features (twins.py)
    tuning: TuneResult | None = None
    training: str | None = None  # how a distributed engine trained it (distributed.py)


def fit_champion(
    cfg: ExperimentConfig, prepared: Prepared, threads: int, progress: Progress
) -> Fitted:
    mp = prepared.plan.champion
    c = cfg.champion
    if c.score and c.production_score is None:
        model: BaseChallenger = ScoreColumnChampion.from_config(c, seed=cfg.seed, threads=threads)
    elif c.retrain:
        model = registry.create(c.retrain.kind, c.retrain, seed=cfg.seed, threads=threads)
    else:
        model = mp.settings  # a loaded NativeModelChampion
    with progress.stage(f"Champion {mp.name} ({mp.kind})"):
        try:
            return _fit_and_score(mp, model, prepared)
        except ChallengeError:
            raise
        except Exception as exc:
            interrupts.raise_if_swallowed(exc)
            section = "champion.retrain.params" if c.retrain else "champion.model"
            raise ModelError(
                f"champion '{mp.name}' could not be {'trained' if c.retrain else 'scored'}: "
                f"{describe(exc)}; check {section}"
            ) from exc


def fit_challenger(
    cfg: ExperimentConfig,
    prepared: Prepared,
    mp: ModelPlan,
    threads: int,
    progress: Progress,
    *,
    tuning: tuple[Path, bool] | None = None,  # the study directory, and whether to resume
    fits: Mapping[Hashable, Fitted] | None = None,  # the run's earlier fits, by fit_identity
) -> Fitted:
    try:
        model = registry.create(mp.kind, mp.settings, seed=cfg.seed, threads=threads)
        tuned = _tune(cfg, prepared, mp, model, progress, tuning) if tuning else None
        with progress.stage(f"Challenger {mp.name} ({mp.kind})"):
            chosen = tuned.model if tuned else model
            fitted = _fit_and_score(mp, chosen, prepared, cfg, fits, progress)
        fitted.tuning = tuned
        return fitted
    except (KeyboardInterrupt, EnvironmentFailure):
        raise
    except Exception as exc:  # one challenger failing never loses the others
        interrupts.raise_if_swallowed(exc)  # unless a Ctrl-C inside a library made it fail
        log.debug("challenger %s failed:\n%s", mp.name, traceback.format_exc())
        message = describe(exc)
        progress.note(f"challenger '{mp.name}' failed: {message}")
        return Fitted(plan=mp, error=message)


def with_in_sample(
    fitted: Fitted, prepared: Prepared, settings: InSampleSettings, progress: Progress
) -> Fitted:
    """``fitted`` with its in-sample numbers when they are computed now, not in the diagnostics
    (:func:`computed_at_fit`: in a narrow run, a model the executors score only by receiving it
    whole), so that its checkpoint keeps them: a resumed run has them though nothing can score
    the restored model there. Past the challenger's own error handling: as in the diagnostics,
    a model that cannot score its training window loses only these numbers, and the engine's
    failures (a lost executor) stop the run."""
    model = fitted.model
    if model is None or fitted.scores is None or not computed_at_fit(prepared, model):
        return fitted
    name = fitted.plan.name
    with progress.stage(f"Challenger {name}: in-sample metrics of the training window"):
        fitted.in_sample = in_sample_on_engine(prepared, settings, name, model)
    model.release_training_inputs()
    return fitted


def _tune(
    cfg: ExperimentConfig,
    prepared: Prepared,
    mp: ModelPlan,
    model: BaseChallenger,
    progress: Progress,
    tuning: tuple[Path, bool],
) -> TuneResult | None:
    """Tune the challenger when its config has ``tune:`` (its own progress stage)."""
    from challengers.tuning.records import TuneTask
    from challengers.tuning.search import not_searched, tune

    section = mp.settings.tuning()
    if section is None:
        return None
    directory, resume = tuning
    task = TuneTask(
        name=mp.name,
        config=section[0],
        fixed=not_searched(*section),  # (what the plan's check of the ranges leaves out too)
        train=prepared.split.train,
        spec=prepared.plan.spec.with_features(mp.features),
        windows=prepared.plan.windows,
        directory=directory,
        history=prepared.history,
        cost=Cost(cfg.evaluation.cost.false_positive, cfg.cost_false_negative),
        operating_rate=cfg.evaluation.alert_rate,
        seed=cfg.seed,
        resume=resume,
        data_fingerprint=prepared.fingerprint,
    )
    started = time.perf_counter()
    result = tune(model, task, progress)
    # the search's own time: the model's fit_seconds time its refit alone
    result.seconds = time.perf_counter() - started
    return result


def _fit_and_score(
    mp: ModelPlan,
    model: BaseChallenger,
    prepared: Prepared,
    cfg: ExperimentConfig | None = None,  # a challenger's run: a distributed engine trains it
    fits: Mapping[Hashable, Fitted] | None = None,  # the run's earlier fits (:func:`fit_identity`)
    progress: Progress | None = None,  # told when a twin is an earlier model
) -> Fitted:
    spec = prepared.plan.spec.with_features(mp.features)
    parts, history = prepared.split, prepared.history
    on_engine = (
        nullcontext() if cfg is None else trained_on_engine(cfg, prepared, mp.features, model)
    )
    adopted = None
    with on_engine as trained:
        if trained is None:
            adopted = _adopt_twin(model, spec, fits or {})
            model.fit(parts.train, spec, history=history, in_sample=True)
        interrupts.raise_if_swallowed()  # a Ctrl-C inside a library's callback stops here
        engine_rows = trained.rows if trained is not None else champion_rows(prepared, model)
        started = time.perf_counter()
        scores = None
        if engine_rows is not None:
            scores = scores_on_engine(prepared, model, engine_rows.test, parts.test.height)
        if scores is None:
            scores = model.predict_score(parts.test, history=history)
        predict_seconds = time.perf_counter() - started
        interrupts.raise_if_swallowed()
        if not np.all(np.isfinite(scores)):
            bad = int(np.count_nonzero(~np.isfinite(scores)))
            raise ValueError(f"{bad} scores are NaN or infinite")
        train_scores = _score_training(mp, model, prepared, engine_rows)
        if not prepared.narrow:  # else scored once the fit returns (with_in_sample)
            model.release_training_inputs()
    fit_seconds = model.fit_seconds_
    if trained is not None and trained.fit_seconds is not None:  # the engine's work included
        fit_seconds = trained.fit_seconds
    twin = _score_twin(model, prepared, engine_rows, adopted)
    interrupts.raise_if_swallowed()
    if adopted is not None and progress is not None:  # said once the model has scored
        progress.note(
            f"'{mp.name}': its twin is '{adopted.plan.name}', the same model on the same rows "
            "(not trained again)"
        )
    return Fitted(
        plan=mp,
        model=model,
        scores=scores,
        train_scores=train_scores,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        twin=twin,
        training=None if trained is None else trained.training,
    )


def fit_identity(fitted: Fitted, prepared: Prepared) -> Hashable | None:
    """The identity of a model's fit (``BaseChallenger.fit_identity``) where another model of the
    run may reuse it: fitted here, on the run's training rows. None: not reusable."""
    if fitted.model is None or fitted.scores is None or fitted.training is not None:
        return None
    return fitted.model.fit_identity(prepared.plan.spec.with_features(fitted.plan.features))


def fit_order(
    cfg: ExperimentConfig, spec: DataSpec, plans: list[ModelPlan], threads: int
) -> list[ModelPlan]:
    """The challengers in the order they are fitted: as listed, except that a model which is an
    anomaly hybrid's twin (the same tree, parameters, seed and columns: ``fit_identity``) and is
    listed after that hybrid is fitted just before it, which then takes it instead of training
    the same model again (:func:`_adopt_twin`). Only the order of training changes: the run's
    results keep the listed order."""
    identities = {mp.name: _identities(cfg, spec, mp, threads) for mp in plans}
    order = list(plans)
    for index, hybrid in enumerate(plans):
        wanted = identities[hybrid.name][1]
        if wanted is None:
            continue
        for twin in plans[index + 1 :]:
            if identities[twin.name][0] == wanted and order.index(twin) > order.index(hybrid):
                order.remove(twin)
                order.insert(order.index(hybrid), twin)
                break
    return order


def _identities(
    cfg: ExperimentConfig, spec: DataSpec, mp: ModelPlan, threads: int
) -> tuple[Hashable | None, Hashable | None]:
    """``mp``'s fit identity and, for an anomaly hybrid, its twin's, as configured (a tuned
    model's fit may differ: :func:`_adopt_twin` compares the fits themselves)."""
    try:
        model = registry.create(mp.kind, mp.settings, seed=cfg.seed, threads=threads)
        own = spec.with_features(mp.features)
        twin = model.twin_identity(own) if isinstance(model, HasTwin) else None
        return model.fit_identity(own), twin
    except Exception:  # a section the model's own fit reports on
        return None, None


def _adopt_twin(
    model: BaseChallenger, spec: DataSpec, fits: Mapping[Hashable, Fitted]
) -> Fitted | None:
    """The earlier fit that is ``model``'s twin (the same tree, parameters, seed, threads and
    columns on the same rows), handed to ``model`` instead of training it again: the demo's
    ``lgbm`` is ``lgbm-ecod``'s twin. None: the model trains its twin, if any."""
    if not isinstance(model, HasTwin):
        return None
    identity = model.twin_identity(spec)
    same = None if identity is None else fits.get(identity)
    if same is None or same.model is None:
        return None
    model.adopt_twin(same.model)
    return same


def _score_twin(
    model: BaseChallenger,
    prepared: Prepared,
    engine_rows: WindowRows | None,
    adopted: Fitted | None = None,
) -> TwinScores | None:
    """The test scores of the model's twin (HasTwin): on the executors where the model's are;
    an ``adopted`` twin's are the ones it scored as a model of its own."""
    fitted = model.fitted_twin() if isinstance(model, HasTwin) else None
    if fitted is None:
        return None
    twin, label = fitted
    if adopted is not None and adopted.scores is not None and twin is adopted.model:
        return TwinScores(label=label, scores=adopted.scores, calibrated=bool(twin.calibrated))
    test = prepared.split.test
    scores = None
    if engine_rows is not None:
        scores = scores_on_engine(prepared, twin, engine_rows.test, test.height)
    if scores is None:
        return score_twin(twin, label, test, prepared.history)
    return TwinScores(label=label, scores=scores, calibrated=bool(twin.calibrated))


def _score_training(
    mp: ModelPlan, model: BaseChallenger, prepared: Prepared, engine_rows: WindowRows | None
) -> np.ndarray | None:
    """In-sample scores, for drift and the train/test gap; on the executors for a model the
    engine trained or scores (as its test scores). A model that cannot score its training window
    (e.g. production scores not logged then), here or on the engine, loses only those
    diagnostics; the engine's own failures (a lost executor: EnvironmentFailure) still stop the
    run. None when the training rows stay on the engine (``Prepared.narrow``): the diagnostics
    score them there again (a model shipped whole, when it is fitted: :func:`with_in_sample`),
    and never bring the scores here (pipeline/insample.py)."""
    if prepared.narrow:
        return None
    train = prepared.split.train
    try:
        scores = None
        if engine_rows is None:  # fitted here on the training rows: a booster kept their scores
            scores = model.take_in_sample_scores()
        else:
            scores = scores_on_engine(
                prepared, model, engine_rows.train, train.height, training=True
            )
        if scores is None:
            scores = model.training_score(train, history=prepared.history)
    except ChallengeError:
        raise
    except Exception as exc:
        log.warning(
            "%s: no training-window scores (%s); drift and gap diagnostics skip it", mp.name, exc
        )
        return None
    return scores if np.all(np.isfinite(scores)) else None
