"""Loaded frames in one chunk per column: the same rows, in the same order, whatever their chunks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from challengers.data.frames import one_chunk_per_column


def _chunked(pieces: int, rows: int) -> pl.DataFrame:
    """A frame of every kind of column a run holds, made of ``pieces`` chunks, nulls in each."""
    rng = np.random.default_rng(7)
    parts = []
    for p in range(pieces):
        amount = rng.gamma(2.0, 30.0, rows)
        parts.append(
            pl.DataFrame(
                {
                    "id": np.arange(p * rows, (p + 1) * rows),
                    "amount": [None if i % 97 == 0 else float(a) for i, a in enumerate(amount)],
                    "fraud": rng.integers(0, 2, rows).astype(np.int8),
                    "region": [f"r{i % 5}" for i in range(rows)],
                    "day": [date(2024, 1, 1 + (p % 28))] * rows,
                }
            ).with_columns(pl.col("region").cast(pl.Categorical))
        )
    return pl.concat(parts, rechunk=False)


def test_the_columns_come_back_in_one_chunk_each_with_every_value_in_its_place() -> None:
    frame = _chunked(pieces=9, rows=1_000)
    expected = frame.clone()
    assert max(frame.n_chunks("all")) == 9
    out = one_chunk_per_column(frame)
    assert out.n_chunks("all") == [1] * expected.width
    assert out.columns == expected.columns  # the order kept, though copied two at a time
    assert out.schema == expected.schema
    assert out.equals(expected)
    assert frame.width == 0  # the frame given is emptied, a column at a time


def test_a_frame_already_in_one_chunk_is_returned_as_it_is() -> None:
    frame = _chunked(pieces=1, rows=500)
    assert one_chunk_per_column(frame) is frame


def test_a_file_named_with_glob_characters_is_read_as_written(tmp_path: Path) -> None:
    """data.path 'tx[1].parquet' was taken as a pattern: 'no file matches' though the file was
    there, and with a tx1.parquet beside it the run read that file's rows instead. A path that
    names a file is that file; a pattern that names none is still a glob."""
    from challengers.data.frames import scan

    pl.DataFrame({"a": [1, 2, 3]}).write_parquet(tmp_path / "tx[1].parquet")
    pl.DataFrame({"a": [7]}).write_parquet(tmp_path / "tx1.parquet")
    assert scan(str(tmp_path / "tx[1].parquet")).collect()["a"].to_list() == [1, 2, 3]
    assert scan(str(tmp_path / "tx[0-9].parquet")).collect()["a"].to_list() == [7]
    assert sorted(scan(str(tmp_path / "tx*.parquet")).collect()["a"].to_list()) == [1, 2, 3, 7]
    (tmp_path / "c[2].csv").write_text("a\n5\n")
    assert scan(str(tmp_path / "c[2].csv")).collect()["a"].to_list() == [5]
