"""The champion described in the report: hyperparameters read from a native model file."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import xgboost as xgb

from challengers.pipeline.governance import native_hyperparameters


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    return x, (x[:, 0] + rng.normal(size=400) > 1).astype(int)


def test_a_lightgbm_file_gives_its_training_parameters() -> None:
    x, y = _data()
    params = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.2, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=12)
    library, found, origin = native_hyperparameters(
        lgb.Booster(model_str=booster.model_to_string())
    )
    assert library == "LightGBM" and "parameters section" in origin
    assert found["num_leaves"] == "7" and found["learning_rate"] == "0.2"
    assert found["boosted_rounds"] == 12


def test_an_xgboost_file_gives_what_it_stores_and_says_what_it_does_not() -> None:
    x, y = _data()
    booster = xgb.train({"max_depth": 2, "objective": "binary:logistic"}, xgb.DMatrix(x, y), 9)
    library, found, origin = native_hyperparameters(booster)
    assert library == "XGBoost" and "learning rate" in origin
    assert found["boosted_rounds"] == 9 and found["max_tree_depth_observed"] == 2
    assert found["objective"] == "binary:logistic"
    assert "rounds_scored" not in found  # no early stopping: every round scores


def test_an_early_stopped_xgboost_file_says_the_rounds_it_is_scored_with() -> None:
    """The card said 16 boosted rounds of a file whose early stopping kept 11 (best iteration
    10): the champion is scored with those 11, as the library's own predict_proba does."""
    x, y = _data()
    train, valid = xgb.DMatrix(x[:300], y[:300]), xgb.DMatrix(x[300:], y[300:])
    booster = xgb.train(
        {"max_depth": 4, "eta": 0.9, "objective": "binary:logistic"},
        train,
        200,
        evals=[(valid, "valid")],
        early_stopping_rounds=5,
        verbose_eval=False,
    )
    best = int(booster.attr("best_iteration"))
    _, found, _ = native_hyperparameters(booster)
    assert found["boosted_rounds"] == best + 6  # early stopping trains 5 more after the best
    assert found["rounds_scored"] == f"{best + 1} (early stopping's best iteration, {best})"
