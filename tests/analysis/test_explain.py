"""SHAP contributions from LightGBM and XGBoost themselves: they add up to the raw margin, and a
planted signal comes out on top."""

from __future__ import annotations

import numpy as np
import pytest

from challengers.analysis.explain import (
    ModelExplanation,
    blind_spots,
    contributions,
    explain,
    library_of,
    raw_margin,
)
from challengers.data.frames import DataSpec
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger
from tests.models.contract import EASY_FEATURES, easy_frame

SPEC = DataSpec(target="y", time="t", features=EASY_FEATURES)


@pytest.fixture(scope="module", params=["lightgbm", "xgboost"])
def fitted(request: pytest.FixtureRequest) -> LightGBMChallenger | XGBoostChallenger:
    cls = LightGBMChallenger if request.param == "lightgbm" else XGBoostChallenger
    return cls({"n_estimators": 40}, seed=0, threads=1).fit(easy_frame(3000, seed=1), SPEC)


def test_contributions_add_up_to_the_raw_margin(fitted) -> None:  # type: ignore[no-untyped-def]
    frame = easy_frame(500, seed=2)
    x, names = fitted.model_inputs(frame)
    booster = fitted.native_model()
    contrib = contributions(booster, x, names)
    assert contrib.shape == (500, len(EASY_FEATURES) + 1)
    margin = raw_margin(booster, x, names)
    np.testing.assert_allclose(contrib.sum(axis=1), margin, atol=1e-4)
    # the margin is the model's own score on the logit scale
    probability = fitted.predict_score(frame)
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), probability, atol=1e-5)


def test_the_planted_signal_ranks_first(fitted) -> None:  # type: ignore[no-untyped-def]
    x, names = fitted.model_inputs(easy_frame(800, seed=3))
    e = explain("m", fitted.native_model(), x, names)
    assert e.library == library_of(fitted.native_model())
    assert e.top(1)[0][0] == "signal"
    assert sum(e.share) == pytest.approx(1.0)
    assert e.additivity_error < 1e-4
    shares = e.shares()
    assert shares["weak"] > shares["noise_a"]


def test_xgboost_with_early_stopping_explains_the_rounds_it_predicts_with() -> None:
    model = XGBoostChallenger({"n_estimators": 400, "eta": 0.3}, seed=0, threads=1)
    model.fit(easy_frame(3000, seed=1), SPEC, valid=easy_frame(1500, seed=5))
    booster = model.native_model()
    assert booster.best_iteration < 399  # early stopping cut the rounds
    frame = easy_frame(300, seed=6)
    x, names = model.model_inputs(frame)
    margin = contributions(booster, x, names).sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), model.predict_score(frame), atol=1e-5)


def test_other_objects_have_no_native_contributions() -> None:
    assert library_of(object()) is None
    with pytest.raises(TypeError, match="no native SHAP"):
        explain("m", object(), np.zeros((1, 1)), ["a"])


def _explanation(model: str, shares: dict[str, float]) -> ModelExplanation:
    names = list(shares)
    values = [shares[n] for n in names]
    return ModelExplanation(model, "lightgbm", 10, names, values, values, 0.0, 0.0)


def test_blind_spots_are_features_the_champion_ignores() -> None:
    champion = _explanation("champ", {"a": 0.7, "b": 0.295, "c": 0.005})
    challenger = _explanation("chall", {"a": 0.5, "c": 0.2, "d": 0.25, "e": 0.05 - 1e-9})
    spots = blind_spots(champion, ["a", "b", "c"], [challenger], ignored=0.01, leaned=0.05)
    assert [(s.feature, s.champion_share) for s in spots] == [("d", None), ("c", 0.005)]
    # without a champion explanation, only features outside its inputs count
    spots = blind_spots(None, ["a", "b", "c"], [challenger], ignored=0.01, leaned=0.05)
    assert [s.feature for s in spots] == ["d"]
