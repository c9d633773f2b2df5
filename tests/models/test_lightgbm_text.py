"""A LightGBM text model's trees are checked before LightGBM reads them (it trusts them: a child
pointing back up made its prediction loop forever). Every model LightGBM writes passes, categorical,
linear and single-leaf trees included, and loads as LightGBM loads it; each kind of damage is
refused with the tree and the reason."""

from __future__ import annotations

import re
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from challengers.models.lightgbm_text import check_model
from challengers.models.trees import LIBRARIES

ROWS = 3000


def _rows(missing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.random(ROWS), rng.integers(0, 20, ROWS), rng.random(ROWS)])
    label = ((x[:, 0] > 0.6) | (x[:, 1] % 7 == 0)).astype(int)
    if missing:
        x[rng.random(ROWS) < 0.2, 0] = np.nan
    return x, label


VALID = {
    "numeric": ({}, {}, False),
    "categorical": ({}, {"categorical_feature": [1]}, False),
    "linear": ({"linear_tree": True}, {}, False),
    "single-leaf": ({"min_data_in_leaf": 10 * ROWS}, {}, False),
    "missing-values": ({}, {}, True),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_kind_of_tree_lightgbm_writes_passes_and_loads_as_lightgbm_loads_it(
    name: str, tmp_path: Path
) -> None:
    params, dataset, missing = VALID[name]
    x, label = _rows(missing)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, **params}
    booster = lgb.train(params, lgb.Dataset(x, label=label, **dataset), 15)
    booster.save_model(tmp_path / "m.txt")
    check_model((tmp_path / "m.txt").read_text())
    loaded = LIBRARIES["lightgbm"].load(tmp_path / "m.txt")
    np.testing.assert_array_equal(loaded.predict(x), booster.predict(x))


@pytest.fixture(scope="module")
def model() -> str:
    x, label = _rows()
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "num_leaves": 8}
    booster = lgb.train(params, lgb.Dataset(x, label=label, categorical_feature=[1]), 3)
    text = booster.model_to_string()
    assert "num_leaves=8" in text and "num_cat=" in text
    return text


def _first_tree(text: str, key: str, value: str) -> str:
    """``text`` with tree 0's ``key`` line set to ``value``."""
    return re.sub(rf"^{key}=.*$", f"{key}={value}", text, count=1, flags=re.M)


def _values(text: str, key: str) -> list[str]:
    found = re.search(rf"^{key}=(.*)$", text, flags=re.M)
    assert found is not None
    return found.group(1).split()


def _child_back_to_the_root(text: str) -> str:
    right = _values(text, "right_child")
    return _first_tree(text, "right_child", " ".join(["0", *right[1:]]))


def _a_node_reached_twice(text: str) -> str:
    left, right = _values(text, "left_child"), _values(text, "right_child")
    internal = [c for c in [*left, *right] if int(c) > 0]
    right[0] = internal[0] if right[0] != internal[0] else internal[1]
    return _first_tree(text, "right_child", " ".join(right))


def _leaf_past_the_last(text: str) -> str:
    left = _values(text, "left_child")
    at = next(i for i, c in enumerate(left) if int(c) < 0)
    left[at] = str(~8)  # leaf 8 of 8
    return _first_tree(text, "left_child", " ".join(left))


def _feature_past_the_last(text: str) -> str:
    split = _values(text, "split_feature")
    return _first_tree(text, "split_feature", " ".join(["9", *split[1:]]))


def _category_list_past_the_last(text: str) -> str:
    """The first categorical split of the first tree that has one names a list it lacks."""
    for tree in text.split("\nTree=")[1:]:
        decision, threshold = _values(tree, "decision_type"), _values(tree, "threshold")
        at = next((i for i, d in enumerate(decision) if int(d) & 1), None)
        if at is not None:
            threshold[at] = "99"
            old = re.search(r"^threshold=.*$", tree, flags=re.M)
            assert old is not None
            return text.replace(old.group(0), "threshold=" + " ".join(threshold), 1)
    raise AssertionError("no categorical split")


def _a_child_that_is_not_a_number(text: str) -> str:
    left = _values(text, "left_child")
    return _first_tree(text, "left_child", " ".join([*left[:-1], "x"]))


DAMAGE = [
    ("right_child cut to one value", lambda t: _first_tree(t, "right_child", "0"),
     "tree 0: right_child has 1 of the 7 values it needs"),
    ("a child back to the root", _child_back_to_the_root, "tree 0: node 0's child is node 0"),
    ("a node reached twice", _a_node_reached_twice, "tree 0: its nodes and leaves are not each"),
    ("a leaf past the last", _leaf_past_the_last, "child is leaf 8 of 8"),
    ("a feature past the last", _feature_past_the_last, "tree 0: splits on feature 9; the model has 3"),
    ("a category list past the last", _category_list_past_the_last, "names category list 99 of"),
    ("a child that is not a number", _a_child_that_is_not_a_number,
     "tree 0: left_child holds a value that is not an integer"),
    ("no decision_type", lambda t: t.replace("decision_type=", "decision_kind=", 1),
     "tree 0: no decision_type"),
    ("no max_feature_idx", lambda t: t.replace("max_feature_idx=", "max_feature=", 1),
     "the header: no max_feature_idx"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "message"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_each_kind_of_damage_is_refused_with_the_tree_and_the_reason(
    model: str, damage: object, message: str
) -> None:
    check_model(model)
    damaged = damage(model)  # type: ignore[operator]
    assert damaged != model
    with pytest.raises(ValueError, match=re.escape(message)):
        check_model(damaged)


def test_a_parameters_line_lightgbm_cannot_split_is_refused(model: str) -> None:
    """LightGBM reads each parameters line after its colon without looking: "[boosting=gbdt]"
    ended the process with a segmentation fault (found by the fuzzing of tests/reliability)."""
    damaged = model.replace("[boosting: gbdt]", "[boosting=gbdt]", 1)
    assert damaged != model
    with pytest.raises(ValueError, match=re.escape("parameters: the line '[boosting=gbdt]'")):
        check_model(damaged)
