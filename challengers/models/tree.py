"""Gradient-boosted tree challengers: LightGBM and XGBoost on float32 matrices.

Both take the library's own ``params`` (passed through untouched, so the first line's documented
settings can be replayed exactly) plus three things every validator needs: a seed, a thread count
(results depend on it), and how to treat the class imbalance.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl

from challengers.data import DataSpec, labels, to_matrix
from challengers.models.base import BaseChallenger

Imbalance = Literal["none", "balanced", "sqrt"]
ROUND_KEYS = ("num_boost_round", "n_estimators", "num_iterations", "num_round", "num_trees")
DEFAULT_ROUNDS = 100


def positive_weight(y: np.ndarray, imbalance: str) -> float:
    """The weight of a fraud relative to a genuine row: 1, negatives/positives, or its root."""
    if imbalance == "none":
        return 1.0
    positives = float(np.count_nonzero(y))
    ratio = (len(y) - positives) / max(positives, 1.0)
    return ratio if imbalance == "balanced" else math.sqrt(ratio)


def split_rounds(params: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Take the number of boosting rounds out of ``params`` whatever alias it was given as."""
    rest = dict(params)
    rounds = DEFAULT_ROUNDS
    for key in ROUND_KEYS:
        if key in rest:
            rounds = int(rest.pop(key))
    return rest, rounds


class TreeChallenger(BaseChallenger):
    """Shared constructor and bookkeeping of the two tree libraries."""

    early_stopping_rounds: ClassVar[int] = 50

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

    @classmethod
    def from_config(cls, settings: Any, *, seed: int, threads: int | None) -> TreeChallenger:
        return cls(dict(settings.params), imbalance=settings.imbalance, seed=seed, threads=threads)

    @property
    def calibrated(self) -> bool:  # type: ignore[override]
        """Probabilities are calibrated only when the classes were not reweighted."""
        params = self.params or {}
        reweighted = self.imbalance != "none" or any(
            k in params for k in ("scale_pos_weight", "is_unbalance", "pos_bagging_fraction")
        )
        return not reweighted

    def _threads(self) -> int:
        import os

        return self.threads or os.cpu_count() or 1


class LightGBMChallenger(TreeChallenger):
    kind = "lightgbm"
    flavor = "lightgbm"

    def _library_params(self, y: np.ndarray) -> tuple[dict[str, Any], int]:
        params, rounds = split_rounds(self.params or {})
        base: dict[str, Any] = {
            "objective": "binary",
            "verbosity": -1,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self._threads(),
        }
        weight = positive_weight(y, self.imbalance)
        if weight != 1.0:
            base["scale_pos_weight"] = weight
        return {**base, **params}, rounds

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        import lightgbm as lgb

        x, y = to_matrix(train, spec.features), labels(train, spec.target)
        params, rounds = self._library_params(y)
        dtrain = lgb.Dataset(x, label=y, feature_name=list(spec.features), free_raw_data=True)
        callbacks: list[Any] = []
        valid_sets = []
        if valid is not None and valid.height:
            dvalid = dtrain.create_valid(
                to_matrix(valid, spec.features), label=labels(valid, spec.target)
            )
            valid_sets = [dvalid]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(
            params, dtrain, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
        )

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        x = to_matrix(frame, self.features_)
        return np.asarray(self.booster_.predict(x, num_threads=self._threads()))

    def feature_importance(self) -> dict[str, float]:
        self._check_fitted()
        gain = np.asarray(self.booster_.feature_importance("gain"), dtype=np.float64)
        return _normalised(self.features_, gain)

    def native_model(self) -> Any:
        self._check_fitted()
        return self.booster_

    def save(self, directory: Path) -> Path:
        self._check_fitted()
        path = Path(directory) / "model.txt"
        self.booster_.save_model(str(path))
        return path


class XGBoostChallenger(TreeChallenger):
    kind = "xgboost"
    flavor = "xgboost"

    def _library_params(self, y: np.ndarray) -> tuple[dict[str, Any], int]:
        params, rounds = split_rounds(self.params or {})
        base: dict[str, Any] = {
            "objective": "binary:logistic",
            "tree_method": "hist",
            "eval_metric": "aucpr",
            "seed": self.seed,
            "nthread": self._threads(),
            "verbosity": 0,
        }
        weight = positive_weight(y, self.imbalance)
        if weight != 1.0:
            base["scale_pos_weight"] = weight
        return {**base, **params}, rounds

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        import xgboost as xgb

        x, y = to_matrix(train, spec.features), labels(train, spec.target)
        params, rounds = self._library_params(y)
        names = list(spec.features)
        dtrain = xgb.QuantileDMatrix(x, label=y, feature_names=names, nthread=self._threads())
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
        self.booster_ = xgb.train(
            params,
            dtrain,
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=early,
            verbose_eval=False,
        )

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        x = to_matrix(frame, self.features_)
        best = getattr(self.booster_, "best_iteration", None)
        kwargs: dict[str, Any] = {}
        if best is not None:
            kwargs["iteration_range"] = (0, best + 1)
        return np.asarray(self.booster_.inplace_predict(x, validate_features=False, **kwargs))

    def feature_importance(self) -> dict[str, float]:
        self._check_fitted()
        gain = self.booster_.get_score(importance_type="total_gain")
        values = np.array([gain.get(f, 0.0) for f in self.features_], dtype=np.float64)
        return _normalised(self.features_, values)

    def native_model(self) -> Any:
        self._check_fitted()
        return self.booster_

    def save(self, directory: Path) -> Path:
        self._check_fitted()
        path = Path(directory) / "model.json"
        self.booster_.save_model(str(path))
        return path


def _normalised(features: tuple[str, ...], values: np.ndarray) -> dict[str, float]:
    total = float(values.sum())
    if total <= 0:
        return dict.fromkeys(features, 0.0)
    return {f: float(v / total) for f, v in zip(features, values, strict=True)}
