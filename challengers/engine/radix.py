"""Exact order statistics by radix selection over 64-bit keys that sort as the values do: the
numpy half of :mod:`.spark_quantiles` (what the executors compute on their batches and what the
driver reads off the merged counts).

A finite float64's key is its bits with the sign bit set, or all its bits flipped when negative
(-0.0 is read as 0.0 first, so equal values have equal keys). A :class:`Bucket` is the keys that
start with ``depth`` given bits; its values are counted by their next bits (:func:`digit_bits`:
16 of the whole bucket's, 8 of a narrower one's), which tells in which of those narrower buckets a
rank lies and how many values lie below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WIDTH = 64
_SIGN = np.uint64(1 << 63)


def digit_bits(depth: int) -> int:
    """The bits a bucket ``depth`` bits deep is counted by: 16 of the whole (sign, exponent and
    4 bits of the fraction: the values' scale), then 8 at a time (256 counts, a task's result
    rows a bucket: 65,536 counts there sent millions of rows through Spark's aggregation)."""
    return 16 if depth == 0 else 8


@dataclass(frozen=True, order=True)
class Bucket:
    """The finite values of column ``column`` whose keys start with the ``depth`` bits
    ``prefix``."""

    column: int
    depth: int = 0
    prefix: int = 0

    def holds(self, keys: np.ndarray) -> np.ndarray | slice:
        """Which of ``keys`` lie inside the bucket (an index)."""
        if self.depth == 0:
            return slice(None)
        return (keys >> np.uint64(WIDTH - self.depth)) == np.uint64(self.prefix)

    def bounds(self) -> tuple[float, float]:
        """The smallest and the largest value a key in the bucket can stand for (a bucket below
        the whole one holds either negative or positive keys: both are finite where it holds a
        finite value)."""
        rest = WIDTH - self.depth
        return value_of(self.prefix << rest), value_of(((self.prefix + 1) << rest) - 1)

    def child(self, digit: int) -> Bucket:
        bits = digit_bits(self.depth)
        return Bucket(self.column, self.depth + bits, (self.prefix << bits) | digit)


def keys_of(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finite ``values`` (float64; the rest left out) and their keys (uint64, ordered as the
    values)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)] + 0.0  # -0.0 + 0.0 is 0.0
    bits = finite.view(np.uint64)
    return finite, np.where(bits & _SIGN, ~bits, bits | _SIGN)


def value_of(key: int) -> float:
    """The float64 whose key is ``key``."""
    k = np.uint64(key)
    bits = k ^ _SIGN if k & _SIGN else ~k
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def digit_counts(keys: np.ndarray, bucket: Bucket) -> tuple[np.ndarray, ...]:
    """The keys in ``bucket`` grouped by their next digit: the digits present (ascending), the
    keys under each, and the smallest and largest of those keys."""
    inside = np.sort(keys[bucket.holds(keys)])
    if not inside.size:
        return inside, np.empty(0, dtype=np.int64), inside, inside
    bits = digit_bits(bucket.depth)
    digits = (inside >> np.uint64(WIDTH - bucket.depth - bits)) & np.uint64((1 << bits) - 1)
    starts = np.flatnonzero(np.diff(digits, prepend=digits[:1] + 1))
    ends = np.append(starts[1:], inside.size)
    return digits[starts], ends - starts, inside[starts], inside[ends - 1]


@dataclass(frozen=True)
class Found:
    """Where a rank lies after a round: its bucket, the bucket's values below the rank's
    bucket (``below``), how many it holds, and its smallest and largest keys."""

    bucket: Bucket
    below: int
    size: int
    low: int
    high: int

    @property
    def value(self) -> float | None:
        """The rank's value when its bucket holds a single value."""
        return value_of(self.low) if self.low == self.high else None


def locate(
    rank: int,
    below: int,
    bucket: Bucket,
    digits: np.ndarray,
    counts: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> Found:
    """The narrower bucket of ``bucket`` that holds the 0-based ``rank`` (``below`` values lie
    below ``bucket``), from its merged digit counts (digits ascending)."""
    running = below + np.cumsum(counts)
    at = int(np.searchsorted(running, rank, side="right"))  # running[at - 1] <= rank < running[at]
    size = int(counts[at])
    return Found(
        bucket.child(int(digits[at])), int(running[at]) - size, size, int(low[at]), int(high[at])
    )


def read_rank(rank: int, below: int, values: np.ndarray, counts: np.ndarray) -> float:
    """The value at ``rank`` from a bucket's distinct values (ascending) and their counts,
    ``below`` values lying below the bucket."""
    running = below + np.cumsum(counts)
    return float(values[int(np.searchsorted(running, rank, side="right"))])
