"""Data fingerprints: canonical, independent of row order and batching, and able to say what differs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.engine.rowhash import KERNELS, MASK, salt
from challengers.replication.fingerprint import (
    ALGORITHM,
    DataFingerprint,
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
        pl.when(pl.col("id") % 97 == 0).then(None).otherwise(pl.col("amount")).alias("amount"),
        pl.col("when").dt.date().alias("day"),
    )


def _mix(x: int) -> int:
    """splitmix64's finaliser in plain Python integers: the reference for the numpy kernel."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def test_chunk_sums_match_a_reference_implementation() -> None:
    """Known answer: int and text cells hashed one by one in Python, summed modulo 2**64."""
    data = pl.DataFrame({"x": pl.Series([1, 2, None], dtype=pl.Int16), "t": ["ab", None, "é"]})
    printed = fingerprint_frame(data)
    sx, st = int(salt("x", "int")), int(salt("t", "text"))

    def cell_int(v: int | None) -> int:
        return _mix((_mix((0 if v is None else v) ^ sx) + (v is None)) & MASK)

    def cell_text(v: str | None) -> int:
        raw = (v or "").encode()
        core = sum(_mix(((i << 8) | b) ^ st) for i, b in enumerate(raw)) + _mix(len(raw) ^ st)
        return _mix((_mix(core & MASK ^ st) + (v is None)) & MASK)

    xs = [cell_int(v) for v in (1, 2, None)]
    ts = [cell_text(v) for v in ("ab", None, "é")]
    assert printed.columns["x"].chunks == {"all": f"{sum(xs) & MASK:016x}"}
    assert printed.columns["t"].chunks == {"all": f"{sum(ts) & MASK:016x}"}
    rows = sum(_mix((a + b) & MASK) for a, b in zip(xs, ts, strict=True)) & MASK
    assert printed.row_print.chunks == {"all": f"3:{rows:016x}"}
    column = hashlib.blake2b(f"{ALGORITHM}\x00x\x00int\x003".encode(), digest_size=16)
    column.update(f"\x00all\x00{sum(xs) & MASK:016x}".encode())
    assert printed.columns["x"].digest == column.hexdigest()


def test_independent_of_row_order_batching_column_order_and_storage_width() -> None:
    data = frame()
    reference = fingerprint_frame(data, threads=1, chunk_by="day")
    shuffled = data.sample(fraction=1.0, shuffle=True, seed=3)
    sizes = [1, 999, 1024, 3, 2000, 973]
    batches = [shuffled.slice(sum(sizes[:i]), n) for i, n in enumerate(sizes)]
    streamed = fingerprint_batches(
        batches, data.columns, rows=data.height, threads=2, chunk_by="day"
    )
    assert streamed == reference
    big = pl.concat([data] * 30)  # large enough for the threaded path
    assert fingerprint_frame(big, threads=2) == fingerprint_frame(big.reverse(), threads=1)
    by_day = fingerprint_frame(big, threads=2, chunk_by="day")
    assert by_day == fingerprint_frame(big, threads=1, chunk_by="day")
    # in time order each block of rows is one day's (its sums kept in a register); shuffled,
    # every row is added to its own day's sums: the same sums
    mixed = big.sample(fraction=1.0, shuffle=True, seed=4)
    assert fingerprint_frame(mixed, threads=1, chunk_by="day") == by_day
    assert set(by_day.row_print.chunks) == {"2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"}
    narrow = data.select(reversed(data.columns)).with_columns(pl.col("id").cast(pl.Int32))
    assert fingerprint_frame(narrow, chunk_by="day").digest == reference.digest
    categorical = data.with_columns(pl.col("region").cast(pl.Categorical))
    assert fingerprint_frame(categorical, chunk_by="day").digest == reference.digest


@pytest.mark.parametrize(
    "dtype", [pl.Categorical(), pl.Enum(["zzz", "wést", "south", "north", "east"])]
)
def test_categories_hash_as_their_text(dtype: pl.DataType) -> None:
    """A categorical column is hashed once per category and looked up by code: the cells'
    hashes are those of the text, nulls included, whatever categories the dictionary holds."""
    from challengers.engine.rowhash import cell_hashes

    text = frame().get_column("region")
    text = pl.select(
        pl.when(pl.int_range(text.len()) % 7 == 0).then(None).otherwise(text)
    ).to_series()
    coded = text.cast(dtype)
    want = cell_hashes(text, "region", "text")
    np.testing.assert_array_equal(cell_hashes(coded, "region", "text"), want)
    tail = coded.slice(100, 50).filter(coded.slice(100, 50) != "north")  # codes not all used
    np.testing.assert_array_equal(
        cell_hashes(tail, "region", "text"), cell_hashes(tail.cast(pl.String), "region", "text")
    )
    nulls = pl.Series([None, None], dtype=dtype)
    np.testing.assert_array_equal(
        cell_hashes(nulls, "region", "text"), cell_hashes(nulls.cast(pl.String), "region", "text")
    )


def test_chunk_keys_match_the_sorted_distinct_days() -> None:
    """Days counted by offset: the keys and each row's index are np.unique's, missing days first
    and gaps between days skipped; days far apart take np.unique itself."""
    from challengers.engine.rowhash import NO_DAY, chunk_keys

    rng = np.random.default_rng(5)
    for spread in (3, 40, 10**4):  # the last: over 10 days a row apart
        days = pl.Series("day", rng.integers(0, spread, 1000) * 7 + 19_000, dtype=pl.Int32)
        days = days.set(pl.Series(rng.random(1000) < 0.1), None).cast(pl.Date)
        keys, codes = chunk_keys(pl.DataFrame({"day": days}), "day")
        raw = days.to_physical().cast(pl.Int64).fill_null(NO_DAY).to_numpy()
        present, inverse = np.unique(raw, return_inverse=True)
        assert keys[0] == "none" and len(keys) == present.size
        assert keys[1:] == [str(d) for d in pl.Series(present[1:]).cast(pl.Int32).cast(pl.Date)]
        np.testing.assert_array_equal(codes, inverse)


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


def test_null_is_not_zero_and_values_swapped_between_rows_count() -> None:
    zero = pl.DataFrame({"x": [0.0, 1.0]})
    null = pl.DataFrame({"x": [None, 1.0]})
    assert fingerprint_frame(zero).digest != fingerprint_frame(null).digest
    assert fingerprint_frame(zero).digest == fingerprint_frame(zero.reverse()).digest
    pairs = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    swapped = pl.DataFrame({"a": [1, 2], "b": ["y", "x"]})  # same values per column
    diff = compare_fingerprints(fingerprint_frame(pairs), fingerprint_frame(swapped))
    assert diff.values == () and diff.paired and not diff.same
    assert diff.lines() == [
        "every column holds the same values, but the rows pair them differently"
    ]


def test_one_changed_value_is_located_to_its_day() -> None:
    data = frame(10_000)  # one row a minute: about seven days
    changed = data.with_columns(
        pl.when(pl.col("id") == 7_777).then(1e6).otherwise(pl.col("amount")).alias("amount")
    )
    diff = compare_fingerprints(
        fingerprint_frame(data, chunk_by="day"), fingerprint_frame(changed, chunk_by="day")
    )
    assert not diff.same
    assert diff.values == ("amount",) and diff.rows is None and not diff.retyped
    assert diff.first_chunk == "2024-01-06"  # minute 7,777 is on the sixth day
    assert diff.lines(5) == ["values differ in 1 of 5 column(s): amount; first on 2024-01-06"]


def test_rows_columns_and_types_differences_are_named() -> None:
    data = frame(3000)
    logged = fingerprint_frame(data, windows={"train": 2000, "test": 1000}, chunk_by="day")
    fewer = fingerprint_frame(
        data.head(2999).drop("region").with_columns(pl.col("label").cast(pl.Float64)),
        windows={"train": 2000, "test": 999},
        chunk_by="day",
    )
    diff = compare_fingerprints(logged, fewer)
    assert diff.rows == (3000, 2999)
    assert diff.windows == {"test": (1000, 999)}
    assert diff.missing == ("region",)
    assert diff.retyped == {"label": ("int", "float")}
    assert diff.first_chunk == "2024-01-03"  # the first two days still agree
    assert diff.lines()[0] == "rows: 3,000 logged, 2,999 now (test 1,000 -> 999)"


@pytest.mark.parametrize("change", ["added", "dropped", "retyped"])
def test_a_column_added_dropped_or_retyped_is_not_called_a_re_pairing(change: str) -> None:
    """A row's hash mixes every column read: one more column (nothing else changed) changed every
    row's hash, and replicate said 'the rows pair them differently; first on <the first day>'
    under the line naming the column."""
    data = frame(3000)
    now = {
        "added": data.with_columns((pl.col("id") * 2).alias("NEWCOL")),
        "dropped": data.drop("region"),
        "retyped": data.with_columns(pl.col("label").cast(pl.Float64)),
    }[change]
    diff = compare_fingerprints(
        fingerprint_frame(data, chunk_by="day"), fingerprint_frame(now, chunk_by="day")
    )
    assert not diff.same and not diff.paired and diff.values == ()
    assert diff.first_chunk is None  # no day differs in its rows
    assert len(diff.lines()) == 1
    assert "pair" not in diff.lines()[0]
    if change == "added":
        assert diff.lines() == ["columns read now that the run did not read: NEWCOL"]


def test_a_row_fewer_with_a_column_added_is_located_by_the_rows_counts() -> None:
    data = frame(3000)  # one row a minute: three days
    now = data.filter(pl.col("id") != 2500).with_columns(pl.lit(1).alias("NEWCOL"))
    diff = compare_fingerprints(
        fingerprint_frame(data, chunk_by="day"), fingerprint_frame(now, chunk_by="day")
    )
    assert diff.added == ("NEWCOL",) and not diff.paired
    assert diff.first_chunk == "2024-01-02"  # minute 2,500 is on the second day, not the first


def test_json_round_trip_and_equal_data_compare_same() -> None:
    printed = fingerprint_frame(frame(), windows={"train": 10}, chunk_by="day")
    again = DataFingerprint.from_json(printed.to_json())
    assert again == printed
    now = fingerprint_frame(frame().reverse(), windows={"train": 10}, chunk_by="day")
    assert compare_fingerprints(again, now).same


def test_a_fingerprint_of_an_older_algorithm_reads_but_is_marked() -> None:
    old = {"algorithm": "blake2b-chunked/1", "digest": "ab", "rows": 3, "columns": {}}
    printed = DataFingerprint.from_json(old)
    assert printed.algorithm != ALGORITHM and printed.rows == 3


def test_nested_columns_are_refused_clearly() -> None:
    from challengers.errors import DataError

    with pytest.raises(DataError, match="nested columns cannot be fingerprinted"):
        fingerprint_frame(pl.DataFrame({"x": [[1], [2]]}))


def test_many_bounded_slices_per_thread_give_the_same_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large batch is hashed in slices of at most SLICE_ROWS rows (bounded memory), more slices
    than threads: the sums must not see how many."""
    import challengers.replication.fingerprint as fp

    big = pl.concat([frame()] * 30)
    reference = fingerprint_frame(big, threads=1, chunk_by="day")
    monkeypatch.setattr(fp, "SLICE_ROWS", 7_001)  # an odd size: slices cut days apart
    assert -(-big.height // fp.SLICE_ROWS) > 2
    assert fingerprint_frame(big, threads=2, chunk_by="day") == reference


def test_the_kernels_module_the_warm_up_imports_first_is_the_kernels_one() -> None:
    """The run's warm-up imports KERNELS by name, its errors suppressed: a name gone stale would
    silently put the kernels' import back beside MLflow's."""
    import importlib

    from challengers.engine import rowhash_kernels

    assert importlib.import_module(KERNELS) is rowhash_kernels
