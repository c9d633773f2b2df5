"""Order-free content hashes of rows: the kernel both engines run for the data fingerprint.

Each cell is hashed from its canonical form (integers and booleans as int64, floats as float64, times
as int64 microseconds, everything else as UTF-8 bytes), salted with its column's name, through the
splitmix64 finaliser (a bijection on 64-bit words, so two different values of one column never
collide). A row's hash mixes the sum of its cells' hashes. Per chunk key (the day, when the caller
names a day column) the sums of the cell hashes of each column, the sum of the row hashes and the
row count are kept, modulo 2**64. Sums commute, so the result does not depend on row order, batching
or partitioning: the local engine folds polars batches, Spark folds Arrow batches on its executors,
and both give the same :class:`RowSums` for the same rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from challengers.errors import DataError

MASK = (1 << 64) - 1
ALL = "all"  # the one chunk key when rows are not cut by day
EPOCH = date(1970, 1, 1)
NO_DAY = -(2**62)  # the key of rows without a day
TEXT_SLICE_ROWS = 1 << 18  # text columns expand to one word per byte: bound that copy
FOLD_ROWS = 1 << 16  # rows hashed at a time: their row hashes (512 KB) stay in cache
NO_NULLS = np.zeros(0, np.uint8)  # a column with no missing cell


def salt(name: str, kind: str) -> np.uint64:
    """A column's salt: the same value under another name or kind hashes differently."""
    digest = hashlib.blake2b(f"{name}\x00{kind}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def kind_of(dtype: pl.DataType) -> str:
    if dtype.is_integer() or dtype == pl.Boolean:
        return "int"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype.is_temporal():
        return "time"
    if dtype.is_nested() or dtype == pl.Object:
        return "unsupported"
    return "text"


def canonical(series: pl.Series) -> pl.Series:
    """The column as int64, float64, int64 microseconds (UTC) or text; nulls left in place."""
    dtype = series.dtype
    if dtype.is_integer() or dtype == pl.Boolean:
        return series.cast(pl.Int64, wrap_numerical=True)
    if dtype.is_float() or dtype.is_decimal():
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


def cell_hashes(series: pl.Series, name: str, kind: str) -> np.ndarray:
    """One uint64 per row: the hash of the cell (null apart from every value)."""
    if isinstance(series.dtype, pl.Categorical | pl.Enum):
        table = _code_table(series, name, kind)
        if table is not None:
            return _looked_up(table, series)
        series = series.cast(pl.String)  # codes of a large shared dictionary: hashed as text
    from challengers.engine.rowhash_kernels import cell_hashes as hashed  # numba, when needed

    return hashed(*_canonical_words(series, name, kind))


def _canonical_words(
    series: pl.Series, name: str, kind: str
) -> tuple[np.ndarray, np.ndarray, np.uint64]:
    """The cells' canonical 64-bit words (0 where missing; text: :func:`_text_core`), which are
    missing (one byte a row, or none when no cell is), and the column's salt."""
    values = canonical(series)
    nulls = values.is_null().to_numpy().view(np.uint8) if values.null_count() else NO_NULLS
    key = salt(name, kind)
    if values.dtype in (pl.String, pl.Binary):
        words = np.concatenate(
            [
                _text_core(values.slice(i, TEXT_SLICE_ROWS), key)
                for i in range(0, max(values.len(), 1), TEXT_SLICE_ROWS)
            ]
        )[: values.len()]
    else:
        filled = values.fill_null(0) if nulls.size else values
        words = np.ascontiguousarray(filled.to_numpy()).view(np.uint64)
    return words, nulls, key


def _code_table(series: pl.Series, name: str, kind: str) -> np.ndarray | None:
    """The cell hash of each code of a categorical column's values, and last a missing cell's:
    each distinct value hashed once as text and looked up by its code (as text every row's bytes
    are hashed: 1.3 s for a column of 10M rows against 0.1 s). None when the codes are those of
    a dictionary much larger than the column: then it is hashed as text."""
    values = series.unique().drop_nulls()
    value_codes = values.to_physical().to_numpy().astype(np.int64)
    top = int(value_codes.max()) if value_codes.size else 0
    if top > 4 * series.len():
        return None
    table = np.empty(top + 2, dtype=np.uint64)  # the last slot: a null's hash
    table[-1] = cell_hashes(pl.Series([None], dtype=pl.String), name, kind)[0]
    table[value_codes] = cell_hashes(values.cast(pl.String), name, kind)
    return table


def _looked_up(table: np.ndarray, series: pl.Series) -> np.ndarray:
    """The cell hashes of a categorical column from its :func:`_code_table`."""
    return table[series.to_physical().fill_null(table.size - 1).to_numpy()]


def _categorical(batch: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if isinstance(batch.schema[c], pl.Categorical | pl.Enum)]


def _text_core(values: pl.Series, key: np.uint64) -> np.ndarray:
    """Per row, the sum of its bytes hashed with their positions, plus its hashed length."""
    filler: str | bytes = "" if values.dtype == pl.String else b""
    array = values.fill_null(filler).to_arrow(compat_level=pl.CompatLevel.oldest())
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0)
    start, stop = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    position = np.arange(stop - start, dtype=np.uint64) - np.repeat(
        (offsets[:-1] - start).astype(np.uint64), lengths
    )
    from challengers.engine.rowhash_kernels import mix_in_place  # numba, when needed

    words = mix_in_place(((position << np.uint64(8)) | data[start:stop].astype(np.uint64)) ^ key)
    cumulative = np.concatenate([np.zeros(1, np.uint64), np.cumsum(words, dtype=np.uint64)])
    rel = (offsets - start).astype(np.int64)
    return (cumulative[rel[1:]] - cumulative[rel[:-1]]) + mix_in_place(
        lengths.astype(np.uint64) ^ key
    )


@dataclass
class Chunk:
    """The sums of one chunk of rows (modulo 2**64)."""

    rows: int = 0
    row_sum: int = 0
    column_sums: dict[str, int] = field(default_factory=dict)

    def add(self, rows: int, row_sum: int, column_sums: dict[str, int]) -> None:
        self.rows += rows
        self.row_sum = (self.row_sum + row_sum) & MASK
        for name, value in column_sums.items():
            self.column_sums[name] = (self.column_sums.get(name, 0) + value) & MASK


@dataclass
class RowSums:
    """Per chunk key, the row count and the sums of the row and cell hashes; mergeable."""

    columns: tuple[str, ...]
    chunk_by: str | None
    kinds: dict[str, str] = field(default_factory=dict)
    chunks: dict[str, Chunk] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.chunks.values())

    def add(self, key: str, rows: int, row_sum: int, column_sums: dict[str, int]) -> None:
        self.chunks.setdefault(key, Chunk()).add(rows, row_sum, column_sums)

    def record_kinds(self, schema: pl.Schema) -> None:
        for name in self.columns:
            kind = kind_of(schema[name])
            if kind == "unsupported":
                raise DataError(
                    f"column '{name}' is {schema[name]}: nested columns cannot be fingerprinted; "
                    "drop it from the columns the run reads"
                )
            self.kinds.setdefault(name, kind)

    def update(self, batch: pl.DataFrame) -> None:
        """Fold a batch of rows in (any size, any order)."""
        missing = [c for c in (*self.columns, *self._by()) if c not in batch.columns]
        if missing:
            raise DataError(f"fingerprint: column '{missing[0]}' is not in the rows given")
        self.record_kinds(batch.schema)
        for key, rows, row_sum, sums in batch_sums(batch, self.columns, self.kinds, self.chunk_by):
            self.add(key, rows, row_sum, sums)

    def _by(self) -> tuple[str, ...]:
        return (self.chunk_by,) if self.chunk_by else ()


KERNELS = "challengers.engine.rowhash_kernels"  # the module the fingerprint's kernels are in


def load_kernels() -> None:
    """Import :mod:`.rowhash_kernels` (numba and the kernels' cached machine code, about 0.5 s),
    for a thread started while polars reads rows, which leaves the interpreter free; whoever
    needs the kernels first waits for this import rather than doing it again."""
    with contextlib.suppress(Exception):  # nothing required: batch_sums imports them anyway
        importlib.import_module(KERNELS)


def chunk_keys(batch: pl.DataFrame, chunk_by: str | None) -> tuple[list[str], np.ndarray]:
    """The distinct chunk keys of a batch (ISO days, or 'all') and each row's index into them."""
    if batch.height == 0:
        return [], np.zeros(0, dtype=np.int64)
    if chunk_by is None:
        return [ALL], np.zeros(batch.height, dtype=np.int64)
    days = batch.get_column(chunk_by).cast(pl.Date).to_physical().cast(pl.Int64)
    known = days.drop_nulls().to_numpy()
    first, last = (int(known.min()), int(known.max())) if known.size else (0, 0)
    if not known.size or last - first > 10 * batch.height:
        present, codes = np.unique(days.fill_null(NO_DAY).to_numpy(), return_inverse=True)
    else:  # days span a short range: counted by offset (np.unique sorts every row)
        below = first - 1
        offsets = (days - below).fill_null(0).to_numpy()  # a missing day sorts first, as NO_DAY
        seen = np.flatnonzero(np.bincount(offsets))
        index = np.zeros(last - below + 1, dtype=np.int64)
        index[seen] = np.arange(seen.size)
        present, codes = np.where(seen == 0, NO_DAY, seen + below), index[offsets]
    keys = [
        "none" if d == NO_DAY else (EPOCH + timedelta(days=int(d))).isoformat() for d in present
    ]
    return keys, codes.astype(np.int64)


def batch_sums(
    batch: pl.DataFrame, columns: Sequence[str], kinds: dict[str, str], chunk_by: str | None
) -> Iterable[tuple[str, int, int, dict[str, int]]]:
    """(key, rows, row-hash sum, {column: cell-hash sum}) for each chunk key present in ``batch``.
    A slice of rows at a time, each column's cells hashed and summed in one compiled pass
    (:mod:`.rowhash_kernels`) into the slice's row hashes, which stay in cache: half the CPU of
    numpy's eight passes over each column's hashes and ``np.add.at``, which streamed row-sized
    arrays through memory (the 10M-row file's 5.8M windows' rows, 16 columns: 0.67-0.84 against
    1.45-1.74 CPU-s)."""
    keys, codes = chunk_keys(batch, chunk_by)
    n = len(keys)
    tables = {
        c: _code_table(batch.get_column(c), c, kinds[c]) for c in _categorical(batch, columns)
    }
    coded = {c: table for c, table in tables.items() if table is not None}  # the others as text
    plain = [c for c in columns if c not in coded]
    plain_sums = np.zeros((len(plain), n), dtype=np.uint64)
    coded_sums = np.zeros((len(coded), n), dtype=np.uint64)
    row_sums = np.zeros(n, dtype=np.uint64)
    from challengers.engine import rowhash_kernels as k  # numba, when needed

    for lo in range(0, batch.height, FOLD_ROWS):  # the rows' hashes of a slice stay in cache
        part, part_codes = batch.slice(lo, FOLD_ROWS), codes[lo : lo + FOLD_ROWS]
        blocks = k.block_codes(part_codes)
        total = np.zeros(part.height, dtype=np.uint64)  # each row's sum of its cells' hashes
        for name, sums in zip(plain, plain_sums, strict=True):
            words, nulls, salted = _canonical_words(part.get_column(name), name, kinds[name])
            k.fold_cells(words, nulls, salted, part_codes, blocks, total, sums)
        for (name, table), sums in zip(coded.items(), coded_sums, strict=True):
            hashes = _looked_up(table, part.get_column(name))
            k.fold_hashes(hashes, part_codes, blocks, total, sums)
        k.fold_rows(total, part_codes, blocks, row_sums)
    column_sums = dict(zip([*plain, *coded], [*plain_sums, *coded_sums], strict=True))
    counts = np.bincount(codes, minlength=n)
    for i, key in enumerate(keys):
        yield (
            key,
            int(counts[i]),
            int(row_sums[i]),
            {name: int(column_sums[name][i]) for name in columns},
        )
