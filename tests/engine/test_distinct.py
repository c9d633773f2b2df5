"""The distinct-count sketch: its registers against a plain-Python HyperLogLog, its estimates
against exact counts of planted columns, and the same answer however polars cuts the batches."""

from __future__ import annotations

import threading

import numpy as np
import polars as pl
import pytest

from challengers.engine.distinct import PRECISION, REGISTERS, DistinctSketch, estimate


def _reference_registers(hashes: np.ndarray) -> np.ndarray:
    """HyperLogLog's registers as the paper writes them: the first PRECISION bits pick the
    register, the rank is the position of the first 1 among the remaining bits."""
    registers = np.zeros(REGISTERS, dtype=np.uint8)
    for h in (int(x) for x in hashes):
        index = h >> (64 - PRECISION)
        rest = format(h & ((1 << (64 - PRECISION)) - 1), f"0{64 - PRECISION}b")
        rank = rest.index("1") + 1 if "1" in rest else 64 - PRECISION + 1
        registers[index] = max(registers[index], rank)
    return registers


def test_registers_equal_the_definition() -> None:
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, size=20_000, dtype=np.int64).view(np.uint64) << np.uint64(1)
    hashes[:3] = [0, 2**64 - 1, 1 << (63 - PRECISION)]  # all zero rest, all ones, rank 1
    sketch = DistinctSketch()
    sketch.name(["h"])
    sketch.add([hashes])
    (registers,) = sketch._by_thread.values()
    assert np.array_equal(registers[0], _reference_registers(hashes))


@pytest.mark.parametrize(
    "values",
    [
        pl.Series([7] * 1000),
        pl.Series([True, False] * 500),
        pl.Series(np.arange(13).repeat(50)),  # polars' approx_n_unique said 12 of such a column
        pl.Series(["a", "b", "c", None] * 250),  # the missing value counts as one, as n_unique
        pl.Series(np.arange(50_000) % 997, dtype=pl.Int16),
        pl.Series(np.random.default_rng(1).lognormal(3, 1, 200_000).round(2)),
        pl.Series(np.arange(1_000_000, dtype=np.int64) * 7919),  # unique ids
    ],
    ids=["constant", "boolean", "13-values", "text", "997-int16", "amounts", "unique-ids"],
)
def test_estimates_are_within_two_percent_and_small_counts_exact(values: pl.Series) -> None:
    """Exact up to 50 values (audit.max_levels' default: a category or not), else within 2%."""
    exact = values.n_unique()
    sketch = DistinctSketch()
    sketch.name(["x"])
    sketch.add([values.hash(11).to_numpy()])
    estimated = sketch.estimates()["x"]
    if exact <= 50:
        assert estimated == exact
    else:
        assert abs(estimated / exact - 1) < 0.02, (estimated, exact)


def test_batches_and_threads_do_not_change_the_estimate() -> None:
    hashes = pl.Series(np.arange(300_000) % 123_457).hash(5).to_numpy()
    whole = DistinctSketch()
    whole.name(["x"])
    whole.add([hashes])
    pieces = DistinctSketch()
    pieces.name(["x"])
    threads = [
        threading.Thread(target=pieces.add, args=([part],)) for part in np.array_split(hashes, 7)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pieces.estimates() == whole.estimates()
    assert abs(whole.estimates()["x"] / 123_457 - 1) < 0.02


def test_summed_is_polars_wrapping_sum_without_the_skipped_field() -> None:
    frame = pl.DataFrame({"a": [1, 2, None, 4], "b": ["x", "y", "y", None], "id": [9, 8, 7, 6]})
    hashes = [pl.col(c).hash(i) for i, c in enumerate(frame.columns)]
    sketch = DistinctSketch()
    sketch.name(frame.columns)
    keys = frame.select(
        pl.struct([h.alias(str(j)) for j, h in enumerate(hashes)]).map_batches(
            lambda b: sketch.summed(b, skip=2), return_dtype=pl.UInt64, is_elementwise=True
        )
    ).to_series()
    expected = frame.select(pl.sum_horizontal(hashes[:2])).to_series()
    assert keys.to_list() == expected.to_list()
    assert sketch.estimates() == {"a": 4, "b": 3, "id": 4}


def test_an_empty_sketch_estimates_zero() -> None:
    sketch = DistinctSketch()
    sketch.name(["x", "y"])
    assert sketch.estimates() == {"x": 0, "y": 0}
    assert estimate(np.zeros(REGISTERS, dtype=np.uint8)) == 0.0
