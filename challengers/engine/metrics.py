"""Exact metrics from per-score sufficient statistics, whichever engine aggregated them.

Every metric except card precision reads only, per tie group of scores, the count of positives and
negatives and the positives' amount (:class:`~challengers.engine.base.ScoreStats`): the running
sums at the groups' ends are those of the rows themselves (:class:`GroupCurve`), so
:mod:`challengers.evaluation.metrics` computes the same values (to rounding) without a row on the
driver: what Spark aggregates on its executors is enough. The Brier score, a sum over the rows, is
the statistics' own sum of squared errors; card precision reads each day's first entities
(:meth:`Engine.entity_day_cells`, :func:`card_precision`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from challengers.data.frames import DAY
from challengers.engine.base import Engine, ScoreStats
from challengers.errors import ConfigError
from challengers.evaluation.curve import Cost, Curve, FloatArray, Ranked
from challengers.evaluation.metrics import MetricSpec, compute

ROW_METRICS = ("entity_precision_at",)  # need rows (entities per day), not per-score counts


class GroupCurve(Curve):
    """The curve of the rows summarised by ``groups``: the running positives, rows and fraud
    amount at each group's end, one entry a group (the rows' curve at its tie groups' ends).
    Only the metrics that read rows (Brier's squared errors, card precision's entities) read
    its ``ranked``, which holds none: they are computed apart (:func:`metrics_from_stats`)."""

    def __init__(self, groups: ScoreStats, *, calibrated: bool, cost: Cost | None = None) -> None:
        empty = np.zeros(0)
        super().__init__(Ranked.build(empty, empty, calibrated=calibrated), cost=cost or Cost())
        self.groups = groups

    @cached_property
    def tp(self) -> FloatArray:
        return np.cumsum(self.groups.positives)[None, :]

    @cached_property
    def count(self) -> FloatArray:
        return np.cumsum(self.groups.positives + self.groups.negatives)[None, :]

    @cached_property
    def fraud_amount(self) -> FloatArray:
        if self.groups.fraud_amount is None:
            raise ConfigError("this metric needs amounts: set data.amount to the amount column")
        return np.cumsum(self.groups.fraud_amount)[None, :]


def metrics_from_stats(
    stats: ScoreStats,
    specs: Sequence[MetricSpec],
    *,
    operating_rate: float,
    calibrated: bool,
    cost: Cost | None = None,
) -> dict[str, float]:
    """Each metric's value (keyed as :attr:`MetricSpec.key`) from the per-score counts.
    ``calibrated``: the kind's scores are probabilities (and, as the evaluation asks, all in
    [0, 1]: :attr:`ScoreStats.in_unit`), else the Brier score is NaN."""
    rows = [s for s in specs if s.name in ROW_METRICS]
    if rows:
        raise ConfigError(
            f"metric {rows[0].key} needs the rows (entities per day), not per-score counts"
        )
    curve = GroupCurve(stats, calibrated=calibrated, cost=cost)
    values = {}
    for s in specs:
        if s.name == "brier":  # a sum over the rows, not over the groups' ends
            values[s.key] = stats.squared_error / stats.rows if calibrated else float("nan")
        else:
            values[s.key] = float(compute(s, curve, operating_rate)[0])
    return values


def metrics_on_engine(
    engine: Engine[Any],
    rows: Any,
    specs: Sequence[MetricSpec],
    *,
    score: str,
    target: str,
    amount: str | None,
    entity: str | None,
    operating_rate: float,
    calibrated: bool,
    cost: Cost,
) -> dict[str, float]:
    """Every metric of ``specs`` of the ``score`` column of ``rows`` where the engine holds them,
    as the evaluation computes them on the driver (to rounding): the groups' counts
    (:meth:`Engine.score_groups`) for all but card precision, each day's first entities
    (:meth:`Engine.entity_day_cells`) for it. ValueError when a score is not finite."""
    stats = engine.score_groups(rows, score=score, target=target, amount=amount)
    if stats.non_finite:
        raise ValueError(f"{stats.non_finite} scores are NaN or infinite")
    grouped = [s for s in specs if s.name not in ROW_METRICS]
    values = metrics_from_stats(
        stats,
        grouped,
        operating_rate=operating_rate,
        calibrated=calibrated and stats.in_unit,
        cost=cost,
    )
    for s in specs:
        if s.name in ROW_METRICS:
            if entity is None:
                raise ConfigError(f"{s.key} needs data.entity (the card/customer id column)")
            k = int(s.argument(operating_rate) or 0)
            cells = engine.entity_day_cells(rows, score=score, target=target, entity=entity, k=k)
            values[s.key] = card_precision(cells, k)
    return {s.key: values[s.key] for s in specs}


def card_precision(cells: pl.DataFrame, k: int) -> float:
    """The handbook's card precision top-k averaged over days, from ranked entity-day cells
    (:meth:`Engine.entity_day_cells`), as :func:`~challengers.evaluation.metrics.entity_precision_at`
    computes it: per day, the entities by rank, those tied at the cut (one rank) sharing the
    places left pro rata; precision = frauds among the top k / k; a fraud entity in is detected
    (tied ones with their share: ``keep`` is the chance it is still undetected) and leaves
    later days."""
    keep: dict[object, float] = {}
    per_day = []
    for _, day in cells.sort(DAY, "rank").group_by(DAY, maintain_order=True):
        cum = hits = 0.0
        for _, tied in day.group_by("rank", maintain_order=True):
            if cum >= k:
                break
            group = [
                (e, label, keep.get(e, 1.0))
                for e, label in tied.select("entity", "label").iter_rows()
            ]
            total = sum(w for *_, w in group)
            if total <= 0:
                continue
            inc = min(k - cum, total)
            hits += inc * (sum(w for _, label, w in group if label > 0) / total)
            present = sum(w > 0 for *_, w in group)
            for e, label, w in group:
                if label > 0 and w > 0:  # a lone entity is in; tied ones with their share
                    keep[e] = w * (1.0 - (min(1.0, inc / w) if present == 1 else inc / total))
            cum += total
        per_day.append(hits / k)
    return float(np.mean(per_day)) if per_day else float("nan")
