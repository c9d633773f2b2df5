"""Benchmark: anomaly challengers fitted on a bounded sample and scoring 1M and 10M rows.

Each (detector, rows) case runs in its own process so its peak memory (ru_maxrss) is its own. The
data is a synthetic transaction-like frame (15 numeric features: amounts, counts, hours, flags,
an integer-coded category, 1% missing values), built in the process before timing starts. The
timed path is the real one: ``AnomalyChallenger.fit`` (draws the fit sample, learns the encoding,
fits the PyOD detector) and ``predict_score`` on every row (chunked).

    .venv/bin/python bench/bench_anomaly.py                 # 1M and 10M rows, into RESULTS.md
    .venv/bin/python bench/bench_anomaly.py --rows 1000000 --detectors hbos --dry-run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _results import (  # bench/ is on sys.path when run as a script
    machine,
    peak_rss_mb,
    write_section,
)

FEATURES = 15


def make_frame(rows: int, seed: int = 0):  # type: ignore[no-untyped-def]
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(4):
        columns[f"amount_{i}"] = rng.lognormal(3.0, 1.0, rows).astype(np.float32)
    for i in range(4):
        columns[f"count_{i}"] = rng.poisson(3.0 + i, rows).astype(np.float32)
    for i in range(3):
        columns[f"ratio_{i}"] = rng.normal(1.0, 0.5, rows).astype(np.float32)
    columns["hour"] = rng.integers(0, 24, rows).astype(np.int8)
    columns["online"] = (rng.random(rows) < 0.3).astype(np.int8)
    columns["night"] = (rng.random(rows) < 0.2).astype(np.int8)
    columns["mcc"] = rng.zipf(1.6, rows).clip(max=500).astype(np.int16)
    frame = pl.DataFrame(columns)
    gaps = rng.random(rows) < 0.01
    frame = frame.with_columns(pl.when(pl.Series(gaps)).then(None).otherwise(pl.col("ratio_0")))
    frame = frame.with_columns(
        pl.datetime_range(
            pl.datetime(2024, 1, 1),
            pl.datetime(2024, 1, 1) + pl.duration(seconds=rows - 1),
            "1s",
            eager=True,
        ).alias("t"),
        pl.Series("y", (rng.random(rows) < 0.01).astype(np.int8)),
    )
    return frame


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_case(detector: str, rows: int, threads: int) -> dict[str, float | str | int]:
    """Run in a child process: build the data, fit, score every row; report time and memory."""
    from challengers.data.frames import DataSpec
    from challengers.models.anomaly import AnomalyChallenger

    frame = make_frame(rows)
    features = tuple(c for c in frame.columns if c not in ("t", "y"))
    spec = DataSpec(target="y", time="t", features=features)
    base = rss_mb()
    model = AnomalyChallenger(detector, categorical=["mcc"], threads=threads, seed=1)
    clock = time.perf_counter(), time.process_time()
    model.fit(frame.head(2_000), spec)  # imports PyOD and compiles its numba kernels
    warm = time.perf_counter() - clock[0]
    clock = time.perf_counter(), time.process_time()
    model.fit(frame, spec)
    fit = time.perf_counter() - clock[0], time.process_time() - clock[1]
    clock = time.perf_counter(), time.process_time()
    scores = model.predict_score(frame)
    score = time.perf_counter() - clock[0], time.process_time() - clock[1]
    peak = peak_rss_mb()
    return {
        "detector": detector,
        "rows": rows,
        "fit_rows": model.detector_.fit_rows,
        "warm_s": round(warm, 1),
        "fit_s": round(fit[0], 1),
        "fit_cpu_s": round(fit[1], 1),
        "score_s": round(score[0], 1),
        "score_cpu_s": round(score[1], 1),
        "rows_per_s": round(rows / score[0]),
        "data_mb": round(base),
        "peak_mb": round(peak),
        "finite": int(bool(__import__("numpy").isfinite(scores).all())),
    }


def render(results: list[dict], header: str, load_after: float, threads: int) -> str:
    lines = [
        "## Anomaly detectors (`bench/bench_anomaly.py`)",
        "",
        f"{header} · load average at the end {load_after:.1f} · threads per model: {threads}",
        "",
        "Synthetic frame, 15 numeric features (one integer-coded category, 1% missing). "
        "Import+JIT: a first fit on 2,000 rows (imports PyOD, compiles its numba kernels), paid "
        "once per process. Fit: draw the sample (200,000 rows, the default), learn the encoding, "
        "fit the PyOD detector. Score: every row, in chunks of 250,000. Wall seconds, with the "
        "process's CPU seconds in brackets (CPU time is what the load does not inflate). `data` is "
        "the resident memory with the frame loaded, before fitting; `peak` the maximum resident "
        "memory of the case's process.",
        "",
        "| detector | rows | fit rows | import+JIT s | fit s (CPU s) | score s (CPU s) "
        "| rows/s scored | data MB | peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['detector']} | {r['rows']:,} | failed: {r['error']} |||||")
            continue
        lines.append(
            f"| {r['detector']} | {r['rows']:,} | {r['fit_rows']:,} | {r['warm_s']} | "
            f"{r['fit_s']} ({r['fit_cpu_s']}) | {r['score_s']} ({r['score_cpu_s']}) | "
            f"{r['rows_per_s']:,} | {r['data_mb']:,} | {r['peak_mb']:,} |"
        )
    lines += [
        "",
        "Scoring is linear in rows and runs one chunk per thread; memory above the loaded frame "
        "stays bounded: the fit sample, one 250,000-row chunk per thread and the score vector.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--detectors", nargs="+", default=["iforest", "ecod", "copod", "hbos"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="print, leave RESULTS.md alone")
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # child process entry
    args = parser.parse_args()
    if args.case:
        print(json.dumps(one_case(args.case[0], int(args.case[1]), args.threads)))
        return
    header = machine()
    results = []
    for rows in args.rows:
        for detector in args.detectors:
            cmd = [sys.executable, __file__, "--case", detector, str(rows)]
            done = subprocess.run(
                [*cmd, "--threads", str(args.threads)], capture_output=True, text=True
            )
            if done.returncode:
                error = (done.stderr.strip().splitlines() or ["?"])[-1]
                results.append({"detector": detector, "rows": rows, "error": error})
            else:
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    text = render(results, header, os.getloadavg()[0], args.threads)
    print(text)
    if not args.dry_run:
        write_section("bench_anomaly", text)


if __name__ == "__main__":
    main()
