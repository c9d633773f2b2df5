"""An XGBoost booster's trees checked before it scores a row.

XGBoost checks a model file's arrays as it reads it, but not that its trees are trees: a child
index that points back up makes its prediction loop forever (a root whose left child is itself:
the run hung), and a split on a feature index past the model's features reads past each row
(different scores from ``predict`` and ``inplace_predict`` on the same rows). The file's model
document (JSON, or UBJSON read by :mod:`challengers.models.ubjson`) is walked from each tree's
root before XGBoost reads the file: every child inside the tree, reached once and naming its
parent, every split on one of the model's features, every categorical split's category list inside
the model's. Before XGBoost's reader, because a tree's parents array with a -1 in it made that
reader itself end the process (a segmentation fault). Found by fuzzing champion files.
"""

from __future__ import annotations

from typing import Any

NO_PARENT = 2**31 - 1  # the root's parent in XGBoost's arrays


def check_trees(model: dict[str, Any]) -> None:
    """Raise ValueError naming the first tree XGBoost could not score safely, and why."""
    try:
        learner = model["learner"]
        features = int(learner["learner_model_param"]["num_feature"])
        for number, tree in enumerate(_trees(learner["gradient_booster"])):
            _check_tree(tree, features, f"tree {number}")
    except (KeyError, TypeError, IndexError) as exc:  # a document that is not a model's
        raise ValueError(f"not an XGBoost model document ({type(exc).__name__}: {exc})") from exc


def _trees(booster: dict[str, Any]) -> list[dict[str, Any]]:
    """The trees of a gbtree or dart booster (a linear booster has none)."""
    if booster.get("name") == "dart":
        booster = booster["gbtree"]
    return list(booster.get("model", {}).get("trees", []))


def _check_tree(tree: dict[str, Any], features: int, name: str) -> None:
    nodes = int(tree["tree_param"]["num_nodes"])
    left, right = tree["left_children"], tree["right_children"]
    split, parents = tree["split_indices"], tree["parents"]
    if not len(left) == len(right) == len(split) == len(parents) == nodes:
        raise ValueError(f"{name}: its node arrays do not hold its {nodes} nodes")
    if any(not (0 <= p < nodes or p == NO_PARENT) for p in parents) or parents[0] != NO_PARENT:
        raise ValueError(f"{name}: its parents are not nodes of the tree")
    categories = _category_lists(tree)
    kinds = tree.get("split_type") or [0] * nodes
    seen, stack = {0}, [0]
    while stack:
        node = stack.pop()
        if left[node] == -1:
            continue  # a leaf, as XGBoost tells one
        for child in (left[node], right[node]):
            if not 0 <= child < nodes or child in seen or parents[child] != node:
                raise ValueError(
                    f"{name}: node {node}'s child {child} is not a node of its own below it"
                )
            seen.add(child)
            stack.append(child)
        if not 0 <= split[node] < features:
            raise ValueError(f"{name}: splits on feature {split[node]}; the model has {features}")
        if kinds[node] == 1 and node not in categories:
            raise ValueError(f"{name}: node {node} is a categorical split without categories")


def _category_lists(tree: dict[str, Any]) -> set[int]:
    """The nodes whose category list lies inside the tree's categories."""
    held = len(tree.get("categories") or [])
    spans = zip(
        tree.get("categories_nodes") or [],
        tree.get("categories_segments") or [],
        tree.get("categories_sizes") or [],
        strict=False,
    )
    return {
        node for node, start, size in spans if start >= 0 and size >= 0 and start + size <= held
    }
