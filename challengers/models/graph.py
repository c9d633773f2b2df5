"""The graph challenger: a tree model on the data's features plus leakage-safe entity-graph features.

Fraud that no single transaction shows (compromised terminals, shared-device rings, mule accounts)
shows in who transacts with what. This kind computes :func:`challengers.features.graph.graph_features`
for every row from the history production had (strictly earlier rows, labels older than the
delay), appends them to the data's features and trains a LightGBM or XGBoost model on the lot
(``model.kind``). The inner tree is a plain :mod:`challengers.models.tree` challenger, reachable
through :meth:`GraphChallenger.inner_tree` and :meth:`GraphChallenger.with_graph_features`, so a
tuner can featurise once and search the tree's parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl

from challengers.data.frames import DataSpec, to_matrix
from challengers.errors import DataError
from challengers.features.graph import feature_names, graph_features
from challengers.files import write_json
from challengers.models.base import BaseChallenger
from challengers.models.tree import (
    Imbalance,
    LightGBMChallenger,
    TreeChallenger,
    TreeView,
    XGBoostChallenger,
)

log = logging.getLogger(__name__)
TREES: dict[str, type[TreeChallenger]] = {
    "lightgbm": LightGBMChallenger,
    "xgboost": XGBoostChallenger,
}


class GraphChallenger(BaseChallenger):
    """A tree model on the data's features plus graph features of ``entities``.

    The first entity is the account (card, customer) whose neighbourhood is scored. The label
    delay comes from the data spec (``DataSpec.label_delay_days``, the split's delay).
    """

    kind: ClassVar[str] = "graph"

    def __init__(
        self,
        entities: Sequence[str],
        *,
        windows_days: Sequence[int] = (1, 7, 30),
        structure: bool = True,
        structure_every_days: int = 1,
        model_kind: Literal["lightgbm", "xgboost"] = "lightgbm",
        params: dict[str, Any] | None = None,
        imbalance: Imbalance = "none",
        seed: int = 42,
        threads: int | None = None,
    ) -> None:
        self.entities = entities
        self.windows_days = windows_days
        self.structure = structure
        self.structure_every_days = structure_every_days
        self.model_kind = model_kind
        self.params = params
        self.imbalance = imbalance
        self.seed = seed
        self.threads = threads

    @classmethod
    def from_config(cls, settings: Any, *, seed: int, threads: int | None) -> GraphChallenger:
        graph, model = settings.graph, settings.model
        return cls(
            list(graph.entities),
            windows_days=list(graph.windows_days),
            structure=graph.structure,
            structure_every_days=graph.structure_every_days,
            model_kind=model.kind,
            params=dict(model.params),
            imbalance=model.imbalance,
            seed=seed,
            threads=threads,
        )

    @classmethod
    def lookback_days(cls, settings: Any) -> int:
        """The longest window: the plan adds the label delay, so window labels are known too."""
        return max(settings.graph.windows_days)

    # ---------------------------------------------------------------- the inner tree (for tuning)

    def inner_tree(self, params: dict[str, Any] | None = None) -> TreeChallenger:
        """An unfitted tree of ``model_kind`` with this model's params (or ``params``)."""
        tree_class = TREES[self.model_kind]
        chosen = dict(self.params or {}) if params is None else dict(params)
        return tree_class(chosen, imbalance=self.imbalance, seed=self.seed, threads=self.threads)

    def graph_feature_names(self, spec: DataSpec) -> list[str]:
        return feature_names(
            list(self.entities), list(self.windows_days), spec.amount is not None, self.structure
        )

    def with_graph_features(
        self, frame: pl.DataFrame, spec: DataSpec, history: pl.DataFrame | None = None
    ) -> tuple[pl.DataFrame, DataSpec]:
        """``frame`` with its graph features appended, and the spec naming every feature.

        ``history`` is the log production knew; without it ``frame`` is its own history (each row
        sees the earlier rows of the frame).
        """
        names = self.graph_feature_names(spec)
        clash = sorted(set(names) & set(frame.columns))
        if clash:
            raise DataError(
                f"graph features would overwrite the data column '{clash[0]}'; rename or drop it"
            )
        features = graph_features(
            frame if history is None else history,
            frame,
            entities=list(self.entities),
            time=spec.time,
            target=spec.target,
            amount=spec.amount,
            windows_days=list(self.windows_days),
            label_delay_days=spec.label_delay_days,
            structure=self.structure,
            structure_every_days=self.structure_every_days,
        )
        return frame.hstack(features), spec.with_features([*spec.features, *names])

    def tree_view(
        self, train: pl.DataFrame, valid: pl.DataFrame, spec: DataSpec, history: pl.DataFrame | None
    ) -> TreeView:
        """Tuning (challengers/tuning/search.py): the inner tree on the fold's rows with their graph
        features, computed once per fold; rebuilt around the tuned tree."""
        fit_frame, inner_spec = self.with_graph_features(train, spec, history)
        valid_frame, _ = self.with_graph_features(valid, spec, history)
        return TreeView(self.inner_tree(), fit_frame, valid_frame, inner_spec, self._with_tree)

    def _with_tree(self, tree: TreeChallenger) -> GraphChallenger:
        changed = {"params": dict(tree.params or {}), "imbalance": tree.imbalance}
        return type(self)(**{**self.get_params(), **changed})

    # ---------------------------------------------------------------------------------- fitting

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        frame, inner_spec = self.with_graph_features(train, spec, history)
        valid_frame = None
        if valid is not None and valid.height:
            valid_frame, _ = self.with_graph_features(valid, spec, history)
        self.graph_features_ = tuple(self.graph_feature_names(spec))
        self.tree_ = self.inner_tree().fit(frame, inner_spec, valid=valid_frame)
        self.features_ = inner_spec.features  # what the tree was fitted on: data + graph
        top = sorted(self.graph_importance().items(), key=lambda kv: -kv[1])[:10]
        log.info(
            "graph challenger: %d graph features (%s); most important: %s",
            len(self.graph_features_),
            ", ".join(self.entities),
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
        recipe = {
            "entities": list(self.entities),
            "windows_days": list(self.windows_days),
            "label_delay_days": self.spec_.label_delay_days,
            "structure": self.structure,
            "structure_every_days": self.structure_every_days,
            "features": list(self.tree_.features_),
            "graph_features": list(self.graph_features_),
            "graph_importance": self.graph_importance(),
        }
        write_json(Path(directory) / "graph_features.json", recipe)
        return path
