"""The Spark engine: the steps that touch rows as Spark jobs; only aggregates reach the driver.

Loading (:mod:`.spark_reading`) reads parquet or CSV files, globs, URIs or catalog tables with the
local engine's checks and one-line errors, the time as naive UTC. Windows, label delay and
known-fraud exclusion are filters and one join on the first known fraud day per entity. Fingerprint
sums and scores run on the executors over Arrow batches (:mod:`.spark_tasks`), with the local
engine's kernels. Metric statistics are one group-by on the score.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from challengers.data.frames import DAY, FLOAT32_OVERFLOW
from challengers.data.split import FIRST_FRAUD_DAY, KNOWN, Windows
from challengers.engine import (
    spark_aggregates,
    spark_graph,
    spark_quantiles,
    spark_reading,
    spark_scores,
)
from challengers.engine.aggregates import Aggregate
from challengers.engine.base import (
    DataSource,
    Engine,
    GraphSettings,
    ModelFile,
    ScoreStats,
    WindowRows,
)
from challengers.engine.boosters import read_model
from challengers.engine.rowhash import MASK, RowSums
from challengers.engine.spark_reading import ORDER, polars_schema
from challengers.engine.spark_session import cluster_errors, shipped, start_session
from challengers.engine.spark_tasks import (
    ROWS,
    SUMS_SCHEMA,
    frame_score_task,
    frame_scored_task,
    row_sums_task,
    score_task,
)
from challengers.engine.spark_training import stratified_sample, train_xgboost, workers_for
from challengers.errors import DataError

SCORE = "_score"  # a model's score, on its way to the driver


class SparkEngine(Engine[Any]):
    """Rows as Spark DataFrames; ``session`` is a live SparkSession."""

    kind = "spark"
    distributed = True

    def __init__(self, session: Any, *, owned: bool = False) -> None:
        self.session = session
        self.owned = owned  # started here: stopped by close()
        self._kept: list[Any] = []  # frames persisted for the run (kept), released by close()

    @classmethod
    def start(cls, master: str | None, conf: dict[str, Any] | None = None) -> SparkEngine:
        """The active session when there is one (spark-submit, a notebook: its master and conf
        win), else a new one on ``master`` with ``conf``."""
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            return cls(active)
        return cls(start_session(master, conf), owned=True)

    def close(self) -> None:
        for rows in self._kept:  # a session that lives on (spark-submit, a notebook) frees them
            rows.unpersist()
        self._kept.clear()
        if self.owned:
            self.session.stop()

    def tags(self) -> dict[str, str]:
        return {"spark_version": str(self.session.version), "spark_master": self.master}

    @property
    def master(self) -> str:
        return str(self.session.sparkContext.master)

    # ------------------------------------------------------------------------------- loading
    # (:mod:`.spark_reading`)

    def read(self, source: str | DataSource) -> Any:
        """The rows of ``source`` (a path: parquet or csv files, a glob, a directory URI; or a
        catalog table), checked as locally."""
        return spark_reading.read_source(self.session, source)

    def file_rows(self, source: str | DataSource) -> Any:
        """Every row and column of ``source``, checked as :meth:`read`, in file order (what
        :meth:`to_polars` brings back: the rows of the local scan)."""
        return spark_reading.file_rows(self.session, source)

    def schema(self, source: str | DataSource) -> pl.Schema:
        return polars_schema(self.read(source))

    def lazy(self, source: str | DataSource) -> pl.LazyFrame:
        """The rows of ``source`` as a polars LazyFrame: each query brings the columns it reads
        to the driver from a Spark job (:func:`.spark_reading.lazy_rows`)."""
        return spark_reading.lazy_rows(self.session, source)

    def load_days(
        self,
        source: str | DataSource,
        *,
        columns: Sequence[str],
        time: str,
        target: str,
        start: object,
        end: object,
        windows: Windows | None = None,
    ) -> Any:
        assert isinstance(start, date) and isinstance(end, date)
        return spark_reading.load_days(
            self.session,
            source,
            columns=columns,
            time=time,
            target=target,
            start=start,
            end=end,
            windows=windows,
        )

    # ------------------------------------------------------------------------------- windows

    @cluster_errors
    def split(self, rows: Any, windows: Windows, *, target: str, entity: str | None) -> WindowRows:
        from pyspark.sql import functions as F

        day = F.col(DAY)
        train = rows.where(day.between(windows.train_start, windows.train_end))
        test = rows.where(day.between(windows.test_start, windows.test_end))
        if not windows.exclude_known_frauds:
            return WindowRows(train, test, 0, 0)
        assert entity is not None, "exclude_known_frauds needs an entity column"
        last_visible = windows.last_fraud_day_seen
        known = (
            rows.where(
                day.between(windows.train_start, last_visible)
                & (F.col(target) == 1)
                & F.col(entity).isNotNull()
            )
            .groupBy(entity)
            .agg(F.min(DAY).alias(FIRST_FRAUD_DAY))
        )
        # known at day d: first fraud in training or on a day <= d - delay - 1 (as locally)
        visible_until = F.greatest(
            F.lit(windows.train_end), F.date_sub(day, windows.label_delay_days + 1)
        )
        flagged = test.join(known, on=entity, how="left").withColumn(
            KNOWN, F.coalesce(F.col(FIRST_FRAUD_DAY) <= visible_until, F.lit(False))
        )
        dropped = flagged.where(F.col(KNOWN)).agg(
            F.count(F.lit(1)).alias("n"), F.sum(F.col(target).cast("long")).alias("p")
        )
        n, p = dropped.first()
        kept = flagged.where(~F.col(KNOWN)).drop(FIRST_FRAUD_DAY, KNOWN)
        return WindowRows(train, kept, int(n), int(p or 0))

    @cluster_errors
    def count(self, rows: Any) -> int:
        return int(rows.count())

    def columns(self, rows: Any) -> list[str]:
        return list(rows.columns)

    def with_infinite(self, rows: Any, columns: Sequence[str]) -> Any:
        from pyspark.sql import functions as F

        if not columns:
            return rows.limit(0)
        # as data.frames.read_as_infinite; Spark too orders NaN above every number
        infinite = [
            (F.abs(F.col(c)) >= F.lit(FLOAT32_OVERFLOW)) & ~F.isnan(F.col(c)) for c in columns
        ]
        return rows.where(functools.reduce(operator.or_, infinite))

    def to_polars(self, rows: Any) -> pl.DataFrame:
        return spark_reading.to_polars(rows)

    def select(self, rows: Any, columns: Sequence[str]) -> Any:
        kept = [*([ORDER] if ORDER in rows.columns else []), *columns]  # the order goes along
        return rows.select(*kept)

    @cluster_errors
    def take(self, rows: Any, positions: np.ndarray) -> pl.DataFrame:
        from pyspark.sql import functions as F

        # the rows' places in the files (8 bytes a row on the driver for a moment), sorted here:
        # Spark's global sort of them took 12-14 s for 1.75M test rows on local[2]
        order = np.sort(rows.select(ORDER).toArrow().column(ORDER).to_numpy())
        wanted = order[np.asarray(positions, dtype=np.int64)].tolist()
        return self.to_polars(rows.where(F.col(ORDER).isin(wanted)))

    def head(self, rows: Any, n: int) -> pl.DataFrame:
        if ORDER in rows.columns:  # the n first in the files: a top-n, not a sort of the rows
            return self.to_polars(rows.orderBy(ORDER).limit(n))
        return self.to_polars(rows.limit(n))

    # --------------------------------------------------------------------- on the executors

    @cluster_errors
    def aggregate(
        self,
        rows: Any,
        aggregates: Sequence[Aggregate],
        *,
        repeats: Sequence[pl.Expr] = (),
        schema: pl.Schema | None = None,
    ) -> tuple[list[pl.DataFrame], list[int]]:
        """The polars queries on the executors' Arrow batches, merged there; the keys' repeats
        by a group-by (:mod:`.spark_aggregates`): one job, only results reach the driver."""
        return spark_aggregates.aggregate(
            rows, aggregates, repeats, schema if schema is not None else polars_schema(rows)
        )

    @cluster_errors
    def row_sums(self, rows: Any, columns: Sequence[str], *, chunk_by: str | None) -> RowSums:
        from pyspark.sql import functions as F

        sums = RowSums(tuple(sorted(dict.fromkeys(columns))), chunk_by)
        schema = polars_schema(rows)
        sums.record_kinds(pl.Schema({c: schema[c] for c in sums.columns}))
        wanted = [*sums.columns, *([chunk_by] if chunk_by else [])]
        task = row_sums_task(sums.columns, dict(sums.kinds), chunk_by)
        parts = (
            rows.select(*dict.fromkeys(wanted))
            .mapInArrow(task, SUMS_SCHEMA)
            .groupBy("key", "column")
            .agg(F.sum("rows").alias("rows"), F.sum("lo").alias("lo"), F.sum("hi").alias("hi"))
            .collect()
        )
        by_key: dict[str, tuple[int, int, dict[str, int]]] = {}
        for key, column, count, lo, hi in parts:
            n, row_sum, column_sums = by_key.get(key, (0, 0, {}))
            value = (int(lo) + (int(hi) << 32)) & MASK
            if column == ROWS:
                n, row_sum = int(count), value
            else:
                column_sums[column] = value
            by_key[key] = (n, row_sum, column_sums)
        for key, (n, row_sum, column_sums) in by_key.items():
            sums.add(key, n, row_sum, column_sums)
        return sums

    @contextmanager
    def score(self, rows: Any, model: ModelFile, *, output: str) -> Iterator[Any]:
        from pyspark.sql.types import DoubleType, StructField, StructType

        missing = [f for f in model.features if f not in rows.columns]
        if missing:
            raise DataError(f"champion.model: feature '{missing[0]}' is not in the data")
        with shipped(self.session, read_model(model.path)) as raw:
            schema = StructType([*rows.schema.fields, StructField(output, DoubleType(), False)])
            suffix = Path(model.path).suffix.lower()
            task = score_task(raw, model.library, suffix, model.features, output)
            yield rows.mapInArrow(task, schema)

    @cluster_errors
    def scores_of(self, rows: Any, model: ModelFile) -> np.ndarray:
        with self.score(rows.select(ORDER, *model.features), model, output=SCORE) as scored:
            table = scored.select(ORDER, SCORE).orderBy(ORDER).toArrow()
        return np.asarray(table.column(SCORE).to_numpy(), dtype=np.float64)

    @cluster_errors
    def scores_by(
        self, rows: Any, scorer: Callable[[pl.DataFrame], np.ndarray], columns: Sequence[str]
    ) -> np.ndarray:
        with shipped(self.session, scorer) as on_executors:
            task = frame_score_task(on_executors, ORDER, SCORE)
            scored = rows.select(ORDER, *columns).mapInArrow(task, f"{ORDER} long, {SCORE} double")
            table = scored.orderBy(ORDER).toArrow()
        return np.asarray(table.column(SCORE).to_numpy(), dtype=np.float64)

    @contextmanager
    def scored_by(
        self,
        rows: Any,
        scorer: Callable[[pl.DataFrame], np.ndarray],
        columns: Sequence[str],
        *,
        output: str,
    ) -> Iterator[Any]:
        from pyspark.sql.types import DoubleType, StructField, StructType

        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise DataError(f"column '{missing[0]}' is not in the rows to score")
        with shipped(self.session, scorer) as on_executors:
            schema = StructType([*rows.schema.fields, StructField(output, DoubleType(), False)])
            yield rows.mapInArrow(frame_scored_task(on_executors, output), schema)

    # ------------------------------------------------------------------ training challengers

    def workers(self, requested: int | None) -> int:
        return workers_for(self.session, requested)

    @cluster_errors
    def class_counts(self, rows: Any, target: str) -> tuple[int, int]:
        from pyspark.sql import functions as F

        y = F.col(target).cast("long")
        n, positives = rows.agg(F.count(F.lit(1)), F.sum(y)).first()
        return int(n) - int(positives or 0), int(positives or 0)

    @cluster_errors
    def missing_counts(self, rows: Any, column: str) -> tuple[int, int]:
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, FloatType

        value = F.col(column)
        floats = isinstance(rows.schema[column].dataType, DoubleType | FloatType)
        nans = F.sum(F.isnan(value).cast("long")) if floats else F.lit(0)  # NaN: not null here
        nulls, nan_count = rows.agg(F.sum(value.isNull().cast("long")), nans).first()
        return int(nulls or 0), int(nan_count or 0)

    @cluster_errors
    def sample(
        self, rows: Any, *, target: str, size: int, seed: int, by: Sequence[str] | None = None
    ) -> pl.DataFrame:
        return stratified_sample(rows, target=target, size=size, seed=seed, order=ORDER, by=by)

    def kept(self, rows: Any) -> Any:
        persisted = rows.persist()  # memory, spilled to disk: recomputed from the lineage if lost
        self._kept.append(persisted)
        return persisted

    @contextmanager
    def held(self, rows: Any) -> Iterator[Any]:
        kept = rows.persist()  # memory, spilled to disk: recomputed from the lineage when lost
        try:
            yield kept
        finally:
            kept.unpersist()

    @cluster_errors
    def train_xgboost(
        self,
        rows: Any,
        *,
        features: Sequence[str],
        target: str,
        params: dict[str, Any],
        rounds: int,
        workers: int,
    ) -> Any:
        return train_xgboost(
            self.session,
            rows,
            features=features,
            target=target,
            params=params,
            rounds=rounds,
            workers=workers,
        )

    @cluster_errors
    def score_stats(
        self, rows: Any, *, score: str, target: str, amount: str | None = None
    ) -> ScoreStats:
        return spark_scores.score_stats(rows, score=score, target=target, amount=amount)

    @cluster_errors
    def score_groups(
        self, rows: Any, *, score: str, target: str, amount: str | None = None
    ) -> ScoreStats:
        """Two jobs, about twice the frauds' groups to the driver (:mod:`.spark_scores`)."""
        return spark_scores.score_groups(
            self.session, rows, score=score, target=target, amount=amount
        )

    @cluster_errors
    def entity_day_cells(
        self, rows: Any, *, score: str, target: str, entity: str, k: int
    ) -> pl.DataFrame:
        """Per test day, its entities in card-precision order with their max label
        (:func:`.spark_scores.entity_day_cells`)."""
        return spark_scores.entity_day_cells(
            self.session, rows, score=score, target=target, entity=entity, day=DAY, k=k
        )

    @cluster_errors
    def finite_counts(self, rows: Any, columns: Sequence[str]) -> dict[str, int]:
        return spark_quantiles.finite_counts(rows, columns)

    @cluster_errors
    def order_statistics(
        self, rows: Any, ranks: Mapping[str, np.ndarray], counts: Mapping[str, int]
    ) -> dict[str, np.ndarray]:
        return spark_quantiles.order_statistics(rows, ranks, counts)

    @cluster_errors
    def bin_counts(self, rows: Any, edges: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return spark_quantiles.bin_counts(rows, edges)

    def graph_features(self, history: Any, rows: Any, settings: GraphSettings) -> Any:
        """Window aggregations on the executors; snapshot features on the driver from each day's
        distinct entity tuples (:mod:`.spark_graph`)."""
        return spark_graph.graph_features(self.session, history, rows, settings)
