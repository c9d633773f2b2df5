"""Reading rows into Spark as the local engine reads them, and bringing them back in file order.

A source is parquet or CSV files, a glob, a URI Spark reads, or a table of the session's catalog.
Local paths get the local engine's file checks first, and CSV is read with the types polars
infers, so the rows (and their fingerprint) are the local engine's; the schema checks and their
one-line errors are the local engine's too, and the time becomes naive UTC as locally. Each row
can carry its place in the files (``ORDER``), which the rows brought to the driver follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

import polars as pl

from challengers.data.checks import labels_needed, missing_labels
from challengers.data.frames import (
    CSV,
    DAY,
    ISO_DATE,
    PARQUET,
    check_files,
    check_target_values,
    is_numeric,
    is_pattern,
    number_types,
    require_columns,
    scan,
    schema_of,
)
from challengers.data.split import Windows
from challengers.engine.base import URI, DataSource
from challengers.engine.spark_session import cluster_errors
from challengers.errors import DataError, first_line

ORDER = "_order"  # a row's place in the files (increasing, not consecutive)

# CSV as the local engine reads it (polars' scan_csv): a header, '"' quotes doubled inside quoted
# values, empty fields null; a row that does not parse stops the read instead of becoming nulls
CSV_OPTIONS = {"header": "true", "quote": '"', "escape": '"', "mode": "FAILFAST"}

SHOWN = 10  # names listed when a table is not found
HADOOP_GLOB = re.compile(r"([\[\]{}*?\\])")  # Hadoop's glob characters, escaped by a backslash


def read_source(session: Any, source: str | DataSource) -> Any:
    """The rows of ``source`` (a path: parquet or csv files, a glob, a directory URI; or a
    catalog table), checked as locally, their Decimal columns read as the plan reads them
    locally (:func:`as_numbers`)."""
    return as_numbers(stored_rows(session, source))


def as_numbers(frame: Any) -> Any:
    """``frame`` with its Decimal columns cast to the types a local plan reads them as
    (:func:`~challengers.data.frames.number_types`: whole numbers of at most 18 digits as
    bigint, the others as double), so the rows, the checks and the fingerprint are the local
    engine's, and no Decimal reaches the driver's steps."""
    from pyspark.sql import functions as F

    types = number_types(polars_schema(frame))
    if not types:
        return frame
    spark = {name: "bigint" if dtype == pl.Int64 else "double" for name, dtype in types.items()}
    return frame.withColumns({name: F.col(name).cast(t) for name, t in spark.items()})


def stored_rows(session: Any, source: str | DataSource) -> Any:
    """The rows of ``source`` with the types they are stored with, checked as locally."""
    source = DataSource.of(source)
    if source.table is not None:
        frame = _read_table(session, source.table)
    else:
        assert source.path is not None
        frame = _read_files(session, source.path)
    try:
        empty = frame.isEmpty()
    except Exception as exc:  # AnalysisException and the JVM's errors
        raise DataError(f"{source.key}: cannot read {source.name}: {first_line(exc)}") from exc
    if empty:
        raise DataError(f"{source.key}: {source.name} holds no rows (only a header or a schema)")
    return frame


def _read_files(session: Any, path: str) -> Any:
    """Parquet as Spark reads it; CSV with the types the local engine infers (its checks
    first), so the rows, and the fingerprint, are the local engine's."""
    reader = session.read
    spark_path = path
    if not URI.match(path):
        files = check_files(path)
        if not is_pattern(path):  # a file named tx[1].parquet is that file, for Hadoop too
            spark_path = HADOOP_GLOB.sub(r"\\\1", path)
        suffix = "." + files[0].rsplit(".", 1)[-1].lower()
        if suffix in CSV:
            schema = csv_schema(schema_of(scan(path)))
            reader = reader.schema(schema).options(**CSV_OPTIONS)
            return _read_path(path, lambda: reader.csv(spark_path))
        if suffix not in PARQUET:
            raise DataError(
                f"data.path: unsupported file type '{suffix}' ({path}); use .parquet or .csv"
            )
    return _read_path(path, lambda: reader.parquet(spark_path))


def _read_path(path: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as exc:
        raise DataError(f"data.path: cannot read {path}: {first_line(exc)}") from exc


def _read_table(session: Any, name: str) -> Any:
    """A table (or view) of the session's catalog; one that is not there is named with what
    the catalog holds."""
    catalog = session.catalog
    try:
        if catalog.tableExists(name):
            return session.table(name)
        visible = catalog_contents(catalog, name)
    except Exception as exc:  # AnalysisException and the JVM's errors
        raise DataError(f"data.table: cannot read {name}: {first_line(exc)}") from exc
    raise DataError(
        f"data.table: no table {name} in the Spark catalog ({visible}); check the name, or "
        "give engine.conf the catalog that holds it (spark.sql.catalogImplementation, "
        "spark.sql.warehouse.dir)"
    )


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


def polars_schema(frame: Any) -> pl.Schema:
    """The schema the local engine would see for a Spark DataFrame."""
    return pl.Schema({f.name: polars_type(f.dataType) for f in frame.schema.fields})


def file_rows(session: Any, source: str | DataSource) -> Any:
    """Every row and column of ``source``, checked as :func:`read_source`, with its place in
    the files (``ORDER``)."""
    from pyspark.sql import functions as F

    return read_source(session, source).withColumn(ORDER, F.monotonically_increasing_id())


@cluster_errors
def to_polars(rows: Any) -> pl.DataFrame:
    """The rows on the driver, in file order when they carry it (``ORDER``, then dropped)."""
    if ORDER in rows.columns:
        rows = rows.orderBy(ORDER).drop(ORDER)
    frame = pl.from_arrow(rows.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def lazy_rows(session: Any, source: str | DataSource) -> pl.LazyFrame:
    """The rows of ``source`` as a polars LazyFrame (the plan's, where the audit and the checks
    of a run query every row): each query brings the columns it reads to the driver, in file
    order, from a Spark job; nothing is read until a query runs, and the session must live
    until then."""
    from polars.io.plugins import register_io_source

    # as stored: the plan reads its Decimals as numbers, as it does a local scan's
    frame = stored_rows(session, source)
    schema = polars_schema(frame)

    def batches(
        columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _size: Any
    ) -> Iterator[pl.DataFrame]:
        wanted = list(columns if columns is not None else schema.names())
        read = [*wanted, *(predicate.meta.root_names() if predicate is not None else [])]
        # a query that reads no column (a count) still needs the rows: it gets the first
        rows = to_polars(
            _first_in_order(frame, list(dict.fromkeys(read)) or schema.names()[:1], n_rows)
        )
        if predicate is not None:
            rows = rows.filter(predicate)
        yield rows.select(wanted) if wanted else rows

    return register_io_source(
        batches, schema=schema, explain_name=f"spark {DataSource.of(source).name}"
    )


@cluster_errors
def _first_in_order(frame: Any, columns: list[str], limit: int | None) -> Any:
    """``columns`` of ``frame`` with their place in the files: the first ``limit`` rows, or all."""
    from pyspark.sql import functions as F

    rows = frame.select(*columns).withColumn(ORDER, F.monotonically_increasing_id())
    return rows if limit is None else rows.orderBy(ORDER).limit(limit)


@cluster_errors
def load_days(
    session: Any,
    source: str | DataSource,
    *,
    columns: Sequence[str],
    time: str,
    target: str,
    start: date,
    end: date,
    windows: Windows | None = None,
) -> Any:
    """``columns`` of the rows of ``source`` from day ``start`` to ``end``, with the time as
    naive UTC, its day (``DAY``) and the rows' place in the files; the target checked (missing
    labels said by the part of ``windows`` they are in)."""
    from pyspark.sql import functions as F

    source = DataSource.of(source)
    frame = read_source(session, source)
    schema = polars_schema(frame)
    require_columns(schema, [(c, "data") for c in columns])
    stamp = _naive_utc(frame, time, schema[time])
    rows = (
        frame.select(*dict.fromkeys(columns))
        # the file order, kept through joins and shuffles: ties in card precision and the rows
        # brought to the driver follow it, as they follow the load order locally
        .withColumn(ORDER, F.monotonically_increasing_id())
        .withColumn(time, stamp)
        .withColumn(DAY, F.to_date(F.col(time)))
        .where(F.col(DAY).between(start, end))
    )
    _check_target(rows, target, schema[target], source.key, windows)
    return rows


def _naive_utc(frame: Any, time: str, dtype: pl.DataType) -> Any:
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


def _check_target(
    rows: Any, target: str, dtype: pl.DataType, key: str, windows: Windows | None
) -> None:
    from pyspark.sql import functions as F

    col = F.col(target)
    try:
        # the rows without a label by day (normally none): where they are, as locally
        missing = rows.where(col.isNull()).groupBy(DAY).count().collect()
        values: list[float | None] = []
        if is_numeric(dtype):  # at most a few distinct values when the labels are right
            found = rows.select(col.cast("double")).distinct().limit(8).collect()
            values = [r[0] for r in found]
    except Exception as exc:
        raise DataError(f"{key}: cannot read the rows: {first_line(exc)}") from exc
    needed = labels_needed({r[0]: r[1] for r in missing}, windows)  # a gap nothing reads: none
    if needed:
        raise DataError(missing_labels(target, needed, windows))
    check_target_values(target, dtype, 0, values)
