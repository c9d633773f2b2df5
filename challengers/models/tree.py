"""Gradient-boosted tree challengers: LightGBM and XGBoost on float32 matrices.

Both take the library's own ``params`` (passed through untouched, so the first line's documented
settings can be replayed exactly) plus three things every validator needs: a seed, a thread count
(results depend on it), and how to treat the class imbalance.

For tuning (``challengers/tuning/search.py``) a tree also trains under a :class:`Watch` (the validation
scores every few rounds, for pruning and early stopping on any metric) and shows itself through
:meth:`TreeChallenger.tree_view`, the tuning method of :class:`Tunable`, the mixin of every
tunable kind; its other method, ``planned_trees``, names the trees a fit trains, whose parameters
the plan has their library check before any row is read (:mod:`challengers.models.library_check`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import polars as pl
from pydantic import field_validator

from challengers.allocator import release_freed_memory
from challengers.data.frames import DataSpec, labels, to_matrix
from challengers.engine.base import Engine
from challengers.interrupts import deferred
from challengers.models.abilities import FitsOnSample, TrainsOnEngine
from challengers.models.base import BaseChallenger, predict_in_blocks
from challengers.models.blocks import lightgbm_dataset, quantile_matrix
from challengers.models.library_params import aliases_of
from challengers.models.params import (
    DEFAULT_ROUNDS,
    ROUND_KEYS,
    ChallengerParams,
    Imbalance,
    TreeSection,
    TuneConfig,
    check_rounds,
    finite_params,
    known_params,
    known_space,
    rounds_of,
)
from challengers.models.trees import LIBRARIES, TreeLibrary
from challengers.threads import workers


def positive_weight(y: np.ndarray, imbalance: str) -> float:
    """The weight of a fraud relative to a genuine row: 1, negatives/positives, or its root."""
    positives = int(np.count_nonzero(y))
    return class_weight(len(y) - positives, positives, imbalance)


def class_weight(negatives: int, positives: int, imbalance: str) -> float:
    """:func:`positive_weight` from the class counts."""
    if imbalance == "none":
        return 1.0
    ratio = negatives / max(float(positives), 1.0)
    return ratio if imbalance == "balanced" else math.sqrt(ratio)


def split_rounds(params: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Take the number of boosting rounds out of ``params`` whatever alias it was given as."""
    rest = dict(params)
    rounds = DEFAULT_ROUNDS
    for key in ROUND_KEYS:
        if key in rest:
            rounds = rounds_of(key, rest.pop(key))
    return rest, rounds


@dataclass(frozen=True)
class Watch:
    """Validation during training, for tuning: every ``every`` rounds, and after the last,
    ``on_eval(rounds, validation_scores)`` runs; it returns True to stop early and may raise (a pruned
    trial) to abandon the fit."""

    every: int
    on_eval: Callable[[int, np.ndarray], bool]


@dataclass(frozen=True)
class TreeView:
    """What the tuner sees of a kind: the tree whose parameters it searches, the frames that tree
    trains and is validated on (the kind's derived feature columns added to the original columns),
    their spec, and how to rebuild the kind, unfitted, around another tree."""

    tree: TreeChallenger
    train: pl.DataFrame
    valid: pl.DataFrame
    spec: DataSpec
    rebuild: Callable[[TreeChallenger], BaseChallenger]


@dataclass(frozen=True)
class PlannedTree:
    """A tree a kind's fit trains, as the plan sees it before any row is read: the unfitted tree,
    the columns it reads (the data's features and any the kind derives), and where its ``params``
    are in the kind's section ("" or "model.")."""

    tree: TreeChallenger
    features: tuple[str, ...]
    key: str = ""


class Tunable:
    """The ability to be tuned: a kind shows the tuner the tree whose parameters it searches, and
    the plan the trees it trains (their library is asked whether it accepts their parameters)."""

    @classmethod
    def trains_tree(cls, settings: Any) -> bool:
        """Whether the kind trains a LightGBM/XGBoost tree with these settings (the plan checks
        that its feature names are ones the libraries accept)."""
        return True

    def tree_view(
        self,
        train: pl.DataFrame,
        valid: pl.DataFrame,
        spec: DataSpec,
        history: pl.DataFrame | None,
    ) -> TreeView:
        """The tree, the fold's frames as that tree sees them, their spec, and the rebuild."""
        raise NotImplementedError

    def planned_trees(self, spec: DataSpec) -> list[PlannedTree]:
        """The trees a fit on data of ``spec`` trains, the one a tuner searches first (none: the
        kind trains no tree with these settings)."""
        raise NotImplementedError


class TreeParams(ChallengerParams):
    """A tree challenger's section: the library's ``params``, ``tune`` and ``imbalance``."""

    params: dict[str, Any] = {}
    tune: TuneConfig | None = None
    imbalance: Imbalance = "none"

    _rounds = field_validator("params")(check_rounds)
    _finite = field_validator("params")(finite_params)
    _known = field_validator("params")(known_params)
    _space = field_validator("tune")(known_space)

    def tuning(self) -> tuple[TuneConfig, TreeSection] | None:
        return None if self.tune is None else (self.tune, self)


class LightGBMParams(TreeParams):
    kind: Literal["lightgbm"]


class XGBoostParams(TreeParams):
    kind: Literal["xgboost"]


class TreeChallenger(BaseChallenger, Tunable):
    """Shared constructor and bookkeeping of the two tree libraries."""

    early_stopping_rounds: ClassVar[int] = 50
    booster_: Any  # the fitted lightgbm.Booster / xgboost.Booster

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        *,
        imbalance: Imbalance = "none",
        seed: int = 42,
        threads: int | None = None,
    ) -> None:
        self.params = params
        self.imbalance = imbalance
        self.seed = seed
        self.threads = threads

    @property
    def calibrated(self) -> bool:  # type: ignore[override]
        """Probabilities are calibrated only when the classes were not reweighted."""
        params = self.params or {}
        reweighted = self.imbalance != "none" or any(
            k in params for k in ("scale_pos_weight", "is_unbalance", "pos_bagging_fraction")
        )
        return not reweighted

    def _threads(self) -> int:
        return workers(self.threads)

    def fit_identity(self, spec: DataSpec) -> Hashable | None:
        # the library, its params, the class weighting, seed and threads (LightGBM's sums are in
        # the threads' order) and the columns: all a fit on the same rows without a validation
        # part depends on
        params = json.dumps(self.params or {}, sort_keys=True, default=repr)
        return (self.kind, params, self.imbalance, self.seed, self._threads(), spec)

    library: ClassVar[TreeLibrary]  # flavour, native file, predict with the best iteration
    # the boosting modes whose running training scores are the saved model's scores, bit for bit
    # (tests/models/test_in_sample.py); DART rescales the dropped trees after scoring them
    in_sample_modes: ClassVar[tuple[str, ...]]

    def _boosting(self, params: dict[str, Any]) -> str:
        """The library's boosting mode in ``params``."""
        raise NotImplementedError

    def _keeps_in_sample(self, params: dict[str, Any], valid: pl.DataFrame | None) -> bool:
        """Whether this fit hands over its training rows' scores: asked for, every round kept
        (no early stopping on a validation part), and a mode whose running scores are final."""
        if not self.in_sample_wanted_ or (valid is not None and valid.height):
            return False
        return self._boosting(params) in self.in_sample_modes

    def _defaults(self) -> dict[str, Any]:
        """The library's params this tool sets: objective, seed, threads, quiet logging."""
        raise NotImplementedError

    def _library_params(self, y: np.ndarray) -> tuple[dict[str, Any], int]:
        """Library params (the config's override the defaults) and the number of rounds."""
        positives = int(np.count_nonzero(y))
        return self._params_for(len(y) - positives, positives)

    def _params_for(self, negatives: int, positives: int) -> tuple[dict[str, Any], int]:
        """:meth:`_library_params` from the training rows' class counts."""
        params, rounds = split_rounds(self.params or {})
        # a default the config sets under another name is the config's: with both, the library
        # read the default's (LightGBM's main name: `random_state: 5` trained with seed 42)
        base = {
            k: v
            for k, v in self._defaults().items()
            if not aliases_of(self.library.name, k) & params.keys()
        }
        weight = class_weight(negatives, positives, self.imbalance)
        if weight != 1.0:
            base["scale_pos_weight"] = weight
        return {**base, **params}, rounds

    def libraries(self) -> tuple[str, ...]:
        return (self.library.name,)

    def native_model(self) -> Any:
        self._check_fitted()
        return self.booster_

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        threads = self._threads()
        return predict_in_blocks(
            frame, self.features_, lambda x: self.library.predict(self.booster_, x, threads)
        )

    def save(self, directory: Path) -> Path:
        self._check_fitted()
        path = Path(directory) / self.library.native_file
        self.library.save(self.booster_, path)
        return path

    def with_params(
        self, params: dict[str, Any], *, imbalance: Imbalance | None = None, **kwargs: Any
    ) -> Self:
        """An unfitted copy with ``params`` over this tree's own (a round count in ``params``
        replaces whatever alias the original used); ``kwargs`` replace constructor arguments."""
        own = dict(self.params or {})
        if any(k in params for k in ROUND_KEYS):
            own = {k: v for k, v in own.items() if k not in ROUND_KEYS}
        args = {**self.get_params(), "params": {**own, **params}, **kwargs}
        if imbalance is not None:
            args["imbalance"] = imbalance
        return type(self)(**args)

    def tree_view(
        self,
        train: pl.DataFrame,
        valid: pl.DataFrame,
        spec: DataSpec,
        history: pl.DataFrame | None,
    ) -> TreeView:
        """The tuning interface: a tree kind is its own tree, on the frames as they are."""
        return TreeView(self, train, valid, spec, rebuild=_same_tree)

    def planned_trees(self, spec: DataSpec) -> list[PlannedTree]:
        return [PlannedTree(self, tuple(spec.features))]

    def train_watched(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_valid: np.ndarray,
        y_valid: np.ndarray,
        rounds: int,
        watch: Watch,
    ) -> None:
        """Train up to ``rounds`` rounds on float32 matrices under ``watch``; keeps no model."""
        raise NotImplementedError


class LightGBMChallenger(TreeChallenger, FitsOnSample):
    kind = "lightgbm"
    Params = LightGBMParams
    library = LIBRARIES["lightgbm"]
    in_sample_modes = ("gbdt", "gbrt", "goss")

    def _boosting(self, params: dict[str, Any]) -> str:
        keys = ("boosting", "boosting_type", "boost")  # LightGBM's aliases
        return str(next((params[k] for k in keys if k in params), "gbdt"))

    def _defaults(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "verbosity": -1,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self._threads(),
        }

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        import lightgbm as lgb

        y = labels(train, spec.target)
        params, rounds = self._library_params(y)
        # the dataset gets the params too: built without them, LightGBM's OpenMP uses every core
        dtrain = lightgbm_dataset(train, spec.features, y, params)
        callbacks: list[Any] = []
        valid_sets = []
        if valid is not None and valid.height:
            y_valid = labels(valid, spec.target)
            dvalid = lightgbm_dataset(valid, spec.features, y_valid, params, reference=dtrain)
            valid_sets = [dvalid]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        in_sample: list[np.ndarray] = []
        if self._keeps_in_sample(params, valid):
            callbacks.append(_lightgbm_final_scores(in_sample))
        callbacks.append(_released_once_binned)
        self.booster_ = lgb.train(
            params, dtrain, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
        )
        self.in_sample_ = in_sample[0] if in_sample else None

    def train_watched(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_valid: np.ndarray,
        y_valid: np.ndarray,
        rounds: int,
        watch: Watch,
    ) -> None:
        import lightgbm as lgb

        params, _ = self._library_params(y)
        params["metric"] = "None"  # the watch computes the tuning metric itself
        # the datasets get the params too: built without them, LightGBM's OpenMP runs on every
        # core afterwards, whatever num_threads says (20-100x slower on a busy machine)
        dtrain = lgb.Dataset(x, label=y, params=params)
        booster = lgb.Booster(params, dtrain)
        booster.add_valid(dtrain.create_valid(x_valid, label=y_valid, params=params), "valid")
        scores: list[np.ndarray] = []

        def capture(predictions: np.ndarray, _: Any) -> tuple[str, float, bool]:
            scores.append(predictions)  # the booster's running validation scores, no re-predict
            return "watch", 0.0, True

        for done in range(1, rounds + 1):
            finished = booster.update()  # True: no split improves any more
            if done % watch.every == 0 or done == rounds or finished:
                scores.clear()
                booster.eval_valid(capture)
                if watch.on_eval(done, scores[0]) or finished:
                    return

    def feature_importance(self) -> dict[str, float]:
        self._check_fitted()
        gain = np.asarray(self.booster_.feature_importance("gain"), dtype=np.float64)
        return _normalised(self.features_, gain)


class XGBoostChallenger(TreeChallenger, TrainsOnEngine):
    kind = "xgboost"
    Params = XGBoostParams
    library = LIBRARIES["xgboost"]
    in_sample_modes = ("gbtree",)

    def _boosting(self, params: dict[str, Any]) -> str:
        return str(params.get("booster", "gbtree"))

    def fit_on_engine(
        self, engine: Engine[Any], train: Any, spec: DataSpec, *, workers: int | None
    ) -> str:
        """Distributed training (``xgboost.spark`` on Spark) with this tree's params; the
        threads are the engine's (one per task)."""
        started = time.perf_counter()
        negatives, positives = engine.class_counts(train, spec.target)
        params, rounds = self._params_for(negatives, positives)
        tasks = engine.workers(workers)
        self.booster_ = engine.train_xgboost(
            train,
            features=spec.features,
            target=spec.target,
            params=params,
            rounds=rounds,
            workers=tasks,
        )
        self.features_, self.spec_ = tuple(spec.features), spec
        self.fit_seconds_ = time.perf_counter() - started
        total = negatives + positives
        return f"trained on the {engine.kind} engine by {tasks} workers, on all {total:,} training rows"

    def _defaults(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "tree_method": "hist",
            "eval_metric": "aucpr",
            "seed": self.seed,
            "nthread": self._threads(),
            "verbosity": 0,
        }

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        import xgboost as xgb

        y = labels(train, spec.target)
        params, rounds = self._library_params(y)
        names = list(spec.features)
        with deferred():  # built through Python callbacks: a Ctrl-C raised inside one (XGBoost's
            # data iterator) broke the build (a failed challenger, exit 0) or aborted the process;
            # held until the matrix is built, then raised
            dtrain = quantile_matrix(
                train, spec.features, y, threads=self._threads(), max_bin=params.get("max_bin")
            )
        release_freed_memory()  # binned: see _released_once_binned
        evals = []
        early = None
        if valid is not None and valid.height:
            dvalid = xgb.DMatrix(
                to_matrix(valid, spec.features),
                label=labels(valid, spec.target),
                feature_names=names,
                nthread=self._threads(),
            )
            evals = [(dvalid, "valid")]
            early = self.early_stopping_rounds
        in_sample: list[np.ndarray] = []
        callbacks = None
        if self._keeps_in_sample(params, valid):
            callbacks = [_xgboost_final_scores(dtrain, in_sample)]
        self.booster_ = xgb.train(
            params,
            dtrain,
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=early,
            verbose_eval=False,
            callbacks=callbacks,
        )
        self.in_sample_ = in_sample[0] if in_sample else None

    def train_watched(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_valid: np.ndarray,
        y_valid: np.ndarray,
        rounds: int,
        watch: Watch,
    ) -> None:
        import xgboost as xgb

        params, _ = self._library_params(y)
        params.pop("eval_metric", None)
        params["disable_default_eval_metric"] = 1  # the watch computes the tuning metric itself
        # binned with the tree's max_bin, as the refit's matrix is (quantile_matrix): XGBoost
        # refuses a booster whose max_bin is not its matrix's, and every trial failed
        bins = {"max_bin": params["max_bin"]} if "max_bin" in params else {}
        with deferred():  # built through Python callbacks: see XGBoostChallenger._fit
            dtrain = xgb.QuantileDMatrix(x, label=y, nthread=self._threads(), **bins)
        dvalid = xgb.DMatrix(x_valid, label=y_valid, nthread=self._threads())
        # both matrices in the cache: predicting dvalid reuses the running scores, no re-predict
        booster = xgb.Booster(params, [dtrain, dvalid])
        for done in range(1, rounds + 1):
            booster.update(dtrain, done - 1)
            if (done % watch.every == 0 or done == rounds) and watch.on_eval(
                done, booster.predict(dvalid)
            ):
                return

    def feature_importance(self) -> dict[str, float]:
        self._check_fitted()
        gain = self.booster_.get_score(importance_type="total_gain")
        values = np.array([gain.get(f, 0.0) for f in self.features_], dtype=np.float64)
        return _normalised(self.features_, values)


def _same_tree(tree: TreeChallenger) -> BaseChallenger:
    return tree


def _lightgbm_final_scores(into: list[np.ndarray]) -> Callable[[Any], None]:
    """A LightGBM callback: after the last round, the booster's running scores of its training
    rows (what ``eval_train`` hands a metric), as probabilities like ``predict``."""

    def keep(predictions: np.ndarray, _: Any) -> tuple[str, float, bool]:
        into.append(np.array(predictions, dtype=np.float64))
        return "in-sample", 0.0, True

    def after_round(env: Any) -> None:
        if env.iteration == env.end_iteration - 1:
            env.model.eval_train(keep)

    return after_round


def _released_once_binned(env: Any) -> None:
    """A LightGBM callback before the first round: the dataset is binned, so the training rows'
    pages (a spilled window's: pipeline/spill.py) and the blocks they were read in are let go
    of, not held through every round. At 100M rows in the file the rows read are 1.0 GB, a
    fifth of the fit's peak (XGBoost's, measured: 4.33 GB with them, over 20 rounds)."""
    if env.iteration == env.begin_iteration:
        release_freed_memory()


_released_once_binned.before_iteration = True  # type: ignore[attr-defined]


def _xgboost_final_scores(dtrain: Any, into: list[np.ndarray]) -> Any:
    """An XGBoost callback: after training, the scores of ``dtrain`` from the booster's prediction
    cache (the running scores; ``xgb.train`` drops the cache when it returns). Kept as XGBoost's
    float32: their float64 copy is made when they are handed over
    (:meth:`~challengers.models.base.BaseChallenger.take_in_sample_scores`), once training's
    buffers are gone; made here it sat on the fit's peak (8 bytes a training row: 0.76 GB at
    95M rows)."""
    import xgboost as xgb

    class FinalScores(xgb.callback.TrainingCallback):
        def after_training(self, model: Any) -> Any:
            into.append(model.predict(dtrain))
            return model

    return FinalScores()


def _normalised(features: tuple[str, ...], values: np.ndarray) -> dict[str, float]:
    total = float(values.sum())
    if total <= 0:
        return dict.fromkeys(features, 0.0)
    return {f: float(v / total) for f, v in zip(features, values, strict=True)}
