"""Aggregates (:mod:`.aggregates`) and key repeats on Spark, in one job: the driver receives the
merged results and one count per key, never rows.

On the executors, each task reads its rows in chunks of Arrow batches (about ``CHUNK_ROWS``) and
runs every aggregate's polars query on each chunk, cast to the types the queries are written for:
the same expressions on the same values as the local engine. A chunk's result of an aggregate
travels as Arrow IPC bytes (a "blob"), split by a hash of its group keys into ``BUCKETS`` parts;
its keys' values travel as arrays of 64-bit integers, split by value into ``2**KEY_BITS`` parts
(a row per part and chunk, not per value: Spark's rows cost far more than their 8 bytes). A
repartition brings each key bucket's arrays to one task, which counts the repeats among them with
the local engine's kernel (equal values share a bucket, so the buckets' repeats add up), and
passes the blobs on; a group-by then gathers the blobs of each aggregate's bucket, which a task
merges with the aggregate's polars merge (:meth:`Aggregate.merged`). A group key lands in one
bucket, so the buckets' results together are the aggregate's result on every row.

What reaches the driver: per aggregate its result (a row per day, per register of a sketch, per
value of a small column), per key one count.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from challengers.engine.aggregates import Aggregate

PARTS = "_part int, _key long, _blob binary"  # keys (part < 0) or an aggregate's result, as bytes
MERGED = "_part int, _n long, _blob binary"  # a key's repeats, or a bucket's merged result
BUCKETS = 16  # parts of an aggregate's results merged apart (a sketch: 1,024 registers each)
CHUNK_ROWS = 1 << 20  # rows a task's queries run on at once
CHUNK_BITS = 32  # a blob's key, which spreads the blobs: its task's number, then its chunk's
KEY_BITS = 7  # 128 parts of each key's values, counted apart (equal values in one)
_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: a value's bucket from its top bits
SEED = 0  # of the hash that picks a result row's bucket


def aggregate(
    frame: Any,
    aggregates: Sequence[Aggregate],
    repeats: Sequence[pl.Expr],
    schema: pl.Schema,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[list[pl.DataFrame], list[int]]:
    """Each aggregate's result on every row of ``frame`` (a Spark DataFrame holding the columns
    of ``schema``), and each key's repeats."""
    from pyspark.sql import functions as F

    results = [a.on(schema) for a in aggregates]  # checks the merges name every column
    task = parts_task(aggregates, repeats, schema, chunk_rows)
    counted = (
        frame.select(*schema.names())
        .mapInArrow(task, PARTS)
        .repartition("_part", "_key")  # a key bucket's arrays in one task; blobs by chunk
        .mapInArrow(count_task, MERGED)
    )
    gathered = counted.groupBy("_part").agg(
        F.sum("_n").alias("_n"), F.collect_list("_blob").alias("_blobs")
    )
    table = gathered.mapInArrow(merge_task(aggregates), MERGED).toArrow()
    counts = [0] * len(repeats)
    parts: list[list[pl.DataFrame]] = [[] for _ in aggregates]
    columns = (table.column(c).to_pylist() for c in ("_part", "_n", "_blob"))
    for at, count, blob in zip(*columns, strict=True):
        if at < 0:
            counts[-1 - at] = int(count)
        else:
            parts[at // BUCKETS].append(pl.read_ipc(io.BytesIO(blob)))
    merged = []
    for a, result, found in zip(aggregates, results, parts, strict=True):
        if not found:  # no rows, or none in its results: its merge of nothing
            found = [a.merged(pl.LazyFrame(schema=result)).collect()]
        merged.append(pl.concat(found))
    return merged, counts


def parts_task(
    aggregates: Sequence[Aggregate],
    repeats: Sequence[pl.Expr],
    schema: pl.Schema,
    chunk_rows: int,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: per chunk of rows, each aggregate's result as blobs (one per
    bucket its rows fall in) and each key's values (nulls aside) as arrays (one per bucket)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        task = context.partitionId() if context is not None else 0
        for number, chunk in enumerate(_chunks(batches, chunk_rows)):
            lf = _typed(chunk, schema).lazy()
            queries = [a.query(lf) for a in aggregates]
            *results, keys = pl.collect_all([*queries, lf.select(repeats)])
            key = (task << CHUNK_BITS) + number
            for i, (a, result) in enumerate(zip(aggregates, results, strict=True)):
                yield _blobs(i, a, result, key)
            for k, name in enumerate(keys.columns):
                yield _keys(-1 - k, keys.drop_in_place(name))

    return run


def count_task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A mapInArrow function over key buckets (a task holds every array of its buckets) and
    blobs: each key's repeats in the task (:func:`challengers.engine.repeats.repeats`, in place,
    no hash table), the blobs passed on."""
    from challengers.engine.repeats import repeats as count

    keys: dict[tuple[int, int], list[np.ndarray]] = {}
    for batch in batches:
        parts = batch.column("_part").to_numpy()
        is_key = parts < 0
        if not is_key.all():  # blobs: on their way to their bucket's merge
            blobs = batch.filter(pa.array(~is_key))
            yield _counts(blobs.column("_part").to_numpy(), 0, blobs.column("_blob"))
        buckets, arrays = batch.column("_key").to_pylist(), batch.column("_blob").to_pylist()
        for at in np.flatnonzero(is_key):
            found = keys.setdefault((int(parts[at]), buckets[at]), [])
            found.append(np.frombuffer(arrays[at], dtype=np.int64))
    repeats: dict[int, int] = {}
    for (part, _), found in keys.items():
        repeats[part] = repeats.get(part, 0) + count(np.concatenate(found))
    for part, n in repeats.items():
        yield _counts(np.array([part]), n, pa.nulls(1, pa.binary()))


def _counts(parts: np.ndarray, n: int, blobs: pa.Array) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(parts, pa.int32()), pa.array(np.full(len(parts), n), pa.int64()), blobs],
        names=["_part", "_n", "_blob"],
    )


def merge_task(
    aggregates: Sequence[Aggregate],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A mapInArrow function: a bucket's blobs merged into one; a key's count passed on."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            parts, counts, blobs = (batch.column(c).to_pylist() for c in ("_part", "_n", "_blobs"))
            out: list[bytes | None] = []
            for at, found in zip(parts, blobs, strict=True):
                if at < 0:
                    out.append(None)
                    continue
                a = aggregates[at // BUCKETS]
                frames = pl.concat([pl.read_ipc(io.BytesIO(b)) for b in found])
                out.append(_ipc(a.merged(frames.lazy()).collect()))
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(parts, pa.int32()),
                    pa.array(counts, pa.int64()),
                    pa.array(out, pa.binary()),
                ],
                names=["_part", "_n", "_blob"],
            )

    return run


def _chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The batches in tables of at least ``rows`` rows (the last fewer)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(held)
            held, count = [], 0
    if held:
        yield pa.Table.from_batches(held)


def _typed(chunk: pa.Table, schema: pl.Schema) -> pl.DataFrame:
    """The rows with the types the queries are written for (Spark's may be others: a parquet
    file's unsigned integers, a timestamp's unit)."""
    frame = pl.from_arrow(chunk, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    other = {c: t for c, t in schema.items() if frame.schema[c] != t}
    return frame.cast(other) if other else frame  # type: ignore[arg-type]


def _blobs(index: int, a: Aggregate, result: pl.DataFrame, key: int) -> pa.RecordBatch:
    """An aggregate's result on a chunk, in one blob per bucket of its group keys."""
    if a.by:
        bucket = pl.struct(a.by).hash(SEED) % BUCKETS
        split = result.with_columns(bucket.alias("_bucket")).partition_by(
            "_bucket", as_dict=True, include_key=False
        )
        buckets = {int(b[0]): part for b, part in split.items()}
    else:
        buckets = {0: result}
    parts = [index * BUCKETS + b for b in buckets]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(parts, pa.int32()),
            pa.array([key] * len(parts), pa.int64()),
            pa.array([_ipc(part) for part in buckets.values()], pa.binary()),
        ],
        names=["_part", "_key", "_blob"],
    )


def _keys(part: int, keys: pl.Series) -> pa.RecordBatch:
    """A key's values (nulls aside) as 64-bit signed integers (equal exactly when they are), in
    ``2**KEY_BITS`` arrays by value."""
    values = keys.drop_nulls()
    values = values.reinterpret(signed=True) if values.dtype == pl.UInt64 else values
    words = values.cast(pl.Int64).to_numpy()
    bucket = ((words.view(np.uint64) * _SPREAD) >> np.uint64(64 - KEY_BITS)).astype(np.uint8)
    order = np.argsort(bucket, kind="stable")  # a radix sort of bytes
    bounds = np.searchsorted(bucket[order], np.arange((1 << KEY_BITS) + 1))
    used = [b for b in range(1 << KEY_BITS) if bounds[b + 1] > bounds[b]]
    arrays = [words[order[bounds[b] : bounds[b + 1]]].tobytes() for b in used]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.full(len(used), part, np.int32)),
            pa.array(used, pa.int64()),
            pa.array(arrays, pa.binary()),
        ],
        names=["_part", "_key", "_blob"],
    )


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()
