"""The ``anomaly`` kind: a PyOD detector as a challenger, alone or as features of a tree.

* **Standalone** (no ``hybrid``): the detector is fitted on a seeded sample of the training window
  (all rows, or the genuine ones with ``fit_on: genuine``) and its score — higher is more
  outlying, PyOD's convention — is the challenger's score. It is not a probability
  (``calibrated`` is False), so probability metrics such as the Brier score are n/a for it.
* **Hybrid** (``hybrid: lightgbm|xgboost``): the detector's score becomes one more feature of the
  tree. On the training window it is computed out of fold (time-ordered folds, each scored by a
  detector fitted on the others), so the tree never sees a score from a detector fitted on its own
  rows; on scored rows it comes from a detector fitted on a sample of the whole window. With
  ``twin`` (default) the kind also trains the same tree, same parameters and seed, without the
  score, and exposes it as ``twin_``: the run scores both on the same test rows and reports the
  paired difference, i.e. whether the detector adds anything to the tree.

Fitting reads only the sampled rows into a matrix; scoring runs in chunks (see
:mod:`challengers.features.outliers`), so memory stays bounded however many rows are scored.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, ValidationInfo, field_validator, model_validator

from challengers.data.frames import DataSpec, labels
from challengers.errors import ConfigError, closest
from challengers.features import outliers
from challengers.features.detectors import CORE, DETECTORS, canonical, check_signature
from challengers.models.abilities import FitsOnSample, HasTwin
from challengers.models.base import BaseChallenger
from challengers.models.params import (
    ChallengerParams,
    ModelSpec,
    TreeSection,
    TuneConfig,
    check_library_params,
    searched_params,
)
from challengers.models.tree import PlannedTree, TreeChallenger, TreeView, Tunable
from challengers.threads import workers

Hybrid = Literal["lightgbm", "xgboost"]


class AnomalyParams(ChallengerParams):
    """A PyOD detector, alone or as features of a tree (`hybrid`)."""

    kind: Literal["anomaly"]
    detector: str
    params: dict[str, Any] = {}
    hybrid: Hybrid | None = None
    model: ModelSpec | None = None
    fit_on: Literal["all", "genuine"] = "all"
    sample_size: int | None = Field(None, ge=100, description="fit rows; default per detector")
    categorical: list[str] = Field([], description="integer-coded categories: frequency-encoded")
    scale: Literal["auto", "robust", "standard", "none"] = "auto"
    folds: int = Field(3, ge=2, le=20, description="time-ordered folds of the hybrid's scores")
    twin: bool = Field(True, description="hybrid: also train the tree without detector scores")
    tune: TuneConfig | None = None

    @field_validator("detector")
    @classmethod
    def _detector(cls, value: str) -> str:
        return canonical(value)

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from challengers.features.detectors import check_params

        detector = info.data.get("detector")
        return check_params(detector, value) if detector else value

    @model_validator(mode="after")
    def _hybrid(self) -> AnomalyParams:
        if self.model is not None and self.hybrid is None:
            raise ValueError(
                f"model is the tree of a hybrid; add `hybrid: {self.model.kind}` or drop model"
            )
        if self.model is not None and self.model.kind != self.hybrid:
            raise ValueError(
                f"model.kind '{self.model.kind}' differs from hybrid '{self.hybrid}'; make them equal"
            )
        tuned = self.tune is not None or (self.model is not None and self.model.tune is not None)
        if tuned and self.hybrid is None:
            raise ValueError("tune searches a hybrid's tree; a detector alone has none: add hybrid")
        if self.tune is not None:  # (under model, ModelSpec checks its own)
            check_library_params(self.hybrid, searched_params(self.tune))
        return self

    def tuning(self) -> tuple[TuneConfig, TreeSection] | None:
        """``tune`` at the top level or under ``model``; the tree's params are in ``model``."""
        tune = self.tune or (self.model.tune if self.model is not None else None)
        if tune is None or self.hybrid is None:
            return None
        return tune, self.model or ModelSpec(kind=self.hybrid)


class AnomalyChallenger(BaseChallenger, Tunable, HasTwin, FitsOnSample):
    """A PyOD detector's outlier score, standalone or added to a LightGBM/XGBoost model."""

    kind = "anomaly"
    Params = AnomalyParams

    def __init__(
        self,
        detector: str = "iforest",
        params: dict[str, Any] | None = None,
        *,
        hybrid: Hybrid | None = None,
        model: Mapping[str, Any] | None = None,
        fit_on: Literal["all", "genuine"] = "all",
        sample_size: int | None = None,
        categorical: Sequence[str] = (),
        scale: outliers.Scale = "auto",
        folds: int = 3,
        twin: bool = True,
        seed: int = 42,
        threads: int | None = None,
    ) -> None:
        self.detector = detector
        self.params = params
        self.hybrid = hybrid
        self.model = model
        self.fit_on = fit_on
        self.sample_size = sample_size
        self.categorical = categorical
        self.scale = scale
        self.folds = folds
        self.twin = twin
        self.seed = seed
        self.threads = threads
        self.adopted_twin_: TreeChallenger | None = None  # adopt_twin's, for the next fit

    @classmethod
    def trains_tree(cls, settings: Any) -> bool:
        """Only a hybrid: a detector alone has no tree."""
        return settings.hybrid is not None

    @classmethod
    def check_settings(cls, settings: Any, features: Sequence[str]) -> None:
        """Plan-time checks needing the features or PyOD: categorical columns, other detectors."""
        for column in settings.categorical:
            if column not in features:
                near = closest(column, list(features))
                raise ConfigError(
                    f"challengers.{settings.name}.categorical: '{column}' is not one of the "
                    f"challenger's features" + (f"; did you mean '{near}'?" if near else "")
                )
        if settings.detector in CORE:
            return  # fully checked when the config loaded
        info = DETECTORS[settings.detector]
        where = f"challengers.{settings.name}"
        try:
            pyod_class = outliers.detector_class(info)
        except ImportError as exc:
            raise ConfigError(f"{where}.detector: {exc}") from None
        try:
            check_signature(info.name, settings.params, outliers.constructor_parameters(pyod_class))
        except ValueError as exc:
            raise ConfigError(f"{where}.params: {exc}") from None

    # ------------------------------------------------------------------------------ properties

    @property
    def calibrated(self) -> bool:  # type: ignore[override]
        """Detector scores are not probabilities; a hybrid is as calibrated as its tree."""
        return self.hybrid is not None and self._tree().calibrated

    @property
    def score_feature(self) -> str:
        """The name of the detector-score feature a hybrid's tree receives."""
        name = f"anomaly_{canonical(self.detector)}"
        taken = set(self.features_ if self.is_fitted else ())
        while name in taken:
            name += "_"
        return name

    @property
    def twin_label(self) -> str:
        """What ``twin_`` is, for the report."""
        return f"{self.hybrid} without {self.score_feature}"

    def fitted_twin(self) -> tuple[BaseChallenger, str] | None:
        self._check_fitted()
        return None if self.twin_ is None else (self.twin_, self.twin_label)

    def twin_identity(self, spec: DataSpec) -> Hashable | None:
        if self.hybrid is None or not self.twin:
            return None
        return self._tree().fit_identity(spec)  # what _fit trains as the twin

    def adopt_twin(self, twin: BaseChallenger) -> None:
        assert isinstance(twin, TreeChallenger) and twin.is_fitted
        self.adopted_twin_ = twin

    def _tree_spec(self) -> ModelSpec:
        """``model`` with its defaults filled in (its kind is the hybrid's library)."""
        return ModelSpec.model_validate({**(self.model or {}), "kind": self.hybrid or "lightgbm"})

    def libraries(self) -> tuple[str, ...]:
        try:
            detector = f"pyod.models.{DETECTORS[canonical(self.detector)].module}"
        except (ValueError, KeyError):
            return ()  # _fit says what is wrong
        return (detector, *(self._tree().libraries() if self.hybrid else ()))

    def planned_trees(self, spec: DataSpec) -> list[PlannedTree]:
        """A hybrid's tree, on the features and the detector's score, and its twin without it."""
        if self.hybrid is None:
            return []
        score = self.score_feature
        while score in spec.features:  # as fit names it (score_feature, once fitted)
            score += "_"
        trees = [PlannedTree(self._tree(), (*spec.features, score), "model.")]
        if self.twin:
            trees.append(PlannedTree(self._tree(), tuple(spec.features), "model."))
        return trees

    def _tree(self) -> TreeChallenger:
        from challengers.models.tree import LightGBMChallenger, XGBoostChallenger

        spec = self._tree_spec()
        cls = LightGBMChallenger if spec.kind == "lightgbm" else XGBoostChallenger
        return cls(
            dict(spec.params), imbalance=spec.imbalance, seed=self.seed, threads=self.threads
        )

    def _threads(self) -> int:
        return workers(self.threads)

    def _fit_settings(self) -> dict[str, Any]:
        return {
            "detector": canonical(self.detector),
            "params": dict(self.params or {}),
            "categorical": [f in set(self.categorical) for f in self.features_],
            "scale": self.scale,
            "threads": self._threads(),
        }

    # ------------------------------------------------------------------------------- fit/score

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        with_score = self._fit_detector(train, spec)
        self.tree_: TreeChallenger | None = None
        self.twin_: TreeChallenger | None = None
        if with_score is None:
            return
        self.tree_ = self._tree().fit(
            with_score, self._hybrid_spec(spec), valid=None, in_sample=self.in_sample_wanted_
        )
        if self.in_sample_wanted_:  # the tree's scores of the inputs it trained on
            kept = self.tree_.take_in_sample_scores()
            self.in_sample_ = kept if kept is not None else self.tree_.predict_score(with_score)
        if self.twin:
            adopted, self.adopted_twin_ = self.adopted_twin_, None
            self.twin_ = adopted or self._tree().fit(train, spec, valid=None)

    def _fit_detector(self, train: pl.DataFrame, spec: DataSpec) -> pl.DataFrame | None:
        """Fit the detector; for a hybrid, return the rows with their out-of-fold detector score."""
        missing = [c for c in self.categorical if c not in spec.features]
        if missing:
            raise ValueError(f"categorical column '{missing[0]}' is not a feature")
        detector = canonical(self.detector)
        size = self.sample_size or DETECTORS[detector].default_sample
        eligible = np.ones(train.height, dtype=bool)
        if self.fit_on == "genuine":
            eligible = labels(train, spec.target) == 0
        rng = np.random.default_rng(self.seed)
        rows = outliers.sample_rows(np.flatnonzero(eligible), size, rng)
        self.detector_ = outliers.fit_detector(
            outliers.rows_matrix(train, spec.features, rows), seed=self.seed, **self._fit_settings()
        )
        if self.hybrid is None:
            return None
        self.fold_cuts_ = outliers.time_cuts(train, spec.time, self.folds)
        self.fold_detectors_: list[outliers.FittedDetector | None] | None
        oof, self.fold_detectors_ = outliers.out_of_fold_scores(
            train,
            spec.features,
            fold=outliers.folds_by_time(outliers.times(train, spec.time), self.fold_cuts_),
            eligible=eligible,
            sample_size=size,
            seed=self.seed,
            **self._fit_settings(),
        )
        return train.with_columns(pl.Series(self.score_feature, oof))

    def tree_view(
        self, train: pl.DataFrame, valid: pl.DataFrame, spec: DataSpec, history: pl.DataFrame | None
    ) -> TreeView:
        """Tuning (challengers/tuning/search.py) a hybrid: its tree on the fold's rows with the detector
        score, as fit() builds it (out of fold on the fit rows, from a detector fitted on them for
        the validation rows); rebuilt around the tuned tree."""
        if self.hybrid is None:
            raise ValueError("a detector alone has no tree to tune; set hybrid")
        featurer = type(self)(**self.get_params())
        featurer.features_, featurer.spec_ = tuple(spec.features), spec  # as fit() records them
        fit_frame = featurer._fit_detector(train, spec)
        assert fit_frame is not None
        score = pl.Series(featurer.score_feature, featurer.detector_score(valid))
        valid_frame = valid.with_columns(score)
        hybrid_spec = featurer._hybrid_spec(spec)
        return TreeView(self._tree(), fit_frame, valid_frame, hybrid_spec, self._with_tree)

    def _with_tree(self, tree: TreeChallenger) -> AnomalyChallenger:
        model = self._tree_spec().model_dump(exclude={"tune"})
        model.update(params=dict(tree.params or {}), imbalance=tree.imbalance)
        return type(self)(**{**self.get_params(), "model": model})

    def _hybrid_spec(self, spec: DataSpec) -> DataSpec:
        return spec.with_features([*spec.features, self.score_feature])

    def detector_score(self, frame: pl.DataFrame) -> np.ndarray:
        """The fitted detector's outlier score of every row (higher = more outlying)."""
        self._check_fitted()
        return outliers.score_frame(self.detector_, frame, self.features_, threads=self._threads())

    def _with_detector_score(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the detector's score as the hybrid's tree reads it."""
        return frame.with_columns(pl.Series(self.score_feature, self.detector_score(frame)))

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        if self.tree_ is None:
            return self.detector_score(frame)
        return self.tree_.predict_score(self._with_detector_score(frame))

    def training_columns(self) -> tuple[str, ...]:
        # a hybrid's training rows are scored by the detector of their time's fold
        return (*self.features_, self.spec_.time) if self.tree_ is not None else self.features_

    def training_score(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> np.ndarray:
        """A hybrid's training rows as its tree trained on them: each with the score of its
        fold's detector (fitted on the other folds), not the final detector's, which was fitted
        on a sample of those rows (a knn hybrid's in-sample ROC AUC read 0.937 where its tree
        scored its trained inputs 0.988: the train/test gap understated)."""
        self._check_fitted()
        if self.tree_ is None:
            return self.predict_score(frame, history=history)
        if self.fold_detectors_ is None:
            raise RuntimeError("the fold detectors were let go of once the training rows scored")
        oof = outliers.scores_by_fold(
            self.fold_detectors_,
            self.fold_cuts_,
            frame,
            self.features_,
            self.spec_.time,
            threads=self._threads(),
        )
        return self.tree_.predict_score(frame.with_columns(pl.Series(self.score_feature, oof)))

    def release_training_inputs(self) -> None:
        # a detector a fold: ECOD's sorted fit sample is 0.5 GB at 200,000 rows x 309 features
        self.fold_detectors_ = None

    def model_inputs(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """A hybrid's tree matrix: the features and the detector's score (for SHAP)."""
        self._check_fitted()
        if self.tree_ is None:
            return super().model_inputs(frame, history=history)
        return self.tree_.model_inputs(self._with_detector_score(frame))

    # -------------------------------------------------------------------------------- outputs

    def feature_importance(self) -> dict[str, float]:
        self._check_fitted()
        return self.tree_.feature_importance() if self.tree_ is not None else {}

    def native_model(self) -> Any:
        self._check_fitted()
        return self.tree_.native_model() if self.tree_ is not None else None

    def save(self, directory: Path) -> Path:
        """A hybrid's tree in its native format (it expects the detector score as a feature)."""
        self._check_fitted()
        if self.tree_ is None:
            raise NotImplementedError("a standalone detector has no native model file")
        return self.tree_.save(directory)
