"""Data fingerprints: canonical, batch-independent, and able to say what differs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.replication.fingerprint import (
    DataFingerprint,
    chunk_rows_for,
    compare_fingerprints,
    fingerprint_batches,
    fingerprint_frame,
    fingerprint_lazy,
)


def frame(rows: int = 5000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "amount": rng.gamma(2.0, 30.0, rows),
            "label": rng.integers(0, 2, rows).astype(np.int8),
            "region": rng.choice(["north", "south", "east", "wést"], rows),
            "when": pl.datetime_range(
                pl.datetime(2024, 1, 1),
                pl.datetime(2024, 1, 1) + pl.duration(minutes=rows - 1),
                "1m",
                eager=True,
            ),
        }
    ).with_columns(
        pl.when(pl.col("id") % 97 == 0).then(None).otherwise(pl.col("amount")).alias("amount")
    )


def test_chunk_digest_matches_a_reference_implementation() -> None:
    """Known answer: one int column of 3 rows is one chunk: blake2b-8 of flag + int64 bytes."""
    data = pl.DataFrame({"x": pl.Series([1, 2, 3], dtype=pl.Int16)})
    printed = fingerprint_frame(data)
    chunk = hashlib.blake2b(b"\x00" + np.array([1, 2, 3], dtype=np.int64).tobytes(), digest_size=8)
    assert printed.columns["x"].chunks == (chunk.hexdigest(),)
    column = hashlib.blake2b(b"x\x00int\x003\x001024" + chunk.digest(), digest_size=16)
    assert printed.columns["x"].digest == column.hexdigest()


def test_chunk_size_is_a_power_of_two_with_at_most_about_1024_chunks() -> None:
    assert chunk_rows_for(10) == 1024
    assert chunk_rows_for(1_754_155) == 2048
    assert chunk_rows_for(100_000_000) == 131_072
    assert 100_000_000 / chunk_rows_for(100_000_000) <= 1024


def test_independent_of_batching_column_order_and_storage_width() -> None:
    data = frame()
    reference = fingerprint_frame(data, threads=1)
    sizes = [1, 999, 1024, 3, 2000, 973]
    batches = [data.slice(sum(sizes[:i]), n) for i, n in enumerate(sizes)]
    assert fingerprint_batches(batches, data.columns, rows=data.height, threads=2) == reference
    narrow = data.select(reversed(data.columns)).with_columns(pl.col("id").cast(pl.Int32))
    assert fingerprint_frame(narrow).digest == reference.digest
    categorical = data.with_columns(pl.col("region").cast(pl.Categorical))
    assert fingerprint_frame(categorical).digest == reference.digest


def test_same_values_from_parquet_csv_and_a_lazy_stream(tmp_path: Path) -> None:
    data = frame()
    data.write_parquet(tmp_path / "a.parquet")
    data.write_csv(tmp_path / "a.csv")
    reference = fingerprint_frame(data).digest
    lazy = fingerprint_lazy(pl.scan_parquet(tmp_path / "a.parquet"), data.columns, batch_rows=700)
    assert lazy.digest == reference
    csv = pl.read_csv(tmp_path / "a.csv", try_parse_dates=True)
    assert fingerprint_frame(csv.with_columns(pl.col("when").cast(pl.Datetime("us")))).digest == (
        reference
    )


def test_null_is_not_zero_and_order_matters() -> None:
    zero = pl.DataFrame({"x": [0.0, 1.0]})
    null = pl.DataFrame({"x": [None, 1.0]})
    assert fingerprint_frame(zero).digest != fingerprint_frame(null).digest
    assert fingerprint_frame(zero).digest != fingerprint_frame(zero.reverse()).digest


def test_one_changed_value_is_located_to_its_chunk() -> None:
    data = frame(10_000)
    changed = data.with_columns(
        pl.when(pl.col("id") == 7_777).then(1e6).otherwise(pl.col("amount")).alias("amount")
    )
    diff = compare_fingerprints(fingerprint_frame(data), fingerprint_frame(changed))
    assert not diff.same
    assert diff.values == ("amount",) and diff.rows is None and not diff.retyped
    assert diff.first_rows == (7168, 8192)  # chunks of 1024 rows: row 7,777 is in the 8th
    assert diff.lines(5) == [
        "values differ in 1 of 5 column(s): amount; first in rows 7,168-8,191 of the rows read"
    ]


def test_rows_columns_and_types_differences_are_named() -> None:
    data = frame(3000)
    logged = fingerprint_frame(data, windows={"train": 2000, "test": 1000})
    fewer = fingerprint_frame(
        data.head(2999).drop("region").with_columns(pl.col("label").cast(pl.Float64)),
        windows={"train": 2000, "test": 999},
    )
    diff = compare_fingerprints(logged, fewer)
    assert diff.rows == (3000, 2999)
    assert diff.windows == {"test": (1000, 999)}
    assert diff.missing == ("region",)
    assert diff.retyped == {"label": ("int", "float")}
    assert diff.first_rows == (2048, 3000)  # the first two chunks still agree
    assert diff.lines()[0] == "rows: 3,000 logged, 2,999 now (test 1,000 -> 999)"


def test_json_round_trip_and_equal_data_compare_same() -> None:
    printed = fingerprint_frame(frame(), windows={"train": 10})
    again = DataFingerprint.from_json(printed.to_json())
    assert again == printed
    assert compare_fingerprints(again, fingerprint_frame(frame(), windows={"train": 10})).same


def test_nested_columns_are_refused_clearly() -> None:
    from challengers.errors import DataError

    with pytest.raises(DataError, match="nested columns cannot be fingerprinted"):
        fingerprint_frame(pl.DataFrame({"x": [[1], [2]]}))
