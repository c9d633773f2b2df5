"""Content fingerprints of exactly the rows and columns a run used, and what differs between two.

The kernel (:mod:`challengers.engine.rowhash`) hashes each cell in a canonical form (integers and
booleans as int64, floats as float64, times as int64 microseconds, everything else as UTF-8 text), so
the same values read from parquet or csv, with other storage widths, or from a file with other
columns, give the same digest; the file's bytes and mtime play no part. Row hashes and cell hashes
are *summed* per chunk (per day when the rows have a day column, else one chunk), so the digest does
not depend on row order, batching or partitioning: the local engine and Spark give the same digest for
the same rows, and a Spark run can be replicated locally on an extract and the other way round.

Three levels come out of one pass: a 64-bit sum per chunk of each column, a column's digest over its
chunks, and the data's digest over the columns and the rows' own hashes (which pair the values of a
row, so values swapped between rows are caught too). Comparing two fingerprints says which columns
differ and the first day where they do, without the original data. Columns hash in parallel threads
(numpy and the polars conversions release the GIL), and :class:`Fingerprinter` takes rows in
batches of any size, so a dataset larger than memory can be fingerprinted from a lazy scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from challengers.data.frames import DAY, DAY_LABEL
from challengers.engine.rowhash import RowSums, batch_sums
from challengers.threads import each, workers

ALGORITHM = "rowsum-by-day/2"  # bump when the canonical form or the combination changes
ROWS = "(rows)"  # the pseudo-column of the rows' own hashes in a fingerprint's JSON


@dataclass(frozen=True)
class ColumnPrint:
    """One column: its canonical kind, its digest and the hash sum of each chunk (by key)."""

    kind: str
    digest: str
    chunks: dict[str, str]


@dataclass(frozen=True)
class DataFingerprint:
    """The fingerprint of a dataset: overall digest, row counts and per-column detail."""

    digest: str
    rows: int
    chunk_by: str | None
    columns: dict[str, ColumnPrint]
    row_print: ColumnPrint  # the rows' hashes (each mixes its cells): pairing and counts per chunk
    windows: dict[str, int] = field(default_factory=dict)  # row counts per window
    algorithm: str = ALGORITHM

    def to_json(self) -> dict[str, Any]:
        def column(c: ColumnPrint) -> dict[str, Any]:
            return {"kind": c.kind, "digest": c.digest, "chunks": dict(c.chunks)}

        return {
            "algorithm": self.algorithm,
            "digest": self.digest,
            "rows": self.rows,
            "windows": dict(self.windows),
            "chunk_by": self.chunk_by,
            "rows_print": column(self.row_print),
            "columns": {name: column(c) for name, c in self.columns.items()},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DataFingerprint:
        """Read a logged fingerprint; one of another algorithm keeps only its digest and rows."""
        algorithm = doc.get("algorithm", "")
        if algorithm != ALGORITHM:  # cannot be compared chunk by chunk: replicate says so
            empty = ColumnPrint("", "", {})
            return cls(doc["digest"], int(doc["rows"]), None, {}, empty, {}, algorithm)

        def column(c: Mapping[str, Any]) -> ColumnPrint:
            return ColumnPrint(c["kind"], c["digest"], {str(k): v for k, v in c["chunks"].items()})

        return cls(
            digest=doc["digest"],
            rows=int(doc["rows"]),
            chunk_by=doc.get("chunk_by"),
            columns={name: column(c) for name, c in doc["columns"].items()},
            row_print=column(doc["rows_print"]),
            windows={k: int(v) for k, v in doc.get("windows", {}).items()},
            algorithm=algorithm,
        )


def _hex(value: int) -> str:
    return f"{value:016x}"


def _column_print(name: str, kind: str, rows: int, chunks: dict[str, str]) -> ColumnPrint:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{ALGORITHM}\x00{name}\x00{kind}\x00{rows}".encode())
    for key in sorted(chunks):
        h.update(f"\x00{key}\x00{chunks[key]}".encode())
    return ColumnPrint(kind, h.hexdigest(), chunks)


def from_sums(sums: RowSums, windows: Mapping[str, int] | None = None) -> DataFingerprint:
    """The fingerprint of folded row sums (from either engine)."""
    rows = sums.rows
    keys = sorted(sums.chunks)
    columns = {
        name: _column_print(
            name,
            sums.kinds.get(name, "int"),
            rows,
            {k: _hex(sums.chunks[k].column_sums.get(name, 0)) for k in keys},
        )
        for name in sorted(sums.columns)
    }
    row_print = _column_print(
        ROWS,
        "rows",
        rows,
        {k: f"{sums.chunks[k].rows}:{_hex(sums.chunks[k].row_sum)}" for k in keys},
    )
    # the tool's day column is recorded under its historical name: a fingerprint logged before the
    # column moved into the tool's namespace still matches the same data
    chunk_by = DAY_LABEL if sums.chunk_by == DAY else sums.chunk_by
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{ALGORITHM}\x00{rows}\x00{chunk_by or ''}\x00{row_print.digest}".encode())
    for name, column in columns.items():
        h.update(f"\x00{name}\x00{column.digest}".encode())
    return DataFingerprint(h.hexdigest(), rows, chunk_by, columns, row_print, dict(windows or {}))


# -------------------------------------------------------------------------------- streaming


class Fingerprinter:
    """Fingerprint rows fed in batches of any size and order; the result depends on neither.

    ``chunk_by`` names a date or datetime column whose day cuts the rows into chunks (the unit a
    mismatch is located to); without it the rows are one chunk. ``rows``, when given, is checked by
    :meth:`finish`.
    """

    def __init__(
        self,
        columns: Sequence[str],
        *,
        rows: int | None = None,
        threads: int | None = None,
        chunk_by: str | None = None,
    ) -> None:
        self.sums = RowSums(tuple(sorted(dict.fromkeys(columns))), chunk_by)
        self.rows = rows
        self.threads = workers(threads)

    def update(self, batch: pl.DataFrame) -> None:
        if self.threads == 1 or batch.height < 2 * PARALLEL_ROWS:
            self.sums.update(batch)
            return
        # row slices hash in parallel threads: the sums do not care how rows are cut. A slice's
        # hashing holds a few uint64 arrays of its length, so slices are at most SLICE_ROWS: a
        # half of 32M training rows per thread held 1.3 GB at once
        step = min(-(-batch.height // self.threads), SLICE_ROWS)
        parts = [batch.slice(i, step) for i in range(0, batch.height, step)]
        s = self.sums
        s.update(batch.head(0))  # the column checks and kinds, on no rows

        def work(part: pl.DataFrame) -> list[tuple[str, int, int, dict[str, int]]]:
            return list(batch_sums(part, s.columns, s.kinds, s.chunk_by))

        for result in each(work, parts, self.threads):
            for key, rows, row_sum, column_sums in result:
                s.add(key, rows, row_sum, column_sums)

    def finish(self, windows: Mapping[str, int] | None = None) -> DataFingerprint:
        if self.rows is not None and self.sums.rows != self.rows:
            raise ValueError(f"fingerprint: {self.sums.rows} rows given, {self.rows} announced")
        return from_sums(self.sums, windows)


PARALLEL_ROWS = 1 << 16  # below this a batch hashes on the calling thread
SLICE_ROWS = 1 << 20  # the most rows one thread hashes at a time


def fingerprint_frame(
    frame: pl.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    windows: Mapping[str, int] | None = None,
    threads: int | None = None,
    chunk_by: str | None = None,
) -> DataFingerprint:
    """The fingerprint of ``columns`` (default: all) of an in-memory frame."""
    printer = Fingerprinter(columns or frame.columns, threads=threads, chunk_by=chunk_by)
    printer.update(frame)
    return printer.finish(windows)


def fingerprint_batches(
    batches: Iterable[pl.DataFrame],
    columns: Sequence[str],
    *,
    rows: int | None = None,
    threads: int | None = None,
    chunk_by: str | None = None,
) -> DataFingerprint:
    """The fingerprint of rows arriving in ``batches``, memory flat."""
    printer = Fingerprinter(columns, rows=rows, threads=threads, chunk_by=chunk_by)
    for batch in batches:
        printer.update(batch)
    return printer.finish()


def fingerprint_lazy(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    batch_rows: int = 1 << 20,
    threads: int | None = None,
    chunk_by: str | None = None,
) -> DataFingerprint:
    """Stream a lazy query (e.g. a parquet scan with filters) through the fingerprinter."""
    wanted = [*columns, *([chunk_by] if chunk_by else [])]
    query = lf.select(list(dict.fromkeys(wanted)))
    batches = query.collect_batches(chunk_size=batch_rows, maintain_order=False)
    return fingerprint_batches(batches, columns, threads=threads, chunk_by=chunk_by)


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
    paired: bool = False  # every column's values agree, but not how rows pair them
    first_chunk: str | None = None  # the first chunk key (day) where anything differs

    @property
    def same(self) -> bool:
        return not (
            self.rows
            or self.windows
            or self.missing
            or self.added
            or self.retyped
            or self.values
            or self.paired
        )

    def lines(self, columns_total: int = 0) -> list[str]:
        """One line per kind of difference, the first day where it shows when rows are by day."""
        out = []
        at = f"; first on {self.first_chunk}" if self.first_chunk else ""
        windows = ", ".join(f"{k} {a:,} -> {b:,}" for k, (a, b) in self.windows.items())
        if self.rows:
            out.append(
                f"rows: {self.rows[0]:,} logged, {self.rows[1]:,} now"
                + (f" ({windows})" if windows else "")
                + (at if not self.values else "")
            )
        elif self.windows:
            out.append(f"rows per window differ: {windows}")
        if self.missing:
            out.append(f"columns the run read that are not read now: {', '.join(self.missing)}")
        if self.added:
            out.append(f"columns read now that the run did not read: {', '.join(self.added)}")
        for name, (was, now) in self.retyped.items():
            out.append(f"column {name}: {was} values logged, {now} now")
        if self.values:
            of = f" of {columns_total}" if columns_total else ""
            out.append(
                f"values differ in {len(self.values)}{of} column(s): {', '.join(self.values)}{at}"
            )
        elif self.paired:
            out.append(
                f"every column holds the same values, but the rows pair them differently{at}"
            )
        return out


def compare_fingerprints(logged: DataFingerprint, now: DataFingerprint) -> FingerprintDiff:
    """Which rows, columns and values differ; chunk sums locate the first differing day."""
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
    missing = tuple(c for c in logged.columns if c not in now.columns)
    added = tuple(c for c in now.columns if c not in logged.columns)
    # a row's hash mixes every column read, in its kind: with a column added, gone or retyped
    # every row hashes differently, which says nothing of how the rows pair the values (nor
    # where: only the rows' counts per chunk still compare)
    same_columns = not (missing or added or retyped)
    rows_differ = logged.row_print.digest != now.row_print.digest
    if not rows_differ or values:
        compared = []
    elif same_columns:
        compared = [logged.row_print, now.row_print]
    else:
        compared = [_counts(logged.row_print), _counts(now.row_print)]
    for name in values:
        compared += [logged.columns[name], now.columns[name]]
    return FingerprintDiff(
        rows=(logged.rows, now.rows) if logged.rows != now.rows else None,
        windows=windows,
        missing=missing,
        added=added,
        retyped=retyped,
        values=values,
        paired=rows_differ and not values and same_columns and logged.rows == now.rows,
        first_chunk=_first_differing_chunk(logged, now, compared),
    )


def _counts(row_print: ColumnPrint) -> ColumnPrint:
    """The rows' print with each chunk's row count alone (a chunk is ``<rows>:<hash sum>``)."""
    chunks = {k: v.partition(":")[0] for k, v in row_print.chunks.items()}
    return ColumnPrint(row_print.kind, "", chunks)


def _first_differing_chunk(
    logged: DataFingerprint, now: DataFingerprint, prints: Sequence[ColumnPrint]
) -> str | None:
    """The first chunk key (in order: days are ISO dates) where pairs of ``prints`` differ."""
    if logged.chunk_by is None or logged.chunk_by != now.chunk_by:
        return None
    first: str | None = None
    for a, b in zip(prints[::2], prints[1::2], strict=True):
        for key in sorted(set(a.chunks) | set(b.chunks)):
            if a.chunks.get(key) != b.chunks.get(key):
                first = key if first is None else min(first, key)
                break
    return first
