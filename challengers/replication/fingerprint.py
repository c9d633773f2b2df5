"""Content fingerprints of exactly the rows and columns a run used, and what differs between two.

Each column is hashed in a canonical form (integers and booleans as int64, floats as float64, times
as int64 microseconds, everything else as UTF-8 text with its lengths), so the same values read from
parquet or csv, with other storage widths, or from a file with other columns, give the same digest;
the file's bytes and mtime play no part. Row order counts: models and bootstrap see rows in order.

Rows are cut into fixed chunks (``chunk_rows``, a power of two chosen from the row count so there
are at most ~1024 chunks); each chunk of each column gets a short blake2b digest, a column's digest
hashes its chunk digests, and the data's digest hashes the column digests. One pass over the bytes
gives all three levels, so comparing two fingerprints says which columns differ and the first row
range where they do, without the original data. Columns hash in parallel threads (hashlib and the
polars/numpy conversions release the GIL), and :class:`Fingerprinter` takes rows in batches of any
size, so a dataset larger than memory can be fingerprinted from a lazy scan.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from challengers.errors import DataError

ALGORITHM = "blake2b-chunked/1"  # bump when the canonical form changes
MIN_CHUNK_ROWS = 1024
TARGET_CHUNKS = 1024
SLICE_ROWS = 1 << 22  # rows converted at once per column: bounds the canonical copy (~32 MB)


def chunk_rows_for(rows: int) -> int:
    """The chunk size for ``rows`` rows: a power of two, at least 1024, at most ~1024 chunks."""
    per_chunk = max(1, -(-rows // TARGET_CHUNKS))
    return max(MIN_CHUNK_ROWS, 1 << (per_chunk - 1).bit_length())


@dataclass(frozen=True)
class ColumnPrint:
    """One column: its canonical kind, its digest and the digest of each chunk of rows."""

    kind: str
    digest: str
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class DataFingerprint:
    """The fingerprint of a dataset: overall digest, row counts and per-column detail."""

    digest: str
    rows: int
    chunk_rows: int
    columns: dict[str, ColumnPrint]
    windows: dict[str, int] = field(default_factory=dict)  # row counts per window
    algorithm: str = ALGORITHM

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "digest": self.digest,
            "rows": self.rows,
            "windows": dict(self.windows),
            "chunk_rows": self.chunk_rows,
            "columns": {
                name: {"kind": c.kind, "digest": c.digest, "chunks": list(c.chunks)}
                for name, c in self.columns.items()
            },
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DataFingerprint:
        columns = {
            name: ColumnPrint(c["kind"], c["digest"], tuple(c["chunks"]))
            for name, c in doc["columns"].items()
        }
        return cls(
            digest=doc["digest"],
            rows=int(doc["rows"]),
            chunk_rows=int(doc["chunk_rows"]),
            columns=columns,
            windows={k: int(v) for k, v in doc.get("windows", {}).items()},
            algorithm=doc.get("algorithm", ALGORITHM),
        )


# ------------------------------------------------------------------------------ canonical bytes


def kind_of(dtype: pl.DataType) -> str:
    if dtype.is_integer() or dtype == pl.Boolean:
        return "int"
    if dtype.is_float():
        return "float"
    if dtype.is_temporal():
        return "time"
    if dtype.is_nested() or dtype == pl.Object:
        return "unsupported"
    return "text"


def _canonical(series: pl.Series) -> pl.Series:
    """The column as int64, float64, int64 microseconds or text; nulls left in place."""
    dtype = series.dtype
    if dtype.is_integer() or dtype == pl.Boolean:
        return series.cast(pl.Int64, wrap_numerical=True)
    if dtype.is_float():
        return series.cast(pl.Float64)
    if dtype == pl.Date:
        return series.cast(pl.Datetime("us")).to_physical()
    if isinstance(dtype, pl.Datetime | pl.Duration):
        return series.dt.cast_time_unit("us").to_physical()
    if dtype == pl.Time:
        return series.to_physical()
    if dtype == pl.Binary:
        return series
    return series.cast(pl.String)


class _Column:
    """The canonical buffers of one slice of a column, cut into chunks without copying."""

    def __init__(self, series: pl.Series) -> None:
        canonical = _canonical(series)
        self.nulls = canonical.is_null().to_numpy() if canonical.null_count() else None
        if canonical.dtype in (pl.String, pl.Binary):
            filler: str | bytes = "" if canonical.dtype == pl.String else b""
            array = canonical.fill_null(filler).to_arrow(compat_level=pl.CompatLevel.oldest())
            buffers = array.buffers()
            offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset :]
            self.offsets = offsets[: len(array) + 1]
            self.data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
            self.values: np.ndarray | None = None
        else:
            filled = canonical.fill_null(0) if self.nulls is not None else canonical
            self.values = np.ascontiguousarray(filled.to_numpy())

    def chunk_digest(self, start: int, stop: int) -> str:
        h = hashlib.blake2b(digest_size=8)
        if self.nulls is not None and self.nulls[start:stop].any():
            h.update(b"\x01")
            h.update(self.nulls[start:stop].tobytes())
        else:
            h.update(b"\x00")
        if self.values is not None:
            h.update(self.values[start:stop].data)
        else:
            offsets = self.offsets[start : stop + 1]
            h.update(np.diff(offsets).tobytes())
            h.update(self.data[int(offsets[0]) : int(offsets[-1])])
        return h.hexdigest()


def _chunk_digests(series: pl.Series, chunk_rows: int) -> list[str]:
    """Digests of the chunks of ``series`` (its length a multiple of chunk_rows, or the tail)."""
    out: list[str] = []
    step = max(1, SLICE_ROWS // chunk_rows) * chunk_rows  # slices end on chunk boundaries
    for offset in range(0, series.len(), step):
        column = _Column(series.slice(offset, step))
        size = min(step, series.len() - offset)
        out += [
            column.chunk_digest(start, min(start + chunk_rows, size))
            for start in range(0, size, chunk_rows)
        ]
    return out


# -------------------------------------------------------------------------------- streaming


class Fingerprinter:
    """Fingerprint rows fed in batches of any size; the result does not depend on the batching.

    ``rows`` (the total to come) fixes the chunk size up front, so that streaming and in-memory
    fingerprints of the same data agree; :meth:`finish` checks that exactly that many came.
    """

    def __init__(self, columns: Sequence[str], *, rows: int, threads: int | None = None) -> None:
        self.columns = sorted(dict.fromkeys(columns))
        self.rows = rows
        self.chunk_rows = chunk_rows_for(rows)
        self.threads = max(1, threads or os.cpu_count() or 1)
        self._kinds: dict[str, str] = {}
        self._chunks: dict[str, list[str]] = {c: [] for c in self.columns}
        self._pending: pl.DataFrame | None = None
        self._seen = 0

    def update(self, batch: pl.DataFrame) -> None:
        missing = [c for c in self.columns if c not in batch.columns]
        if missing:
            raise DataError(f"fingerprint: column '{missing[0]}' is not in the rows given")
        batch = batch.select(self.columns)
        self._record_kinds(batch.schema)
        self._seen += batch.height
        frame = batch if self._pending is None else pl.concat([self._pending, batch])
        full = frame.height - frame.height % self.chunk_rows
        if full:
            self._hash(frame.slice(0, full))
        self._pending = frame.slice(full) if full < frame.height else None

    def finish(self, windows: Mapping[str, int] | None = None) -> DataFingerprint:
        if self._pending is not None:
            self._hash(self._pending)
            self._pending = None
        if self._seen != self.rows:
            raise ValueError(f"fingerprint: {self._seen} rows given, {self.rows} announced")
        columns = {
            name: self._column_print(name, self._kinds.get(name, "int")) for name in self.columns
        }
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{ALGORITHM}\x00{self.rows}".encode())
        for name, column in columns.items():
            h.update(f"\x00{name}\x00{column.digest}".encode())
        return DataFingerprint(
            h.hexdigest(), self.rows, self.chunk_rows, columns, dict(windows or {})
        )

    def _record_kinds(self, schema: pl.Schema) -> None:
        for name, dtype in schema.items():
            kind = kind_of(dtype)
            if kind == "unsupported":
                raise DataError(
                    f"column '{name}' is {dtype}: nested columns cannot be fingerprinted; "
                    "drop it from the columns the run reads"
                )
            self._kinds.setdefault(name, kind)

    def _hash(self, frame: pl.DataFrame) -> None:
        def work(name: str) -> list[str]:
            return _chunk_digests(frame.get_column(name), self.chunk_rows)

        if self.threads == 1 or len(self.columns) == 1:
            results = [work(name) for name in self.columns]
        else:
            with ThreadPoolExecutor(min(self.threads, len(self.columns))) as pool:
                results = list(pool.map(work, self.columns))
        for name, digests in zip(self.columns, results, strict=True):
            self._chunks[name] += digests

    def _column_print(self, name: str, kind: str) -> ColumnPrint:
        chunks = tuple(self._chunks[name])
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{name}\x00{kind}\x00{self.rows}\x00{self.chunk_rows}".encode())
        for digest in chunks:
            h.update(bytes.fromhex(digest))
        return ColumnPrint(kind, h.hexdigest(), chunks)


def fingerprint_frame(
    frame: pl.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    windows: Mapping[str, int] | None = None,
    threads: int | None = None,
) -> DataFingerprint:
    """The fingerprint of ``columns`` (default: all) of an in-memory frame."""
    printer = Fingerprinter(columns or frame.columns, rows=frame.height, threads=threads)
    printer.update(frame)
    return printer.finish(windows)


def fingerprint_batches(
    batches: Iterable[pl.DataFrame],
    columns: Sequence[str],
    *,
    rows: int,
    threads: int | None = None,
) -> DataFingerprint:
    """The fingerprint of rows arriving in ``batches`` (``rows`` in total), memory flat."""
    printer = Fingerprinter(columns, rows=rows, threads=threads)
    for batch in batches:
        printer.update(batch)
    return printer.finish()


def fingerprint_lazy(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    batch_rows: int = 1 << 20,
    threads: int | None = None,
) -> DataFingerprint:
    """Stream a lazy query (e.g. a parquet scan with filters) through the fingerprinter."""
    query = lf.select(list(dict.fromkeys(columns)))
    rows = int(query.select(pl.len()).collect().item())
    batches = query.collect_batches(chunk_size=batch_rows, maintain_order=True)
    return fingerprint_batches(batches, columns, rows=rows, threads=threads)


# ------------------------------------------------------------------------------------ diffing


@dataclass(frozen=True)
class FingerprintDiff:
    """What differs between the data a run used (``logged``) and the data at hand now."""

    rows: tuple[int, int] | None = None  # (logged, now) when the row counts differ
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # columns the run read that are not read now
    added: tuple[str, ...] = ()  # columns read now that the run did not read
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)
    values: tuple[str, ...] = ()  # columns of the same kind whose values differ
    first_rows: tuple[int, int] | None = None  # [start, stop) of the first differing chunk

    @property
    def same(self) -> bool:
        return not (
            self.rows or self.windows or self.missing or self.added or self.retyped or self.values
        )

    def lines(self, columns_total: int = 0, where: str = "") -> list[str]:
        """One line per kind of difference; ``where`` describes ``first_rows`` (e.g. a time span)."""
        out = []
        if self.rows:
            windows = ", ".join(f"{k} {a:,} -> {b:,}" for k, (a, b) in self.windows.items())
            out.append(
                f"rows: {self.rows[0]:,} logged, {self.rows[1]:,} now"
                + (f" ({windows})" if windows else "")
            )
        elif self.windows:
            windows = ", ".join(f"{k} {a:,} -> {b:,}" for k, (a, b) in self.windows.items())
            out.append(f"rows per window differ: {windows}")
        if self.missing:
            out.append(f"columns the run read that are not read now: {', '.join(self.missing)}")
        if self.added:
            out.append(f"columns read now that the run did not read: {', '.join(self.added)}")
        for name, (was, now) in self.retyped.items():
            out.append(f"column {name}: {was} values logged, {now} now")
        if self.values:
            of = f" of {columns_total}" if columns_total else ""
            text = f"values differ in {len(self.values)}{of} column(s): {', '.join(self.values)}"
            if self.first_rows:
                start, stop = self.first_rows
                text += f"; first in rows {start:,}-{stop - 1:,} of the rows read" + (
                    f" ({where})" if where else ""
                )
            out.append(text)
        return out


def compare_fingerprints(logged: DataFingerprint, now: DataFingerprint) -> FingerprintDiff:
    """Which rows, columns and values differ; chunk digests locate the first differing rows."""
    if logged.digest == now.digest and logged.windows == now.windows:
        return FingerprintDiff()
    windows = {
        k: (logged.windows[k], now.windows[k])
        for k in logged.windows
        if k in now.windows and logged.windows[k] != now.windows[k]
    }
    common = [c for c in logged.columns if c in now.columns]
    retyped = {
        c: (logged.columns[c].kind, now.columns[c].kind)
        for c in common
        if logged.columns[c].kind != now.columns[c].kind
    }
    values = tuple(
        c for c in common if c not in retyped and logged.columns[c].digest != now.columns[c].digest
    )
    return FingerprintDiff(
        rows=(logged.rows, now.rows) if logged.rows != now.rows else None,
        windows=windows,
        missing=tuple(c for c in logged.columns if c not in now.columns),
        added=tuple(c for c in now.columns if c not in logged.columns),
        retyped=retyped,
        values=values,
        first_rows=_first_differing_rows(logged, now, values),
    )


def _first_differing_rows(
    logged: DataFingerprint, now: DataFingerprint, columns: Sequence[str]
) -> tuple[int, int] | None:
    """The row range of the first chunk where any of ``columns`` differs (same chunking only)."""
    if not columns or logged.chunk_rows != now.chunk_rows:
        return None
    first: int | None = None
    for name in columns:
        a, b = logged.columns[name].chunks, now.columns[name].chunks
        index = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        if index is None and len(a) != len(b):
            index = min(len(a), len(b))
        if index is not None and (first is None or index < first):
            first = index
    if first is None:
        return None
    start = first * now.chunk_rows
    return start, min(start + now.chunk_rows, max(logged.rows, now.rows))
