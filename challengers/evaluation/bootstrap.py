"""Paired inference: a fast paired Poisson bootstrap, percentile intervals, p-values, Holm.

Every model is scored on the same resampled test rows in each replicate. Resampling is by blocks of
dependent rows: entities (a card's transactions are not independent) when the data names one, days
on request, rows otherwise. Each block gets a Poisson(1) weight per replicate from a counter-based
hash of (seed, replicate, block) (the Poisson bootstrap: the multinomial's large-n limit, with no
draw shared across blocks, so replicates are computed independently and in parallel). The compiled
kernels of :mod:`challengers.evaluation.kernels` make one pass per model and replicate over rows
sorted once; this module prepares their inputs and turns their statistics into metric values with
each metric's formula (its :class:`~challengers.evaluation.metrics.Metric` record, next to the exact
reference function a test compares it with).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from challengers.errors import ConfigError
from challengers.evaluation.curve import (
    Cost,
    Ranked,
    entity_day_table,
    require_amount,
    safe_div,
)
from challengers.evaluation.metrics import MetricSpec, amount_needed, entity_precision_per_day
from challengers.threads import each, workers

Unit = Literal["entity", "day", "row"]
# replicates per compiled call, the unit of work of a thread: kernels.LANES, the replicates one
# pass over a model's rows serves (their block weights packed in one 64-bit word per block)
REPLICATES_PER_CALL = 16


@dataclass(frozen=True)
class Replicates:
    """Bootstrap replicate values: model -> metric key -> array of length B."""

    values: dict[str, dict[str, np.ndarray]]


def block_weights(seed: int, first: int, count: int, n_blocks: int) -> np.ndarray:
    """Poisson(1) weights of ``n_blocks`` blocks in replicates ``first .. first+count-1``.

    Exactly the weights the engine uses; the engine itself never stores this matrix.
    """
    from challengers.evaluation import kernels as kern  # numba loads only when needed

    return kern.weight_matrix(int(seed), int(first), int(count), int(n_blocks))


@dataclass(frozen=True)
class _Plan:
    """What the kernels must measure, from the metrics' parameter kinds and needs: FPR limits,
    alert rates (the operating rate too when a metric is evaluated there), entity top-k values,
    and the Brier sums when a metric needs calibrated scores."""

    limits: np.ndarray
    rates: np.ndarray
    ks: np.ndarray
    calibrated: bool

    @classmethod
    def of(cls, metrics: Sequence[MetricSpec], operating_rate: float) -> _Plan:
        def params(kind: str) -> np.ndarray:
            values = {
                float(m.param) for m in metrics if m.info.param == kind and m.param is not None
            }
            if kind == "alert_rate" and any("operating_point" in m.info.needs for m in metrics):
                values.add(float(operating_rate))
            return np.array(sorted(values), dtype=np.float64)

        return cls(
            limits=params("fpr"),
            rates=params("alert_rate"),
            ks=params("k"),
            calibrated=any("calibrated" in m.info.needs for m in metrics),
        )


def _column(planned: np.ndarray, value: float) -> int:
    """The kernels' column of a planned parameter; a parameter the plan lacks is a bug, never a
    neighbouring column."""
    i = int(np.searchsorted(planned, value))
    if i >= planned.size or planned[i] != value:
        raise KeyError(f"parameter {value} was not planned for the kernels ({planned.tolist()})")
    return i


@dataclass(frozen=True)
class _Inputs:
    """Kernel inputs: per-block totals, and per model its rows in score order."""

    n_blocks: int
    blk_cnt: np.ndarray  # (K,) int32 rows per block
    pos_blk: np.ndarray  # blocks holding a positive
    pos_cnt: np.ndarray  # their positives
    pos_amt: np.ndarray  # their fraud amount (zeros without amounts)
    blk_sq: np.ndarray  # (calibrated models, K) Brier numerators
    blocks: np.ndarray  # (M, n) int32 block of each row, in each model's score order
    label: np.ndarray  # (M, n) uint8 label in score order
    amount: np.ndarray  # (M, P) the P positives' amounts in score order, or (M, 0)
    groups: np.ndarray  # (G, 2) start/stop of every tie group holding a positive, all models
    group_start: np.ndarray  # (M + 1,) each model's slice of ``groups``
    ent: np.ndarray  # (M, cells) int32 entity of each (day, entity) cell in score order, or (M, 0)
    lab: np.ndarray  # (M, cells) its max label
    tie_end: np.ndarray  # (M, cells) 1 where a cell ends its tie group
    day_start: np.ndarray  # (days + 1,) cell offsets of each day


def _inputs(models: list[Ranked], codes: np.ndarray, plan: _Plan, unit: Unit) -> _Inputs:
    first = models[0]
    n_blocks = int(codes.max()) + 1 if codes.size else 0
    # (M, n) arrays filled in place: each model's blocks gathered straight into its row, as int32
    blocks = np.empty((len(models), first.n), dtype=np.int32)
    label = np.empty((len(models), first.n), dtype=np.uint8)
    for row, r in enumerate(models):
        np.take(codes, r.order, out=blocks[row], mode="clip")  # order holds valid positions
        np.greater(r.y, 0, out=label[row].view(np.bool_))
    pos = np.bincount(blocks[0], weights=first.y, minlength=n_blocks)
    amt: np.ndarray = np.zeros(n_blocks)
    if first.fraud is not None:
        positives = np.flatnonzero(first.y)  # in score order, as ``first.fraud``
        amt = np.bincount(blocks[0][positives], weights=first.fraud, minlength=n_blocks)
    pos_blk = np.flatnonzero(pos > 0)
    sq = [
        np.bincount(c, weights=(r.score - r.y) ** 2, minlength=n_blocks)
        for r, c in zip(models, blocks, strict=True)
        if r.calibrated and plan.calibrated
    ]
    groups = [_positive_groups(r) for r in models]
    # the positives' amounts alone (the kernel reads a row's amount only when it is a fraud):
    # (M, n) float64 was 8 bytes a row and model
    frauds = [r.fraud for r in models if r.fraud is not None]
    amount = np.stack(frauds) if len(frauds) == len(models) else np.empty((len(models), 0))
    ent, lab, tie_end, day_start = _entity_cells(models, plan, unit)
    return _Inputs(
        n_blocks=n_blocks,
        blk_cnt=np.bincount(blocks[0], minlength=n_blocks).astype(np.int32),
        pos_blk=pos_blk.astype(np.int64),
        pos_cnt=pos[pos_blk],
        pos_amt=amt[pos_blk],
        blk_sq=np.stack(sq) if sq else np.empty((0, 0)),
        blocks=blocks,
        label=label,
        amount=np.ascontiguousarray(amount, dtype=np.float64),
        groups=np.concatenate(groups).astype(np.int64),
        group_start=np.cumsum([0] + [len(g) for g in groups]).astype(np.int64),
        ent=ent,
        lab=lab,
        tie_end=tie_end,
        day_start=day_start,
    )


def _positive_groups(r: Ranked) -> np.ndarray:
    """(start, stop) in score order of each tie group holding at least one positive."""
    group_of_row = np.repeat(np.arange(r.ends.size), np.diff(r.ends, prepend=-1))
    with_positive = np.unique(group_of_row[r.y > 0])
    stops = r.ends[with_positive] + 1
    starts = np.where(with_positive > 0, r.ends[with_positive - 1] + 1, 0)
    return np.stack([starts, stops], axis=1).reshape(-1, 2)


def _entity_cells(
    models: list[Ranked], plan: _Plan, unit: Unit
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (day, entity) cells of each model for entity precision under entity blocks: their
    entities, labels, tie-group ends, and each day's first cell."""
    empty = np.empty((len(models), 0), dtype=np.int32)
    if not plan.ks.size or unit != "entity":
        flags = empty.astype(np.uint8)
        return empty, flags, flags, np.zeros(1, dtype=np.int64)
    tables = [entity_day_table(r) for r in models]
    bounds = [s.start for s in tables[0].day_slices] + [tables[0].entity.size]
    return (
        # the cells' int32 entities as they are (an int64 copy was 8 bytes a cell and model)
        np.stack([t.entity for t in tables]),
        np.stack([t.label for t in tables]),
        np.stack([t.tie_end for t in tables]),
        np.array(bounds, dtype=np.int64),
    )


def paired_bootstrap(
    ranked: Mapping[str, Ranked],
    metrics: Sequence[MetricSpec],
    *,
    replicates: int,
    seed: int,
    cost: Cost,
    operating_rate: float,
    blocks: np.ndarray | None = None,
    unit: Unit | None = None,
    threads: int | None = None,
) -> Replicates:
    """The value of every metric for every model in each of ``replicates`` paired resamples.

    ``blocks`` gives each row's block code (0..K-1, original row order; rows when ``None``);
    ``unit`` says what the blocks are ("entity" by default when blocks are given): entity precision
    weights entities under entity blocks and averages its per-day values with day weights under day
    blocks; it cannot be bootstrapped over single rows. ``threads`` defaults to every core; the
    result does not depend on it.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    models = list(ranked.values())
    unit = unit or ("row" if blocks is None else "entity")
    # codes as given (int32 entity and day codes are not widened: 8 bytes a row less)
    codes = np.arange(models[0].n, dtype=np.int32) if blocks is None else np.asarray(blocks)
    plan = _Plan.of(metrics, operating_rate)
    _check(models, metrics, cost, unit, codes)
    inputs = _inputs(models, codes, plan, unit)
    stats = _Stats(*_run_all(inputs, plan, seed, replicates, workers(threads)))
    day_weights = None
    if plan.ks.size and unit == "day":
        day_weights = block_weights(seed, 0, replicates, inputs.n_blocks).astype(np.float64)
    values = {}
    for i, (name, r) in enumerate(ranked.items()):
        view = _View(stats, i, _brier_row(models, i, plan), r, plan, cost, day_weights)
        values[name] = {m.key: m.info.formula(view, m.argument(operating_rate)) for m in metrics}
    return Replicates(values)


def _check(
    models: list[Ranked], metrics: Sequence[MetricSpec], cost: Cost, unit: Unit, codes: np.ndarray
) -> None:
    """Refuse what the engine cannot bootstrap, before any work."""
    if amount_needed(metrics, cost_is_amount=cost.false_negative is None):
        require_amount(models[0])
    by_entity = [m.name for m in metrics if "entity" in m.info.needs]
    if by_entity and unit == "row":
        raise ConfigError(
            f"{by_entity[0]} cannot be bootstrapped over single rows: "
            "set evaluation.resample to entity (or day)"
        )
    if by_entity and unit == "entity":
        entity = models[0].row_entity
        if entity is None:
            raise ConfigError(f"{by_entity[0]} needs data.entity (the card/customer id column)")
        if codes is not entity and not np.array_equal(codes, entity):
            raise ValueError("entity blocks must be the rows' entity codes (Ranked.row_entity)")


def _run_all(
    inputs: _Inputs, plan: _Plan, seed: int, replicates: int, threads: int
) -> list[np.ndarray]:
    """Replicates in chunks over a thread pool (the kernels release the GIL); results in order,
    and identical for any number of threads."""
    per_call = REPLICATES_PER_CALL
    firsts = range(0, replicates, per_call)

    def chunk(first: int) -> tuple:
        return _run(inputs, plan, seed, first, min(per_call, replicates - first))

    parts = [chunk(firsts[0])] if firsts else []  # compiles or loads the kernels, once
    parts += each(chunk, firsts[1:], threads)
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


def _run(inputs: _Inputs, plan: _Plan, seed: int, first: int, count: int) -> tuple:
    from challengers.evaluation import kernels as kern  # numba loads only when needed

    return kern.run_replicates(
        int(seed), first, count, inputs.n_blocks, inputs.blk_cnt,
        inputs.pos_blk, inputs.pos_cnt, inputs.pos_amt, inputs.blk_sq,
        inputs.blocks, inputs.label, inputs.amount, inputs.groups, inputs.group_start,
        plan.limits, plan.rates, inputs.ent, inputs.lab, inputs.tie_end, inputs.day_start,
        plan.ks,
    )  # fmt: skip


def _brier_row(models: list[Ranked], i: int, plan: _Plan) -> int | None:
    """Row of model ``i`` in the Brier statistics (calibrated models, when a metric needs them)."""
    if not (models[i].calibrated and plan.calibrated):
        return None
    return sum(r.calibrated for r in models[:i])


@dataclass(frozen=True)
class _Stats:
    """The kernels' statistics for all replicates (see ``run_replicates``)."""

    tot: np.ndarray  # (B, 3) positives, rows, fraud amount
    brier: np.ndarray  # (B, calibrated models)
    scal: np.ndarray  # (B, M, 3) ROC wins, AP sum, KS
    fpr: np.ndarray  # (B, M, limits)
    tp: np.ndarray  # (B, M, rates)
    amt: np.ndarray  # (B, M, rates)
    entp: np.ndarray  # (B, M, ks)


@dataclass(frozen=True)
class _View:
    """One model's statistics, as the metrics' formulas read them (``metrics.Statistics``)."""

    s: _Stats
    m: int
    brier_row: int | None
    ranked: Ranked
    plan: _Plan
    cost: Cost
    day_weights: np.ndarray | None

    @property
    def positives(self) -> np.ndarray:
        return self.s.tot[:, 0]

    @property
    def total(self) -> np.ndarray:
        return self.s.tot[:, 1]

    @property
    def fraud_amount(self) -> np.ndarray:
        return self.s.tot[:, 2]

    @property
    def roc_wins(self) -> np.ndarray:
        return self.s.scal[:, self.m, 0]

    @property
    def ap_sum(self) -> np.ndarray:
        return self.s.scal[:, self.m, 1]

    @property
    def ks_gap(self) -> np.ndarray:
        return self.s.scal[:, self.m, 2].copy()

    @property
    def brier_sum(self) -> np.ndarray | None:
        return None if self.brier_row is None else self.s.brier[:, self.brier_row]

    def within_fpr(self, limit: float) -> np.ndarray:
        return self.s.fpr[:, self.m, _column(self.plan.limits, limit)]

    def caught(self, rate: float) -> tuple[np.ndarray, np.ndarray]:
        """Positives and fraud amount caught in the top ``rate`` share."""
        i = _column(self.plan.rates, rate)
        return self.s.tp[:, self.m, i], self.s.amt[:, self.m, i]

    def entity_precision(self, k: float) -> np.ndarray:
        if self.day_weights is None:
            return self.s.entp[:, self.m, _column(self.plan.ks, k)]
        days, per_day = entity_precision_per_day(self.ranked, k)
        w = self.day_weights[:, days]
        return safe_div(w @ per_day, w.sum(axis=1))


def percentile_interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    """The (alpha/2, 1 - alpha/2) percentile interval, ignoring undefined replicates."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_p_value(deltas: np.ndarray) -> float:
    """Two-sided p-value for 'the paired difference is zero' from its bootstrap distribution.

    Twice the smaller tail share of replicates on either side of zero, with the +1 correction so a
    finite number of replicates never claims p = 0.
    """
    finite = deltas[np.isfinite(deltas)]
    if finite.size == 0:
        return float("nan")
    if np.all(finite == 0):
        return 1.0
    below = (np.count_nonzero(finite <= 0) + 1) / (finite.size + 1)
    above = (np.count_nonzero(finite >= 0) + 1) / (finite.size + 1)
    return float(min(1.0, 2 * min(below, above)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error control); NaN stays NaN and is not counted.

    Sorted ascending, the i-th of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return [float(v) for v in out]
