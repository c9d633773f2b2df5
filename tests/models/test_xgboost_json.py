"""An XGBoost booster's trees are checked before it scores a row (XGBoost checks a file's arrays,
not that its trees are trees: a root that is its own child made its prediction loop forever).
Every booster XGBoost writes passes, from .json and .ubj, and loads as XGBoost loads it; each kind
of damage is refused with the tree and the reason."""

from __future__ import annotations

import json
import re
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from challengers.models.trees import LIBRARIES
from challengers.models.xgboost_json import check_trees

ROWS = 3000


def _rows() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.random(ROWS), "c": rng.integers(0, 20, ROWS), "b": rng.random(ROWS)}
    )
    label = ((frame["a"] > 0.6) | (frame["c"] % 7 == 0)).to_numpy().astype(int)
    return frame, label


VALID: dict[str, dict[str, Any]] = {
    "gbtree": {},
    "dart": {"booster": "dart"},
    "gblinear": {"booster": "gblinear"},
    "lossguide": {"grow_policy": "lossguide", "max_leaves": 16},
    "pruned": {"gamma": 5.0},
    "categorical": {"max_cat_to_onehot": 1},
}


def valid_booster(name: str) -> tuple[xgb.Booster, xgb.DMatrix]:
    """A booster of the kind VALID names, trained on the rows it scores."""
    frame, label = _rows()
    if name == "categorical":
        frame["c"] = frame["c"].astype("category")
    matrix = xgb.DMatrix(frame, label=label, enable_categorical=True)
    params = {"objective": "binary:logistic", "nthread": 1, **VALID[name]}
    if name != "gblinear":  # a linear booster has no tree method
        params["tree_method"] = "hist"
    return xgb.train(params, matrix, 15), matrix


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
@pytest.mark.parametrize("name", sorted(VALID))
def test_every_booster_xgboost_writes_passes_and_loads_as_xgboost_loads_it(
    name: str, suffix: str, tmp_path: Path
) -> None:
    booster, matrix = valid_booster(name)
    booster.save_model(tmp_path / f"m{suffix}")
    loaded = LIBRARIES["xgboost"].load(tmp_path / f"m{suffix}")
    np.testing.assert_array_equal(loaded.predict(matrix), booster.predict(matrix))


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    frame, label = _rows()
    frame["c"] = frame["c"].astype("category")
    params = {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1, "max_depth": 3}
    matrix = xgb.DMatrix(frame, label=label, enable_categorical=True)
    loaded = json.loads(xgb.train(params, matrix, 3).save_raw(raw_format="json"))
    assert isinstance(loaded, dict)
    return loaded


def _first_tree(model: dict[str, Any]) -> dict[str, Any]:
    return model["learner"]["gradient_booster"]["model"]["trees"][0]


def _root_its_own_child(tree: dict[str, Any]) -> None:
    tree["left_children"][0] = 0


def _a_node_reached_twice(tree: dict[str, Any]) -> None:
    tree["right_children"][0] = tree["left_children"][0]


def _a_child_past_the_last(tree: dict[str, Any]) -> None:
    tree["right_children"][0] = len(tree["left_children"])


def _a_feature_past_the_last(tree: dict[str, Any]) -> None:
    tree["split_indices"][0] = 9


def _a_parent_of_minus_one(tree: dict[str, Any]) -> None:
    tree["parents"][3] = -1  # XGBoost's own reader crashed on it (a segmentation fault)


def _a_category_list_lost(tree: dict[str, Any]) -> None:
    assert 1 in tree["split_type"], "the fixture's first tree has a categorical split"
    tree["categories_sizes"] = [len(tree["categories"]) + 1 for _ in tree["categories_sizes"]]


DAMAGE: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("the root its own child", _root_its_own_child, "tree 0: node 0's child 0 is not a node"),
    ("a node reached twice", _a_node_reached_twice, "tree 0: node 0's child"),
    ("a child past the last", _a_child_past_the_last, "tree 0: node 0's child"),
    ("a feature past the last", _a_feature_past_the_last, "splits on feature 9; the model has 3"),
    ("a category list lost", _a_category_list_lost, "is a categorical split without categories"),
    ("a parent of -1", _a_parent_of_minus_one, "tree 0: its parents are not nodes of the tree"),
]


@pytest.mark.parametrize(("damage", "message"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_each_kind_of_damage_is_refused_with_the_tree_and_the_reason(
    model: dict[str, Any], damage: Callable[[dict[str, Any]], None], message: str
) -> None:
    check_trees(model)
    damaged = json.loads(json.dumps(model))
    damage(_first_tree(damaged))
    with pytest.raises(ValueError, match=re.escape(message)):
        check_trees(damaged)


def test_a_json_file_is_checked_before_xgboost_reads_it(
    model: dict[str, Any], tmp_path: Path
) -> None:
    """A parents array with a -1 in it ended the process inside XGBoost's own reader, before any
    booster existed to check: the file's JSON is checked first."""
    damaged = json.loads(json.dumps(model))
    _a_parent_of_minus_one(_first_tree(damaged))
    (tmp_path / "m.json").write_text(json.dumps(damaged))
    with pytest.raises(ValueError, match="its parents are not nodes of the tree"):
        LIBRARIES["xgboost"].load(tmp_path / "m.json")


def test_a_ubj_file_is_checked_before_xgboost_reads_it(
    model: dict[str, Any], tmp_path: Path
) -> None:
    """The same -1 in a .ubj file's parents array ended the process inside XGBoost's reader (exit
    -11 in a subprocess): the file's UBJSON is read and checked first."""
    frame, label = _rows()
    params = {"objective": "binary:logistic", "nthread": 1, "max_depth": 3}
    xgb.train(params, xgb.DMatrix(frame, label=label), 3).save_model(tmp_path / "m.ubj")
    data = bytearray((tmp_path / "m.ubj").read_bytes())
    head = b"parents[$l#L"  # the first tree's parents: int32 values after an int64 count
    fourth = data.index(head) + len(head) + 8 + 3 * 4
    data[fourth : fourth + 4] = struct.pack(">i", -1)
    (tmp_path / "m.ubj").write_bytes(data)
    with pytest.raises(ValueError, match="tree 0: its parents are not nodes of the tree"):
        LIBRARIES["xgboost"].load(tmp_path / "m.ubj")


@pytest.mark.parametrize("suffix", [".bst", ".xgb"])
@pytest.mark.parametrize("saved_as", [".json", ".ubj"])
def test_a_file_of_another_name_is_read_as_its_content_says(
    suffix: str, saved_as: str, tmp_path: Path
) -> None:
    """XGBoost reads a file that is neither .json nor .ubj as whichever its content looks like;
    the check reads it the same way, and the booster scores as the one saved."""
    frame, label = _rows()
    matrix = xgb.DMatrix(frame, label=label)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, matrix, 5)
    booster.save_model(tmp_path / f"m{saved_as}")
    (tmp_path / f"m{saved_as}").rename(tmp_path / f"m{suffix}")
    with warnings.catch_warnings():  # XGBoost warns of its guess where its verbosity is on
        warnings.simplefilter("ignore")
        loaded = LIBRARIES["xgboost"].load(tmp_path / f"m{suffix}")
    np.testing.assert_array_equal(loaded.predict(matrix), booster.predict(matrix))
