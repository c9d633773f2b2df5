"""Optuna tuning of challengers: time-aware validation, seeded TPE, pruning, a resumable study.

A challenger with ``tune:`` in its config is tuned before it is trained; the best parameters are then
refit on the whole training window and evaluated on the test window like any challenger.

1. Folds (:func:`challengers.data.split.tuning_folds`). The last ``validation_days`` of the training window
   (default: a fifth) are the validation slice; rows within ``label_delay_days`` before it are left
   out of the fit (their labels would not be known yet); with ``folds`` > 1, older slices of the
   same size before it (rolling origin, prequential). The test window is never read.
2. The kind's tree. A kind is tunable when it inherits ``Tunable`` and implements its one method::

       def tree_view(self, train, valid, spec, history) -> TreeView   # models/tree.py

   returning the tree whose parameters are searched (a ``TreeChallenger``), the fold's fit and
   validation frames as that tree sees them (derived feature columns added; the original columns
   kept: the metric reads amounts, entities and days from them), their ``DataSpec``, and
   ``rebuild(tree)``: the kind, unfitted, around another tree. It is called once per fold, so costly
   derived features are computed once, not once per trial; ``history`` holds only rows up to the end
   of the training window. LightGBM and XGBoost are their own tree (``TreeChallenger.tree_view``);
   the graph kind returns its inner ``model:`` tree and its graph features, the anomaly hybrid its
   tree and the detector's score (its detector fitted on the fold's fit rows).
3. Search (:mod:`challengers.tuning.space`). Seeded TPE; the first trial is the library defaults;
   ``tune.metric`` is any metric key, computed with :mod:`challengers.evaluation.metrics` on the validation
   slice; the budget is ``trials`` finished trials or ``timeout_s``, whichever comes first (a trial
   in flight finishes, so the search ends within the budget plus one trial).
4. Pruning and early stopping. Each trial trains under a :class:`~challengers.models.tree.Watch`:
   every ``eval_every`` rounds the metric is computed on the running validation scores, reported to
   the trial (step = rounds, offset per fold) and checked against the median pruner; the best
   round count (mean over folds) is kept for the refit.
5. Storage. The study lives in ``<output>/tuning/<challenger>.db`` (sqlite): every finished trial is
   committed, so an interrupt loses only the trial in flight. ``challenge run --resume`` continues the
   study (same settings and data, else it starts over with a note); without it the study starts over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from challengers.data.frames import DAY, labels, to_matrix
from challengers.data.split import ValidationWindow, tuning_folds
from challengers.errors import ModelError
from challengers.evaluation.evaluate import TestRows, headline, rank_scores
from challengers.evaluation.metrics import parse_metric
from challengers.models.base import BaseChallenger
from challengers.models.params import IMBALANCE, TreeSection, TuneConfig
from challengers.models.tree import TreeChallenger, TreeView, Tunable, Watch
from challengers.progress import Progress
from challengers.tuning.records import TuneResult, TuneTask
from challengers.tuning.space import Dim, baseline, search_space, split_params
from challengers.tuning.study import (
    failure_reason,
    open_study,
    optimize,
    optuna_module,
    plots,
    records,
)

log = logging.getLogger(__name__)


def fixed_params(section: TreeSection | None) -> frozenset[str]:
    """Tree parameters a config section (``params``, ``imbalance``) sets: they are not searched."""
    if section is None:
        return frozenset()
    names = set(section.params)
    if "imbalance" in section.model_fields_set:
        names.add("imbalance")
    return frozenset(names)


def not_searched(config: TuneConfig, section: TreeSection | None) -> frozenset[str]:
    """What a search leaves as the section has it: the parameters the section sets and, on a
    metric of probabilities (brier), the class weighting: a reweighted tree gives none, and every
    trial that drew imbalance sqrt or balanced failed."""
    fixed = fixed_params(section)
    if "calibrated" in parse_metric(config.metric).info.needs:
        fixed |= {IMBALANCE}
    return fixed


def range_ends(
    tree: TreeChallenger, config: TuneConfig, section: TreeSection | None
) -> tuple[list[TreeChallenger], list[tuple[str, Any, TreeChallenger]]]:
    """The trees a search of ``tree`` tries at the ends of its space, as a trial builds them over
    the fixed params: ``corners``, every searched parameter at its low end together, then at its
    high end (a categorical one at each choice in turn); and, one parameter at a time, each end
    alone (name, value, tree). The libraries' checks are bounds: a library that accepts the
    corners, or else every end alone, accepts the whole space."""
    fixed = not_searched(config, section)
    ends = {
        name: dim.choices if dim.choices is not None else _ints(dim, (dim.low, dim.high))
        for name, dim in search_space(tree.kind, config.space, fixed).items()
    }
    count = max((len(values) for values in ends.values()), default=0)
    corners = [
        _trial_tree(tree, {name: values[k % len(values)] for name, values in ends.items()}, fixed)
        for k in range(count)
    ]
    alone = [
        (name, value, _trial_tree(tree, {name: value}, fixed))
        for name, values in ends.items()
        for value in values
    ]
    return corners, alone


def _ints(dim: Dim, ends: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(int(end) for end in ends) if dim.int else ends


def tune(model: BaseChallenger, task: TuneTask, progress: Progress) -> TuneResult:
    """Search the kind's tree parameters on time-respecting folds; the kind around the best tree."""
    folds = _folds(model, task)
    tree = folds[0].tree
    space = search_space(tree.kind, task.config.space, task.fixed)  # never empty: it refuses
    objective = _Objective(folds, space, task, tree)
    study, resumed = open_study(
        task.study_path,
        task.name,
        task.config,
        maximize=objective.maximize,
        seed=task.seed,
        resume=task.resume,
        fingerprint=_fingerprint(task, model, space),
        first_trial=baseline(space),
        progress=progress,
    )
    label = f"{task.name} ({objective.metric.key})"
    timed_out = optimize(study, objective, task.config, label=label, progress=progress)
    if not any(t.state.name == "COMPLETE" for t in study.trials):
        reason = failure_reason(study)
        raise ModelError(f"challenger '{task.name}': no tuning trial finished; {reason}")
    best = study.best_trial
    rounds = int(best.user_attrs["rounds"])
    best_tree = _trial_tree(tree, best.params, task.fixed, rounds=rounds)
    return TuneResult(
        name=task.name,
        model=folds[0].rebuild(best_tree),
        metric=objective.metric.key,
        best_value=float(best.value),
        best_trial=best.number,
        best_params={**best.params, "rounds": rounds},
        trials=records(study),
        study_path=task.study_path,
        resumed_trials=resumed,
        artifacts=plots(study, task.directory, task.name),
        folds=[str(f.cut) for f in folds],
        asked=(task.config.trials, task.config.timeout_s),
        timed_out=timed_out,
    )


# ------------------------------------------------------------------------------------ the folds


@dataclass(frozen=True)
class _Fold:
    """A fold as matrices (the frames are not kept: a trial only needs these)."""

    cut: ValidationWindow
    tree: TreeChallenger
    rebuild: Callable[[TreeChallenger], BaseChallenger]
    x: np.ndarray
    y: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    rows: TestRows  # what the metric groups the validation rows by


def _folds(model: BaseChallenger, task: TuneTask) -> list[_Fold]:
    if not isinstance(model, Tunable):
        raise ModelError(
            f"challenger '{task.name}' ({model.kind}) cannot be tuned: the kind has no tree; "
            "remove tune"
        )
    history = task.history
    if history is not None:  # never the test window
        history = history.filter(pl.col(DAY) <= task.windows.train_end)
    out = []
    for cut, part in tuning_folds(
        task.train,
        task.windows,
        validation_days=task.config.validation_days,
        folds=task.config.folds,
        target=task.spec.target,
        entity=task.spec.entity,
    ):
        view: TreeView = model.tree_view(part.train, part.test, task.spec, history)
        s = view.spec
        out.append(
            _Fold(
                cut=cut,
                tree=view.tree,
                rebuild=view.rebuild,
                x=to_matrix(view.train, s.features),
                y=labels(view.train, s.target),
                x_valid=to_matrix(view.valid, s.features),
                y_valid=labels(view.valid, s.target),
                rows=TestRows.from_frame(
                    view.valid, target=s.target, amount=s.amount, entity=s.entity
                ),
            )
        )
    return out


# ------------------------------------------------------------------------------- the objective


class _Objective:
    """One trial: the tree with the sampled parameters, trained and watched on every fold."""

    def __init__(
        self, folds: list[_Fold], space: Mapping[str, Dim], task: TuneTask, tree: TreeChallenger
    ) -> None:
        self.folds, self.space, self.task, self.tree = folds, space, task, tree
        self.metric = parse_metric(task.config.metric)
        self.maximize = self.metric.info.higher_is_better
        own_threads = tree.threads or _cpu_count()
        self.threads = max(1, own_threads // task.config.n_jobs)

    def __call__(self, trial: Any) -> float:
        try:
            return self._run(trial)
        except Exception as exc:
            if type(exc).__name__ != "TrialPruned":
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise

    def _run(self, trial: Any) -> float:
        values = {name: dim.suggest(trial, name) for name, dim in self.space.items()}
        tree = _trial_tree(self.tree, values, self.task.fixed, threads=self.threads)
        cfg = self.task.config
        best_values, best_rounds = [], []
        for i, fold in enumerate(self.folds):
            watcher = _Watcher(self, trial, fold, tree.calibrated, offset=i * cfg.max_rounds)
            tree.train_watched(
                fold.x, fold.y, fold.x_valid, fold.y_valid, cfg.max_rounds,
                Watch(cfg.eval_every, watcher),
            )  # fmt: skip
            assert watcher.best_value is not None
            best_values.append(watcher.best_value)
            best_rounds.append(watcher.best_round)
        trial.set_user_attr("rounds", max(1, round(float(np.mean(best_rounds)))))
        trial.set_user_attr("fold_values", best_values)
        return float(np.mean(best_values))


class _Watcher:
    """Per-evaluation bookkeeping of one fold: report, prune, early-stop."""

    def __init__(
        self, objective: _Objective, trial: Any, fold: _Fold, calibrated: bool, offset: int
    ) -> None:
        self.objective, self.trial, self.fold = objective, trial, fold
        self.calibrated, self.offset = calibrated, offset
        self.best_value: float | None = None
        self.best_round = 0

    def __call__(self, rounds: int, scores: np.ndarray) -> bool:
        o = self.objective
        ranked = rank_scores(self.fold.rows, np.asarray(scores), calibrated=self.calibrated)
        value = headline(
            ranked, [o.metric], cost=o.task.cost, operating_rate=o.task.operating_rate
        )[o.metric.key]
        if not math.isfinite(value):
            raise ValueError(
                f"{o.metric.key} is undefined on the validation slice ({self.fold.cut}) for these "
                "parameters (brier needs imbalance: none)"
            )
        self.trial.report(value, self.offset + rounds)
        best = self.best_value
        if best is None or (value > best if o.maximize else value < best):
            self.best_value, self.best_round = value, rounds
        if o.task.config.pruning and self.trial.should_prune():
            raise optuna_module().TrialPruned(f"pruned after {rounds} rounds at {value:.4f}")
        return rounds - self.best_round >= o.task.config.early_stopping_rounds


def _trial_tree(
    tree: TreeChallenger,
    values: Mapping[str, Any],
    fixed: frozenset[str],
    *,
    rounds: int | None = None,
    threads: int | None = None,
) -> TreeChallenger:
    params, imbalance = split_params(tree.kind, values, fixed)
    if rounds is not None:
        params["n_estimators"] = rounds
    extra = {} if threads is None else {"threads": threads}
    return tree.with_params(params, imbalance=imbalance, **extra)


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def _fingerprint(task: TuneTask, model: BaseChallenger, space: Mapping[str, Dim]) -> str:
    """What makes a stored study's trials comparable with this run's."""
    w = task.windows
    blob = {
        "config": task.config.model_dump(mode="json"),
        "model": {"kind": model.kind, **model.get_params()},
        "space": sorted(space),
        "seed": task.seed,
        "features": list(task.spec.features),
        "windows": [str(w.train_start), str(w.train_end), w.label_delay_days],
        "exclude": w.exclude_known_frauds,
        "data": task.data_fingerprint,
        "cost": [task.cost.false_positive, task.cost.false_negative, task.operating_rate],
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]
