"""Stability: population stability index, test weeks, and performance decay as a slope.

PSI compares the share of rows in each bin of a reference distribution (training) with the share in a
later one: ``sum((a - e) * ln(a / e))``. Bins are the reference's quantiles (so each holds about the
same share of training rows), missing values have a bin of their own, and empty bins are floored at
``PSI_FLOOR`` so one empty bin cannot make the index infinite. The usual reading: < 0.1 stable,
0.1-0.25 moderate shift, > 0.25 major shift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from challengers.analysis.distributions import normal_quantile, normal_sf, t_quantile, t_sf
from challengers.engine.base import Engine

PSI_FLOOR = 1e-4


SELECT_ROWS = 1_000_000  # from this many rows the compiled selection beats np.quantile


def psi_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Interior bin edges: the reference's quantiles, duplicates dropped (discrete features)."""
    values = np.asarray(reference, dtype=np.float64)
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    if values.size >= SELECT_ROWS:
        return np.unique(finite_quantiles(values, qs))
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(finite, qs))


def finite_quantiles(values: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``np.quantile(values[np.isfinite(values)], qs)`` (linear interpolation; empty when no value
    is finite) without a copy, a sort or a partition of the rows: the order statistics it
    interpolates are selected in two passes (row_kernels: counts per bucket of the values' top
    bits, then the values of the buckets that hold them), then interpolated as numpy does.
    At 31.8M training rows a feature's edges took about 1.9 s; the two passes take 0.2 s."""
    from challengers.evaluation import row_kernels as kern  # numba loads only when needed

    values = np.ascontiguousarray(values, dtype=np.float64)
    bits = values.view(np.uint64)
    counts = kern.key_buckets(bits)
    n = int(counts.sum())
    if n == 0:
        return np.empty(0)
    found = _order_statistics(values, bits, counts, quantile_ranks(n, qs))
    return quantiles_from_order_statistics(n, qs, np.asarray(found))


def quantile_ranks(n: int, qs: np.ndarray) -> np.ndarray:
    """The 0-based ranks of the order statistics that numpy's linear quantiles ``qs`` of ``n``
    values interpolate (ascending, distinct)."""
    previous, following, _ = _virtual(n, qs)
    return np.unique(np.concatenate([previous, following]))


def quantiles_from_order_statistics(n: int, qs: np.ndarray, found: np.ndarray) -> np.ndarray:
    """``np.quantile`` (linear) of ``n`` finite values given ``found``: the values at the ranks
    :func:`quantile_ranks` names, wherever they were selected (here, or on an engine's
    executors). Empty when ``n`` is 0."""
    if n == 0:
        return np.empty(0)
    previous, following, gamma = _virtual(n, qs)
    value_of = dict(zip(quantile_ranks(n, qs).tolist(), found.tolist(), strict=True))
    a = np.array([value_of[k] for k in previous.tolist()])
    b = np.array([value_of[k] for k in following.tolist()])
    diff = b - a  # numpy's _lerp: from a below the middle, from b at or above it
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def _virtual(n: int, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's linear method: virtual index (n - 1) q between the order statistics at its floor
    and the next one (the last one at or past the end), and the fraction between them."""
    virtual = (n - 1) * np.asarray(qs, dtype=np.float64)
    previous = np.floor(virtual).astype(np.intp)
    following = previous + 1
    last = virtual >= n - 1
    previous[last], following[last] = n - 1, n - 1
    return previous, following, virtual - previous


def _order_statistics(
    values: np.ndarray, bits: np.ndarray, counts: np.ndarray, ranks: np.ndarray
) -> list[float]:
    """The ``ranks``-th smallest finite values (0-based, ascending ``ranks``): each rank's bucket
    from the running counts, the buckets' values gathered, each bucket partitioned at its ranks."""
    from challengers.evaluation import row_kernels as kern

    ends = np.cumsum(counts)
    buckets = np.searchsorted(ends, ranks, side="right")
    wanted = np.unique(buckets)
    slot_of_bucket = np.full(counts.size, -1, dtype=np.int64)
    slot_of_bucket[wanted] = np.arange(wanted.size)
    starts = np.concatenate([[0], np.cumsum(counts[wanted])]).astype(np.int64)
    pooled = kern.values_in_buckets(values, bits, slot_of_bucket, starts)
    found: list[float] = []
    for slot, bucket in enumerate(wanted.tolist()):
        inside = pooled[starts[slot] : starts[slot + 1]]
        at = ranks[buckets == bucket] - (ends[bucket] - counts[bucket])
        inside.partition(at)
        found.extend(inside[at].tolist())
    return found


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin ``(-inf, e0], (e0, e1], ... (e_last, inf)``, then NaN."""
    from challengers.evaluation.row_kernels import bin_counts  # numba loads only when needed

    values = np.asarray(values)
    if values.dtype not in (np.float32, np.float64):  # floats as they are held: no float64 copy
        values = values.astype(np.float64)
    return _shares(bin_counts(values, np.asarray(edges, dtype=np.float64)))  # every value counted


def psi_from_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(np.asarray(expected, dtype=np.float64), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), PSI_FLOOR)
    both_empty = (np.asarray(expected) == 0) & (np.asarray(actual) == 0)
    return float(np.sum(np.where(both_empty, 0.0, (a - e) * np.log(a / e))))


def psi(
    reference: np.ndarray, current: np.ndarray, bins: int = 10, edges: np.ndarray | None = None
) -> float:
    """PSI of ``current`` against ``reference`` on the reference's quantile bins (``edges``:
    ``psi_edges(reference, bins)`` when the caller has them)."""
    edges = psi_edges(reference, bins) if edges is None else edges
    return psi_from_shares(bin_shares(reference, edges), bin_shares(current, edges))


@dataclass(frozen=True)
class Reference:
    """What a PSI needs of its reference distribution: the quantile bin edges and the share of the
    reference in each bin. A run keeps these of the training window's scores and features, not
    the training rows themselves (0.85 GB at 30M rows in the file)."""

    edges: np.ndarray
    shares: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, bins: int = 10) -> Reference:
        edges = psi_edges(values, bins)
        return cls(edges, bin_shares(values, edges))

    @classmethod
    def from_bins(cls, edges: np.ndarray, counts: np.ndarray) -> Reference:
        """The reference whose quantiles are ``edges`` (before duplicates are dropped) and whose
        rows fall ``counts`` in each bin of the distinct edges, then non-finite (an engine's
        aggregates): what :meth:`of` gives for the same rows."""
        return cls(np.unique(edges), _shares(counts))

    def psi(self, current: np.ndarray) -> float:
        """:func:`psi` of ``current`` against the reference, the same number."""
        return psi_from_shares(self.shares, bin_shares(current, self.edges))

    def psi_of_counts(self, counts: np.ndarray) -> float:
        """:meth:`psi` of the rows counted ``counts`` in each bin of the edges, then non-finite
        (an engine's :meth:`~challengers.engine.base.Engine.bin_counts`)."""
        return psi_from_shares(self.shares, _shares(counts))


def _shares(counts: np.ndarray) -> np.ndarray:
    """Each bin's share of the rows counted ``counts`` (the non-finite ones included: every
    row is in one bin)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts / max(counts.sum(), 1)


def engine_references(
    engine: Engine[Any], rows: Any, columns: Sequence[str], bins: int
) -> dict[str, Reference]:
    """Each column's :class:`Reference` (read as float64, missing values NaN, on ``bins``
    quantile bins) from an engine's aggregates where the rows are: each column's finite count,
    the order statistics numpy's linear quantiles interpolate, and the rows in each bin of the
    edges. The same edges and shares as :meth:`Reference.of` on the same values here."""
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    counts = engine.finite_counts(rows, columns)
    ranks = {c: quantile_ranks(n, qs) for c, n in counts.items() if n}
    found = engine.order_statistics(rows, ranks, counts)
    quantiles = {
        c: quantiles_from_order_statistics(counts[c], qs, found.get(c, np.empty(0)))
        for c in columns
    }
    edges = {c: np.unique(q) for c, q in quantiles.items()}
    binned = engine.bin_counts(rows, edges)
    return {c: Reference.from_bins(edges[c], binned[c]) for c in columns}


@dataclass(frozen=True)
class Week:
    """A test week: days ``start``..``end`` (the last may be shorter)."""

    index: int
    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.start:%m-%d}..{self.end:%m-%d}"


def split_weeks(start: date, end: date) -> list[Week]:
    """Consecutive 7-day weeks from ``start``; the last one stops at ``end``."""
    weeks, day, i = [], start, 0
    while day <= end:
        last = min(end, day + timedelta(days=6))
        weeks.append(Week(i, day, last))
        day, i = last + timedelta(days=1), i + 1
    return weeks


def week_of(days: np.ndarray, start: date) -> np.ndarray:
    """The week index of each day (numpy datetime64[D] or dates) counted from ``start``."""
    offset = (np.asarray(days, dtype="datetime64[D]") - np.datetime64(start, "D")).astype(np.int64)
    return offset // 7


@dataclass
class Slope:
    """A weighted least-squares trend of a metric over days since the end of training."""

    per_week: float
    ci: tuple[float, float]
    p_value: float
    points: int


def decay_slope(
    days_since: np.ndarray, values: np.ndarray, weights: np.ndarray, alpha: float = 0.05
) -> Slope:
    """Slope (per week) of ``values`` against ``days_since``, weighted (e.g. by frauds that day).

    Points with a non-finite value or zero weight are left out. The interval uses the t
    distribution with points - 2 degrees of freedom.
    """
    x, v, w = (np.asarray(a, dtype=np.float64) for a in (days_since, values, weights))
    keep = np.isfinite(v) & (w > 0)
    x, v, w = x[keep], v[keep], w[keep]
    n = int(x.size)
    if n < 3 or np.ptp(x) == 0:
        return Slope(float("nan"), (float("nan"), float("nan")), float("nan"), n)
    w = w / w.mean()
    xm, vm = np.average(x, weights=w), np.average(v, weights=w)
    sxx = float(np.sum(w * (x - xm) ** 2))
    slope = float(np.sum(w * (x - xm) * (v - vm)) / sxx)
    residuals = v - (vm + slope * (x - xm))
    se = math.sqrt(float(np.sum(w * residuals**2)) / (n - 2) / sxx)
    t = t_quantile(1 - alpha / 2, n - 2)
    # an exact line has no residual: its slope is certain
    p = 2 * t_sf(abs(slope / se), n - 2) if se > 0 else float(slope == 0)
    return Slope(7 * slope, (7 * (slope - t * se), 7 * (slope + t * se)), p, n)


@dataclass
class WeekMetrics:
    """Every metric of every model on one test week, with intervals from that week's bootstrap."""

    week: int
    start: str
    end: str
    rows: int
    positives: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> key -> value
    ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)


@dataclass
class Stability:
    """How the models hold up from training to test and across the test weeks."""

    weeks: list[WeekMetrics]
    score_psi: dict[str, float]  # model -> PSI of test scores against training scores
    score_psi_weekly: dict[str, list[float]]  # model -> PSI of week w against week w - 1
    score_psi_vs_train: dict[str, list[float]]  # model -> PSI of week w against training
    feature_psi: dict[str, float]  # champion input -> PSI test against training
    decay: dict[str, dict[str, Slope]]  # model -> metric key -> slope per week
    train_metrics: dict[str, dict[str, float]]  # in-sample metrics (training window)
    test_metrics: dict[str, dict[str, float]]  # the headline values, for the gap
    bins: int = 10
    decay_basis: str = ""
    weekly_bootstrap: int = 0  # replicates behind each week's interval


def weekly_psi(
    reference: Reference, current: np.ndarray, week: np.ndarray, weeks: int
) -> tuple[list[float], list[float]]:
    """PSI of each week against the previous week and against the reference, on its bins."""
    shares = [bin_shares(current[week == w], reference.edges) for w in range(weeks)]
    vs_previous = [float("nan")] + [
        psi_from_shares(shares[w - 1], shares[w]) for w in range(1, weeks)
    ]
    return vs_previous, [psi_from_shares(reference.shares, s) for s in shares]


MIN_WEEKS_TO_SINGLE_OUT = 3  # with two weeks, one below the other is a change, not an outlier


def week_interval(week: WeekMetrics, model: str, key: str) -> tuple[float, float] | None:
    """The week's bootstrap interval of ``key`` for ``model``, None where it has none (no
    replicates, no fraud that week) or a zero width (nothing to weigh it by)."""
    lo, hi = week.ci.get(model, {}).get(key, (math.nan, math.nan))
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) and hi > lo else None


def unstable_week(
    stability: Stability, model: str, key: str, higher_is_better: bool
) -> WeekMetrics | None:
    """The test week whose interval lies wholly on the worse side of every other week's (below
    them all, or above them all where lower is better), among at least
    :data:`MIN_WEEKS_TO_SINGLE_OUT` weeks with an interval. At most one week can be: two weeks
    each wholly below the other cannot be. A week out of line with all the others is an event
    (an incident, a feed fault, an attack the model missed), not the model's level or trend."""
    if not stability.weekly_bootstrap:
        return None  # point estimates only: nothing says how far apart weeks may be by chance
    known = [(w, iv) for w in stability.weeks if (iv := week_interval(w, model, key)) is not None]
    if len(known) < MIN_WEEKS_TO_SINGLE_OUT:
        return None
    for week, (lo, hi) in known:
        others = [iv for w, iv in known if w is not week]
        if all(hi < o_lo if higher_is_better else lo > o_hi for o_lo, o_hi in others):
            return week
    return None


def weekly_trend(
    stability: Stability, model: str, key: str, alpha: float, leave_out: int | None = None
) -> Slope:
    """Trend per week of ``key``'s weekly values, week ``leave_out`` (an index) left out.

    Each week weighs by the inverse variance its bootstrap interval implies (half its width over
    z(1 - alpha/2), the interval's level), and the test is a z-test: the weeks' variances are
    taken as known, so two or three weeks suffice, where the daily slope's t-test needs days.
    Weeks without an interval are left out."""
    z = normal_quantile(1 - alpha / 2)
    points = [
        (float(w.week), w.metrics[model][key], ((iv[1] - iv[0]) / (2 * z)) ** -2)
        for w in stability.weeks
        if w.week != leave_out
        and (iv := week_interval(w, model, key)) is not None
        and math.isfinite(w.metrics.get(model, {}).get(key, math.nan))
    ]
    if len(points) < 2:
        return Slope(math.nan, (math.nan, math.nan), math.nan, len(points))
    x, v, w = (np.array(c, dtype=np.float64) for c in zip(*points, strict=True))
    xm = np.average(x, weights=w)
    sxx = float(np.sum(w * (x - xm) ** 2))
    slope = float(np.sum(w * (x - xm) * (v - np.average(v, weights=w))) / sxx)
    se = sxx**-0.5
    p = 2 * normal_sf(abs(slope) / se)
    return Slope(slope, (slope - z * se, slope + z * se), p, int(x.size))
