"""A searched parameter named by one of its library's aliases is the parameter the tree trains
with: it replaces the default range of that parameter (not searched beside it, where the library
read the other name and ignored the searched one), it wins over a value the config fixes under
another alias, and a space naming one parameter twice is refused."""

from __future__ import annotations

import pytest

from challengers.config import SearchRange
from challengers.errors import ConfigError
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger
from challengers.tuning.space import search_space, split_params

ETA = {"eta": SearchRange(low=0.001, high=0.002, log=True)}


def test_an_alias_in_the_space_replaces_the_default_range() -> None:
    space = search_space("lightgbm", ETA, frozenset())
    assert "eta" in space and "learning_rate" not in space
    assert space["eta"].low == 0.001 and space["eta"].default is None  # 0.1 is outside
    xgb = search_space("xgboost", {"alpha": SearchRange(low=0.1, high=1.0)}, frozenset())
    assert "alpha" in xgb and "reg_alpha" not in xgb


def test_the_searched_value_wins_over_a_value_fixed_under_another_alias() -> None:
    for tree, fixed, searched in (
        (LightGBMChallenger({"learning_rate": 0.3}), "learning_rate", "eta"),
        (XGBoostChallenger({"eta": 0.3}), "eta", "learning_rate"),
        (LightGBMChallenger({"reg_alpha": 5.0}), "reg_alpha", "lambda_l1"),
    ):
        params, _ = split_params(tree.kind, {searched: 0.0015}, frozenset({fixed}))
        trained = tree.with_params(params).params or {}
        # both names the library reads hold the searched value, whichever it takes
        assert trained[fixed] == trained[searched] == 0.0015


def test_a_space_naming_one_parameter_twice_is_refused() -> None:
    twice = {**ETA, "learning_rate": SearchRange(low=0.01, high=0.1)}
    with pytest.raises(ConfigError, match="'eta' and 'learning_rate' are the same LightGBM"):
        search_space("lightgbm", twice, frozenset())


def test_a_companion_follows_its_parameter_under_any_name() -> None:
    params, _ = split_params("lightgbm", {"subsample": 0.5}, frozenset())
    assert params == {"subsample": 0.5, "bagging_freq": 1}  # LightGBM bags only with a freq
