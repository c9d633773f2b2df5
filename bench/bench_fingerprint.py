"""Benchmark: data fingerprints at 10M and 100M rows (streamed), in memory and from parquet.

    .venv/bin/python bench/bench_fingerprint.py [--rows 100000000] [--skip-parquet]

Writes the "Data fingerprint" section of bench/RESULTS.md. Batches are generated once and fed
repeatedly, so the timings are the fingerprint's alone (not the data generation).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, write_section

from challengers.replication.fingerprint import Fingerprinter, fingerprint_frame, fingerprint_lazy

BATCH = 1_000_000


def batch(rows: int, seed: int) -> pl.DataFrame:
    """A transaction-like batch: ids, time, amount, 5 float32 features, label, a text segment."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00", "us") + np.int64(seed) * np.int64(86_400_000_000)
    frame = {
        "TRANSACTION_ID": np.arange(seed * rows, (seed + 1) * rows, dtype=np.int64),
        "TX_DATETIME": np.sort(start + rng.integers(0, 86_400_000_000, rows)),
        "CUSTOMER_ID": rng.integers(0, 5_000_000, rows),
        "TX_AMOUNT": np.round(rng.gamma(2.0, 40.0, rows), 2),
        "TX_FRAUD": (rng.random(rows) < 0.01).astype(np.int8),
        "REGION": rng.choice(np.array(["north", "south", "east", "west", "centre"]), rows),
    }
    for i in range(5):
        frame[f"F{i}"] = rng.normal(size=rows).astype(np.float32)
    return pl.DataFrame(frame)


def canonical_bytes(frame: pl.DataFrame) -> float:
    """Bytes per row the fingerprint hashes: 8 per number/time, text bytes + an 8-byte length."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    numbers = len(frame.columns) - len(text)
    lengths = sum(frame.get_column(c).str.len_bytes().mean() or 0 for c in text)  # type: ignore[misc]
    return 8 * numbers + 8 * len(text) + float(lengths)


def mb_of(frame: pl.DataFrame) -> float:
    return frame.estimated_size() / 1e6


Timing = tuple[float, float]  # wall seconds, CPU seconds (all threads)
Row = Callable[[str, int, int, Timing], None]


def measure(fn: Callable[[], object]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def streamed(rows: int, batches: list[pl.DataFrame], threads: int) -> Timing:
    """Fingerprint ``rows`` rows fed in 1M-row batches (hashing time only)."""
    printer = Fingerprinter(batches[0].columns, rows=rows, threads=threads)
    wall = cpu = 0.0
    for _, part in zip(range(rows // BATCH), itertools.cycle(batches), strict=False):
        w, c = measure(lambda part=part: printer.update(part))
        wall, cpu = wall + w, cpu + c
    w, c = measure(printer.finish)
    return wall + w, cpu + c


def old_digest(frame: pl.DataFrame) -> None:
    """The previous implementation (per-column blake2b, text via Python lists), for reference."""
    for name in sorted(frame.columns):
        series = frame.get_column(name)
        h = hashlib.blake2b(digest_size=16)
        for offset in range(0, series.len(), BATCH):
            part = series.slice(offset, BATCH)
            h.update(part.is_null().to_numpy().tobytes())
            if part.dtype.is_integer():
                h.update(part.cast(pl.Int64).fill_null(0).to_numpy().tobytes())
            elif part.dtype.is_float():
                h.update(part.cast(pl.Float64).fill_null(0.0).to_numpy().tobytes())
            elif part.dtype.is_temporal():
                h.update(part.to_physical().cast(pl.Int64).fill_null(0).to_numpy().tobytes())
            else:
                text = part.cast(pl.String).fill_null("")
                h.update(text.str.len_bytes().cast(pl.Int64).to_numpy().tobytes())
                h.update("".join(text.to_list()).encode())


def in_memory(memory: pl.DataFrame, row: Row) -> None:
    row(
        "previous implementation (no chunks), in memory",
        memory.height,
        1,
        measure(lambda: old_digest(memory)),
    )
    for threads in (1, 2):
        timing = measure(lambda t=threads: fingerprint_frame(memory, threads=t))
        row("fingerprint_frame, in memory", memory.height, threads, timing)


def from_parquet(big: pl.DataFrame, row: Row) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.parquet"
        big.write_parquet(path)
        rows, columns = big.height, big.columns
        del big
        lf = pl.scan_parquet(path)
        row("read the parquet file only (reference)", rows, 2, measure(lf.collect))
        timing = measure(lambda: fingerprint_lazy(lf, columns, threads=2))
        row("fingerprint_lazy, streamed from parquet", rows, 2, timing)


def hash_rate() -> float:
    """GB/s of one blake2b thread (CPU time) over 256 MB: the ceiling of one thread."""
    data = np.random.default_rng(0).random(32_000_000)
    _, cpu = measure(lambda: hashlib.blake2b(data.data).digest())
    return data.nbytes / cpu / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--memory-rows", type=int, default=10_000_000)
    parser.add_argument("--parquet-rows", type=int, default=20_000_000)
    parser.add_argument("--skip-parquet", action="store_true")
    args = parser.parse_args()
    batches = [batch(BATCH, seed) for seed in range(4)]
    per_row = mb_of(batches[0]) / BATCH  # MB per row as polars holds it
    lines = [
        f"Columns: {', '.join(batches[0].columns)} (11; 5 float32 features, a text column); "
        f"canonical form ~{canonical_bytes(batches[0]):.0f} bytes/row hashed. One blake2b thread "
        f"hashes {hash_rate():.2f} GB/s of CPU time here. When the load average exceeds the cores, "
        "wall times include waiting for a core; CPU seconds (all threads) do not.",
    ]
    lines += [
        "",
        "| case | rows | threads | wall s | CPU s | rows per CPU s | MB (in memory) per CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def row(case: str, rows: int, threads: int, timing: Timing) -> None:
        wall, cpu = timing
        lines.append(
            f"| {case} | {rows:,} | {threads} | {wall:.1f} | {cpu:.1f} | {rows / cpu / 1e6:.1f}M "
            f"| {rows * per_row / cpu:,.0f} |"
        )
        print(lines[-1], flush=True)

    in_memory(pl.concat([batches[i % 4] for i in range(args.memory_rows // BATCH)]), row)
    if not args.skip_parquet:
        from_parquet(pl.concat([batches[i % 4] for i in range(args.parquet_rows // BATCH)]), row)
    for threads in (2, 1):
        row(
            "Fingerprinter, streamed 1M-row batches",
            args.rows,
            threads,
            streamed(args.rows, batches, threads),
        )
    write_section("fingerprint", "\n".join(["## Data fingerprint", "", machine(), "", *lines]))


if __name__ == "__main__":
    main()
