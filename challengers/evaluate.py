"""Evaluation of every model on the same test rows: headline metrics, intervals, paired deltas."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from challengers.data import DAY
from challengers.metrics import Cost, Curve, MetricSpec, Ranked, compute
from challengers.stats import bootstrap_p_value, paired_bootstrap, percentile_interval


@dataclass(frozen=True)
class TestRows:
    """The test window as the metrics see it: labels, and what some metrics group by."""

    y: np.ndarray
    amount: np.ndarray | None = None
    entity: np.ndarray | None = None  # codes 0..E-1
    day: np.ndarray | None = None  # codes 0..D-1 in date order

    @classmethod
    def from_frame(
        cls, frame: pl.DataFrame, *, target: str, amount: str | None, entity: str | None
    ) -> TestRows:
        def codes(column: str) -> np.ndarray:
            return frame.get_column(column).rank("dense").cast(pl.Int64).to_numpy() - 1

        return cls(
            y=frame.get_column(target).cast(pl.Float64).to_numpy(),
            amount=None if amount is None else frame.get_column(amount).cast(pl.Float64).to_numpy(),
            entity=None if entity is None else codes(entity),
            day=codes(DAY) if DAY in frame.columns else None,
        )

    @property
    def positives(self) -> int:
        return int(self.y.sum())


@dataclass
class Delta:
    value: float
    ci: tuple[float, float]
    p_value: float
    p_value_adjusted: float | None = None


@dataclass
class ModelEvaluation:
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    delta: dict[str, Delta] = field(default_factory=dict)


def rank_scores(rows: TestRows, scores: np.ndarray, *, calibrated: bool) -> Ranked:
    in_unit = bool(scores.size) and float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0
    return Ranked.build(
        rows.y,
        scores,
        amount=rows.amount,
        entity=rows.entity,
        day=rows.day,
        calibrated=calibrated and in_unit,
    )


def headline(
    ranked: Ranked, metrics: Sequence[MetricSpec], *, cost: Cost, operating_rate: float
) -> dict[str, float]:
    """Exact metrics on every test row."""
    curve = Curve(ranked, None, cost)
    return {m.key: float(compute(m, curve, operating_rate)[0]) for m in metrics}


def evaluate_models(
    rows: TestRows,
    scores: Mapping[str, np.ndarray],
    calibrated: Mapping[str, bool],
    *,
    champion: str,
    metrics: Sequence[MetricSpec],
    cost: Cost,
    operating_rate: float,
    bootstrap: int,
    alpha: float,
    seed: int,
) -> dict[str, ModelEvaluation]:
    """Headline metrics for every model; with ``bootstrap`` > 0, intervals and paired deltas."""
    ranked = {
        name: rank_scores(rows, s, calibrated=calibrated.get(name, False))
        for name, s in scores.items()
    }
    results = {
        name: ModelEvaluation(headline(r, metrics, cost=cost, operating_rate=operating_rate))
        for name, r in ranked.items()
    }
    if bootstrap <= 0:
        return results
    reps = paired_bootstrap(
        ranked,
        metrics,
        replicates=bootstrap,
        seed=seed,
        cost=cost,
        operating_rate=operating_rate,
        blocks=rows.entity,
    ).values
    for name, result in results.items():
        for m in metrics:
            result.ci[m.key] = percentile_interval(reps[name][m.key], alpha)
            if name == champion or champion not in reps:
                continue
            point = result.metrics[m.key] - results[champion].metrics[m.key]
            diffs = reps[name][m.key] - reps[champion][m.key]
            result.delta[m.key] = Delta(
                value=point if math.isfinite(point) else float("nan"),
                ci=percentile_interval(diffs, alpha),
                p_value=bootstrap_p_value(diffs),
            )
    return results
