"""Benchmark: graph features of every row of a simulated log, at 1M and 10M transactions.

Three entity columns (CUSTOMER_ID, TERMINAL_ID, DEVICE_ID; DEVICE_ID is null on card-present
payments), windows of 1, 7 and 30 days, a 7-day label delay, daily graph snapshots with structure.
Each size runs in a fresh process so its peak memory (max RSS) is its own; the simulated data is
generated once into ``--data-dir``. Results replace the "Graph features" section of
bench/RESULTS.md.

    .venv/bin/python bench/bench_graph.py                      # 1M and 10M
    .venv/bin/python bench/bench_graph.py --rows 1000000       # one size
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

ENTITIES = ["CUSTOMER_ID", "TERMINAL_ID", "DEVICE_ID"]
COLUMNS = ["TX_DATETIME", *ENTITIES, "TX_AMOUNT", "TX_FRAUD"]


def dataset(rows: int, data_dir: Path) -> Path:
    """The simulated log of ``rows`` transactions (generated on first use)."""
    from challengers.simulate import SimulationSpec, expected_days_for, simulate

    path = data_dir / f"sim_{rows}.parquet"
    if not path.exists():
        spec = SimulationSpec(rows=rows, seed=0, days=expected_days_for(rows))
        started = time.perf_counter()
        simulate(spec, path)
        print(f"simulated {rows:,} rows in {time.perf_counter() - started:.0f}s", flush=True)
    return path


def measure(path: Path, every: int) -> dict[str, float | int]:
    """Run in the child process: load, featurise every row, report time and peak memory."""

    import polars as pl

    from challengers.features.graph import graph_features

    wall, cpu = time.perf_counter(), time.process_time()
    frame = pl.read_parquet(path, columns=COLUMNS)
    loaded = time.perf_counter() - wall
    features = graph_features(
        frame,
        frame,
        entities=ENTITIES,
        time="TX_DATETIME",
        target="TX_FRAUD",
        amount="TX_AMOUNT",
        windows_days=[1, 7, 30],
        label_delay_days=7,
        structure=True,
        structure_every_days=every,
    )
    days = frame.get_column("TX_DATETIME").dt.date().n_unique()
    return {
        "rows": frame.height,
        "days": days,
        "features": features.width,
        "load_s": loaded,
        "features_s": time.perf_counter() - wall - loaded,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_gb": peak_rss_mb() / 1024,
        "output_gb": features.estimated_size() / 1024**3,
    }


def write_results(runs: list[dict], every: int, header: str) -> None:
    lines = [
        "## Graph features (`bench/bench_graph.py`)",
        "",
        header,
        "",
        "Every row of a simulated log featurised from its own history: entities CUSTOMER_ID, "
        "TERMINAL_ID, DEVICE_ID (null on card-present payments), windows 1/7/30 days, label delay "
        f"7 days, graph snapshots every {every} day(s) with structure (components, PageRank, "
        "personalised PageRank). Peak memory is the process's max RSS (data, features and "
        "intermediates); output is the feature frame (Float32).",
        "",
        "| rows | days | features | load s | features s | CPU s | peak RSS GB | output GB "
        "| load avg before/after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['rows']:,} | {r['days']} | {r['features']} | {r['load_s']:.1f} "
            f"| {r['features_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_rss_gb']:.1f} "
            f"| {r['output_gb']:.2f} | {r['load_before']:.1f} / {r['load_after']:.1f} |"
        )
    lines += [
        "",
        "CPU seconds count all threads; with the load average above the 2 cores, wall times "
        "include waiting for a core.",
    ]
    write_section("bench_graph", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/challenge-bench"))
    parser.add_argument("--every", type=int, default=1, help="graph snapshot cadence, days")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.every)))
        return
    args.data_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    header = machine()
    for rows in args.rows:
        path = dataset(rows, args.data_dir)
        before = os.getloadavg()[0]
        child = [sys.executable, __file__, "--child", str(path), "--every", str(args.every)]
        out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
        run = json.loads(out.strip().splitlines()[-1])
        run.update(load_before=before, load_after=os.getloadavg()[0])
        print(json.dumps(run), flush=True)
        runs.append(run)
    write_results(runs, args.every, header)


if __name__ == "__main__":
    main()
