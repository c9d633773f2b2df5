"""LightGBM and XGBoost challengers: the shared contract plus what is specific to trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.models.base import BaseChallenger
from challengers.models.tree import (
    LightGBMChallenger,
    XGBoostChallenger,
    positive_weight,
    split_rounds,
)
from tests.models.contract import ChallengerContract


class TestLightGBMContract(ChallengerContract):
    kind = "lightgbm"

    def make_model(self, seed: int = 0) -> BaseChallenger:
        return LightGBMChallenger({"n_estimators": 60}, seed=seed, threads=2)


class TestXGBoostContract(ChallengerContract):
    kind = "xgboost"

    def make_model(self, seed: int = 0) -> BaseChallenger:
        return XGBoostChallenger({"n_estimators": 60, "subsample": 0.8}, seed=seed, threads=2)


def test_round_aliases_are_taken_out_of_params() -> None:
    assert split_rounds({"n_estimators": 7, "max_depth": 3}) == ({"max_depth": 3}, 7)
    assert split_rounds({"num_boost_round": 9}) == ({}, 9)
    assert split_rounds({}) == ({}, 100)


def test_positive_weight_options() -> None:
    y = np.array([1] + [0] * 99)
    assert positive_weight(y, "none") == 1.0
    assert positive_weight(y, "balanced") == pytest.approx(99.0)
    assert positive_weight(y, "sqrt") == pytest.approx(99.0**0.5)


@pytest.mark.parametrize("cls", [LightGBMChallenger, XGBoostChallenger])
def test_reweighting_marks_scores_uncalibrated(cls: type) -> None:
    assert cls({}).calibrated
    assert not cls({}, imbalance="balanced").calibrated
    assert not cls({"scale_pos_weight": 10}).calibrated


@pytest.mark.parametrize("cls", [LightGBMChallenger, XGBoostChallenger])
def test_saved_native_model_reproduces_scores(cls: type, tmp_path: Path) -> None:
    """The saved file is what a champion would be loaded from: it must score identically."""
    from challengers.models.champion import load_model_file
    from tests.models.contract import EASY_FEATURES, easy_frame

    train, test = easy_frame(2000, seed=5), easy_frame(500, seed=6)
    spec = ChallengerContract().make_spec()
    model = cls({"n_estimators": 20}, seed=1, threads=1).fit(train, spec)
    path = model.save(tmp_path)
    champion = load_model_file(str(path), features=None, schema=test.schema)
    assert list(champion.features or []) == list(EASY_FEATURES)
    champion.fit(train, spec)
    np.testing.assert_allclose(champion.predict_score(test), model.predict_score(test), rtol=1e-6)


def test_importance_sums_to_one_and_finds_the_signal() -> None:
    from tests.models.contract import easy_frame

    spec = ChallengerContract().make_spec()
    model = LightGBMChallenger({"n_estimators": 40}, threads=1).fit(easy_frame(3000), spec)
    importance = model.feature_importance()
    assert sum(importance.values()) == pytest.approx(1.0)
    assert max(importance, key=importance.__getitem__) == "signal"


def test_early_stopping_on_validation_rows() -> None:
    from tests.models.contract import easy_frame

    spec = ChallengerContract().make_spec()
    model = LightGBMChallenger({"n_estimators": 2000, "learning_rate": 0.3}, threads=1)
    model.fit(easy_frame(3000, seed=1), spec, valid=easy_frame(1500, seed=2))
    assert model.booster_.current_iteration() < 2000
    assert isinstance(easy_frame(10), pl.DataFrame)
