"""The graph challenger: the shared contract plus what is specific to graph features."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.data.frames import DataSpec
from challengers.errors import DataError
from challengers.models import trees
from challengers.models.base import BaseChallenger
from challengers.models.graph import GraphChallenger
from tests.models.contract import EASY_FEATURES, ChallengerContract, easy_frame

SPEC = DataSpec(target="y", time="t", features=EASY_FEATURES, amount="amount", label_delay_days=1)


def entity_frame(rows: int, seed: int) -> pl.DataFrame:
    """The easy data with cards, shops and amounts, ``seed`` x 5 days after 2024-01-01."""
    rng = np.random.default_rng(100 + seed)
    frame = easy_frame(rows, seed=seed)
    return frame.with_columns(
        pl.col("t") + timedelta(days=5 * seed),
        pl.Series("card", rng.integers(0, max(rows // 20, 1), rows)),
        pl.Series("shop", rng.integers(0, 50, rows)),
        pl.Series("amount", np.round(rng.gamma(2.0, 20.0, rows), 2)),
    )


def small_graph(seed: int = 0, model: dict | None = None, **graph: object) -> GraphChallenger:
    """A graph challenger on cards and shops; ``graph`` and ``model`` override its sections."""
    settings = {"entities": ["card", "shop"], "windows_days": [1, 3], "structure": True, **graph}
    settings.setdefault("structure_every_days", 1)
    tree = model or {"kind": "lightgbm", "params": {"n_estimators": 60}, "imbalance": "none"}
    return GraphChallenger(settings, tree, seed=seed, threads=1)


class TestGraphContract(ChallengerContract):
    kind = "graph"

    def make_model(self, seed: int = 0) -> BaseChallenger:
        return small_graph(seed)

    def make_spec(self) -> DataSpec:
        return SPEC

    @classmethod
    def make_frame(cls, rows: int, seed: int) -> pl.DataFrame:
        return entity_frame(rows, seed)

    def make_history(self, train: pl.DataFrame, test: pl.DataFrame) -> pl.DataFrame | None:
        return pl.concat([train, test])


@pytest.fixture(scope="module")
def frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    train, test = entity_frame(3000, 1), entity_frame(2000, 2)
    return train, test, pl.concat([train, test])


def test_importance_covers_data_and_graph_features(frames: tuple) -> None:
    train, _, history = frames
    model = small_graph().fit(train, SPEC, history=history)
    importance = model.feature_importance()
    graph = model.graph_importance()
    assert sum(importance.values()) == pytest.approx(1.0)
    assert set(graph) == set(model.graph_features_) == set(importance) - set(EASY_FEATURES)
    assert "card_distinct_shop_3d" in graph and "shop_ppr" in graph
    assert max(importance, key=importance.__getitem__) == "signal"


def test_scores_are_the_inner_tree_on_the_featurised_rows(frames: tuple) -> None:
    """What tuning relies on: featurise once, then the inner tree alone gives the same scores."""
    train, test, history = frames
    model = small_graph().fit(train, SPEC, history=history)
    featured_train, spec = model.with_graph_features(train, SPEC, history)
    featured_test, _ = model.with_graph_features(test, SPEC, history)
    tree = model.inner_tree().fit(featured_train, spec)
    np.testing.assert_array_equal(
        tree.predict_score(featured_test), model.predict_score(test, history=history)
    )
    assert model.inner_tree({"n_estimators": 5}).params == {"n_estimators": 5}


def test_saved_model_and_recipe(frames: tuple, tmp_path: Path) -> None:
    import lightgbm as lgb

    from challengers.data.frames import to_matrix

    train, test, history = frames
    model = small_graph().fit(train, SPEC, history=history)
    path = model.save(tmp_path)
    recipe = json.loads((tmp_path / "graph_features.json").read_text())
    assert recipe["entities"] == ["card", "shop"] and recipe["label_delay_days"] == 1
    assert recipe["graph_features"] == list(model.graph_features_)
    featured, spec = model.with_graph_features(test, SPEC, history)
    booster = lgb.Booster(model_file=str(path))
    np.testing.assert_allclose(
        booster.predict(to_matrix(featured, spec.features)),
        model.predict_score(test, history=history),
        rtol=1e-6,
    )
    assert trees.library_of(model.native_model()) is trees.LIBRARIES["lightgbm"]
    assert model.native_model() is model.tree_.booster_


def test_xgboost_inner_model(frames: tuple) -> None:
    train, test, history = frames
    model = small_graph(model={"kind": "xgboost", "params": {"n_estimators": 30}}, structure=False)
    scores = model.fit(train, SPEC, history=history).predict_score(test, history=history)
    assert trees.library_of(model.native_model()) is trees.LIBRARIES["xgboost"]
    assert not any(n.endswith("_ppr") for n in model.graph_features_)
    assert np.all((scores > 0) & (scores < 1))


def test_a_data_column_named_like_a_graph_feature_is_refused(frames: tuple) -> None:
    train, _, _ = frames
    clash = train.with_columns(pl.lit(1.0).alias("card_tx_1d"))
    with pytest.raises(DataError, match="overwrite the data column 'card_tx_1d'"):
        small_graph().fit(clash, SPEC)


def test_config_plan_and_lookback(sim_parquet: Path, write_config, tmp_path: Path) -> None:
    """The kind plugs in from YAML: entities read, lookback = longest window + label delay."""
    from challengers.config import load_config
    from challengers.pipeline.plan import make_plan
    from tests.conftest import sim_config

    graph = {
        "name": "graph-lgbm",
        "kind": "graph",
        "graph": {
            "entities": ["CUSTOMER_ID", "TERMINAL_ID", "DEVICE_ID"],
            "windows_days": [1, 14],
            "structure_every_days": 7,
        },
        "model": {"kind": "xgboost", "params": {"max_depth": 3}, "imbalance": "sqrt"},
    }
    cfg = load_config(write_config(sim_config(sim_parquet, challengers=[graph])))
    plan = make_plan(cfg)
    (mp,) = plan.challengers
    assert mp.lookback_days == 14 + 7 and plan.windows.history_days == 21
    assert {"TERMINAL_ID", "DEVICE_ID"} <= set(plan.columns)
    assert plan.spec.label_delay_days == 7
    from challengers.models import registry

    model = registry.create("graph", mp.settings, seed=3, threads=1)
    assert isinstance(model, GraphChallenger)
    assert model.get_params() == {  # the YAML section, as written, with its defaults
        "graph": {
            "entities": ["CUSTOMER_ID", "TERMINAL_ID", "DEVICE_ID"],
            "windows_days": [1, 14],
            "structure": True,
            "structure_every_days": 7,
        },
        "model": {"kind": "xgboost", "params": {"max_depth": 3}, "imbalance": "sqrt"},
        "seed": 3,
        "threads": 1,
    }
    assert not model.calibrated


def test_model_inputs_are_what_the_native_booster_reads(frames: tuple) -> None:
    """SHAP explanations read the booster on model_inputs(): graph features included."""
    train, test, history = frames
    model = small_graph().fit(train, SPEC, history=history)
    x, names = model.model_inputs(test, history=history)
    assert names == list(model.features_) and x.shape == (test.height, len(names))
    assert set(model.graph_features_) <= set(names)
    np.testing.assert_allclose(
        model.native_model().predict(x), model.predict_score(test, history=history), rtol=1e-6
    )
