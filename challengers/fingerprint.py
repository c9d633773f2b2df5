"""Content fingerprints of exactly the rows and columns a run used.

Per column, in a fixed column order, the values are hashed from their Arrow buffers' logical
content (not the file's bytes or mtime), so the same data read from parquet or csv, or from a file
with other columns, gives the same fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import polars as pl

CHUNK_ROWS = 1_000_000


def column_digest(series: pl.Series) -> str:
    """A blake2b digest of one column's values and nulls, chunked so memory stays flat."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{series.name}\x00{_kind(series.dtype)}\x00{series.len()}".encode())
    for start in range(0, series.len(), CHUNK_ROWS):
        part = series.slice(start, CHUNK_ROWS)
        h.update(part.is_null().to_numpy().tobytes())
        h.update(_value_bytes(part))
    return h.hexdigest()


def _kind(dtype: pl.DataType) -> str:
    if dtype.is_integer() or dtype == pl.Boolean:
        return "int"
    if dtype.is_float():
        return "float"
    if dtype.is_temporal():
        return "time"
    return "text"


def _value_bytes(part: pl.Series) -> bytes:
    dtype = part.dtype
    if dtype.is_integer() or dtype == pl.Boolean:
        return part.cast(pl.Int64).fill_null(0).to_numpy().astype(np.int64).tobytes()
    if dtype.is_float():
        return part.cast(pl.Float64).fill_null(0.0).to_numpy().tobytes()
    if dtype.is_temporal():
        as_us = part.cast(pl.Datetime("us")) if dtype != pl.Time else part
        return as_us.to_physical().cast(pl.Int64).fill_null(0).to_numpy().tobytes()
    text = part.cast(pl.String).fill_null("")
    lengths = text.str.len_bytes().cast(pl.Int64).to_numpy().tobytes()
    return lengths + "".join(text.to_list()).encode()


def frame_fingerprint(frame: pl.DataFrame, columns: Sequence[str] | None = None) -> str:
    """The fingerprint of ``columns`` (default: all) of ``frame``, independent of column order."""
    names = sorted(columns if columns is not None else frame.columns)
    h = hashlib.blake2b(digest_size=16)
    for name in names:
        h.update(column_digest(frame.get_column(name)).encode())
    return h.hexdigest()
