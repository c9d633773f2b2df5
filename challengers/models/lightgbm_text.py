"""A LightGBM text model's trees checked before LightGBM reads them.

LightGBM trusts the file: a child index that points back up the tree makes its prediction loop
forever (one damaged ``right_child=0`` line: the run hung at 100% of both cores), a split on a
feature index past the model's features reads past each row, and a short array is padded with
whatever follows. So every tree must be a tree before a booster is built from it: each internal
node's children come after it (LightGBM numbers a split's new node after its parent's), each node
and leaf is reached once, the arrays have the lengths ``num_leaves`` gives, and splits name the
model's features and, when categorical, its category lists. The parameters section at the end is
checked too: LightGBM reads it as the booster is built. Found by fuzzing champion files.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import TypeVar

T = TypeVar("T", int, float)


def check_model(model: str) -> None:
    """Raise ValueError naming the first tree LightGBM could not score safely, or the parameters
    line it could not read safely, and why."""
    _check_trees(model)
    _check_parameters(model)


def header_fields(model: str) -> dict[str, str]:
    """The ``key=value`` lines of the header (before the first tree)."""
    return _fields(model.split("\nTree=")[0])


def _check_parameters(model: str) -> None:
    """Each line of the parameters section is ``[name: value]``: LightGBM splits a line at its
    colon and reads the part after it without looking (a line without one ended the process with
    a segmentation fault)."""
    _, found, rest = model.partition("\nparameters:\n")
    for line in rest.split("\nend of parameters")[0].split("\n") if found else []:
        if line.strip() and not (line.startswith("[") and line.endswith("]") and ":" in line):
            raise ValueError(f"parameters: the line {line[:40]!r} is not [name: value]")


def _check_trees(model: str) -> None:
    header, *blocks = model.split("\nTree=")
    features = _ints(_fields(header), "max_feature_idx", 1, "the header")[0] + 1
    if features < 1:
        raise ValueError(f"max_feature_idx is {features - 1}; a model reads at least one feature")
    for block in blocks:
        name, _, body = block.partition("\n")
        tree = f"tree {name.strip()}"
        _check_tree(_fields(body.split("\nend of trees")[0]), features, tree)


def _fields(text: str) -> dict[str, str]:
    """The ``key=value`` lines of a header or a tree (the first of a repeated key, as LightGBM)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, equals, value = line.partition("=")
        if equals:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _check_tree(fields: dict[str, str], features: int, tree: str) -> None:
    leaves = _ints(fields, "num_leaves", 1, tree)[0]
    if leaves < 1:
        raise ValueError(f"{tree}: num_leaves is {leaves}")
    _numbers(fields, "leaf_value", leaves, tree)
    if leaves == 1:
        return
    nodes = leaves - 1
    left, right = (
        _ints(fields, "left_child", nodes, tree),
        _ints(fields, "right_child", nodes, tree),
    )
    _check_children(left, right, leaves, tree)
    split = _ints(fields, "split_feature", nodes, tree)
    outside = [f for f in split if not 0 <= f < features]
    if outside:
        raise ValueError(f"{tree}: splits on feature {outside[0]}; the model has {features}")
    decision = _ints(fields, "decision_type", nodes, tree)
    threshold = _numbers(fields, "threshold", nodes, tree)
    categorical = [t for d, t in zip(decision, threshold, strict=True) if d & 1]
    if categorical:
        _check_categories(fields, categorical, tree)


def _check_children(left: list[int], right: list[int], leaves: int, tree: str) -> None:
    """Each child after its parent (so no walk loops) and inside the tree; every node but the
    root and every leaf reached once (a negative child ``c`` is leaf ``~c``)."""
    nodes = leaves - 1
    for node, children in enumerate(zip(left, right, strict=True)):
        for child in children:
            if child >= 0 and not node < child < nodes:
                raise ValueError(
                    f"{tree}: node {node}'s child is node {child}, outside {node + 1}..{nodes - 1}"
                )
            if child < 0 and ~child >= leaves:
                raise ValueError(f"{tree}: node {node}'s child is leaf {~child} of {leaves}")
    reached = Counter([*left, *right])
    expected = {*range(1, nodes), *(~leaf for leaf in range(leaves))}
    if set(reached) != expected or max(reached.values()) > 1:
        raise ValueError(f"{tree}: its nodes and leaves are not each reached once from the root")


def _check_categories(fields: dict[str, str], splits: list[float], tree: str) -> None:
    """A categorical split's threshold is the index of its category list in ``cat_boundaries``."""
    lists = _ints(fields, "num_cat", 1, tree)[0]
    bounds = _ints(fields, "cat_boundaries", lists + 1, tree) if lists > 0 else [0]
    if bounds[0] != 0 or any(b < a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"{tree}: cat_boundaries {bounds[:5]} do not rise from 0")
    _ints(fields, "cat_threshold", bounds[-1], tree)
    wrong = [s for s in splits if not (math.isfinite(s) and s == int(s) and 0 <= s < lists)]
    if wrong:
        raise ValueError(f"{tree}: a categorical split names category list {wrong[0]:g} of {lists}")


def _values(fields: dict[str, str], key: str, count: int, where: str) -> list[str]:
    if key not in fields:
        raise ValueError(f"{where}: no {key}")
    values = fields[key].split()
    if len(values) != count:
        raise ValueError(f"{where}: {key} has {len(values)} of the {count} values it needs")
    return values


def _ints(fields: dict[str, str], key: str, count: int, where: str) -> list[int]:
    values = _values(fields, key, count, where)
    return _converted(values, int, f"{where}: {key} holds a value that is not an integer")


def _numbers(fields: dict[str, str], key: str, count: int, where: str) -> list[float]:
    values = _values(fields, key, count, where)
    return _converted(values, float, f"{where}: {key} holds a value that is not a number")


def _converted(values: list[str], kind: type[T], problem: str) -> list[T]:
    try:
        return [kind(v) for v in values]
    except ValueError:
        raise ValueError(problem) from None
