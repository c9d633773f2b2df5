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


OBJECTIVES = [
    ("xgboost", "binary:logistic", True),
    ("xgboost", "reg:logistic", True),
    ("xgboost", "binary:logitraw", False),  # log-odds
    ("xgboost", "binary:hinge", False),  # 0/1 labels: inside [0, 1], yet no probability
    ("lightgbm", "binary", True),
    ("lightgbm", "cross_entropy", True),
    ("lightgbm", "regression", False),
]


@pytest.mark.parametrize(("library", "objective", "probabilities"), OBJECTIVES)
def test_a_champion_files_objective_says_whether_its_scores_are_probabilities(
    library: str, objective: str, probabilities: bool, tmp_path: Path
) -> None:
    """The Brier score reads a champion's scores as probabilities only when its file's objective
    makes them so: a ``binary:hinge`` champion's 0/1 labels passed the range check and got a
    Brier score (the error rate), a regression's values in [0, 1] too."""
    import lightgbm as lgb
    import xgboost as xgb

    from challengers.evaluation.curve import Cost
    from challengers.evaluation.evaluate import TestRows, evaluate_models
    from challengers.evaluation.metrics import parse_metric

    train, test = easy_frame(2000, seed=1), easy_frame(800, seed=2)
    x, y = train.select(EASY_FEATURES).to_numpy(), train.get_column("y").to_numpy()
    names = list(EASY_FEATURES)
    if library == "xgboost":
        path = tmp_path / "champion.json"
        params = {"objective": objective, "max_depth": 3, "seed": 1, "nthread": 1}
        xgb.train(params, xgb.DMatrix(x, label=y, feature_names=names), 10).save_model(path)
    else:
        path = tmp_path / "champion.txt"
        params = {"objective": objective, "verbosity": -1, "seed": 1, "num_threads": 1}
        lgb.train(params, lgb.Dataset(x, y, feature_name=names), 10).save_model(path)
    champion = NativeModelChampion.from_config(ChampionConfig(model=str(path)), seed=1, threads=1)
    scores = champion.fit(train, SPEC).predict_score(test)
    assert champion.calibrated == probabilities
    rows = TestRows.from_frame(test, target="y", amount=None, entity=None)
    brier = evaluate_models(
        rows, {"c": scores}, {"c": champion.calibrated}, champion="c",
        metrics=[parse_metric("brier")], cost=Cost(1.0, None), operating_rate=0.01,
        bootstrap=0, alpha=0.05, seed=1,
    )["c"].metrics["brier"]  # fmt: skip
    assert np.isfinite(brier) == probabilities
    if objective in ("binary:hinge", "regression"):
        assert scores.min() >= 0 and scores.max() <= 1  # the range check alone let them through


def _booster_file(library: str, names: list[str] | None, tmp_path: Path) -> tuple[Path, object]:
    """A booster trained by its library on EASY_FEATURES' columns in that order (named or not),
    saved, and the booster read back from the file by the library itself."""
    import lightgbm as lgb
    import xgboost as xgb

    train = easy_frame(2000, seed=1)
    x, y = train.select(EASY_FEATURES).to_numpy(), train.get_column("y").to_numpy()
    if library == "xgboost":
        path = tmp_path / "champion.json"
        params = {"objective": "binary:logistic", "max_depth": 3, "seed": 1, "nthread": 1}
        xgb.train(params, xgb.DMatrix(x, label=y, feature_names=names), 20).save_model(path)
        return path, xgb.Booster(model_file=str(path))
    path = tmp_path / "champion.txt"
    params = {"objective": "binary", "verbosity": -1, "seed": 1, "num_threads": 1}
    data = lgb.Dataset(x, y, feature_name=names or "auto")
    lgb.train(params, data, 20).save_model(path)
    return path, lgb.Booster(model_file=str(path))


def _direct(library: str, booster: object, x: np.ndarray) -> np.ndarray:
    if library == "xgboost":
        return np.asarray(booster.inplace_predict(x))  # type: ignore[attr-defined]
    return np.asarray(booster.predict(x))  # type: ignore[attr-defined]


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("order", ["reversed", "swapped"])
def test_a_champion_given_its_names_in_another_order_scores_as_its_file(
    library: str, order: str, tmp_path: Path
) -> None:
    """Known answer: champion.features naming the file's features in another order scores exactly
    as the library scores the file's own columns. The columns were fed in the list's order: two
    names swapped read the demo champion's pr_auc as 0.1455 for 0.2420, with no error."""
    from challengers.models.champion import load_model_file

    names = list(EASY_FEATURES)
    path, booster = _booster_file(library, names, tmp_path)
    listed = names[::-1] if order == "reversed" else [names[1], names[0], *names[2:]]
    train, test = easy_frame(2000, seed=1), easy_frame(800, seed=2)
    champion = load_model_file(str(path), features=listed, schema=test.schema)
    assert champion.features == names  # the file's order
    scores = champion.fit(train, SPEC).predict_score(test)
    x = test.select(names).to_numpy()
    expected = _direct(library, booster, x)
    np.testing.assert_array_equal(scores, expected)
    fed_as_listed = _direct(library, booster, test.select(listed).to_numpy())
    assert not np.allclose(fed_as_listed, expected)  # what the list's order would have scored


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_a_file_without_names_is_fed_in_the_lists_order(library: str, tmp_path: Path) -> None:
    """No names in the file (XGBoost stores none, LightGBM Column_0, ...): the list's order is the
    only information there is, and is kept."""
    from challengers.models.champion import load_model_file

    path, booster = _booster_file(library, None, tmp_path)
    train, test = easy_frame(2000, seed=1), easy_frame(800, seed=2)
    listed = list(EASY_FEATURES)
    champion = load_model_file(str(path), features=listed, schema=test.schema)
    assert champion.features == listed
    scores = champion.fit(train, SPEC).predict_score(test)
    np.testing.assert_array_equal(scores, _direct(library, booster, test.select(listed).to_numpy()))
