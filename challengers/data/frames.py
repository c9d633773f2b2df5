"""Lazy polars loading, schema checks and float32 feature matrices.

Data is scanned lazily (parquet or csv, a file or a glob); only the columns a run needs are read, and
only the rows of the days it covers. Features become float32 matrices for the models; pandas is never
on this path.
"""

from __future__ import annotations

import glob
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from challengers.errors import DataError, closest, first_line
from challengers.threads import each

log = logging.getLogger(__name__)

# The tool's own columns (the day of each row, join keys, flags) carry this prefix, which the data
# may not use (refused with one line when the plan is made): a user column named `_day` or `_known`
# is data like any other, never confused with, replaced by or dropped as one of the tool's.
INTERNAL = "__challenge:"
DAY = f"{INTERNAL}day"  # the calendar day of each row, added on load
DAY_LABEL = "_day"  # its name in data fingerprints, as logged before it moved into the namespace
RECHUNK_THREADS = 2  # columns copied into one chunk at a time (one_chunk_per_column)


@dataclass(frozen=True)
class DataSpec:
    """What the models need to know about the columns: plain names, no config."""

    target: str
    time: str
    features: tuple[str, ...]
    id: str | None = None
    amount: str | None = None
    entity: str | None = None
    segments: tuple[str, ...] = ()
    label_delay_days: int = 0
    scenario: str | None = None  # fraud scenario per row: a breakdown of the overlap, not a feature
    scenario_names: tuple[
        tuple[str, str], ...
    ] = ()  # (value as text, name)  # labels younger than this are unknown when a row is scored

    def with_features(self, features: Iterable[str]) -> DataSpec:
        return replace(self, features=tuple(features))


# ------------------------------------------------------------------------------------- scanning


def scan(path: str) -> pl.LazyFrame:
    """A lazy scan of a parquet or csv file or glob. Raises DataError when nothing can be read."""
    files = check_files(path)
    first = Path(files[0])
    suffix = first.suffix.lower()
    _check_kinds(path, files, suffix)
    try:
        if suffix in (".parquet", ".pq"):
            lf = pl.scan_parquet(path, glob=is_pattern(path))
        elif suffix in (".csv", ".txt", ".gz"):
            lf = pl.scan_csv(path, infer_schema_length=10_000, glob=is_pattern(path))
        else:
            raise DataError(
                f"data.path: unsupported file type '{suffix}' ({path}); use .parquet or .csv"
            )
        schema = lf.collect_schema()
        empty = lf.head(1).collect().height == 0
    except DataError:
        raise
    except Exception as exc:  # polars raises several types for unreadable files
        raise DataError(f"data.path: cannot read {path}: {first_line(exc, limit=None)}") from exc
    if suffix not in (".parquet", ".pq"):
        _check_text(files, schema)
        _check_csv(path, files, schema)
    if empty:
        raise DataError(f"data.path: {path} holds no rows (only a header or a schema)")
    return lf


PARQUET, CSV = (".parquet", ".pq"), (".csv", ".txt", ".gz")


def _check_kinds(path: str, files: list[str], suffix: str) -> None:
    """One glob, one file type: polars would read every file as the first one's type."""
    family = PARQUET if suffix in PARQUET else CSV if suffix in CSV else None
    if family is None:  # refused by name below
        return
    other = next((f for f in files if Path(f).suffix.lower() not in family), None)
    if other is not None:
        raise DataError(
            f"data.path: '{path}' matches files of different types ({files[0]} and {other}); "
            "use a pattern that matches one type (e.g. *.parquet)"
        )


def _check_text(files: list[str], schema: pl.Schema) -> None:
    """UTF-16 text and other separators, named, instead of column names like ' T X _ A M T '."""
    for file in (f for f in files if not f.lower().endswith(".gz")):  # gzip is binary
        with Path(file).open("rb") as handle:
            head = handle.read(4096)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
            raise DataError(
                f"data.path: {file} is UTF-16 (or binary), not UTF-8 text; save it as UTF-8 CSV"
            )
    names = schema.names()
    if len(names) == 1:
        separator = next((sep for sep in (";", "\t", "|") if sep in names[0]), None)
        if separator is not None:
            shown = {"\t": "a tab"}.get(separator, f"'{separator}'")
            raise DataError(
                f"data.path: {files[0]} has one column '{names[0][:40]}': its separator is {shown}, "
                "not a comma; save it comma-separated (or as parquet)"
            )


def is_pattern(path: str) -> bool:
    """Whether ``path`` is a glob: it has ``*``, ``?`` or ``[...]`` and names no file as written.
    A file named ``tx[2024].parquet`` was read as the pattern ``tx2.parquet``/``tx0.parquet``...:
    'no file matches', or another file's rows where one matched."""
    return glob.has_magic(path) and not Path(path).exists()


def check_files(path: str) -> list[str]:
    """The files of a path or glob, each existing, not a directory and not empty (DataError)."""
    files = sorted(glob.glob(path)) if is_pattern(path) else [path]
    if not files:
        raise DataError(f"data.path: no file matches '{path}'; check the pattern")
    first = Path(files[0])
    if not first.exists():
        raise DataError(f"data.path: file not found: {path}; check data.path in the config")
    if first.is_dir():
        raise DataError(
            f"data.path: {path} is a directory; give a file or a glob such as dir/*.parquet"
        )
    zero = [f for f in files if Path(f).stat().st_size == 0]
    if zero:
        raise DataError(f"data.path: {zero[0]} is empty (0 bytes); regenerate or remove it")
    return files


def _check_csv(path: str, files: list[str], schema: pl.Schema) -> None:
    """A CSV is parsed in full once: polars reads only the columns a query needs and can then miss
    a broken row (a stray separator shifts every later field of that row)."""
    repeated = [n.rsplit("_duplicated_", 1)[0] for n in schema.names() if "_duplicated_" in n]
    if repeated:
        raise DataError(
            f"data.path: the header of {path} repeats the column '{repeated[0]}'; rename one"
        )
    try:
        pl.scan_csv(path, infer_schema_length=10_000, glob=is_pattern(path)).select(
            pl.all().null_count()
        ).collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        line = _broken_line(files, len(schema))  # the row itself is not shown: it may be personal
        raise DataError(
            f"data.path: {line or f'{path}: {first_line(exc, limit=None)}'}; fix or remove the row (or "
            "quote a value holding the separator)"
        ) from exc


def _broken_line(files: list[str], columns: int) -> str | None:
    """'file line N has X fields, the header Y' for the first row whose field count differs."""
    for file in files:
        lines = pl.scan_csv(
            file,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            schema={"line": pl.String},
            glob=False,
        ).with_row_index("i")
        fields = pl.col("line").str.count_matches(",", literal=True) + 1
        bad = lines.filter(fields != columns).select("i", fields.alias("n")).head(1).collect()
        if bad.height:
            i, n = bad.row(0)
            return f"{file} line {i + 1} has {n} fields, the header {columns}"
    return None


def schema_of(lf: pl.LazyFrame) -> pl.Schema:
    try:
        return lf.collect_schema()
    except Exception as exc:
        raise DataError(
            f"data.path: cannot read the schema: {first_line(exc, limit=None)}"
        ) from exc


# ------------------------------------------------------------------------------------- columns


def require_columns(schema: pl.Schema, columns: Iterable[tuple[str, str]]) -> None:
    """Each (column, where) must exist; the error lists every missing one with the closest names."""
    missing = [(c, where) for c, where in columns if c not in schema]
    if missing:
        parts = []
        for col, where in missing:
            near = closest(col, list(schema.names()))
            parts.append(f"'{col}' ({where})" + (f", did you mean '{near}'?" if near else ""))
        raise DataError(
            f"column not in the data: {'; '.join(parts)}. "
            f"Available: {', '.join(schema.names()[:40])}{' ...' if len(schema) > 40 else ''}"
        )


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def default_features(schema: pl.Schema, exclude: set[str]) -> tuple[str, ...]:
    """Every numeric column not named elsewhere; non-numeric columns are skipped with a log line."""
    features: list[str] = []
    skipped: list[str] = []
    for name, dtype in schema.items():
        if name in exclude:
            continue
        (features if is_numeric(dtype) else skipped).append(name)
    if skipped:
        log.info("not used as features (not numeric): %s", ", ".join(skipped))
    return tuple(features)


WHOLE_DIGITS = 18  # a Decimal of whole numbers this wide always fits a 64-bit integer


def number_types(schema: pl.Schema) -> dict[str, pl.DataType]:
    """The type each Decimal column of ``schema`` is read as: a Decimal is a number. Whole
    numbers of at most 18 digits (scale 0) become Int64, exact as any integer id or count;
    every other Decimal Float64, as the models read features (float32) and the metrics amounts.

    Nothing after loading meets a Decimal: polars does no arithmetic on a Decimal's Int128
    values (a Decimal(18, 0) entity's codes raised a TypeError), and JSON has no Decimal (a
    Decimal feature failed the run as it logged the input example to MLflow, after training)."""
    return {
        name: pl.Int64() if _whole(dtype) else pl.Float64()
        for name, dtype in schema.items()
        if isinstance(dtype, pl.Decimal)
    }


def _whole(dtype: pl.Decimal) -> bool:
    """Whether every value of the Decimal is a whole number that fits a 64-bit integer (a
    Spark or warehouse Decimal(38, 0) may not)."""
    return dtype.scale == 0 and (dtype.precision or 38) <= WHOLE_DIGITS


def read_as_numbers(lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """``lf`` with its Decimal columns cast by :func:`number_types`: lazily, so each query casts
    only the columns it reads, after the reader has filtered the rows (no copy of the table)."""
    types = number_types(schema)
    if not types:
        return lf
    return lf.with_columns(pl.col(name).cast(dtype) for name, dtype in types.items())


def check_whole_ids(schema: pl.Schema, ids: Iterable[tuple[str, str]]) -> None:
    """An id column (``(column, config key)``) stored as a Decimal must hold whole numbers that
    fit a 64-bit integer, read as one (:func:`number_types`): any other Decimal is read as a
    float, which would merge ids that differ beyond its 15-16 significant digits."""
    for column, where in ids:
        dtype = schema.get(column)
        if not isinstance(dtype, pl.Decimal) or _whole(dtype):
            continue
        shown = f"Decimal({dtype.precision}, {dtype.scale})"
        if dtype.scale != 0:
            raise DataError(
                f"{where}: column '{column}' is {shown}, an id with decimals; store the ids as "
                f"whole numbers (an integer, or Decimal({WHOLE_DIGITS}, 0) or narrower) or as text"
            )
        raise DataError(
            f"{where}: column '{column}' is {shown}: ids of up to {dtype.precision} digits may "
            "not fit a 64-bit integer, and as floats they would not be exact; store them as a "
            f"64-bit integer, Decimal({WHOLE_DIGITS}, 0) or text"
        )


def check_feature_types(schema: pl.Schema, features: Sequence[str], where: str) -> None:
    bad = [(f, schema[f]) for f in features if not is_numeric(schema[f])]
    if bad:
        name, dtype = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(
            f"{where}: feature '{name}' is {dtype}, not numeric{more}; encode it as numbers or "
            "add it to data.drop"
        )


# ------------------------------------------------------------------------------------- loading


def load_days(
    lf: pl.LazyFrame,
    *,
    columns: Sequence[str],
    time: str,
    start: date,
    end: date,
) -> pl.DataFrame:
    """Rows whose time falls on days start..end (inclusive), only ``columns``, plus the ``_day``."""
    return collect_days(lf, days_query(lf, columns=columns, time=time, start=start, end=end), time)


def days_query(
    lf: pl.LazyFrame,
    *,
    columns: Sequence[str],
    time: str,
    start: date,
    end: date,
) -> pl.LazyFrame:
    """The query of :func:`load_days`, not run: collect it with :func:`collect_days`."""
    schema = schema_of(lf)
    if schema[time] == pl.String:
        _check_time_text(lf, time)
    time_expr = parse_time(time, schema[time])
    lo = datetime.combine(start, datetime.min.time())
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time())
    dtype = schema[time]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:  # stored as it is compared:
        # filtered by the reader, row group by row group (and skipped by their statistics), not
        # after every row of the file is decoded
        lf = lf.filter((pl.col(time) >= lo) & (pl.col(time) < hi))
    return (
        lf.select(list(dict.fromkeys(columns)))
        .with_columns(time_expr.alias(time))
        .filter((pl.col(time) >= lo) & (pl.col(time) < hi))
        .with_columns(pl.col(time).dt.date().alias(DAY))
    )


def collect_days(lf: pl.LazyFrame, query: pl.LazyFrame, time: str) -> pl.DataFrame:
    """Run a query built on :func:`days_query` of ``lf``; unreadable data is a DataError. The
    rows come back with each column in one chunk (:func:`one_chunk_per_column`)."""
    with reading_days(lf, time):
        return one_chunk_per_column(query.collect())


def one_chunk_per_column(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s columns each in one chunk, copied one column at a time (``frame`` is emptied).

    Polars cuts the columns of a collected query into different numbers of chunks (at 30M rows,
    76 for most columns of a window, 276 for the time and day columns), and any eager ``select``
    or ``filter`` of a frame whose chunks do not line up first copies the whole frame to align
    them: 0.46 GB to select one column of a 5.2M-row test window. In one chunk the columns line
    up, numeric ones convert to numpy without a copy.

    Two columns are copied at a time, each by a thread of its own (the copy is native code that
    leaves the interpreter free; most of its time is the new pages' first touch, which one
    thread alone left to a single core: a 10M-row file's two windows, 0.32 -> 0.17 s in a process
    of its own): the copies made here hold at most two columns besides the frame."""
    if all(n == 1 for n in frame.n_chunks("all")):
        return frame
    taking = threading.Lock()

    def rechunked(name: str) -> pl.Series:
        with taking:  # the frame changed by one thread at a time
            column = frame.drop_in_place(name)
        return column.rechunk()

    return pl.DataFrame(each(rechunked, frame.columns, RECHUNK_THREADS))


@contextmanager
def reading_days(lf: pl.LazyFrame, time: str) -> Iterator[None]:
    """Polars' errors while the rows of ``lf`` are read, as one-line DataErrors."""
    schema = schema_of(lf)
    try:
        yield
    except pl.exceptions.InvalidOperationError as exc:
        if schema[time] == pl.String:
            _check_time_zones(lf, time)
        raise DataError(
            f"data.time: column '{time}' has values that are not timestamps: {first_line(exc, limit=None)}; "
            "use ISO 8601 (2018-07-25 13:45:00) and one time zone"
        ) from exc
    except (pl.exceptions.ColumnNotFoundError, pl.exceptions.SchemaError) as exc:
        raise DataError(
            f"data.path: the files do not share one schema: {first_line(exc, limit=None)}; give every "
            "file the same columns and types"
        ) from exc
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"data.path: cannot read the rows: {first_line(exc, limit=None)}") from exc


ISO_DATE = r"^\d{4}-\d{2}-\d{2}"
UTC_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


def _check_time_text(lf: pl.LazyFrame, time: str) -> None:
    """Text times must be ISO 8601: polars would otherwise guess the format from the first value,
    and read 01/02/2024 as the 1st of February whatever the source meant."""
    first = lf.select(pl.col(time)).drop_nulls().head(1).collect()
    if first.height and not re.match(ISO_DATE, str(first.item())):
        raise DataError(
            f"data.time: column '{time}' holds text like '{first.item()}', not ISO 8601; the "
            "day/month order of such dates is ambiguous: write them as 2024-02-01 13:45:00"
        )


def _check_time_zones(lf: pl.LazyFrame, time: str) -> None:
    """Explain the commonest unparsable-time case: some values carry a UTC offset, some not."""
    col = pl.col(time)
    with_offset, total = (
        lf.select(col.str.contains(UTC_OFFSET).sum().alias("z"), col.is_not_null().sum().alias("n"))
        .collect()
        .row(0)
    )
    if 0 < with_offset < total:
        raise DataError(
            f"data.time: column '{time}' mixes times with a UTC offset ({with_offset:,} rows) and "
            f"without ({total - with_offset:,} rows); give every value an offset or none"
        )


def parse_time(time: str, dtype: pl.DataType) -> pl.Expr:
    """An expression turning the time column into naive UTC datetimes, whatever it was stored as."""
    col = pl.col(time)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone:
            return col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us"))
    if dtype == pl.String:
        return col.str.to_datetime(
            time_unit="us", strict=True, time_zone="UTC"
        ).dt.replace_time_zone(None)
    raise DataError(
        f"data.time: column '{time}' is {dtype}, not a timestamp; give a datetime, a date or an "
        "ISO 8601 string column"
    )


def check_target(frame: pl.DataFrame, target: str) -> None:
    """The target must be 0/1 with no nulls."""
    col = frame.get_column(target)
    values = col.unique().cast(pl.Float64).to_list() if is_numeric(col.dtype) else []
    check_target_values(target, col.dtype, col.null_count(), values)


def check_target_values(
    target: str, dtype: pl.DataType, nulls: int, values: Sequence[float | None]
) -> None:
    """The target checks on what an engine aggregated: its type, null count and distinct values."""
    if nulls:
        raise DataError(
            f"data.target: column '{target}' has {nulls} null values; labels must be 0 or 1"
        )
    if not (is_numeric(dtype)):
        raise DataError(f"data.target: column '{target}' is {dtype}; labels must be 0 or 1")
    other = sorted(v for v in values if v is not None and v not in (0.0, 1.0))
    if other:
        shown = ", ".join(f"{v:g}" for v in other[:5])
        raise DataError(
            f"data.target: column '{target}' holds values other than 0/1 ({shown}); "
            "map it to 0 = genuine, 1 = fraud"
        )


# The smallest float64 magnitude that becomes infinite as float32, the models' matrices' type
# (to_matrix): the midpoint above float32's largest value, a tie that rounds to even, up.
FLOAT32_OVERFLOW = 2.0**128 - 2.0**103


def read_as_infinite(name: str) -> pl.Expr:
    """Whether float column ``name``'s value is infinite in a model's float32 matrix: infinite,
    or a float64 too large for float32 (legacy extracts write 1.8e308 for "missing"). NaN is
    not: polars orders it above every number."""
    return (pl.col(name).abs() >= FLOAT32_OVERFLOW) & pl.col(name).is_not_nan()


def check_finite(
    frame: pl.DataFrame | Sequence[pl.DataFrame], features: Sequence[str], where: str
) -> None:
    """Missing values are fine (trees handle them); infinities are not, nor values the models'
    float32 matrices would hold as infinities. Several frames (parts of the rows, with one
    schema) are checked as their union."""
    frames = [frame] if isinstance(frame, pl.DataFrame) else list(frame)
    floats = [f for f in features if frames[0].schema[f].is_float()]
    if not floats:
        return
    counts = [0] * 2 * len(floats)
    queries = [pl.col(f).is_infinite().sum() for f in floats]
    queries += [read_as_infinite(f).sum().alias(f"{f} overflows") for f in floats]
    for part in frames:
        row = part.select(queries).row(0)
        counts = [a + int(b) for a, b in zip(counts, row, strict=True)]
    infinite, as_infinite = counts[: len(floats)], counts[len(floats) :]
    for name, n, m in zip(floats, infinite, as_infinite, strict=True):
        if n:
            raise DataError(
                f"{where}: feature '{name}' has {n} infinite values; replace them with null or "
                "a finite value"
            )
        if m:
            raise DataError(
                f"{where}: feature '{name}' has {m} values beyond float32's range (magnitude "
                "3.4e38 or more), which the models would read as infinite; replace them with "
                "null if they stand for missing, or rescale the feature (a log, other units)"
            )


MATRIX_BLOCK = 1 << 18  # rows converted at a time: the transient float32 columns stay ~1 MB each


def to_matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as one float32 matrix (nulls become NaN), C-contiguous.

    Filled block of rows by block of rows, column by column: the matrix is the only full-size
    allocation (a frame-wide cast and ``to_numpy`` held two more copies at the peak)."""
    matrix = np.empty((frame.height, len(features)), dtype=np.float32)
    for start in range(0, frame.height, MATRIX_BLOCK):
        block = frame.slice(start, MATRIX_BLOCK)
        rows = matrix[start : start + block.height]
        for j, name in enumerate(features):
            rows[:, j] = block.get_column(name).cast(pl.Float32).to_numpy()
    return matrix


def labels(frame: pl.DataFrame, target: str) -> np.ndarray:
    return frame.get_column(target).cast(pl.Int8).to_numpy()


def time_range(lf: pl.LazyFrame, time: str) -> tuple[date | None, date | None]:
    """First and last day in the data (used to explain empty windows)."""
    dtype = schema_of(lf)[time]
    try:
        row = (
            lf.select(
                parse_time(time, dtype).dt.date().min().alias("lo"),
                parse_time(time, dtype).dt.date().max().alias("hi"),
            )
            .collect()
            .row(0)
        )
    except Exception:
        return None, None
    return row[0], row[1]
