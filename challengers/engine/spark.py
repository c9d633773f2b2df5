"""The Spark engine: the steps that touch rows as Spark jobs; only aggregates reach the driver.

Loading reads parquet files or globs (any URI Spark reads; local paths get the local engine's file
checks first), applies the same schema checks and one-line errors, and turns the time into naive UTC
as the local engine does. Windows, label delay and known-fraud exclusion are filters and one join on
the first known fraud day per entity. Fingerprint sums and scores run on the executors over Arrow
batches (:mod:`.spark_tasks`), with the local engine's kernels. Metric statistics are one group-by
on the score.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from challengers.data.frames import (
    CSV,
    DAY,
    ISO_DATE,
    PARQUET,
    check_files,
    check_target_values,
    is_numeric,
    require_columns,
    scan,
    schema_of,
)
from challengers.data.split import FIRST_FRAUD_DAY, KNOWN, Windows
from challengers.engine import spark_aggregates, spark_graph, spark_quantiles, spark_scores
from challengers.engine.aggregates import Aggregate
from challengers.engine.base import (
    URI,
    DataSource,
    Engine,
    GraphSettings,
    ModelFile,
    ScoreStats,
    WindowRows,
)
from challengers.engine.boosters import read_model
from challengers.engine.rowhash import MASK, RowSums
from challengers.engine.spark_session import cluster_errors, start_session
from challengers.engine.spark_tasks import (
    ROWS,
    SUMS_SCHEMA,
    frame_score_task,
    frame_scored_task,
    row_sums_task,
    score_task,
)
from challengers.engine.spark_training import stratified_sample, train_xgboost, workers_for
from challengers.errors import DataError, first_line

ORDER = "_order"  # a row's place in the files (increasing, not consecutive)
SCORE = "_score"  # a model's score, on its way to the driver


def polars_type(spark_type: Any) -> pl.DataType:
    """The polars type the local engine would see for a Spark column type."""
    from pyspark.sql import types as T

    simple: dict[type, pl.DataType] = {
        T.ByteType: pl.Int8(),
        T.ShortType: pl.Int16(),
        T.IntegerType: pl.Int32(),
        T.LongType: pl.Int64(),
        T.FloatType: pl.Float32(),
        T.DoubleType: pl.Float64(),
        T.BooleanType: pl.Boolean(),
        T.StringType: pl.String(),
        T.BinaryType: pl.Binary(),
        T.DateType: pl.Date(),
        T.TimestampNTZType: pl.Datetime("us"),
        T.TimestampType: pl.Datetime("us", "UTC"),
    }
    for kind, dtype in simple.items():
        if isinstance(spark_type, kind):
            return dtype
    if isinstance(spark_type, T.DecimalType):
        return pl.Decimal(spark_type.precision, spark_type.scale)
    return pl.Object()  # nested and other types: refused where a check needs them


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

    def read(self, source: str | DataSource) -> Any:
        """The rows of ``source`` (a path: parquet or csv files, a glob, a directory URI; or a
        catalog table), checked as locally."""
        source = DataSource.of(source)
        if source.table is not None:
            frame = self._table(source.table)
        else:
            assert source.path is not None
            frame = self._files(source.path)
        try:
            empty = frame.isEmpty()
        except Exception as exc:  # AnalysisException and the JVM's errors
            raise DataError(f"{source.key}: cannot read {source.name}: {first_line(exc)}") from exc
        if empty:
            raise DataError(
                f"{source.key}: {source.name} holds no rows (only a header or a schema)"
            )
        return frame

    def _files(self, path: str) -> Any:
        """Parquet as Spark reads it; CSV with the types the local engine infers (its checks
        first), so the rows, and the fingerprint, are the local engine's."""
        reader = self.session.read
        if not URI.match(path):
            files = check_files(path)
            suffix = "." + files[0].rsplit(".", 1)[-1].lower()
            if suffix in CSV:
                schema = csv_schema(schema_of(scan(path)))
                reader = reader.schema(schema).options(**CSV_OPTIONS)
                return self._load(path, lambda: reader.csv(path))
            if suffix not in PARQUET:
                raise DataError(
                    f"data.path: unsupported file type '{suffix}' ({path}); use .parquet or .csv"
                )
        return self._load(path, lambda: reader.parquet(path))

    @staticmethod
    def _load(path: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:
            raise DataError(f"data.path: cannot read {path}: {first_line(exc)}") from exc

    def _table(self, name: str) -> Any:
        """A table (or view) of the session's catalog; one that is not there is named with what
        the catalog holds."""
        catalog = self.session.catalog
        try:
            if catalog.tableExists(name):
                return self.session.table(name)
            visible = catalog_contents(catalog, name)
        except Exception as exc:  # AnalysisException and the JVM's errors
            raise DataError(f"data.table: cannot read {name}: {first_line(exc)}") from exc
        raise DataError(
            f"data.table: no table {name} in the Spark catalog ({visible}); check the name, or "
            "give engine.conf the catalog that holds it (spark.sql.catalogImplementation, "
            "spark.sql.warehouse.dir)"
        )

    def file_rows(self, source: str | DataSource) -> Any:
        """Every row and column of ``source``, checked as :meth:`read`, in file order (what
        :meth:`to_polars` brings back: the rows of the local scan)."""
        from pyspark.sql import functions as F

        return self.read(source).withColumn(ORDER, F.monotonically_increasing_id())

    def schema(self, source: str | DataSource) -> pl.Schema:
        return self._schema(self.read(source))

    def lazy(self, source: str | DataSource) -> pl.LazyFrame:
        """The rows of ``source`` as a polars LazyFrame (the plan's, where the audit and the checks
        of a run query every row): each query brings the columns it reads to the driver, in file
        order, from a Spark job; nothing is read until a query runs, and the session must live
        until then."""
        from polars.io.plugins import register_io_source

        frame = self.read(source)
        schema = self._schema(frame)

        def batches(
            columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _size: Any
        ) -> Iterator[pl.DataFrame]:
            wanted = list(columns if columns is not None else schema.names())
            read = [*wanted, *(predicate.meta.root_names() if predicate is not None else [])]
            # a query that reads no column (a count) still needs the rows: it gets the first
            rows = self.to_polars(
                self._ordered(frame, list(dict.fromkeys(read)) or schema.names()[:1], n_rows)
            )
            if predicate is not None:
                rows = rows.filter(predicate)
            yield rows.select(wanted) if wanted else rows

        return register_io_source(
            batches, schema=schema, explain_name=f"spark {DataSource.of(source).name}"
        )

    @cluster_errors
    def _ordered(self, frame: Any, columns: list[str], limit: int | None) -> Any:
        from pyspark.sql import functions as F

        rows = frame.select(*columns).withColumn(ORDER, F.monotonically_increasing_id())
        return rows if limit is None else rows.orderBy(ORDER).limit(limit)

    @staticmethod
    def _schema(frame: Any) -> pl.Schema:
        return pl.Schema({f.name: polars_type(f.dataType) for f in frame.schema.fields})

    @cluster_errors
    def load_days(
        self,
        source: str | DataSource,
        *,
        columns: Sequence[str],
        time: str,
        target: str,
        start: object,
        end: object,
    ) -> Any:
        from pyspark.sql import functions as F

        assert isinstance(start, date) and isinstance(end, date)
        source = DataSource.of(source)
        frame = self.read(source)
        schema = self._schema(frame)
        require_columns(schema, [(c, "data") for c in columns])
        stamp = self._naive_utc(frame, time, schema[time])
        rows = (
            frame.select(*dict.fromkeys(columns))
            # the file order, kept through joins and shuffles: ties in card precision and the rows
            # brought to the driver follow it, as they follow the load order locally
            .withColumn(ORDER, F.monotonically_increasing_id())
            .withColumn(time, stamp)
            .withColumn(DAY, F.to_date(F.col(time)))
            .where(F.col(DAY).between(start, end))
        )
        self._check_target(rows, target, schema[target], source.key)
        return rows

    def _naive_utc(self, frame: Any, time: str, dtype: pl.DataType) -> Any:
        """The time as TIMESTAMP_NTZ in UTC (the session's zone), as the local parse_time does."""
        from pyspark.sql import functions as F

        col = F.col(time)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            return col
        if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
            return col.cast("timestamp_ntz")
        if dtype == pl.String:
            first = frame.select(time).where(col.isNotNull()).first()
            if first is not None and not re.match(ISO_DATE, str(first[0])):
                raise DataError(
                    f"data.time: column '{time}' holds text like '{first[0]}', not ISO 8601; the "
                    "day/month order of such dates is ambiguous: write them as 2024-02-01 13:45:00"
                )
            return col.cast("timestamp").cast("timestamp_ntz")
        raise DataError(
            f"data.time: column '{time}' is {dtype}, not a timestamp; give a datetime, a date or an "
            "ISO 8601 string column"
        )

    def _check_target(self, rows: Any, target: str, dtype: pl.DataType, key: str) -> None:
        from pyspark.sql import functions as F

        col = F.col(target)
        try:
            nulls = rows.where(col.isNull()).count()
            values: list[float | None] = []
            if is_numeric(dtype):  # at most a few distinct values when the labels are right
                found = rows.select(col.cast("double")).distinct().limit(8).collect()
                values = [r[0] for r in found]
        except Exception as exc:
            raise DataError(f"{key}: cannot read the rows: {first_line(exc)}") from exc
        check_target_values(target, dtype, nulls, values)

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
        infinite = [F.abs(F.col(c)) == F.lit(float("inf")) for c in columns]
        return rows.where(functools.reduce(operator.or_, infinite))

    @cluster_errors
    def to_polars(self, rows: Any) -> pl.DataFrame:
        if ORDER in rows.columns:
            rows = rows.orderBy(ORDER).drop(ORDER)
        frame = pl.from_arrow(rows.toArrow())
        assert isinstance(frame, pl.DataFrame)
        return frame

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
            rows, aggregates, repeats, schema if schema is not None else self._schema(rows)
        )

    @cluster_errors
    def row_sums(self, rows: Any, columns: Sequence[str], *, chunk_by: str | None) -> RowSums:
        from pyspark.sql import functions as F

        sums = RowSums(tuple(sorted(dict.fromkeys(columns))), chunk_by)
        schema = self._schema(rows)
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

    def score(self, rows: Any, model: ModelFile, *, output: str) -> Any:
        from pyspark.sql.types import DoubleType, StructField, StructType

        missing = [f for f in model.features if f not in rows.columns]
        if missing:
            raise DataError(f"champion.model: feature '{missing[0]}' is not in the data")
        raw = self.session.sparkContext.broadcast(read_model(model.path))
        schema = StructType([*rows.schema.fields, StructField(output, DoubleType(), False)])
        suffix = Path(model.path).suffix.lower()
        task = score_task(raw, model.library, suffix, model.features, output)
        return rows.mapInArrow(task, schema)

    @cluster_errors
    def scores_of(self, rows: Any, model: ModelFile) -> np.ndarray:
        scored = self.score(rows.select(ORDER, *model.features), model, output=SCORE)
        table = scored.select(ORDER, SCORE).orderBy(ORDER).toArrow()
        return np.asarray(table.column(SCORE).to_numpy(), dtype=np.float64)

    @cluster_errors
    def scores_by(
        self, rows: Any, scorer: Callable[[pl.DataFrame], np.ndarray], columns: Sequence[str]
    ) -> np.ndarray:
        shipped = self.session.sparkContext.broadcast(scorer)
        task = frame_score_task(shipped, ORDER, SCORE)
        scored = rows.select(ORDER, *columns).mapInArrow(task, f"{ORDER} long, {SCORE} double")
        table = scored.orderBy(ORDER).toArrow()
        return np.asarray(table.column(SCORE).to_numpy(), dtype=np.float64)

    def scored_by(
        self,
        rows: Any,
        scorer: Callable[[pl.DataFrame], np.ndarray],
        columns: Sequence[str],
        *,
        output: str,
    ) -> Any:
        from pyspark.sql.types import DoubleType, StructField, StructType

        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise DataError(f"column '{missing[0]}' is not in the rows to score")
        shipped = self.session.sparkContext.broadcast(scorer)
        schema = StructType([*rows.schema.fields, StructField(output, DoubleType(), False)])
        return rows.mapInArrow(frame_scored_task(shipped, output), schema)

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
        """Per test day, its entities in card-precision order with their max label: max score
        descending, ties by the file order of the entity's first row at that score (the local
        engine's stable sort). Only the first ``k * days`` of a day can matter (at most ``k``
        entities a day leave the ranking as detected), so only those reach the driver."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        best = F.max(F.struct(F.col(score).cast("double").alias("s"), (-F.col(ORDER)).alias("o")))
        cells = rows.groupBy(DAY, entity).agg(
            best.alias("best"), F.max(F.col(target).cast("double")).alias("label")
        )
        days = cells.select(DAY).distinct().count()
        rank = F.row_number().over(
            Window.partitionBy(DAY).orderBy(F.col("best.s").desc(), F.col("best.o").desc())
        )
        kept = (
            cells.withColumn("rank", rank)
            .where(F.col("rank") <= k * max(days, 1))
            .select(DAY, F.col(entity).alias("entity"), "label", "rank")
        )
        return self.to_polars(kept).sort(DAY, "rank")

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


# CSV as the local engine reads it (polars' scan_csv): a header, '"' quotes doubled inside quoted
# values, empty fields null; a row that does not parse stops the read instead of becoming nulls
CSV_OPTIONS = {"header": "true", "quote": '"', "escape": '"', "mode": "FAILFAST"}


def csv_schema(schema: pl.Schema) -> Any:
    """The Spark schema of the types polars inferred for a CSV (integers, floats, booleans, text)."""
    from pyspark.sql import types as T

    spark: dict[pl.DataType, Any] = {
        pl.Int64(): T.LongType(),
        pl.Float64(): T.DoubleType(),
        pl.Boolean(): T.BooleanType(),
    }
    return T.StructType(
        [
            T.StructField(name, spark.get(dtype, T.StringType()), True)
            for name, dtype in schema.items()
        ]
    )


SHOWN = 10  # names listed when a table is not found


def catalog_contents(catalog: Any, name: str) -> str:
    """What the catalog holds, briefly: its databases and the tables of the one ``name`` names
    (else the current one)."""
    databases = [d.name for d in catalog.listDatabases()]
    parts = name.split(".")
    database = parts[-2] if len(parts) > 1 else catalog.currentDatabase()
    tables = [t.name for t in catalog.listTables(database)] if database in databases else []

    def brief(names: list[str]) -> str:
        more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
        return ", ".join(sorted(names)[:SHOWN]) + more if names else "none"

    return f"databases: {brief(databases)}; tables in {database}: {brief(tables)}"
