"""The tree libraries' parameter names (challengers/models/library_params.py): the checked-in lists
are the installed libraries' own, and the name they guard against is one the libraries ignore.

The lists are derived here from the libraries themselves: LightGBM's table of parameters and their
aliases, and for XGBoost every name a booster's saved configuration holds, for each booster, tree
method and objective below, kept when XGBoost accepts it back without calling it unused. An upgrade
that adds, renames or removes a parameter fails the first tests, naming the difference.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import numpy as np
import pytest

from challengers.models.library_params import (
    LIGHTGBM,
    LIGHTGBM_ALIASES,
    XGBOOST,
    XGBOOST_ALIASES,
    aliases_of,
)
from challengers.models.params import ROUND_KEYS, check_library_params

# the configurations whose parameters XGBoost keeps in a booster's saved configuration
XGBOOST_VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"booster": "dart"},
    {"booster": "gblinear"},
    {"booster": "gblinear", "updater": "coord_descent"},
    {"tree_method": "approx"},
    {"tree_method": "exact"},
    {"objective": "reg:pseudohubererror"},
    {"objective": "reg:quantileerror", "quantile_alpha": 0.5},
    {"objective": "reg:tweedie"},
    {"objective": "rank:ndcg"},
    {"objective": "multi:softprob", "num_class": 2},
)
# parameters a booster's configuration keeps elsewhere (the metrics' names, the global verbosity)
XGBOOST_EXTRA = {"eval_metric": "auc", "verbosity": 1}
UNUSED = re.compile(r"Parameters: \{(.*?)\} are not used")


def _matrix() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(np.float32)


def _xgboost_fit(params: dict[str, Any], rounds: int = 1) -> tuple[Any, set[str]]:
    """A booster trained on a small matrix, and the names XGBoost said it did not use."""
    import xgboost as xgb

    x, y = _matrix()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # XGBoost's warnings reach Python's at verbosity 1
        booster = xgb.train({**params, "verbosity": 1}, xgb.DMatrix(x, label=y), rounds)
    unused = set()
    for warning in caught:
        for found in UNUSED.finditer(str(warning.message)):
            unused |= {name.strip().strip('"') for name in found.group(1).split(",")}
    return booster, unused


def _leaves(node: Any, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict | list):
                _leaves(value, out)
            else:
                out.setdefault(key, value)
    elif isinstance(node, list):
        for value in node:
            _leaves(value, out)


def xgboost_accepted() -> set[str]:
    accepted: set[str] = set()
    for variant in XGBOOST_VARIANTS:
        booster, _ = _xgboost_fit(variant)
        found: dict[str, Any] = {}
        _leaves(json.loads(booster.save_config()), found)
        for name, value in {**found, **XGBOOST_EXTRA}.items():
            if name in accepted:
                continue
            try:  # a name of the configuration's own bookkeeping may be refused outright
                _, unused = _xgboost_fit({**variant, name: value})
            except Exception:
                continue
            if name not in unused:
                accepted.add(name)
    return accepted


def test_the_lightgbm_list_is_the_installed_librarys_table_of_parameters_and_aliases() -> None:
    import lightgbm as lgb

    table = lgb.basic._ConfigAliases._get_all_param_aliases()  # LGBM_DumpParamAliases
    installed = {name for names in table.values() for name in names}
    assert not installed - LIGHTGBM, f"add to LIGHTGBM: {sorted(installed - LIGHTGBM)}"
    assert not LIGHTGBM - installed, f"remove from LIGHTGBM: {sorted(LIGHTGBM - installed)}"


def test_the_xgboost_list_is_every_name_the_installed_library_accepts() -> None:
    installed = xgboost_accepted()
    assert not installed - XGBOOST, f"add to XGBOOST: {sorted(installed - XGBOOST)}"
    assert not XGBOOST - installed, f"remove from XGBOOST: {sorted(XGBOOST - installed)}"
    assert {"max_depth", "eta", "learning_rate", "scale_pos_weight", "max_bin"} <= XGBOOST


def test_xgboost_trains_with_its_default_where_a_name_is_misspelt() -> None:
    """The harm the check prevents: ``max_dept: 2`` is ignored (a depth-6 model, the same
    predictions as without it); ``max_depth: 2`` is not."""
    import xgboost as xgb

    x, _ = _matrix()

    def scores(params: dict[str, Any]) -> tuple[np.ndarray, set[str]]:
        booster, unused = _xgboost_fit({"seed": 1, **params}, rounds=5)
        return booster.predict(xgb.DMatrix(x)), unused

    default, _ = scores({})
    misspelt, unused = scores({"max_dept": 2})
    assert np.array_equal(misspelt, default) and unused == {"max_dept"}
    assert not np.array_equal(scores({"max_depth": 2})[0], default)
    with pytest.raises(ValueError, match="'max_dept' \\(did you mean 'max_depth'\\?\\)"):
        check_library_params("xgboost", ["max_dept"])


def test_lightgbm_trains_with_its_default_where_a_name_is_misspelt() -> None:
    import lightgbm as lgb

    x, y = _matrix()

    def scores(params: dict[str, Any]) -> np.ndarray:
        base = {"objective": "binary", "verbosity": -1, "seed": 1, "num_threads": 1}
        data = lgb.Dataset(x, label=y, params={"verbosity": -1})
        return np.asarray(lgb.train({**base, **params}, data, num_boost_round=5).predict(x))

    default = scores({})
    assert np.array_equal(scores({"learning_rte": 0.5}), default)
    assert not np.array_equal(scores({"learning_rate": 0.5}), default)
    with pytest.raises(ValueError, match="'learning_rte' \\(did you mean 'learning_rate'\\?\\)"):
        check_library_params("lightgbm", ["learning_rte"])


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_the_round_counts_are_accepted_under_every_name_the_tool_reads(library: str) -> None:
    for key in ROUND_KEYS:  # the tool takes them out of the params itself
        check_library_params(library, [key])
    # two of them: it trained with the last one read (300 rounds) while both were logged
    with pytest.raises(ValueError, match="'n_estimators' and 'num_trees' are the same"):
        check_library_params(library, ["n_estimators", "num_trees"])


def test_every_unknown_name_is_named_and_other_kinds_are_not_checked() -> None:
    with pytest.raises(ValueError) as caught:
        check_library_params("lightgbm", ["num_leaves", "zzz", "learning_rte"])
    message = str(caught.value)
    assert message.startswith("LightGBM has no parameters 'zzz', 'learning_rte' (did you mean")
    assert message.endswith("it would ignore them and train with its defaults")
    check_library_params("ecod", ["anything"])  # a detector's params are checked elsewhere
    check_library_params(None, ["anything"])  # the section's kind did not validate


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_the_default_search_spaces_name_only_parameters_their_library_accepts(
    library: str,
) -> None:
    from challengers.models.params import TuneConfig, searched_params
    from challengers.tuning.space import DEFAULT_SPACES

    space = DEFAULT_SPACES[library]
    names = set(space)
    ranges: dict[str, dict[str, object]] = {n: {"low": 1, "high": 2} for n in names}
    ranges["imbalance"] = {"choices": ["none", "sqrt"]}  # a class weighting, not a number
    tune = TuneConfig.model_validate({"space": ranges})
    check_library_params(library, searched_params(tune))  # "imbalance": the tool's own
    assert "imbalance" in names


def _groups(main_of: dict[str, str]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for name, main in main_of.items():
        groups.setdefault(main, {main}).add(name)
    return groups


def test_the_lightgbm_aliases_are_the_installed_librarys_table() -> None:
    import lightgbm as lgb

    table = lgb.basic._ConfigAliases._get_all_param_aliases()
    installed = {main: set(names) for main, names in table.items() if len(set(names)) > 1}
    assert _groups(LIGHTGBM_ALIASES) == installed


def test_the_xgboost_aliases_are_the_names_that_set_each_other_in_a_booster() -> None:
    """Each accepted name set to a value of its own: the configuration's names it changes. Two
    names are one parameter when setting either changes both and nothing else (``num_class``
    changes the objective too: an effect, not an alias)."""
    base: dict[str, Any] = {}
    _leaves(json.loads(_xgboost_fit({})[0].save_config()), base)
    changes: dict[str, frozenset[str]] = {}
    for name in sorted(XGBOOST):
        try:
            value = float(base[name])
        except (KeyError, TypeError, ValueError):
            continue  # not a number in the default configuration
        new = value * 0.5 + 0.125 if "." in str(base[name]) else int(value) + 3
        try:
            found: dict[str, Any] = {}
            _leaves(json.loads(_xgboost_fit({name: new})[0].save_config()), found)
        except Exception:
            continue
        changes[name] = frozenset(k for k in found if found[k] != base.get(k))
    pairs = {
        changed
        for name, changed in changes.items()
        if len(changed) > 1 and all(changes.get(other) == changed for other in changed)
    }
    assert pairs == {frozenset(g) for g in _groups(XGBOOST_ALIASES).values()}


@pytest.mark.parametrize(
    ("library", "names", "message"),
    [
        (
            "xgboost",
            ["gamma", "min_split_loss"],
            "'gamma' and 'min_split_loss' are the same "
            "XGBoost parameter (min_split_loss); name it once",
        ),
        (
            "lightgbm",
            ["min_split_gain", "min_gain_to_split"],
            "'min_split_gain' and "
            "'min_gain_to_split' are the same LightGBM parameter (min_gain_to_split)",
        ),
        ("lightgbm", ["num_leaves", "max_leaf_nodes"], "are the same LightGBM parameter"),
    ],
)
def test_two_names_of_one_parameter_are_refused(
    library: str, names: list[str], message: str
) -> None:
    """The library trains with one of them (LightGBM its main name's, XGBoost the later one's),
    while the config, the report and MLflow showed both values."""
    with pytest.raises(ValueError, match=re.escape(message)):
        check_library_params(library, names)
    check_library_params(library, names[:1])


def test_a_fixed_alias_takes_the_searched_value_whatever_the_names() -> None:
    """A parameter fixed under one name and searched under another (of any parameter, not only
    the default space's): the trial's value reaches both names, so the library reads it."""
    from challengers.tuning.space import split_params

    params, _ = split_params("lightgbm", {"min_gain_to_split": 0.7}, {"min_split_gain"})
    assert params == {"min_gain_to_split": 0.7, "min_split_gain": 0.7}
    assert aliases_of("xgboost", "gamma") == {"gamma", "min_split_loss"}


@pytest.mark.parametrize(
    ("cls", "alias", "main", "params"),
    [
        (
            "LightGBMChallenger",
            "random_state",
            "seed",
            {"bagging_fraction": 0.5, "bagging_freq": 1},
        ),
        ("XGBoostChallenger", "random_state", "seed", {"subsample": 0.5}),
    ],
)
def test_a_default_the_config_sets_under_an_alias_is_the_configs(
    cls: str, alias: str, main: str, params: dict[str, Any]
) -> None:
    """The tool sets the seed under its main name; a config's ``random_state: 5`` trained with the
    tool's seed (LightGBM reads the main name when given both) while MLflow logged 5."""
    from challengers.models import tree
    from tests.models.contract import ChallengerContract, easy_frame

    train, spec = easy_frame(3000, seed=2), ChallengerContract().make_spec()

    def scores(extra: dict[str, Any]) -> np.ndarray:
        model = getattr(tree, cls)({"n_estimators": 20, **params, **extra}, seed=42, threads=1)
        return model.fit(train, spec).predict_score(train)

    by_alias = scores({alias: 5})
    np.testing.assert_array_equal(by_alias, scores({main: 5}))
    assert not np.array_equal(by_alias, scores({}))
