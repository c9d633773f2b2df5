"""Exact metrics from per-score sufficient statistics, whichever engine aggregated them.

Every metric except card precision reads only, per tie group of scores, the count of positives and
negatives and the positives' amount (:class:`~challengers.engine.base.ScoreStats`). A curve built
from those counts as weights (two pseudo-rows per distinct score: its positives, its negatives) is
the curve of the rows themselves, so :mod:`challengers.evaluation.metrics` computes the same values
(to rounding) without a row on the driver: what Spark aggregates on its executors is enough.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from challengers.data.frames import DAY
from challengers.engine.base import ScoreStats
from challengers.errors import ConfigError
from challengers.evaluation.curve import Cost, Curve, Ranked
from challengers.evaluation.metrics import MetricSpec, compute

ROW_METRICS = ("entity_precision_at",)  # need rows (entities per day), not per-score counts


def curve_from_stats(stats: ScoreStats, *, calibrated: bool, cost: Cost | None = None) -> Curve:
    """The curve of the rows summarised by ``stats``."""
    m = len(stats.score)
    score = np.repeat(stats.score, 2)  # already descending: the stable sort keeps this order
    y = np.tile(np.array([1.0, 0.0]), m)
    weights = np.empty(2 * m)
    weights[0::2], weights[1::2] = stats.positives, stats.negatives
    amount = None
    if stats.fraud_amount is not None:
        amount = np.zeros(2 * m)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(stats.positives > 0, stats.fraud_amount / stats.positives, 0.0)
        amount[0::2] = mean
    ranked = Ranked.build(y, score, amount=amount, calibrated=calibrated)
    return Curve(ranked, weights=weights[None, :], cost=cost or Cost())


def metrics_from_stats(
    stats: ScoreStats,
    specs: Sequence[MetricSpec],
    *,
    operating_rate: float,
    calibrated: bool,
    cost: Cost | None = None,
) -> dict[str, float]:
    """Each metric's value (keyed as :attr:`MetricSpec.key`) from the per-score counts."""
    rows = [s for s in specs if s.name in ROW_METRICS]
    if rows:
        raise ConfigError(
            f"metric {rows[0].key} needs the rows (entities per day), not per-score counts"
        )
    curve = curve_from_stats(stats, calibrated=calibrated, cost=cost)
    return {s.key: float(compute(s, curve, operating_rate)[0]) for s in specs}


def card_precision(cells: pl.DataFrame, k: int) -> float:
    """The handbook's card precision top-k averaged over days, from ranked entity-day cells
    (:meth:`Engine.entity_day_cells`): per day, the first ``k`` entities not detected on an earlier
    day; precision = frauds among them / k; the frauds among them are detected from then on."""
    removed: set[object] = set()
    per_day = []
    for _, day in cells.sort(DAY, "rank").group_by(DAY, maintain_order=True):
        top: list[tuple[object, float]] = []
        for entity, label in day.select("entity", "label").iter_rows():
            if entity not in removed:
                top.append((entity, label))
                if len(top) == k:
                    break
        per_day.append(sum(label for _, label in top) / k)
        removed.update(entity for entity, label in top if label > 0)
    return float(np.mean(per_day)) if per_day else float("nan")
