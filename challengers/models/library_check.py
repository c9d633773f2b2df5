"""Whether LightGBM or XGBoost accepts a tree's parameters, asked of the library itself.

Both libraries check the values of their parameters only when they train: ``num_leaves: 1``,
``max_depth: -1`` or ``subsample: 1.5`` passed the config and failed the challenger after the data
had loaded and been audited. The plan asks first (``pipeline/tree_params.py``): :func:`refusal`
fits the tree for one boosting round on a tiny frame of the columns it will read, as a run fits it
(the tool's defaults under the config's params, the same dataset and training calls). Every check
of the installed library runs, in milliseconds once it is imported: ranges, types, objective and
metric names, conflicts (bagging with GOSS, ``is_unbalance`` with a class weight), per-feature lists
of the wrong length; none of them is copied here, so an upgrade's checks are the ones applied.

A refusal on the tiny frame is confirmed on :data:`CONFIRM_ROWS` rows before it stands: a few
checks count rows (LightGBM bagging ``bagging_fraction: 0.001`` of 64 rows bags none and stops),
and a training window is thousands of rows or more. What only the real rows show (a window too
small for such a fraction) still fails when the model trains, as a failed challenger.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from challengers.data.frames import INTERNAL, DataSpec
from challengers.models.params import ROUND_KEYS
from challengers.models.tree import TreeChallenger

PROBE_ROWS = 64  # enough for a split at LightGBM's default min_data_in_leaf (20)
CONFIRM_ROWS = 50_000  # a refusal on PROBE_ROWS stands only if it holds on these
_TARGET = f"{INTERNAL}probe-target"
_TIME = f"{INTERNAL}probe-time"  # not a column: a tree reads no time


@dataclass(frozen=True)
class Refusal:
    """A tree's params the library refuses: the one that made it refuse (None: only all of them
    together), its value, and the library's words."""

    name: str | None
    value: Any
    reason: str


def refusal(tree: TreeChallenger, features: Sequence[str]) -> str | None:
    """Why the tree's library refuses to train it on the columns ``features``, in the library's
    words on one line, or None when it trains."""
    probe = tree.with_params({"num_boost_round": 1})
    columns = tuple(features)
    reason = _fit(probe, _frame(columns, PROBE_ROWS), columns)
    if reason is None:
        return None
    return _fit(probe, _frame.__wrapped__(columns, CONFIRM_ROWS), columns)


def _fit(tree: TreeChallenger, frame: pl.DataFrame, features: tuple[str, ...]) -> str | None:
    spec = DataSpec(target=_TARGET, time=_TIME, features=features)
    try:  # the library's prints and warnings (XGBoost's, at a verbosity the params set) kept off
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree.fit(frame, spec)
    except ImportError:  # the library is missing: not a refusal of the parameters
        raise
    except Exception as exc:  # whatever stops this fit stops the run's
        return reason_of(exc)
    return None


def refused_param(tree: TreeChallenger, features: Sequence[str]) -> Refusal | None:
    """:func:`refusal`, naming the parameter: the first of the config's that, added in the
    config's order to the ones before it, makes the library refuse."""
    reason = refusal(tree, features)
    if reason is None:
        return None
    kept: dict[str, Any] = {}
    for name, value in (tree.params or {}).items():
        if name in ROUND_KEYS:  # the tool's own, validated when the config loaded
            continue
        kept[name] = value
        why = refusal(type(tree)(**{**tree.get_params(), "params": kept}), features)
        if why is not None:
            return Refusal(name, value, why)
    return Refusal(None, None, reason)


def reason_of(exc: BaseException) -> str:
    """The library's message on one line, without its source file, line and stack."""
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)  # XGBoost's "[12:00:00] src/x.cc:27: "
    line = text.splitlines()[0].strip()
    line = re.sub(r" at \S+, line \d+ ?\.?$", "", line)  # LightGBM's " at src/x.cpp, line 352 ."
    check = re.fullmatch(r"Check failed: \((\w+)\) (>=|<=|>|<|==|!=) \(([^()]+)\)", line)
    if check:  # LightGBM's range checks: "Check failed: (num_leaves) > (1)"
        return f"it needs {check[1]} {check[2]} {check[3]}"
    # XGBoost's: "Check failed: is_valid: base_score ..." or "Check failed: a <= b (3 vs. 1) : ..."
    detail = re.fullmatch(r"Check failed: (?:\w+:|.+? :) (.+)", line)
    return detail[1] if detail else line


@functools.lru_cache(maxsize=8)  # (the confirming frames, rarely needed, are not kept)
def _frame(features: tuple[str, ...], height: int) -> pl.DataFrame:
    """``height`` rows of varied values in every column, a quarter of them frauds (the classes
    unbalanced, as a weighting ``imbalance`` adds ``scale_pos_weight`` on real data)."""
    rows = np.arange(height)
    columns = {
        name: ((rows * (j + 3) + j) % 11).astype(np.float32) for j, name in enumerate(features)
    }
    return pl.DataFrame({**columns, _TARGET: (rows % 4 == 0).astype(np.int8)})
