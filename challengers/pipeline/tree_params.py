"""The plan's last check before any row is read: the tree libraries accept every tree's parameters.

LightGBM and XGBoost check their parameters' values only when they train, so ``num_leaves: 1`` or
``max_depth: -1`` used to fail a challenger after the data had loaded and been audited. For each
model that trains a tree (a retrained champion, the tree, graph and hybrid anomaly kinds: their
``planned_trees``), the library is asked, on a tiny frame of the tree's columns
(:mod:`challengers.models.library_check`), whether it trains with the tree's params, and with each
end of a tuned search's ranges. A refusal is a ConfigError naming the model, the parameter, the
value and the library's reason. Only the libraries the config's trees use are imported, and only when
a tree has a parameter or a search to check.
"""

from __future__ import annotations

from typing import Any

from challengers.errors import ConfigError
from challengers.models import registry
from challengers.models.library_check import Refusal, refusal, refused_param
from challengers.models.params import ROUND_KEYS
from challengers.models.tree import PlannedTree, Tunable
from challengers.pipeline.plan import ModelPlan, Plan


def check_tree_params(plan: Plan, *, seed: int, threads: int | None) -> None:
    """ConfigError for the first tree parameter (or tuned value) its library refuses."""
    for mp in [plan.champion, *plan.challengers]:
        if mp.kind not in registry.KINDS:  # a champion's file or score column: nothing trained
            continue
        model = registry.create(mp.kind, mp.settings, seed=seed, threads=threads)
        if not isinstance(model, Tunable):
            continue
        where = "champion.retrain" if mp.role == "champion" else f"challengers.{mp.name}"
        trees = model.planned_trees(plan.spec.with_features(mp.features))
        try:
            for planned in trees:
                if any(name not in ROUND_KEYS for name in planned.tree.params or {}):
                    found = refused_param(planned.tree, planned.features)
                    if found is not None:
                        raise ConfigError(_refused(where, planned, found))
            if mp.role == "challenger" and trees:  # (a champion is retrained as documented)
                _check_search(where, mp, trees[0])
        except ImportError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _check_search(where: str, mp: ModelPlan, planned: PlannedTree) -> None:
    """Each end of the tuned search's ranges: a value the library refuses fails trials later."""
    from challengers.tuning.search import range_ends

    tuned = mp.settings.tuning()
    if tuned is None:
        return
    config, section = tuned
    own = getattr(mp.settings, "tune", None) is config  # at the section's top, or in model:
    key = "tune" if own else f"{planned.key}tune"
    title = planned.tree.library.title
    try:
        corners, alone = range_ends(planned.tree, config, section)
    except ConfigError as exc:  # a space the tree cannot take ("tune.space.x: ..."), said here
        raise ConfigError(f"{where}.{'' if own else planned.key}{exc}") from None
    if all(refusal(tree, planned.features) is None for tree in corners):
        return
    for name, value, tree in alone:
        reason = refusal(tree, planned.features)
        if reason is None:
            continue
        if name in config.space:
            raise ConfigError(
                f"{where}.{key}.space.{name}: the search would try {name}: {value!r}, which "
                f"{title} refuses ({reason}); narrow it to values {title} accepts"
            )
        raise ConfigError(
            f"{where}.{key}: the default search space tries {name}: {value!r}, which {title} "
            f"refuses with this tree's parameters ({reason}); set {name} in the section (it is "
            f"then not searched) or give {key}.space.{name} values {title} accepts"
        )


def _refused(where: str, planned: PlannedTree, found: Refusal) -> str:
    title = planned.tree.library.title
    at = f"{where}.{planned.key}params"
    if found.name is None:
        return f"{at}: {title} refuses these parameters together ({found.reason}); change them"
    columns = _columns(found.value, planned.features)
    return (
        f"{at}.{found.name}: {title} refuses {found.name}: {found.value!r}{columns} "
        f"({found.reason}); give a value {title} accepts, or remove {found.name} for its default"
    )


def _columns(value: Any, features: tuple[str, ...]) -> str:
    """How many columns the tree reads, said for a per-feature list (whose length must match)."""
    return f" for a tree of {len(features)} columns" if isinstance(value, list | dict) else ""
