"""The graph challenger: a tree model on the data's features plus leakage-safe entity-graph features.

Fraud that no single transaction shows (compromised terminals, shared-device rings, mule accounts)
shows in who transacts with what. This kind computes :func:`challengers.features.graph.graph_features`
for every row from the history production had (strictly earlier rows, labels older than the
delay), appends them to the data's features and trains a LightGBM or XGBoost model on the lot
(``model.kind``). The inner tree is a plain :mod:`challengers.models.tree` challenger, reachable
through :meth:`GraphChallenger.inner_tree` and :meth:`GraphChallenger.with_graph_features`, so a
tuner can featurise once and search the tree's parameters. On a distributed engine the engine
computes the same features where the rows are (:meth:`GraphChallenger.features_on_engine`) and the
tree fits on the featured rows brought to the driver (:meth:`GraphChallenger.fit_featured`).

Its section is ``graph: {entities, windows_days, structure, structure_every_days}`` and ``model:
{kind, params, imbalance, tune}``; the constructor takes ``graph`` and ``model`` as those mappings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from challengers.data.frames import DataSpec, to_matrix
from challengers.engine import base as engine_base
from challengers.engine.local import LocalEngine
from challengers.errors import DataError
from challengers.features.graph import GraphRecipe
from challengers.files import write_json
from challengers.models.abilities import DerivesFeatures, DerivesOnEngine, ReadsColumns
from challengers.models.base import BaseChallenger
from challengers.models.params import (
    ChallengerParams,
    ModelSpec,
    Strict,
    TreeSection,
    TuneConfig,
    unique_names,
)
from challengers.models.tree import (
    LightGBMChallenger,
    PlannedTree,
    TreeChallenger,
    TreeView,
    Tunable,
    XGBoostChallenger,
)

log = logging.getLogger(__name__)
TREES: dict[str, type[TreeChallenger]] = {
    "lightgbm": LightGBMChallenger,
    "xgboost": XGBoostChallenger,
}


class GraphSettings(Strict):
    entities: list[str] = Field(min_length=2)
    windows_days: list[Annotated[int, Field(ge=1)]] = [1, 7, 30]
    structure: bool = True
    structure_every_days: int = Field(1, ge=1)  # snapshot cadence of the graph-structure features

    _lists = field_validator("entities", "windows_days")(unique_names)


class GraphParams(ChallengerParams):
    kind: Literal["graph"]
    graph: GraphSettings
    model: ModelSpec = ModelSpec(kind="lightgbm")

    def tuning(self) -> tuple[TuneConfig, TreeSection] | None:
        return self.model.tuning()


class GraphChallenger(BaseChallenger, Tunable, ReadsColumns, DerivesFeatures, DerivesOnEngine):
    """A tree model on the data's features plus graph features of ``graph["entities"]``.

    The first entity is the account (card, customer) whose neighbourhood is scored. The label
    delay comes from the data spec (``DataSpec.label_delay_days``, the split's delay).
    """

    kind: ClassVar[str] = "graph"
    Params = GraphParams
    derived: ClassVar[str] = "graph features"

    def __init__(
        self,
        graph: Mapping[str, Any],
        model: Mapping[str, Any] | None = None,
        *,
        seed: int = 42,
        threads: int | None = None,
    ) -> None:
        self.graph = graph
        self.model = model
        self.seed = seed
        self.threads = threads

    @property
    def settings(self) -> GraphSettings:
        """``graph`` with its defaults filled in."""
        return GraphSettings.model_validate(self.graph)

    @property
    def tree_spec(self) -> ModelSpec:
        """``model`` (the inner tree) with its defaults filled in."""
        return ModelSpec.model_validate(self.model or {"kind": "lightgbm"})

    @classmethod
    def lookback_days(cls, settings: Any) -> int:
        """The longest window: the plan adds the label delay, so window labels are known too."""
        return max(settings.graph.windows_days)

    @classmethod
    def extra_columns(cls, settings: Any) -> list[tuple[str, str]]:
        return [(entity, "graph.entities") for entity in settings.graph.entities]

    @classmethod
    def feature_recipe(cls, settings: Any, spec: DataSpec) -> GraphRecipe:
        """The look-ahead audit's recipe: the graph features of the section, as fit computes them."""
        graph = settings.graph
        return GraphRecipe(
            entities=tuple(graph.entities),
            windows_days=tuple(graph.windows_days),
            amount=spec.amount,
            label_delay_days=spec.label_delay_days,
            structure=graph.structure,
        )

    # ---------------------------------------------------------------- the inner tree (for tuning)

    def inner_tree(self, params: dict[str, Any] | None = None) -> TreeChallenger:
        """An unfitted tree of ``model.kind`` with this model's params (or ``params``)."""
        spec = self.tree_spec
        chosen = dict(spec.params) if params is None else dict(params)
        tree_class = TREES[spec.kind]
        return tree_class(chosen, imbalance=spec.imbalance, seed=self.seed, threads=self.threads)

    def libraries(self) -> tuple[str, ...]:
        return self.inner_tree().libraries()

    def planned_trees(self, spec: DataSpec) -> list[PlannedTree]:
        """The inner tree, on the data's features and the graph features."""
        return [PlannedTree(self.inner_tree(), self._featured_spec(spec).features, "model.")]

    def feature_settings(self, spec: DataSpec) -> engine_base.GraphSettings:
        """What an engine needs to compute this model's graph features for ``spec``'s data."""
        g = self.settings
        return engine_base.GraphSettings(
            entities=tuple(g.entities),
            time=spec.time,
            target=spec.target,
            amount=spec.amount,
            windows_days=tuple(g.windows_days),
            label_delay_days=spec.label_delay_days,
            structure=g.structure,
            structure_every_days=g.structure_every_days,
        )

    def graph_feature_names(self, spec: DataSpec) -> list[str]:
        return self.feature_settings(spec).names

    def with_graph_features(
        self, frame: pl.DataFrame, spec: DataSpec, history: pl.DataFrame | None = None
    ) -> tuple[pl.DataFrame, DataSpec]:
        """``frame`` with its graph features appended, and the spec naming every feature.

        ``history`` is the log production knew; without it ``frame`` is its own history (each row
        sees the earlier rows of the frame).
        """
        self._check_no_clash(frame.columns, spec)
        settings = self.feature_settings(spec)
        featured = LocalEngine().graph_features(
            frame if history is None else history, frame, settings
        )
        return featured, self._featured_spec(spec)

    def features_on_engine(
        self, engine: engine_base.Engine[Any], history: Any, rows: Any, spec: DataSpec
    ) -> Any:
        """The graph features computed by ``engine`` (Spark: window jobs on the executors, the
        snapshot features on the driver from per-day distinct entity tuples)."""
        self._check_no_clash(engine.columns(rows), spec)
        return engine.graph_features(history, rows, self.feature_settings(spec))

    def _check_no_clash(self, columns: list[str], spec: DataSpec) -> None:
        clash = sorted(set(self.graph_feature_names(spec)) & set(columns))
        if clash:
            raise DataError(
                f"graph features would overwrite the data column '{clash[0]}'; rename or drop it"
            )

    def _featured_spec(self, spec: DataSpec) -> DataSpec:
        """``spec`` naming the graph features after the data's: what the inner tree reads."""
        return spec.with_features([*spec.features, *self.graph_feature_names(spec)])

    def tree_view(
        self, train: pl.DataFrame, valid: pl.DataFrame, spec: DataSpec, history: pl.DataFrame | None
    ) -> TreeView:
        """Tuning (challengers/tuning/search.py): the inner tree on the fold's rows with their graph
        features, computed once per fold; rebuilt around the tuned tree."""
        fit_frame, inner_spec = self.with_graph_features(train, spec, history)
        valid_frame, _ = self.with_graph_features(valid, spec, history)
        return TreeView(self.inner_tree(), fit_frame, valid_frame, inner_spec, self._with_tree)

    def _with_tree(self, tree: TreeChallenger) -> GraphChallenger:
        model = self.tree_spec.model_dump(exclude={"tune"})
        model.update(params=dict(tree.params or {}), imbalance=tree.imbalance)
        return type(self)(**{**self.get_params(), "model": model})

    # ---------------------------------------------------------------------------------- fitting

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        frame, _ = self.with_graph_features(train, spec, history)
        valid_frame = None
        if valid is not None and valid.height:
            valid_frame, _ = self.with_graph_features(valid, spec, history)
        self._fit_tree(frame, spec, valid_frame)

    def fit_featured(self, featured: pl.DataFrame, spec: DataSpec) -> Self:
        """Fit the inner tree on rows whose graph features an engine computed (``spec``: the
        data's features, as for ``fit``)."""
        started = time.perf_counter()
        self.features_, self.spec_ = tuple(spec.features), spec
        self.in_sample_wanted_ = False  # a sample's scores are not the training window's
        self._fit_tree(featured, spec, None)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def take_in_sample_scores(self) -> np.ndarray | None:
        # the inner tree trained on the training rows with their graph features, in their order
        return self.tree_.take_in_sample_scores() if hasattr(self, "tree_") else None

    def _fit_tree(self, featured: pl.DataFrame, spec: DataSpec, valid: pl.DataFrame | None) -> None:
        inner_spec = self._featured_spec(spec)
        self.graph_features_ = tuple(self.graph_feature_names(spec))
        self.tree_ = self.inner_tree().fit(
            featured, inner_spec, valid=valid, in_sample=self.in_sample_wanted_
        )
        self.features_ = inner_spec.features  # what the tree was fitted on: data + graph
        top = sorted(self.graph_importance().items(), key=lambda kv: -kv[1])[:10]
        log.info(
            "graph challenger: %d graph features (%s); most important: %s",
            len(self.graph_features_),
            ", ".join(self.settings.entities),
            ", ".join(f"{k} {v:.3f}" for k, v in top),
        )

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        featured, _ = self.with_graph_features(frame, self.spec_, history)
        return self.tree_.predict_score(featured)

    def model_inputs(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """The inner tree's matrix, graph features included (for SHAP explanations)."""
        self._check_fitted()
        featured, _ = self.with_graph_features(frame, self.spec_, history)
        return to_matrix(featured, self.features_), list(self.features_)

    # ------------------------------------------------------------------------------ inspection

    @property
    def calibrated(self) -> bool:  # type: ignore[override]
        return self.inner_tree().calibrated

    def feature_importance(self) -> dict[str, float]:
        """Gain importance over the data's and the graph's features together (sums to 1)."""
        self._check_fitted()
        return self.tree_.feature_importance()

    def graph_importance(self) -> dict[str, float]:
        """The share of the model's gain that each graph feature carries."""
        importance = self.feature_importance()
        return {name: importance.get(name, 0.0) for name in self.graph_features_}

    def native_model(self) -> Any:
        self._check_fitted()
        return self.tree_.native_model()

    def save(self, directory: Path) -> Path:
        """The tree's native file, and ``graph_features.json``: how to rebuild its inputs."""
        self._check_fitted()
        path = self.tree_.save(directory)
        g = self.settings
        recipe = {
            "entities": list(g.entities),
            "windows_days": list(g.windows_days),
            "label_delay_days": self.spec_.label_delay_days,
            "structure": g.structure,
            "structure_every_days": g.structure_every_days,
            "features": list(self.tree_.features_),
            "graph_features": list(self.graph_features_),
            "graph_importance": self.graph_importance(),
        }
        write_json(Path(directory) / "graph_features.json", recipe)
        return path
