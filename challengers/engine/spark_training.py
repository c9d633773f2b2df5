"""Training challengers where the rows are, on Spark: XGBoost on the executors, and the stratified
sample other kinds fit on.

XGBoost trains with ``xgboost.spark`` (``SparkXGBClassifier``): ``workers`` barrier tasks each
build the histograms of their partition and XGBoost's collective sums them, so the model sees every
training row and none reaches the driver; only the booster comes back. The sample draws, within
each class, the rows with the smallest hash of the seed and the row's values (Spark's xxhash64), so
it is the same for the same seed and rows however the data is partitioned, and it keeps the fraud
rate exactly (to one row).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from challengers.errors import ConfigError

UNIFORM = "_uniform"  # a row's draw in [0, 1)
BITS = 53  # a double holds 53-bit integers exactly
# xgboost.spark sets these itself (threads: spark.task.cpus; the objective from the label)
SET_BY_SPARK = ("nthread", "n_jobs", "objective")


def workers_for(session: Any, requested: int | None) -> int:
    """``requested``, else the session's default parallelism; ConfigError when the cluster cannot
    run that many tasks at once."""
    workers = requested or max(int(session.sparkContext.defaultParallelism), 1)
    _check_slots(session, workers)
    return workers


def train_xgboost(
    session: Any,
    rows: Any,
    *,
    features: Sequence[str],
    target: str,
    params: dict[str, Any],
    rounds: int,
    workers: int,
) -> Any:
    """The booster ``SparkXGBClassifier`` trains on ``rows`` with ``workers`` tasks."""
    from pyspark.sql import functions as F
    from xgboost.spark import SparkXGBClassifier

    logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)  # its INFO lines: per fit
    options = {k: v for k, v in params.items() if k not in SET_BY_SPARK}
    estimator = SparkXGBClassifier(
        features_col=list(features),
        label_col=target,
        num_workers=workers,
        n_estimators=rounds,
        verbose=False,  # no per-round evaluation lines from the executors
        **options,
    )
    data = rows.select(*features, F.col(target).cast("int").alias(target))
    return estimator.fit(data).get_booster()


def _check_slots(session: Any, workers: int) -> None:
    """Barrier tasks start together or not at all: more workers than task slots would wait (and
    fail after minutes); one line instead. Executors that dynamic allocation may still add are not
    counted yet, so it is not checked then."""
    context = session.sparkContext
    if context.getConf().get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        return
    try:
        slots = int(
            context._jsc.sc().maxNumConcurrentTasks(
                context._jsc.sc().resourceProfileManager().resourceProfileFromId(0)
            )
        )
    except Exception:  # the JVM's API moved: let xgboost.spark say it
        return
    if 0 < slots < workers:
        raise ConfigError(
            f"engine.num_workers: {workers} XGBoost workers but the cluster runs {slots} tasks "
            f"at once; set engine.num_workers to at most {slots} or add executors"
        )


def stratified_sample(
    rows: Any, *, target: str, size: int, seed: int, order: str, by: Sequence[str] | None = None
) -> pl.DataFrame:
    """At most ``size`` rows, each class in proportion to its count, in load order (``order``);
    a row's draw hashes the seed and its values of ``by`` (default: every column but the order)."""
    from pyspark.sql import functions as F

    counts = {int(k): int(n) for k, n in rows.groupBy(target).count().collect()}
    total = sum(counts.values())
    values = [c for c in (rows.columns if by is None else by) if c != order]
    if total <= size:
        table = rows.orderBy(order).drop(order).toArrow()
        return _frame(table)
    wanted = _allocation(counts, size)
    bits = F.xxhash64(F.lit(seed), *values).bitwiseAND(F.lit((1 << BITS) - 1))
    draw = bits.cast("double") / float(1 << BITS)
    drawn = rows.withColumn(UNIFORM, draw)
    margin = 5.0
    while True:  # a short class (a 5-sigma event) draws again with a wider margin
        picked = _draw(drawn, target, counts, wanted, margin)
        short = [c for c, k in wanted.items() if picked.filter(pl.col(target) == c).height < k]
        if not short:
            break
        margin *= 2
    kept = pl.concat(
        [picked.filter(pl.col(target) == c).sort(UNIFORM, order).head(k) for c, k in wanted.items()]
    )
    return kept.sort(order).drop(UNIFORM, order)


def _allocation(counts: dict[int, int], size: int) -> dict[int, int]:
    """Rows per class: proportional, frauds rounded to the nearest row (at least one)."""
    total = sum(counts.values())
    frauds = counts.get(1, 0)
    positives = min(frauds, max(round(size * frauds / total), 1 if frauds else 0))
    return {0: min(counts.get(0, 0), size - positives), 1: positives}


def _draw(
    drawn: Any, target: str, counts: dict[int, int], wanted: dict[int, int], margin: float
) -> pl.DataFrame:
    """The rows under each class's threshold: the wanted count plus ``margin`` sigmas."""
    from pyspark.sql import functions as F

    def rate(c: int) -> float:
        k, n = wanted[c], counts.get(c, 0)
        return 1.0 if n == 0 else min(1.0, (k + margin * math.sqrt(k) + 10) / n)

    threshold = F.when(F.col(target) == 1, F.lit(rate(1))).otherwise(F.lit(rate(0)))
    return _frame(drawn.where(F.col(UNIFORM) < threshold).toArrow())


def _frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
