"""The radix selection's keys and digit counts (challengers.engine.radix) against numpy's sort."""

from __future__ import annotations

import numpy as np

from challengers.engine import radix


def _values() -> np.ndarray:
    rng = np.random.default_rng(3)
    special = [0.0, -0.0, 5e-324, -5e-324, 2.2e-308, -1.7e308, 1.7e308, 1.0, -1.0, np.nan, np.inf]
    return np.concatenate([rng.normal(0, 1e3, 5000), rng.integers(-5, 5, 500), special])


def test_keys_sort_as_the_finite_values_and_give_them_back() -> None:
    finite, keys = radix.keys_of(_values())
    assert finite.size == _values().size - 2  # NaN and inf left out
    order = np.argsort(keys, kind="stable")
    assert np.all(np.diff(finite[order]) >= 0)
    assert [radix.value_of(int(k)) for k in keys[:50]] == finite[:50].tolist()
    assert radix.keys_of(np.array([-0.0]))[1][0] == radix.keys_of(np.array([0.0]))[1][0]


def test_a_rank_is_found_by_digits_as_numpy_sorts() -> None:
    """Narrowing each rank's bucket by its digits, then reading its values, gives np.sort's."""
    finite, keys = radix.keys_of(_values())
    ordered = np.sort(finite)
    for rank in [0, 1, 777, finite.size // 2, finite.size - 1]:
        bucket, below = radix.Bucket(0), 0
        while True:
            digits, counts, low, high = radix.digit_counts(keys, bucket)
            at = radix.locate(rank, below, bucket, digits, counts, low, high)
            bucket, below = at.bucket, at.below
            if at.value is not None or at.size <= 3:
                break
        inside = finite[bucket.holds(keys)]
        distinct, n = np.unique(inside, return_counts=True)
        value = at.value if at.value is not None else radix.read_rank(rank, below, distinct, n)
        assert value == ordered[rank], rank
