"""Exact order statistics and bin counts of columns on Spark, for the PSI references of a window
whose rows stay on the executors.

Spark's own quantiles are approximate (``approxQuantile``: a rank within ``err * n``) or hold every
distinct value of a group in one task (``percentile``). Exact ones in a bounded driver memory:
``approxQuantile`` brackets each wanted rank between two values; one aggregate counts the finite
values below each bracket and up to its end, which proves the rank inside it (else the bracket is
widened, up to Spark's exact computation, and tried again); the values inside the proven brackets come to the driver counted per
distinct value (about ``6 * err * n`` rows a rank, fewer values when they tie), where the rank is
read off the running counts. Non-finite values (null, NaN, +-inf) are never ranked, as in
:func:`challengers.analysis.stability.finite_quantiles`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# approxQuantile's relative errors, tried in turn (the bound holds, so the first proves every
# rank; the last, exact, brackets with the minimum and the maximum: every distinct value counted)
ERRORS = (1e-4, 1e-3, 1e-2, 0.0)


def finite(column: Any) -> Any:
    """The column as double where it is finite, else null."""
    from pyspark.sql import functions as F

    value = column.cast("double")
    ok = value.isNotNull() & ~F.isnan(value) & (F.abs(value) != float("inf"))
    return F.when(ok, value)


def finite_counts(rows: Any, columns: Sequence[str]) -> dict[str, int]:
    """The finite values of each column."""
    from pyspark.sql import functions as F

    if not columns:
        return {}
    row = rows.agg(*(F.count(finite(F.col(c))).alias(f"c{i}") for i, c in enumerate(columns)))
    values = row.first()
    return {c: int(values[i]) for i, c in enumerate(columns)}


def order_statistics(
    rows: Any, ranks: Mapping[str, np.ndarray], counts: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """Per column, its finite values at the 0-based ascending ``ranks`` (of ``counts[column]``
    finite values), exactly."""
    from pyspark.sql import functions as F

    wanted = {c: np.asarray(r, dtype=np.int64) for c, r in ranks.items() if len(r)}
    if not wanted:
        return {c: np.empty(0) for c in ranks}
    names = {c: f"v{i}" for i, c in enumerate(wanted)}
    values = rows.select(*(finite(F.col(c)).alias(names[c]) for c in wanted))
    found: dict[str, np.ndarray] = {}
    for error in ERRORS:
        brackets = _brackets(values, names, wanted, counts, error)
        proven = _proven(values, names, wanted, brackets)
        inside = _inside(values, names, proven)
        for c, bounds in proven.items():
            found[c] = _read_ranks(wanted[c], bounds, inside[c])
        wanted = {c: r for c, r in wanted.items() if c not in proven}
        if not wanted:
            break
    if wanted:  # Spark's exact quantiles bracket every rank: not reached
        raise RuntimeError(f"no exact order statistics of {sorted(wanted)}")
    return {c: found.get(c, np.empty(0)) for c in ranks}


def _brackets(
    values: Any,
    names: Mapping[str, str],
    wanted: Mapping[str, np.ndarray],
    counts: Mapping[str, int],
    error: float,
) -> dict[str, list[tuple[float, float]]]:
    """Per column and rank, a (low, high) pair of values around it from approxQuantile with
    probabilities widened by three times its error bound (with no error: the minimum and the
    maximum)."""
    probabilities: dict[str, list[float]] = {}
    for c, ranks in wanted.items():
        n = counts[c]
        ps = []
        for k in ranks.tolist():
            ps += [max(0.0, k / n - 3 * error), min(1.0, (k + 1) / n + 3 * error)]
        probabilities[c] = ps if error > 0 else [0.0, 1.0] * len(ranks)  # the min and the max
    alike: dict[tuple[float, ...], list[str]] = {}  # one job for the columns of equal counts
    for c, ps in probabilities.items():
        alike.setdefault(tuple(ps), []).append(c)
    out: dict[str, list[tuple[float, float]]] = {}
    for shared, columns in alike.items():
        found = values.approxQuantile([names[c] for c in columns], list(shared), error)
        for c, qs in zip(columns, found, strict=True):
            out[c] = [(qs[2 * i], qs[2 * i + 1]) for i in range(len(wanted[c]))]
    return out


def _proven(
    values: Any,
    names: Mapping[str, str],
    wanted: Mapping[str, np.ndarray],
    brackets: Mapping[str, list[tuple[float, float]]],
) -> dict[str, list[tuple[float, float, int]]]:
    """The columns all of whose ranks lie in their bracket, with each bracket's count of finite
    values below it: ``below <= k < below + inside`` (one aggregate for every bracket)."""
    from pyspark.sql import functions as F

    aggregates = []
    for c, pairs in brackets.items():
        v = F.col(names[c])
        for lo, hi in pairs:
            aggregates += [F.count(F.when(v < lo, 1)), F.count(F.when(v <= hi, 1))]
    row = values.agg(*aggregates).first()
    proven: dict[str, list[tuple[float, float, int]]] = {}
    at = 0
    for c, pairs in brackets.items():
        bounds, ok = [], True
        for k, (lo, hi) in zip(wanted[c].tolist(), pairs, strict=True):
            below, through = int(row[at]), int(row[at + 1])
            at += 2
            ok = ok and below <= k < through
            bounds.append((lo, hi, below))
        if ok:
            proven[c] = bounds
    return proven


def _inside(
    values: Any, names: Mapping[str, str], proven: Mapping[str, list[tuple[float, float, int]]]
) -> dict[str, dict[float, int]]:
    """Per column, the count of each distinct value inside its brackets: one job, the union of
    each column's bracketed values as (column, value) pairs, counted. (Exploding every row into
    a pair per column and filtering after took 5 times as long: 20 s for 3.2M rows.)"""
    from pyspark.sql import functions as F

    if not proven:
        return {}
    index = {c: i for i, c in enumerate(proven)}
    parts = []
    for c, bounds in proven.items():
        v = F.col(names[c])
        inside = functools.reduce(operator.or_, [v.between(lo, hi) for lo, hi, _ in bounds])
        parts.append(values.where(inside).select(F.lit(index[c]).alias("i"), v.alias("v")))
    pairs = functools.reduce(lambda a, b: a.unionByName(b), parts)
    counted = pairs.groupBy("i", "v").count().collect()
    out: dict[str, dict[float, int]] = {c: {} for c in proven}
    column_of = {i: c for c, i in index.items()}
    for i, v, n in counted:
        out[column_of[int(i)]][float(v)] = int(n)
    return out


def _read_ranks(
    ranks: np.ndarray, bounds: list[tuple[float, float, int]], counts: Mapping[float, int]
) -> np.ndarray:
    """The value at each rank: its bracket's distinct values in order, their running counts
    starting from the values below the bracket."""
    values = np.array(sorted(counts), dtype=np.float64)
    n = np.array([counts[v] for v in values.tolist()], dtype=np.int64)
    out = np.empty(len(ranks))
    for j, (k, (lo, hi, below)) in enumerate(zip(ranks.tolist(), bounds, strict=True)):
        inside = (values >= lo) & (values <= hi)
        running = below + np.cumsum(n[inside])
        out[j] = values[inside][np.searchsorted(running, k, side="right")]  # proven inside
    return out


def bin_counts(rows: Any, edges: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per column, its rows in each bin ``(-inf, e0], (e0, e1], ... (e_last, inf)``, then the
    non-finite ones (:func:`challengers.evaluation.row_kernels.bin_counts`), in one aggregate."""
    from pyspark.sql import functions as F

    if not edges:
        return {}
    aggregates = [F.count(F.lit(1))]
    for c, e in edges.items():
        v = finite(F.col(c))
        aggregates.append(F.count(v))
        aggregates += [F.count(F.when(v <= float(x), 1)) for x in np.asarray(e).tolist()]
    row = rows.agg(*aggregates).first()
    total, at = int(row[0]), 1
    out: dict[str, np.ndarray] = {}
    for c, e in edges.items():
        n_finite = int(row[at])
        through = [int(x) for x in row[at + 1 : at + 1 + len(e)]]
        at += 1 + len(e)
        cumulative = np.array([0, *through, n_finite], dtype=np.int64)
        out[c] = np.append(np.diff(cumulative), total - n_finite)
    return out
