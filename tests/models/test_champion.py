"""Champions honour the interface too: built by ``from_config`` from the champion section (a score
column, a native LightGBM or XGBoost file, a retrain spec), each scores what it should."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from challengers.config import ChampionConfig, ModelSpec
from challengers.models import registry
from challengers.models.champion import NativeModelChampion, ScoreColumnChampion
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger
from tests.models.contract import EASY_FEATURES, ChallengerContract, easy_frame

SPEC = ChallengerContract().make_spec()


def test_score_column_champion_from_config() -> None:
    train, test = easy_frame(500, seed=1), easy_frame(300, seed=2)
    champion = ScoreColumnChampion.from_config(ChampionConfig(score="weak"), seed=1, threads=1)
    assert champion.get_params() == {"column": "weak"}
    scores = champion.fit(train, SPEC).predict_score(test)
    np.testing.assert_array_equal(scores, test.get_column("weak").to_numpy())
    assert not champion.calibrated  # a normal variable, not a probability


@pytest.mark.parametrize("cls", [LightGBMChallenger, XGBoostChallenger])
def test_native_file_champion_from_config(cls: type, tmp_path: Path) -> None:
    """The file a tree challenger saves, named in champion.model, scores as the tree did."""
    train, test = easy_frame(2000, seed=1), easy_frame(500, seed=2)
    tree = cls({"n_estimators": 30}, seed=1, threads=1).fit(train, SPEC)
    path = str(tree.save(tmp_path))
    champion = NativeModelChampion.from_config(ChampionConfig(model=path), seed=1, threads=1)
    assert champion.get_params() == {"path": path, "features": None}
    champion.fit(train, SPEC)
    assert champion.features_ == EASY_FEATURES and champion.library == tree.kind
    np.testing.assert_array_equal(champion.predict_score(test), tree.predict_score(test))


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_retrained_champion_is_its_tree_kind_from_the_spec(kind: str) -> None:
    spec = ModelSpec(kind=kind, params={"n_estimators": 20}, imbalance="sqrt")  # type: ignore[arg-type]
    champion = registry.create(kind, spec, seed=3, threads=1)
    assert type(champion) is registry.KINDS[kind]
    assert champion.get_params() == {
        "params": {"n_estimators": 20},
        "imbalance": "sqrt",
        "seed": 3,
        "threads": 1,
    }
    train, test = easy_frame(2000, seed=1), easy_frame(500, seed=2)
    direct = registry.KINDS[kind](**champion.get_params()).fit(train, SPEC)
    np.testing.assert_array_equal(
        champion.fit(train, SPEC).predict_score(test), direct.predict_score(test)
    )
