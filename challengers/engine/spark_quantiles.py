"""Exact order statistics and bin counts of columns on Spark, for the PSI references of a window
whose rows stay on the executors.

Spark's own quantiles are approximate (``approxQuantile``: a rank within ``err * n``) or hold every
distinct value of a group in one task (``percentile``). Exact ones in a bounded driver memory, by a
radix selection (:mod:`.radix`): a job counts each column's finite values on the executors by the
first 16 bits of keys that sort as the values do (65,536 counts, merged by Spark); the driver reads
off which count holds each wanted rank and how many values lie below it. A rank's bucket of a single
value gives the rank; one of at most ``LIMIT`` values has its values brought to the driver counted
per distinct value (one job for all), where the rank is read off the running counts; a larger one
is counted by its next 8 bits in the next round. No sort and no shuffle of rows: a window of a few
million rows takes three jobs. Non-finite values (null, NaN, +-inf) are never ranked, as in
:func:`challengers.analysis.stability.finite_quantiles`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from challengers.engine import radix, spark_tasks

# a rank's bucket holding more values than this is counted by its next digit before its values
# come to the driver (at most this many distinct values a rank there)
LIMIT = 1 << 12
FEW = 0.1  # buckets holding this share of the rows or less are filtered out of them by Spark


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
    index = {c: i for i, c in enumerate(wanted)}
    values = rows.select(*(finite(F.col(c)).alias(f"v{index[c]}") for c in wanted))
    # each rank starts in its column's whole bucket, with no value below it: (bucket, below, size)
    pending = {
        (c, j): (radix.Bucket(index[c]), 0, counts[c])
        for c, r in wanted.items()
        for j in range(len(r))
    }
    rows_read = max(counts[c] for c in wanted)
    found: dict[tuple[str, int], float] = {}
    collect: dict[tuple[str, int], tuple[radix.Bucket, int]] = {}
    while pending:  # at most 7 rounds: a bucket 64 bits deep holds one value
        sizes = {b: size for b, _, size in pending.values()}
        buckets = sorted(sizes)
        few = sum(sizes.values()) <= FEW * rows_read
        merged = _digit_counts(values, buckets, filtered=few)
        narrower = {}
        for (c, j), (bucket, below, _) in pending.items():
            at = radix.locate(int(wanted[c][j]), below, bucket, *merged[bucket])
            if at.value is not None:
                found[c, j] = at.value
            elif at.size <= LIMIT:
                collect[c, j] = (at.bucket, at.below)
            else:
                narrower[c, j] = (at.bucket, at.below, at.size)
        pending = narrower
    buckets = sorted({b for b, _ in collect.values()})
    distinct = _bucket_values(values, buckets)
    for (c, j), (bucket, below) in collect.items():
        found[c, j] = radix.read_rank(int(wanted[c][j]), below, *distinct[bucket])
    return {
        c: np.array([found[c, j] for j in range(len(wanted[c]))]) if c in wanted else np.empty(0)
        for c in ranks
    }


def _digit_counts(
    values: Any, buckets: list[radix.Bucket], *, filtered: bool
) -> dict[radix.Bucket, tuple[np.ndarray, ...]]:
    """Per bucket, its values counted by their next digit: the digits present (ascending), their
    counts, smallest and largest keys (one job; ``filtered``: see :func:`_reading`)."""
    from pyspark.sql import functions as F

    task = spark_tasks.digit_counts_task(buckets)
    table = (
        _reading(values, buckets, filtered=filtered)
        .mapInArrow(task, spark_tasks.DIGITS_SCHEMA)
        .groupBy("slot", "digit")
        .agg(F.sum("count").alias("count"), F.min("low").alias("low"), F.max("high").alias("high"))
        .orderBy("slot", "digit")
        .toArrow()
    )
    low, high = (table.column(k).to_numpy().astype(object) + (1 << 63) for k in ("low", "high"))
    columns = (table.column("digit").to_numpy(), table.column("count").to_numpy(), low, high)
    return _by_slot(table, buckets, columns)


def _bucket_values(
    values: Any, buckets: list[radix.Bucket]
) -> dict[radix.Bucket, tuple[np.ndarray, ...]]:
    """Per bucket, its distinct values (ascending) and their counts (one job, over the rows
    Spark filtered by the buckets: they hold at most LIMIT values each)."""
    from pyspark.sql import functions as F

    if not buckets:
        return {}
    task = spark_tasks.bucket_values_task(buckets)
    table = (
        _reading(values, buckets, filtered=True)
        .mapInArrow(task, spark_tasks.VALUES_SCHEMA)
        .groupBy("slot", "value")
        .agg(F.sum("count").alias("count"))
        .orderBy("slot", "value")
        .toArrow()
    )
    columns = (table.column("value").to_numpy(), table.column("count").to_numpy())
    return _by_slot(table, buckets, columns)


def _by_slot(
    table: Any, buckets: list[radix.Bucket], columns: tuple[np.ndarray, ...]
) -> dict[radix.Bucket, tuple[np.ndarray, ...]]:
    """Each bucket's rows of ``columns``, from a result ``table`` ordered by its ``slot`` (the
    bucket's place in ``buckets``)."""
    ends = np.searchsorted(table.column("slot").to_numpy(), np.arange(len(buckets) + 1))
    return {
        b: tuple(c[ends[slot] : ends[slot + 1]] for c in columns) for slot, b in enumerate(buckets)
    }


def _reading(values: Any, buckets: list[radix.Bucket], *, filtered: bool) -> Any:
    """The columns of ``values`` the buckets are of; ``filtered``: each column's values outside
    its buckets made null and the rows left with none dropped, so that the executors' Python
    reads only what it counts (worth it when the buckets hold few of the values: else the
    filter costs more than the rows it saves, 7-9 s against 3.5-5 s at 3.2M rows)."""
    from pyspark.sql import functions as F

    columns: dict[int, list[radix.Bucket]] = {}
    for b in buckets:
        columns.setdefault(b.column, []).append(b)
    if not filtered or any(b.depth == 0 for b in buckets):
        return values.select(*(f"v{i}" for i in sorted(columns)))
    inside = {
        i: functools.reduce(operator.or_, [F.col(f"v{i}").between(*b.bounds()) for b in mine])
        for i, mine in columns.items()
    }
    kept = [F.when(inside[i], F.col(f"v{i}")).alias(f"v{i}") for i in sorted(columns)]
    present = functools.reduce(operator.or_, [F.col(f"v{i}").isNotNull() for i in columns])
    return values.select(*kept).where(present)


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
