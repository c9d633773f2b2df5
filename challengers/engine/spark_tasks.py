"""What Spark runs on its executors, on Arrow batches: fingerprint sums, booster scores, and the
radix selection's digit counts and bucket values (:mod:`.radix`).

Each function here is shipped to the executors (pickled by Spark) and imports only polars, numpy and
the kernels the local engine uses (:mod:`.rowhash`, :mod:`.boosters`), so a batch gives exactly what
the same rows give on the driver. pyarrow is what Spark hands over; no pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from challengers.engine import radix
from challengers.engine.boosters import TreeScorer, load_bytes, predict
from challengers.engine.rowhash import batch_sums

ROWS = ""  # the column name under which a chunk's row-hash sum travels
SUMS_SCHEMA = "key string, column string, rows long, lo long, hi long"
LOW = (1 << 32) - 1
DIGITS_SCHEMA = "slot int, digit int, count long, low long, high long"
VALUES_SCHEMA = "slot int, value double, count long"
_TOP = np.uint64(1 << 63)


def _frame(batch: pa.RecordBatch) -> pl.DataFrame:
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame


def row_sums_task(
    columns: tuple[str, ...], kinds: dict[str, str], chunk_by: str | None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: per batch, per chunk key, the rows and the 64-bit hash sums split
    in 32-bit halves (a sum of halves fits a long, and Spark's ANSI sums refuse to wrap)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            out: dict[str, list[Any]] = {"key": [], "column": [], "rows": [], "lo": [], "hi": []}
            for key, rows, row_sum, sums in batch_sums(_frame(batch), columns, kinds, chunk_by):
                for name, value in [(ROWS, row_sum), *sums.items()]:
                    out["key"].append(key)
                    out["column"].append(name)
                    out["rows"].append(rows if name == ROWS else 0)
                    out["lo"].append(value & LOW)
                    out["hi"].append(value >> 32)
            yield pa.RecordBatch.from_pydict(
                out,
                schema=pa.schema(
                    [
                        ("key", pa.string()),
                        ("column", pa.string()),
                        ("rows", pa.int64()),
                        ("lo", pa.int64()),
                        ("hi", pa.int64()),
                    ]
                ),
            )

    return run


def score_task(
    raw: Any, scorer: TreeScorer, suffix: str, features: tuple[str, ...], output: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function appending the booster's float64 score as column ``output``.
    ``raw`` is a broadcast of the native file's bytes, loaded once per task; one thread per task
    (Spark runs the tasks in parallel; the scores do not depend on the thread count)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        booster = load_bytes(scorer, raw.value, suffix)
        for batch in batches:
            scores = predict(scorer, booster, _frame(batch), features, threads=1)
            yield batch.append_column(output, pa.array(scores, type=pa.float64()))

    return run


def frame_score_task(
    scorer: Any, keep: str, output: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: column ``keep`` (the row's place) and ``output``, the float64 score
    of ``scorer`` (a broadcast of a function of a polars frame) for each batch's rows."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        score = scorer.value
        for batch in batches:
            values = np.asarray(score(_frame(batch)), dtype=np.float64)
            yield pa.RecordBatch.from_arrays(
                [batch.column(keep), pa.array(values, type=pa.float64())], names=[keep, output]
            )

    return run


def frame_scored_task(
    scorer: Any, output: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function appending ``output``, the float64 score of ``scorer`` (a broadcast
    of a function of a polars frame), to each batch."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        score = scorer.value
        for batch in batches:
            values = np.asarray(score(_frame(batch)), dtype=np.float64)
            yield batch.append_column(output, pa.array(values, type=pa.float64()))

    return run


GROUPS_SCHEMA = (
    "group long, positives double, count long, fraud double, top double, low double, squared double"
)
NON_FINITE = -1  # the group under which a task's scores that are not finite are counted


def score_groups_task(
    marks: Any,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function over columns ``s`` (score), ``y`` (0/1) and ``a`` (amount, or
    none): the partition's rows counted per group of scores, ``marks`` being a broadcast of
    the positives' distinct scores (ascending). Group ``2i + 1`` is the score ``marks[i]``,
    group ``2i`` the scores strictly between ``marks[i - 1]`` and ``marks[i]`` (no positive
    there); per group: positives, rows, the positives' amount, the highest and lowest score
    and the squared errors' sum. Non-finite scores are only counted, under ``NON_FINITE``."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        points = np.asarray(marks.value, dtype=np.float64)
        size = 2 * len(points) + 1
        positives, fraud, squared = np.zeros(size), np.zeros(size), np.zeros(size)
        count = np.zeros(size, dtype=np.int64)
        top, low = np.full(size, -np.inf), np.full(size, np.inf)
        non_finite = 0
        for batch in batches:
            score = batch.column("s").to_numpy(zero_copy_only=False).astype(np.float64)
            y = batch.column("y").to_numpy(zero_copy_only=False).astype(np.float64)
            amount = None
            if "a" in batch.schema.names:
                amount = batch.column("a").to_numpy(zero_copy_only=False).astype(np.float64)
            finite = np.isfinite(score)
            non_finite += int(score.size - np.count_nonzero(finite))
            score, y = score[finite], y[finite]
            group = _score_group(points, score)
            positives += np.bincount(group, weights=y, minlength=size)
            count += np.bincount(group, minlength=size)
            squared += np.bincount(group, weights=(score - y) ** 2, minlength=size)
            if amount is not None:  # only a fraud's amount enters a metric
                fraud += np.bincount(
                    group, weights=np.where(y > 0, amount[finite], 0.0), minlength=size
                )
            np.maximum.at(top, group, score)
            np.minimum.at(low, group, score)
        present = np.flatnonzero(count)
        arrays = [present, *(c[present] for c in (positives, count, fraud, top, low, squared))]
        if non_finite:
            arrays = [
                np.append(a, v)
                for a, v in zip(arrays, (NON_FINITE, 0, non_finite, 0, 0, 0, 0), strict=True)
            ]
        names = ["group", "positives", "count", "fraud", "top", "low", "squared"]
        types = [pa.int64(), pa.float64(), pa.int64(), *[pa.float64()] * 4]
        yield pa.RecordBatch.from_arrays(
            [pa.array(a, type=t) for a, t in zip(arrays, types, strict=True)], names=names
        )

    return run


def _score_group(points: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each finite score's group among the sorted ``points`` (see :func:`score_groups_task`)."""
    at = np.searchsorted(points, score, side="left")
    if not len(points):
        return at * 2
    exact = points[np.minimum(at, len(points) - 1)] == score
    return 2 * at + exact


def _keys(batch: pa.RecordBatch, column: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ``v{column}`` of a batch of :func:`challengers.engine.spark_quantiles.finite`
    values (null where not finite): its finite values and their keys."""
    return radix.keys_of(batch.column(f"v{column}").to_numpy(zero_copy_only=False))


def signed(keys: np.ndarray) -> np.ndarray:
    """uint64 keys as the int64s ordered alike (``key - 2**63``), which Spark's min and max
    compare."""
    return (keys ^ _TOP).view(np.int64)


def digit_counts_task(
    buckets: list[radix.Bucket],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: per bucket (its ``slot`` in ``buckets``), the partition's keys in
    it counted by their next digit, with the smallest and largest key under each digit."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # per slot met in the partition: counts, smallest and largest key by digit
        met: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for batch in batches:
            keys = {b.column: _keys(batch, b.column)[1] for b in buckets}
            for slot, bucket in enumerate(buckets):
                digits, n, lo, hi = radix.digit_counts(keys[bucket.column], bucket)
                if not digits.size:
                    continue
                if slot not in met:
                    size = 1 << radix.digit_bits(bucket.depth)
                    met[slot] = (
                        np.zeros(size, dtype=np.int64),
                        np.full(size, np.iinfo(np.uint64).max, dtype=np.uint64),
                        np.zeros(size, dtype=np.uint64),
                    )
                counts, low, high = met[slot]
                counts[digits] += n
                low[digits] = np.minimum(low[digits], lo)
                high[digits] = np.maximum(high[digits], hi)
        for slot, (counts, low, high) in met.items():
            digits = np.flatnonzero(counts)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(np.full(digits.size, slot, dtype=np.int32)),
                    pa.array(digits.astype(np.int32)),
                    pa.array(counts[digits]),
                    pa.array(signed(low[digits])),
                    pa.array(signed(high[digits])),
                ],
                names=["slot", "digit", "count", "low", "high"],
            )

    return run


def bucket_values_task(
    buckets: list[radix.Bucket],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: per bucket (its ``slot``), each batch's distinct values in it
    and their counts."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            keyed = {b.column: _keys(batch, b.column) for b in buckets}
            slots, distinct, counts = [], [], []
            for slot, bucket in enumerate(buckets):
                values, keys = keyed[bucket.column]
                mine, n = np.unique(values[bucket.holds(keys)], return_counts=True)
                slots.append(np.full(mine.size, slot, dtype=np.int32))
                distinct.append(mine)
                counts.append(n.astype(np.int64))
            yield pa.RecordBatch.from_arrays(
                [pa.array(np.concatenate(a)) for a in (slots, distinct, counts)],
                names=["slot", "value", "count"],
            )

    return run
