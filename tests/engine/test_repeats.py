"""The repeat count of 64-bit keys against the reference ``n - len(np.unique(keys))``."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from challengers.engine.local import repeated
from challengers.engine.repeats import TABLE, repeats


def reference(keys: np.ndarray) -> int:
    return int(keys.size - np.unique(keys).size)


def _edges(rng: np.random.Generator, n: int) -> np.ndarray:
    """Keys whose scrambled values sit at the edges of the byte groups: the grouping is by the
    scrambled value, so keys are planted there by inverting splitmix64's finaliser."""
    top = np.array([0, 1, 255, 256, 65535, 65536, 2**16 - 1], dtype=np.uint64)
    scrambled = np.concatenate(
        [
            top << np.uint64(48),  # first key of a group
            ((top + np.uint64(1)) << np.uint64(48)) - np.uint64(1),  # last key of a group
            np.array([0, 2**64 - 1], dtype=np.uint64),  # 0 marks the table's empty slots
        ]
    )
    keys = _unmix(scrambled)
    picks = rng.integers(0, keys.size, n)
    return np.concatenate([keys[picks], rng.integers(0, 2**64 - 1, n, dtype=np.uint64)])


def _unmix(z: np.ndarray) -> np.ndarray:
    """The inverse of splitmix64's finaliser (repeats scrambles the keys with it)."""
    z = z.copy()
    z ^= (z >> np.uint64(31)) ^ (z >> np.uint64(62))
    z *= np.uint64(0x319642B2D24D8EC3)
    z ^= (z >> np.uint64(27)) ^ (z >> np.uint64(54))
    z *= np.uint64(0x96DE1B173F119089)
    z ^= (z >> np.uint64(30)) ^ (z >> np.uint64(60))
    return z


def test_the_inverse_is_one() -> None:
    """The kernels' finaliser (shared with the row hashes) is a bijection: undone by _unmix."""
    from challengers.engine.rowhash_kernels import mix_in_place

    x = np.random.default_rng(0).integers(0, 2**64 - 1, 1000, dtype=np.uint64)
    np.testing.assert_array_equal(_unmix(mix_in_place(x.copy())), x)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(
    "case",
    ["few values", "wide int64", "uint64", "edges", "one value", "reversed", "many in one group"],
)
def test_repeats_match_the_reference(case: str, threads: int) -> None:
    rng = np.random.default_rng(len(case) + threads)
    keys = {
        "few values": lambda: rng.integers(0, 50, 200_000),
        "wide int64": lambda: rng.integers(-(2**63), 2**63 - 1, 300_000, dtype=np.int64),
        "uint64": lambda: rng.integers(0, 2**64 - 1, 300_000, dtype=np.uint64),
        "edges": lambda: _edges(rng, 50_000),
        "one value": lambda: np.full(100_000, 7, dtype=np.int64),
        "reversed": lambda: np.arange(100_000)[::-1].copy(),
        # more equal keys than the table holds: that group is sorted instead
        "many in one group": lambda: np.concatenate(
            [rng.integers(0, 2**62, 10_000), np.repeat(rng.integers(0, 2**62, TABLE), 3)]
        ),
    }[case]()
    if case != "reversed":  # planted repeats, wherever their twins fall
        keys[rng.integers(0, keys.size, 100)] = keys[rng.integers(0, keys.size, 100)]
    want = reference(keys)
    assert want > 0 or case == "reversed"
    assert repeats(keys.copy(), threads) == want


def test_increasing_keys_have_no_repeats_and_stay_put() -> None:
    keys = np.arange(0, 3_000_000, 3)
    assert repeats(keys) == 0
    np.testing.assert_array_equal(keys, np.arange(0, 3_000_000, 3))  # not scrambled


def test_unsorted_ids_with_repeats() -> None:
    """Ids mostly increasing, a few written twice out of order: no shortcut applies."""
    keys = np.arange(1_000_000, dtype=np.int64)
    keys[500_000:500_010] = keys[10:20]
    keys[-1] = keys[0]
    assert repeats(keys.copy()) == reference(keys) == 11


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int16, np.int8])
def test_narrow_integers(dtype: type) -> None:
    keys = np.random.default_rng(1).integers(0, 100, 10_000).astype(dtype)
    assert repeats(keys) == reference(keys)


@pytest.mark.parametrize("size", [0, 1, 2])
def test_tiny(size: int) -> None:
    keys = np.zeros(size, dtype=np.uint64)
    assert repeats(keys) == max(0, size - 1)


@pytest.mark.parametrize(
    "chunks",
    [
        [[1, 2, 3], [4, 5], [], [6, 9]],  # increasing across the chunks: no repeat
        [[1, 2, 3], [3, 5]],  # a chunk starts with the last key of the one before
        [[1, 2, 3], [2, 5]],  # ... with an earlier key
        [[4, 5, 6], [1, 2, 3]],  # each chunk increasing, the column not
        [[1, None, 3], [None, 3, 7]],  # missing keys are no repeats
        [[None], [None, None]],
    ],
)
@pytest.mark.parametrize("dtype", [pl.Int64, pl.UInt64])
def test_a_collected_column_in_chunks(chunks: list[list[int | None]], dtype: pl.DataType) -> None:
    """A collected column of keys comes in chunks (936 for 100M ids): increasing keys are seen
    chunk by chunk without joining them, the boundaries between chunks included."""
    column = pl.concat([pl.Series(c, dtype=dtype) for c in chunks], rechunk=False)
    present = np.array([k for c in chunks for k in c if k is not None], dtype=np.int64)
    assert repeated(column) == reference(present)
