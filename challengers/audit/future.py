"""Features computed with future data: recompute a model's features on a sample, then again with
the later rows removed; a feature whose value changed for an earlier row looked ahead.

The tool can only do this when it has the feature *recipe*. A model kind provides one by inheriting
``DerivesFeatures`` (``challengers/models/abilities.py``) and returning a :class:`FeatureRecipe` from
``feature_recipe(settings, spec)`` (its config section and the run's :class:`DataSpec`: amount
column, label delay; ``None`` when the settings need no check). The graph kind does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from challengers.audit.context import AuditContext, ModelInputs, Section, pct, share
from challengers.data.frames import DataSpec
from challengers.models import registry
from challengers.models.abilities import DerivesFeatures, FeatureRecipe

log = logging.getLogger(__name__)
AREA = "leakage"
CUTOFFS = (0.25, 0.5, 0.75)  # where the sample is cut, as quantiles of its rows

__all__ = ["FeatureRecipe", "check_future", "look_ahead", "recipe_for"]


def recipe_for(model: ModelInputs, spec: DataSpec) -> FeatureRecipe | None:
    """The recipe of the model's kind for its settings; None for kinds that derive no features
    (and for champions, which are files or score columns, not registered kinds)."""
    cls = registry.KINDS.get(model.kind)
    if cls is None or not issubclass(cls, DerivesFeatures):
        return None
    return cls.feature_recipe(model.settings, spec)


@dataclass(frozen=True)
class LookAhead:
    """Per feature: rows compared and rows whose value changed once later rows were removed."""

    recipe: str
    rows: int
    compared: dict[str, int]
    changed: dict[str, int]


def check_future(ctx: AuditContext) -> Section:
    section = Section()
    rows: list[dict[str, Any]] = []
    for model in ctx.models:
        recipe = recipe_for(model, ctx.spec)
        if recipe is None:
            continue
        result = look_ahead(ctx, recipe, lookback_days=model.lookback_days)
        for feature, changed in result.changed.items():
            compared = result.compared[feature]
            rows.append(
                {
                    "model": model.name,
                    "recipe": recipe.name,
                    "feature": feature,
                    "rows_compared": compared,
                    "rows_changed": changed,
                }
            )
            if changed:
                section.add(
                    f"leak-future-{model.name}-{feature}",
                    "high",
                    AREA,
                    f"Feature '{feature}' of '{model.name}' uses future data",
                    f"Recomputed by its recipe '{recipe.name}' on {result.rows:,} sampled rows, "
                    f"its value changed for {changed:,} of {compared:,} earlier rows "
                    f"({pct(share(changed, compared))}) when later rows were removed: it looks "
                    "ahead of the transaction it describes. Its figures are not achievable in "
                    "production.",
                    inputs_of=[model.name],
                    column=feature,
                )
    section.tables["future_features"] = rows
    return section


def look_ahead(ctx: AuditContext, recipe: FeatureRecipe, *, lookback_days: int = 0) -> LookAhead:
    """Compute ``recipe`` on a time-sorted sample and on its prefixes up to a few cut-offs."""
    sample = _sample(ctx, recipe, lookback_days)
    t, y = ctx.spec.time, ctx.spec.target
    full = recipe.compute(sample, time=t, target=y)
    compared = dict.fromkeys(full.columns, 0)
    changed = dict.fromkeys(full.columns, 0)
    times = sample[t]
    for q in CUTOFFS:
        cut = times.quantile(q, interpolation="lower")
        k = int((times <= cut).sum())  # sorted: the rows up to the cut-off are a prefix
        if k == 0 or k == sample.height:
            continue
        part = recipe.compute(sample.head(k), time=t, target=y)
        for name in full.columns:
            compared[name] += k
            changed[name] += _differences(full[name].head(k), part[name])
    return LookAhead(recipe.name, sample.height, compared, changed)


def _sample(ctx: AuditContext, recipe: FeatureRecipe, lookback_days: int) -> pl.DataFrame:
    """Whole days ending with the training window, as many as fit the budget; when one day is
    larger than the budget, entities (``data.entity``) are sampled within it."""
    w = ctx.windows
    budget = ctx.limits.recipe_sample_rows
    assert ctx.daily is not None
    start = _first_day(ctx.daily, w.train_start, w.train_end, budget)
    start -= timedelta(days=lookback_days)
    where = ctx.day_between(start, w.train_end)
    rows = int(ctx.daily.filter(pl.col("day").is_between(start, w.train_end))["rows"].sum())
    columns = list(dict.fromkeys([ctx.spec.time, ctx.spec.target, *recipe.inputs]))
    # whole entity histories: a customer's rows are all in or all out of the sample
    key = pl.col(ctx.spec.entity) if ctx.spec.entity else None
    frame = ctx.sample(where, rows, max(budget, 1), columns, salt=7, key=key)
    return frame.with_columns(ctx.time_expr, ctx.label.alias(ctx.spec.target)).sort(
        ctx.spec.time, maintain_order=True
    )


def _first_day(daily: pl.DataFrame, start: date, end: date, budget: int) -> date:
    days = daily.filter(pl.col("day").is_between(start, end)).sort("day", descending=True)
    total, first = 0, end
    for day, n in zip(days["day"].to_list(), days["rows"].to_list(), strict=True):
        if total and total + n > budget:
            break
        total, first = total + n, day
    return first


def _differences(full: pl.Series, part: pl.Series) -> int:
    """Rows whose value differs (nulls equal to nulls; floats within float32 rounding)."""
    a, b = full.to_numpy(), part.to_numpy()
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        a, b = a.astype(np.float64), b.astype(np.float64)
        same = np.isclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)
        return int(np.count_nonzero(~same))
    return int((full.ne_missing(part)).sum())
