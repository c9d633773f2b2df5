"""Optional abilities of a model kind, each an explicit mixin the kind inherits (never probed with
``getattr``): the pipeline asks ``issubclass(kind, ReadsColumns)`` or ``isinstance(model, HasTwin)``.

- :class:`ReadsColumns`: columns the kind reads besides its features (the graph kind's entities);
  the plan reads them and checks they exist before any row is loaded.
- :class:`DerivesFeatures`: the recipe of the features the kind derives from raw rows, which the
  audit recomputes with later rows removed to catch look-ahead (``audit/future.py``).
- :class:`HasTwin`: a fitted twin, the same tree without the kind's added features, which the run
  scores and compares with the model (``evaluation/twins.py``).
- ``Tunable`` (:mod:`challengers.models.tree`): the tree a tuner searches (``tree_view``).
- :class:`TrainsOnEngine`: on a distributed engine (Spark), the kind trains where the rows are
  (XGBoost: ``xgboost.spark``); :class:`FitsOnSample`: there, the kind fits on the driver on a
  seeded stratified sample of the training rows (``engine.sample_rows``);
  :class:`DerivesOnEngine`: there, the engine computes the features the kind derives from raw rows
  (graph features on Spark) and the kind fits on a sample of the featured rows. A kind with none
  of them fits on the driver on every loaded row, as on the local engine.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

import polars as pl

from challengers.data.frames import DataSpec

if TYPE_CHECKING:
    from challengers.engine.base import Engine
    from challengers.models.base import BaseChallenger


@runtime_checkable
class FeatureRecipe(Protocol):
    """How a model computes its features from raw rows, as production would."""

    @property
    def name(self) -> str:
        """What the report calls the recipe."""
        ...

    @property
    def inputs(self) -> tuple[str, ...]:
        """The raw columns read, besides the time and the target."""
        ...

    def compute(self, rows: pl.DataFrame, *, time: str, target: str) -> pl.DataFrame:
        """The feature columns for ``rows`` (sorted by time), one row per input row, same order."""
        ...


class ReadsColumns:
    """A kind that reads data columns other than its features."""

    @classmethod
    def extra_columns(cls, settings: Any) -> list[tuple[str, str]]:
        """``(column, config key naming it)`` for each such column of the kind's section."""
        raise NotImplementedError


class DerivesFeatures:
    """A kind that derives features from raw rows and can say how (for the look-ahead audit)."""

    @classmethod
    def feature_recipe(cls, settings: Any, spec: DataSpec) -> FeatureRecipe | None:
        """The recipe for the kind's section and the run's data spec (None: nothing to check)."""
        raise NotImplementedError


class HasTwin:
    """A kind that may fit a twin: the same tree, same parameters and seed, without the features
    the kind adds."""

    def fitted_twin(self) -> tuple[BaseChallenger, str] | None:
        """The fitted twin and what it is, for the report ("lightgbm without anomaly_ecod"), or
        None when this model has none."""
        raise NotImplementedError

    def twin_identity(self, spec: DataSpec) -> Hashable | None:
        """The ``fit_identity`` of the twin the next ``fit`` on ``spec`` trains (None: none)."""
        raise NotImplementedError

    def adopt_twin(self, twin: BaseChallenger) -> None:
        """Take ``twin``, fitted on the same training rows with an equal ``fit_identity`` (another
        model of the run), as the next ``fit``'s twin instead of training the same model again."""
        raise NotImplementedError


class TrainsOnEngine:
    """A kind that trains on a distributed engine's rows, which never reach the driver."""

    def fit_on_engine(
        self, engine: Engine[Any], train: Any, spec: DataSpec, *, workers: int | None
    ) -> str:
        """Fit on ``train`` (the engine's training rows) with ``workers`` tasks (None: the
        engine's default); returns how it was trained, for the report."""
        raise NotImplementedError


class FitsOnSample:
    """A kind that, on a distributed engine, fits on a stratified sample brought to the driver
    (its fitting needs the rows in one process: LightGBM, the anomaly detectors). Its
    ``predict_score`` reads no history and scores each row alone (whatever the batch), so the
    fitted model is shipped to the executors to score there."""


class DerivesOnEngine:
    """A kind that derives features from raw rows (strictly earlier rows: its history) and, on a
    distributed engine, has the engine compute them where the rows are. Its model then fits on the
    driver on a stratified sample of the featured training rows, and its native booster (whose
    inputs the featured rows hold) scores them on the executors."""

    derived: ClassVar[str]  # what the report calls the derived features ("graph features")

    def features_on_engine(
        self, engine: Engine[Any], history: Any, rows: Any, spec: DataSpec
    ) -> Any:
        """``rows`` (the engine's) with the derived features appended, computed on the engine
        from the strictly earlier rows of ``history`` (every loaded row, as locally)."""
        raise NotImplementedError

    def fit_featured(self, featured: pl.DataFrame, spec: DataSpec) -> Self:
        """Fit on rows that already hold the derived features (``spec`` names the data's
        features only, as for ``fit``); the model is then the one ``fit`` gives on those rows."""
        raise NotImplementedError
