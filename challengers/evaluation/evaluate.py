"""Evaluation of every model on the same test rows: headline metrics, intervals, paired deltas.

Headline metrics are exact on every test row (:mod:`challengers.evaluation.metrics`). Intervals and deltas come
from one paired bootstrap (:mod:`challengers.evaluation.bootstrap`) resampling entities, days or rows. The p-value
of the ROC-AUC delta is DeLong's (clustered by the same blocks when they are entities or days); the
other deltas' p-values are the paired bootstrap's. Every delta's p-value is also Holm-adjusted
across the challengers of the run, metric by metric, and says which method produced it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from challengers.data.frames import DAY
from challengers.errors import ConfigError
from challengers.evaluation.bootstrap import (
    Unit,
    bootstrap_p_value,
    holm,
    paired_bootstrap,
    percentile_interval,
)
from challengers.evaluation.curve import Cost, Curve, Ranked
from challengers.evaluation.delong import Components, components, delong_from_components
from challengers.evaluation.metrics import MetricSpec, compute


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
    """Challenger minus champion on one metric: value, bootstrap interval, raw and Holm p-values.

    ``method`` names the test behind ``p_value``: ``delong`` (rows independent),
    ``delong-clustered:<unit>`` (clustered by entity or day), or ``bootstrap:<unit>`` (the paired
    bootstrap over entities, days or rows). The interval is always the bootstrap's.
    """

    value: float
    ci: tuple[float, float]
    p_value: float
    p_value_adjusted: float | None = None
    method: str = "bootstrap"


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


def resample_unit(rows: TestRows, resample: str | None) -> tuple[Unit, np.ndarray | None]:
    """The bootstrap unit and each row's block code: entities by default when the data has them."""
    unit = resample or ("entity" if rows.entity is not None else "row")
    if unit == "entity":
        if rows.entity is None:
            raise ConfigError("evaluation.resample is 'entity' but data.entity is not set")
        return "entity", rows.entity
    if unit == "day":
        if rows.day is None:
            raise ConfigError("evaluation.resample is 'day' but the test rows carry no day")
        return "day", rows.day
    if unit == "row":
        return "row", None
    raise ConfigError(f"evaluation.resample must be entity, day or row, got '{resample}'")


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
    resample: str | None = None,
    threads: int | None = None,
) -> dict[str, ModelEvaluation]:
    """Headline metrics for every model; with ``bootstrap`` > 0, intervals and paired deltas.

    ``resample`` is the bootstrap unit (entity, day or row; default entity when ``rows.entity`` is
    set). Deltas carry raw p-values and Holm-adjusted ones across the challengers.
    """
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
    unit, blocks = resample_unit(rows, resample)
    reps = paired_bootstrap(
        ranked,
        metrics,
        replicates=bootstrap,
        seed=seed,
        cost=cost,
        operating_rate=operating_rate,
        blocks=blocks,
        unit=unit,
        threads=threads,
    ).values
    for name, result in results.items():
        for m in metrics:
            result.ci[m.key] = percentile_interval(reps[name][m.key], alpha)
    if champion in reps:
        _paired_deltas(results, reps, rows, scores, champion, metrics, alpha, unit, blocks)
    return results


def _paired_deltas(
    results: dict[str, ModelEvaluation],
    reps: dict[str, dict[str, np.ndarray]],
    rows: TestRows,
    scores: Mapping[str, np.ndarray],
    champion: str,
    metrics: Sequence[MetricSpec],
    alpha: float,
    unit: Unit,
    blocks: np.ndarray | None,
) -> None:
    """Each challenger minus the champion: value, bootstrap CI, p-value (DeLong for ROC AUC)."""
    challengers = [name for name in results if name != champion]
    parts: dict[str, Components] = {}
    for m in metrics:
        for name in challengers:
            point = results[name].metrics[m.key] - results[champion].metrics[m.key]
            diffs = reps[name][m.key] - reps[champion][m.key]
            delta = Delta(
                value=point if math.isfinite(point) else float("nan"),
                ci=percentile_interval(diffs, alpha),
                p_value=bootstrap_p_value(diffs),
                method=f"bootstrap:{unit}",
            )
            if m.name == "roc_auc":
                for model in (name, champion):
                    if model not in parts:
                        parts[model] = components(rows.y, scores[model])
                test = delong_from_components(rows.y, parts[name], parts[champion], clusters=blocks)
                delta.p_value = test.p_value
                delta.method = "delong" if blocks is None else f"delong-clustered:{unit}"
            results[name].delta[m.key] = delta
        adjusted = holm([results[name].delta[m.key].p_value for name in challengers])
        for name, p in zip(challengers, adjusted, strict=True):
            results[name].delta[m.key].p_value_adjusted = p
