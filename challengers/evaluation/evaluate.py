"""Evaluation of every model on the same test rows: headline metrics, intervals, paired deltas.

Headline metrics are exact on every test row (:mod:`challengers.evaluation.metrics`). Intervals and
deltas come from one paired bootstrap (:mod:`challengers.evaluation.bootstrap`) resampling the
run's unit (entities, days or rows; :func:`resampling` chooses it and refuses day blocks where they
do not hold). The ROC-AUC delta's interval and p-value both come from DeLong's test (clustered by
the same blocks when they are entities or days), so they agree by construction; the other deltas'
intervals and p-values are the paired bootstrap's. One metric is primary: it decides the verdict
(:func:`decision`), Holm-adjusted across the challengers; the secondary metrics are Holm-adjusted
over the challenger x metric family (:func:`adjust`). Every delta says which method produced it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from statistics import NormalDist
from typing import Literal

import numpy as np
import polars as pl

from challengers.data.checks import missing_values
from challengers.data.frames import DAY
from challengers.errors import ConfigError, DataError
from challengers.evaluation.bootstrap import (
    Unit,
    bootstrap_p_value,
    holm,
    paired_bootstrap,
    percentile_interval,
)
from challengers.evaluation.curve import Cost, Curve, Parts, Ranges, Ranked, dense_codes, narrow
from challengers.evaluation.delong import (
    ClusterComponents,
    Components,
    DeLongResult,
    cluster_components_of_ranking,
    components_of_ranking,
    delong_from_cluster_sums,
    delong_from_components,
)
from challengers.evaluation.metrics import MetricSpec, compute
from challengers.results import DeltaResult
from challengers.threads import each


@dataclass(frozen=True)
class TestRows:
    """The test window as the metrics see it: labels, and what some metrics group by."""

    y: np.ndarray  # 0/1 labels (int8 from from_frame)
    amount: np.ndarray | None = None
    entity: np.ndarray | None = None  # codes 0..E-1
    day: np.ndarray | None = None  # codes 0..D-1 in date order

    @classmethod
    def from_frame(
        cls, frame: pl.DataFrame, *, target: str, amount: str | None, entity: str | None
    ) -> TestRows:
        def codes(column: str) -> np.ndarray:
            return column_codes(frame.get_column(column))

        return cls(
            y=frame.get_column(target).cast(pl.Int8).to_numpy(),  # 0/1: 1 byte a row, not 8
            amount=None if amount is None else frame.get_column(amount).cast(pl.Float64).to_numpy(),
            entity=None if entity is None else codes(entity),
            day=codes(DAY) if DAY in frame.columns else None,
        )

    @property
    def positives(self) -> int:
        return int(self.y.sum())


def column_codes(series: pl.Series) -> np.ndarray:
    """Each value's dense rank, 0-based (``rank("dense") - 1``): the number of distinct values
    below it. Integer and date columns without nulls whose values span at most a few times their
    length take it in O(rows) from a table of the values present (no sort); others are ranked.
    int32 below 2**29 rows (the codes are below the row count, and the table of values present,
    at most 4n + 1024, fits int32 then): half the memory of int64 for the entity and day of every
    test row, and of every ranking built from them. A missing value (null, or NaN) has no code:
    DataError (its rank was NaN, cast to a garbage int32 that compiled kernels indexed with, and
    a segmentation fault; NaN ranked as one value, every such row one customer)."""
    _check_codable(series)
    code, polars_code = (np.int32, pl.Int32) if series.len() < 2**29 else (np.int64, pl.Int64)
    physical = series.to_physical()
    if physical.dtype.is_integer() and series.len():
        lo, hi = physical.min(), physical.max()
        assert isinstance(lo, int) and isinstance(hi, int)
        if hi - lo < 4 * series.len() + 1024:
            at = (physical - lo).cast(pl.Int64).to_numpy()  # 0 .. hi - lo
            present = np.zeros(hi - lo + 1, dtype=np.bool_)
            present[at] = True
            return (np.cumsum(present, dtype=code) - 1)[at]
    return series.rank("dense").cast(polars_code).to_numpy() - 1


def _check_codable(series: pl.Series) -> None:
    """The data checks refuse missing entities on the windows' rows (data.checks); this guards
    every other way rows reach the codes."""
    missing, what = missing_values(series)
    if missing:
        raise DataError(
            f"column '{series.name}' is {what} in {missing:,} of the {series.len():,} rows "
            "evaluated, and the metrics group by it; fill the gaps (e.g. with the transaction id) "
            "or unset data.entity"
        )


MIN_DAY_BLOCKS = 20  # fewer test days than this and day blocks under-cover (issue 18: 7 days, 90%)
# fewer entities than this and the entity bootstrap reweights the same few blocks: with one, every
# replicate is the whole window scaled, and two equally good models read p = 0.006 on pr_auc
MIN_ENTITY_BLOCKS = MIN_DAY_BLOCKS


@dataclass(frozen=True)
class Resampling:
    """The unit every interval and test of a run resamples, each row's block, and why that unit."""

    unit: Unit
    blocks: np.ndarray | None  # block code of each row (original order); None: rows
    reason: str

    @property
    def unit_and_blocks(self) -> tuple[Unit, np.ndarray | None]:
        return self.unit, self.blocks


@dataclass
class ModelEvaluation:
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    delta: dict[str, DeltaResult] = field(default_factory=dict)


def rank_all(
    rows: TestRows,
    scores: Mapping[str, np.ndarray],
    calibrated: Mapping[str, bool],
    threads: int | None = None,
) -> dict[str, Ranked]:
    """Every model's :func:`rank_scores`: sorted once, read by the evaluation and diagnostics
    (``threads`` models at a time)."""

    def rank(name: str) -> Ranked:
        return rank_scores(rows, scores[name], calibrated=calibrated.get(name, False))

    return dict(zip(scores, each(rank, scores, threads), strict=True))


def rank_scores(rows: TestRows, scores: np.ndarray, *, calibrated: bool) -> Ranked:
    return Ranked.build(
        rows.y,
        scores,
        amount=rows.amount,
        entity=rows.entity,
        day=rows.day,
        calibrated=calibrated and _in_unit(scores),
    )


def _in_unit(scores: np.ndarray) -> bool:
    return bool(scores.size) and float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0


def part_rows(rows: TestRows, index: np.ndarray | slice) -> TestRows:
    """The rows at ``index`` (ascending, or a slice: views of the rows' arrays) as
    ``TestRows.from_frame`` on those rows of the frame gives them: entity and day codes
    renumbered densely within the part."""

    def dense(codes: np.ndarray | None) -> np.ndarray | None:
        if codes is None or not codes.size:
            return None if codes is None else codes[index]
        # int32, as the window's codes: every model's ranking of the part shares them (as int64
        # each ranking made its own int32 copy beside them)
        return narrow(dense_codes(codes[index], int(codes.max()) + 1), codes.size)

    return TestRows(
        y=rows.y[index],
        amount=None if rows.amount is None else rows.amount[index],
        entity=dense(rows.entity),
        day=dense(rows.day),
    )


def ranked_parts(
    rows: TestRows,
    ranked: Mapping[str, Ranked],
    calibrated: Mapping[str, bool],
    parts: Parts | Ranges,
    threads: int | None = None,
) -> Iterator[tuple[np.ndarray | slice, TestRows, dict[str, Ranked]]]:
    """Each part of the test rows (a week, a day): its row indices, its rows (:func:`part_rows`)
    and every model's ranking of them, equal to :func:`rank_scores` on the part, read from the
    rankings of the whole window (no sort of the scores; ``threads`` models at a time)."""
    per_model = {name: parts.of(r) for name, r in ranked.items()}
    for index in parts.rows:
        part = part_rows(rows, index)
        taken = each(partial(_next_part, per_model, part, calibrated), per_model, threads)
        models = dict(zip(per_model, taken, strict=True))
        yield index, part, models
        del part, models  # this part's rankings, before the next part's are built


def _next_part(
    per_model: Mapping[str, Iterator[Ranked]],
    part: TestRows,
    calibrated: Mapping[str, bool],
    name: str,
) -> Ranked:
    """Model ``name``'s ranking of the next part (:func:`ranked_parts`)."""
    return _of_part(next(per_model[name]), part, calibrated.get(name, False))


def _of_part(r: Ranked, part: TestRows, calibrated: bool) -> Ranked:
    """A model's ranking of a part with the part's own entity and day codes."""
    return r.recoded(part.entity, part.day, calibrated=calibrated and _in_unit(r.row_score))


def headline(
    ranked: Ranked, metrics: Sequence[MetricSpec], *, cost: Cost, operating_rate: float
) -> dict[str, float]:
    """Exact metrics on every test row."""
    curve = Curve(ranked, None, cost)
    return {m.key: float(compute(m, curve, operating_rate)[0]) for m in metrics}


def resampling(rows: TestRows, resample: str | None, *, force: bool = False) -> Resampling:
    """The bootstrap unit of the run and why: entities by default when the data has them.

    Day blocks are refused (ConfigError, exit 2) with fewer than :data:`MIN_DAY_BLOCKS` test days
    (too few blocks: intervals under-cover, tests over-reject) or when an entity's rows span several
    days (its rows fall in different blocks, which treats them as independent), unless ``force``;
    entity blocks with fewer than :data:`MIN_ENTITY_BLOCKS` entities in the test rows, likewise.
    """
    if resample is None:
        if rows.entity is not None:
            return _entity_blocks(rows, force, "default: data.entity is set")
        return Resampling("row", None, "default: no data.entity")
    if resample == "entity":
        if rows.entity is None:
            raise ConfigError("evaluation.resample is 'entity' but data.entity is not set")
        return _entity_blocks(rows, force, "configured (evaluation.resample: entity)")
    if resample == "day":
        return _day_blocks(rows, force)
    if resample == "row":
        return Resampling("row", None, "configured (evaluation.resample: row)")
    raise ConfigError(f"evaluation.resample must be entity, day or row, got '{resample}'")


def fraud_units(rows: TestRows, unit: str) -> int:
    """The resampling units (entities, days, rows) that hold a fraud: the independent pieces of
    evidence a paired test has about the frauds, fewer than the frauds when a card's frauds are
    many rows."""
    frauds = rows.y > 0
    codes = {"entity": rows.entity, "day": rows.day}.get(unit)
    if codes is None:
        return int(np.count_nonzero(frauds))
    return int(np.unique(codes[frauds]).size)


def _entity_blocks(rows: TestRows, force: bool, reason: str) -> Resampling:
    """Entity blocks, refused with too few entities for a bootstrap (unless ``force``): one
    entity made every replicate the whole window reweighted, a zero-width interval and p =
    2/(B+1) for any difference, so a run declared a challenger better or worse on noise."""
    assert rows.entity is not None
    entities = int(np.unique(rows.entity).size)
    if entities >= MIN_ENTITY_BLOCKS:
        return Resampling("entity", rows.entity, reason)
    problem = f"the test rows hold {entities} entities (entity blocks need {MIN_ENTITY_BLOCKS})"
    if not force:
        raise ConfigError(
            f"evaluation.resample: entity blocks do not hold here: {problem}; check data.entity "
            "names the card or customer id, use evaluation.resample: row, or set "
            "evaluation.resample_force: true to use the entities anyway"
        )
    return Resampling("entity", rows.entity, f"{reason}; forced although {problem}")


def _day_blocks(rows: TestRows, force: bool) -> Resampling:
    if rows.day is None:
        raise ConfigError("evaluation.resample is 'day' but the test rows carry no day")
    days = int(np.unique(rows.day).size)
    spanning = 0
    if rows.entity is not None and rows.y.size:
        first = np.full(int(rows.entity.max()) + 1, np.iinfo(np.int64).max)
        last = np.full(first.size, -1)
        np.minimum.at(first, rows.entity, rows.day)
        np.maximum.at(last, rows.entity, rows.day)
        spanning = int(np.count_nonzero((last >= 0) & (last > first)))
    problems = []
    if days < MIN_DAY_BLOCKS:
        problems.append(f"the test rows fall on {days} days (day blocks need {MIN_DAY_BLOCKS})")
    if spanning:
        problems.append(f"{spanning:,} entities have rows on several test days")
    if problems and not force:
        raise ConfigError(
            f"evaluation.resample: day blocks do not hold here: {'; '.join(problems)}; use "
            "entity (or row), or set evaluation.resample_force: true to use days anyway"
        )
    reason = f"configured (evaluation.resample: day; {days} test days)"
    if problems:
        reason = f"configured and forced (evaluation.resample_force) although {'; '.join(problems)}"
    return Resampling("day", rows.day, reason)


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
    resample_force: bool = False,
    primary: str | None = None,
    threads: int | None = None,
    ranked: Mapping[str, Ranked] | None = None,
    deltas: bool = True,
) -> dict[str, ModelEvaluation]:
    """Headline metrics for every model; with ``bootstrap`` > 0, intervals and (unless
    ``deltas`` is False) paired deltas.

    ``resample`` is the bootstrap unit (entity, day or row; default entity when ``rows.entity`` is
    set; see :func:`resampling` for ``resample_force``). ``primary`` is the key of the metric that
    decides the verdict (default: the first metric). Deltas carry raw p-values and Holm-adjusted
    ones (see :func:`adjust`). ``ranked``: each model's :func:`rank_scores` of these rows, when the
    caller has them (not sorted again). ``deltas=False``: the intervals alone, for a caller that
    reads no delta (a week's bands), without the DeLong tests read from each model's ranking.
    """
    if ranked is None:
        ranked = rank_all(rows, scores, calibrated, threads)

    def exact(r: Ranked) -> ModelEvaluation:
        return ModelEvaluation(headline(r, metrics, cost=cost, operating_rate=operating_rate))

    results = dict(zip(ranked, each(exact, ranked.values(), threads), strict=True))
    if bootstrap <= 0:
        return results
    unit, blocks = resampling(rows, resample, force=resample_force).unit_and_blocks
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
    if deltas and champion in reps:
        _paired_deltas(results, reps, rows, ranked, champion, metrics, alpha, unit, blocks)
        adjust(
            {name: r.delta for name, r in results.items() if name != champion},
            primary or metrics[0].key,
        )
    return results


def _paired_deltas(
    results: dict[str, ModelEvaluation],
    reps: dict[str, dict[str, np.ndarray]],
    rows: TestRows,
    ranked: Mapping[str, Ranked],
    champion: str,
    metrics: Sequence[MetricSpec],
    alpha: float,
    unit: Unit,
    blocks: np.ndarray | None,
) -> None:
    """Each challenger minus the champion: value, interval and p-value from one method each
    (DeLong for ROC AUC, the paired bootstrap otherwise); DeLong reads each model's ranking."""
    challengers = [name for name in results if name != champion]
    # the champion's components, and one challenger's at a time: with blocks, per-block sums
    held: dict[str, Components | ClusterComponents] = {}

    def parts_of(model: str) -> Components | ClusterComponents:
        if model in held:
            return held[model]
        r = ranked[model]  # read from the ranking: no sort of the scores
        found: Components | ClusterComponents
        if blocks is None:
            found = components_of_ranking(rows.y, r.y, r.ends, r.order)  # 8 bytes a row
        else:
            found = cluster_components_of_ranking(r.y, r.ends, r.order, blocks)
        if model == champion:
            held[model] = found
        return found

    def delong(name: str) -> DeLongResult:
        a, b = parts_of(name), parts_of(champion)
        if isinstance(a, ClusterComponents) and isinstance(b, ClusterComponents):
            return delong_from_cluster_sums(a, b)
        assert isinstance(a, Components) and isinstance(b, Components)
        return delong_from_components(rows.y, a, b)

    for m in metrics:
        for name in challengers:
            point = results[name].metrics[m.key] - results[champion].metrics[m.key]
            diffs = reps[name][m.key] - reps[champion][m.key]
            delta = DeltaResult(
                value=point if math.isfinite(point) else float("nan"),
                ci=percentile_interval(diffs, alpha),
                p_value=bootstrap_p_value(diffs),
                method=f"bootstrap:{unit}",
            )
            if m.name == "roc_auc":
                test = delong(name)
                delta.ci = _wald_interval(test.delta, test.se, alpha)
                delta.p_value = test.p_value
                delta.method = "delong" if blocks is None else f"delong-clustered:{unit}"
            results[name].delta[m.key] = delta


def _wald_interval(delta: float, se: float, alpha: float) -> tuple[float, float]:
    """delta -/+ z(1 - alpha/2) se: excludes zero exactly when DeLong's two-sided p < alpha."""
    if not (math.isfinite(delta) and math.isfinite(se)):
        return (float("nan"), float("nan"))
    half = NormalDist().inv_cdf(1 - alpha / 2) * se
    return (delta - half, delta + half)


def adjust(deltas: Mapping[str, Mapping[str, DeltaResult]], primary: str) -> None:
    """Holm-adjust in place: the ``primary`` metric across the models (challengers, or twins), the
    other metrics together over the model x metric family; marks each delta primary or not.

    The verdict rests on the primary metric alone, so "beats" keeps its error rate whatever the
    number of metrics; a secondary metric is significant only after paying for every model and
    secondary metric tested.
    """
    primary_family = [(n, k) for n, ds in deltas.items() for k in ds if k == primary]
    secondary_family = [(n, k) for n, ds in deltas.items() for k in ds if k != primary]
    for family in (primary_family, secondary_family):
        adjusted = holm([deltas[n][k].p_value for n, k in family])
        for (n, k), p in zip(family, adjusted, strict=True):
            deltas[n][k].p_value_adjusted = p
            deltas[n][k].primary = k == primary


Decision = Literal["beats", "worse"]


def decision(delta: DeltaResult, alpha: float, higher_is_better: bool) -> Decision | None:
    """ "beats" or "worse" when the (Holm-adjusted, else raw) p-value is below ``alpha``: on the
    primary metric this is the verdict; two-sided at ``alpha``, each direction errs at most alpha/2."""
    p = delta.p_value if delta.p_value_adjusted is None else delta.p_value_adjusted
    if not (math.isfinite(p) and p < alpha and math.isfinite(delta.value)) or delta.value == 0:
        return None
    return "beats" if (delta.value > 0) == higher_is_better else "worse"
