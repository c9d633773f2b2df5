"""A search space whose values the tree cannot take is refused, not searched: the class weighting
has three values (an unknown one trained as 'sqrt' while reported as itself; a range was a
TypeError), and an integer range has whole ends (2.5..3.5 drew 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from challengers.config import SearchRange
from challengers.errors import ConfigError
from challengers.tuning.space import search_space


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (SearchRange(choices=["none", "foo"]), r"imbalance: 'foo' is not a class weighting"),
        (SearchRange(low=0, high=3), r"imbalance: give choices: \[none, balanced, sqrt\]"),
    ],
)
def test_a_class_weighting_is_one_of_its_three_values(given: SearchRange, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        search_space("lightgbm", {"imbalance": given}, frozenset())


def test_an_integer_range_has_whole_ends() -> None:
    with pytest.raises(ConfigError, match=r"num_leaves: an int range has whole ends, got 2.5"):
        search_space("lightgbm", {"num_leaves": SearchRange(low=2.5, high=8, int=True)}, set())
    space = search_space("lightgbm", {"num_leaves": SearchRange(low=2, high=8.0, int=True)}, set())
    assert (space["num_leaves"].low, space["num_leaves"].high) == (2, 8)


def test_a_space_with_nothing_left_to_search_is_refused() -> None:
    """Every default parameter fixed and no tune.space: refused where the space is read (the plan
    check reaches it before any row is read), not found out after the data loaded."""
    from challengers.tuning.space import DEFAULT_SPACES

    fixed = frozenset(DEFAULT_SPACES["xgboost"])
    with pytest.raises(ConfigError, match=r"tune: nothing to search: every parameter of"):
        search_space("xgboost", {}, fixed)
    assert search_space("xgboost", {"gamma": SearchRange(low=0, high=1)}, fixed)


@pytest.mark.parametrize(
    ("space", "said"),
    [
        ({"imbalance": {"choices": ["none", "foo"]}}, "imbalance: 'foo' is not a class weighting"),
        ({"imbalance": {"low": 0, "high": 3}}, r"imbalance: give choices: \[none, balanced"),
        ({"num_leaves": {"low": 2.5, "high": 8, "int": True}}, "an int range has whole ends"),
    ],
)
def test_the_config_refuses_them_with_their_line(
    space: dict, said: str, write_config: Callable[..., Path]
) -> None:
    from challengers.config import load_config
    from tests.conftest import sim_config

    tuned = {"name": "lgbm", "kind": "lightgbm", "tune": {"space": space}}
    path = write_config(sim_config(Path("x.parquet"), challengers=[tuned]))
    with pytest.raises(ConfigError, match=rf"experiment.yaml:\d+: .*tune.space.*{said}"):
        load_config(path)
