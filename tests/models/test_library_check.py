"""Asking LightGBM and XGBoost whether they accept a tree's parameters (models/library_check.py):
the values each library refuses are refused with its reason and the parameter named, the values it
accepts pass, and every kind that trains a tree says which trees, on which columns, the plan asks
about."""

from __future__ import annotations

from typing import Any

import pytest

from challengers.data.frames import DataSpec
from challengers.models import registry
from challengers.models.anomaly import AnomalyChallenger
from challengers.models.graph import GraphChallenger
from challengers.models.library_check import CONFIRM_ROWS, reason_of, refusal, refused_param
from challengers.models.params import SearchRange, TuneConfig
from challengers.models.tree import (
    LightGBMChallenger,
    TreeChallenger,
    Tunable,
    XGBoostChallenger,
)
from challengers.tuning.search import range_ends

FEATURES = ("amount", "hour", "online")
SPEC = DataSpec(
    target="y", time="t", features=FEATURES, amount="amount", entity="card", label_delay_days=7
)


@pytest.mark.parametrize(
    ("tree", "name", "value", "reason"),
    [
        (LightGBMChallenger, "num_leaves", 1, "it needs num_leaves > 1"),
        (LightGBMChallenger, "learning_rate", 0, "it needs learning_rate > 0.0"),
        (LightGBMChallenger, "bagging_fraction", 1.5, "it needs bagging_fraction <= 1.0"),
        (LightGBMChallenger, "max_bin", 1, "it needs max_bin > 1"),
        (LightGBMChallenger, "objective", "binray", "Unknown objective type name: binray"),
        (LightGBMChallenger, "num_leaves", "many", 'should be of type int, got "many"'),
        (XGBoostChallenger, "max_depth", -1, "value -1 for Parameter max_depth should be greater"),
        (XGBoostChallenger, "eta", -0.1, "Parameter learning_rate should be greater equal to 0"),
        (XGBoostChallenger, "subsample", 1.5, "value 1.5 for Parameter subsample exceed bound"),
        (XGBoostChallenger, "colsample_bytree", 2, "Parameter colsample_bytree exceed bound"),
        (XGBoostChallenger, "min_child_weight", -1, "Parameter min_child_weight should be"),
        (XGBoostChallenger, "objective", "binary:logit", "Unknown objective function: `binary"),
        (XGBoostChallenger, "base_score", 2, "base_score must be in (0,1) for the logistic loss"),
    ],
)
def test_a_value_the_library_refuses_is_named_with_its_reason(
    tree: type[TreeChallenger], name: str, value: Any, reason: str
) -> None:
    found = refused_param(tree({"learning_rate": 0.1, name: value}, threads=1), FEATURES)
    assert found is not None
    assert (found.name, found.value) == (name, value)
    assert reason in found.reason
    assert "\n" not in found.reason and " at /" not in found.reason and "[bt]" not in found.reason


@pytest.mark.parametrize(
    ("tree", "params"),
    [
        (LightGBMChallenger, {}),
        (LightGBMChallenger, {"num_leaves": 2, "learning_rate": 1e-9, "bagging_fraction": 1.0}),
        (LightGBMChallenger, {"monotone_constraints": [1, 0, -1], "max_bin": 2}),
        (LightGBMChallenger, {"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.5}),
        (LightGBMChallenger, {"boosting": "dart", "n_estimators": 5000}),
        (XGBoostChallenger, {"max_depth": 0, "eta": 0.3, "subsample": 1.0, "min_child_weight": 0}),
        (XGBoostChallenger, {"grow_policy": "lossguide", "max_leaves": 8, "max_bin": 2}),
        (XGBoostChallenger, {"monotone_constraints": "(1,0,0)", "booster": "dart"}),
    ],
)
def test_values_the_library_accepts_pass(
    tree: type[TreeChallenger], params: dict[str, Any]
) -> None:
    assert refused_param(tree(params, threads=1), FEATURES) is None


def test_the_parameter_named_is_the_first_that_makes_the_library_refuse() -> None:
    """Each parameter is valid alone; GOSS refuses bagging, which takes both bagging_freq and a
    fraction below 1: the one of them that comes last in the config is named."""
    params = {"n_estimators": 10, "boosting": "goss", "bagging_freq": 1, "bagging_fraction": 0.5}
    found = refused_param(LightGBMChallenger(params, threads=1), FEATURES)
    assert found is not None and (found.name, found.value) == ("bagging_fraction", 0.5)
    assert found.reason == "Cannot use bagging in GOSS"
    params = {"n_estimators": 10, "boosting": "goss", "bagging_fraction": 0.5, "bagging_freq": 1}
    found = refused_param(LightGBMChallenger(params, threads=1), FEATURES)
    assert found is not None and (found.name, found.value) == ("bagging_freq", 1)


def test_a_per_feature_list_is_checked_against_the_columns_the_tree_reads() -> None:
    tree = LightGBMChallenger({"monotone_constraints": [1, 0, 0]}, threads=1)
    assert refusal(tree, FEATURES) is None
    reason = refusal(tree, (*FEATURES, "anomaly_ecod"))
    assert reason is not None and "monotone_constraints.size()" in reason


def test_a_refusal_that_only_a_tiny_frame_shows_does_not_stand() -> None:
    """Bagging 0.001 of the probe's 64 rows bags none, which LightGBM refuses; a training window
    of thousands of rows bags some: the refusal is confirmed on CONFIRM_ROWS rows first."""
    bagging = {"bagging_fraction": 0.001, "bagging_freq": 1}
    assert refusal(LightGBMChallenger(bagging, threads=1), FEATURES) is None
    bagging["bagging_fraction"] = 0.5 / CONFIRM_ROWS  # none of those rows either
    reason = refusal(LightGBMChallenger(bagging, threads=1), FEATURES)
    assert reason == "it needs num_data > 0"


def test_the_class_weighting_reaches_the_library() -> None:
    """imbalance: balanced sets scale_pos_weight, which LightGBM refuses next to is_unbalance."""
    tree = LightGBMChallenger({"is_unbalance": True}, imbalance="balanced", threads=1)
    found = refused_param(tree, FEATURES)
    assert found is not None and found.name == "is_unbalance"
    assert "Cannot set is_unbalance and scale_pos_weight" in found.reason
    assert refusal(LightGBMChallenger({"is_unbalance": True}, threads=1), FEATURES) is None


def test_the_library_messages_are_cut_to_their_one_line_reason() -> None:
    lightgbm = (
        "Check failed: (num_leaves) > (1) at /__w/LightGBM/src/io/config_auto.cpp, line 352 .\n"
    )
    assert reason_of(RuntimeError(lightgbm)) == "it needs num_leaves > 1"
    xgboost = (
        "[17:41:58] /workspace/src/objective/regression_obj.cu:114: Check failed: is_valid: "
        "base_score must be in (0,1) for the logistic loss.\nStack trace:\n  [bt] (0) lib.so"
    )
    assert reason_of(RuntimeError(xgboost)) == "base_score must be in (0,1) for the logistic loss."
    sized = "Check failed: p.size() <= n (3 vs. 1) : The size should be less."
    assert reason_of(RuntimeError(sized)) == "The size should be less."


def _planned(model: Any) -> list[tuple[str, tuple[str, ...], str]]:
    return [(p.tree.kind, p.features, p.key) for p in model.planned_trees(SPEC)]


def test_every_kind_that_trains_a_tree_says_which_trees_on_which_columns() -> None:
    """The plan asks the library about these trees; a kind added to the registry that is
    tunable must say its own."""
    tunable = {kind for kind, cls in registry.KINDS.items() if issubclass(cls, Tunable)}
    assert tunable == {"lightgbm", "xgboost", "graph", "anomaly"}

    assert _planned(XGBoostChallenger({"max_depth": 3})) == [("xgboost", FEATURES, "")]
    graph = GraphChallenger(
        {"entities": ["card", "terminal"], "windows_days": [7]}, {"kind": "xgboost"}
    )
    ((kind, columns, key),) = _planned(graph)
    assert (kind, key) == ("xgboost", "model.")
    assert columns == (*FEATURES, *graph.graph_feature_names(SPEC)) and len(columns) > 10
    hybrid = AnomalyChallenger("ecod", hybrid="lightgbm", model={"kind": "lightgbm"})
    assert _planned(hybrid) == [
        ("lightgbm", (*FEATURES, "anomaly_ecod"), "model."),
        ("lightgbm", FEATURES, "model."),  # its twin, without the detector's score
    ]
    assert len(_planned(AnomalyChallenger("ecod", hybrid="lightgbm", twin=False))) == 1
    assert _planned(AnomalyChallenger("ecod")) == []  # a detector alone trains no tree


def test_a_search_is_asked_about_the_ends_of_its_ranges() -> None:
    tree = XGBoostChallenger({"max_depth": 4, "n_estimators": 50}, threads=1)
    config = TuneConfig(
        space={
            "subsample": SearchRange(low=0.5, high=1.0),
            "max_leaves": SearchRange(low=4, high=64, int=True),
            "imbalance": SearchRange(choices=["none", "sqrt", "balanced"]),
        }
    )
    corners, alone = range_ends(tree, config, tree_section(tree))
    # max_depth is fixed: not searched; the defaults' other ranges are
    assert "max_depth" not in {name for name, _, _ in alone}
    ends = {(name, value) for name, value, _ in alone}
    assert {("subsample", 0.5), ("subsample", 1.0), ("max_leaves", 4), ("max_leaves", 64)} <= ends
    assert {("imbalance", "none"), ("imbalance", "sqrt"), ("imbalance", "balanced")} <= ends
    assert len(corners) == 3  # the low ends, the high ends, then the third choice
    low = corners[0]
    assert low.params is not None and low.params["subsample"] == 0.5
    assert low.params["max_depth"] == 4 and low.params["max_leaves"] == 4
    assert [c.imbalance for c in corners] == ["none", "sqrt", "balanced"]
    for _, value, built in alone:
        assert refusal(built, FEATURES) is None, value
    # tuned on brier (probabilities), the class weighting is not searched, nor asked about
    _, alone = range_ends(tree, TuneConfig(metric="brier"), tree_section(tree))
    assert "imbalance" not in {name for name, _, _ in alone} and alone


def tree_section(tree: TreeChallenger) -> Any:
    from challengers.models.params import ModelSpec

    return ModelSpec(kind=tree.kind, params=dict(tree.params or {}))
