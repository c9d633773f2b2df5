"""Metric statistics of a score column on Spark: per tie group of scores, counted on the
executors (:class:`~challengers.engine.base.ScoreStats`), so that no row and no score of a window
comes to the driver.

:func:`score_stats` groups by every distinct score (one Spark group-by: as many groups as distinct
scores, about the rows for a model's continuous scores). :func:`score_groups` brings about twice
the frauds' groups instead: the positives' distinct scores first (one job; frauds are rare), then
each task counts its rows per group between and at those scores (:func:`.spark_tasks.
score_groups_task`, searchsorted on a broadcast of them) and Spark sums the tasks' counts: the
groups of :func:`~challengers.engine.base.merge_negative_runs`, from which every metric but card
precision reads the same values as from each distinct score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from challengers.engine import spark_tasks
from challengers.engine.base import ScoreStats
from challengers.engine.spark_session import shipped, sql_conf


def _finite(column: Any) -> Any:
    from pyspark.sql import functions as F

    return column.isNotNull() & ~F.isnan(column) & (F.abs(column) != float("inf"))


def score_stats(rows: Any, *, score: str, target: str, amount: str | None) -> ScoreStats:
    """Per distinct finite score (descending): positives, negatives, the positives' amount; the
    squared errors' sum, the lowest score, the scores not finite."""
    from pyspark.sql import functions as F

    s, y = F.col(score).cast("double"), F.col(target).cast("double")
    aggregates = [
        F.sum(y).alias("p"),
        F.count(F.lit(1)).alias("n"),
        F.sum((s - y) * (s - y)).alias("q"),
    ]
    if amount is not None:
        aggregates.append(F.sum(y * F.col(amount).cast("double")).alias("a"))
    table = (
        rows.where(_finite(s))
        .groupBy(s.alias("s"))
        .agg(*aggregates)
        .orderBy(F.col("s").desc())
        .toArrow()
    )
    non_finite = rows.where(~_finite(s)).count()
    positives = np.asarray(table.column("p").to_numpy(), dtype=np.float64)
    n = np.asarray(table.column("n").to_numpy(), dtype=np.float64)
    fraud = None
    if amount is not None:
        fraud = np.asarray(table.column("a").to_numpy(), dtype=np.float64)
    values = np.asarray(table.column("s").to_numpy(), dtype=np.float64)
    squared = float(np.sum(table.column("q").to_numpy()))
    lowest = float(values[-1]) if len(values) else float("nan")
    return ScoreStats(values, positives, n - positives, fraud, squared, lowest, int(non_finite))


def score_groups(
    session: Any, rows: Any, *, score: str, target: str, amount: str | None
) -> ScoreStats:
    """Per group of scores (descending; see the module): positives, negatives, the positives'
    amount, the group's highest score; the squared errors' sum, the lowest score, the scores
    not finite."""
    from pyspark.sql import functions as F

    s, y = F.col(score).cast("double"), F.col(target).cast("double")
    marked = rows.where(_finite(s) & (y > 0)).select(s.alias("s")).distinct().toArrow()
    marks = np.sort(np.asarray(marked.column("s").to_numpy(), dtype=np.float64))
    with shipped(session, marks) as on_executors:
        columns = [s.alias("s"), y.alias("y")]
        if amount is not None:
            columns.append(F.col(amount).cast("double").alias("a"))
        task = spark_tasks.score_groups_task(on_executors)
        table = (
            rows.select(*columns)
            .mapInArrow(task, spark_tasks.GROUPS_SCHEMA)
            .groupBy("group")
            .agg(
                F.sum("positives").alias("positives"),
                F.sum("count").alias("count"),
                F.sum("fraud").alias("fraud"),
                F.max("top").alias("top"),
                F.min("low").alias("low"),
                F.sum("squared").alias("squared"),
            )
            .orderBy(F.col("group").desc())
            .toArrow()
        )
    group = table.column("group").to_numpy()
    kept = group != spark_tasks.NON_FINITE  # ordered descending: the non-finite count is last
    count = table.column("count").to_numpy()
    positives = np.asarray(table.column("positives").to_numpy()[kept], dtype=np.float64)
    fraud = None
    if amount is not None:
        fraud = np.asarray(table.column("fraud").to_numpy()[kept], dtype=np.float64)
    low = table.column("low").to_numpy()[kept]
    return ScoreStats(
        np.asarray(table.column("top").to_numpy()[kept], dtype=np.float64),
        positives,
        count[kept].astype(np.float64) - positives,
        fraud,
        float(np.sum(table.column("squared").to_numpy()[kept])),
        float(low[-1]) if len(low) else float("nan"),
        int(count[~kept].sum()),
    )


# Spark keeps only each day's first rows before the window's shuffle (a partial top-n in every
# task) when the rank limit is at most this setting (default 1000); card precision's limit is
# k times the days (100 x 28 = 2,800 on a 4-week window), above it.
GROUP_LIMIT = "spark.sql.optimizer.windowGroupLimitThreshold"


def entity_day_cells(
    session: Any, rows: Any, *, score: str, target: str, entity: str, day: str, k: int
) -> pl.DataFrame:
    """Per day, its entities in card-precision order with their max label: ``rank`` by max
    score descending, tied entities sharing theirs (card precision shares the places at the cut
    among them, whatever their order). Only the first ``k * days`` ranks of a day can matter
    (entities detected on earlier days leave at most ``k`` places a day), so only those, and
    the entities tied with the last, reach the driver.

    One job over the cells: the days are counted from the rows (not from the cells, which
    grouped every row a second time), and each task keeps its first ``k * days`` ranks a day
    before the window's shuffle (Spark's group limit, raised to that rank): a day's cells were
    all shuffled and sorted, tens of seconds a model at 31.8M training rows."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    days = rows.select(day).distinct().count()
    limit = k * max(days, 1)
    cells = rows.groupBy(day, entity).agg(
        F.max(F.col(score).cast("double")).alias("best"),
        F.max(F.col(target).cast("double")).alias("label"),
    )
    rank = F.rank().over(Window.partitionBy(day).orderBy(F.col("best").desc()))
    kept = (
        cells.withColumn("rank", rank)
        .where(F.col("rank") <= limit)
        .select(day, F.col(entity).alias("entity"), "label", "rank")
    )
    with sql_conf(session, GROUP_LIMIT, str(max(limit, 1000))):
        frame = pl.from_arrow(kept.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame.sort(day, "rank")
