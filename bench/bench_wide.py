"""Benchmark: the demo's whole run on a wide table, the simulated log plus hundreds of feature columns.

Production tables hold hundreds of features where the other benchmarks hold 9-16: costs that grow
with the features (the audit's per-column statistics, the anomaly detector's per-feature CDFs,
the models' matrices) show here. The simulated log of N transactions over the demo's 91 days gets
E added columns in four kinds, a quarter each: standard normal noise (float32), amount-like (the
amount times a factor plus noise, float32), counts 0-49 (int32, heavy ties) and sparse noise (30%
missing, float32). The demo's experiment runs on it unchanged (its XGBoost champion file, the
LightGBM, graph and ECOD-hybrid challengers, which read every column, 9 metrics, 1,000
entity-bootstrap replicates, audit, diagnostics, report, MLflow) as a subprocess: its wall time,
peak memory, CPU seconds and each step's seconds, largest resident memory and CPU seconds
(bench_scale.py's watcher).

    .venv/bin/python bench/bench_wide.py                               # 1M rows, 300 columns
    .venv/bin/python bench/bench_wide.py --rows 200000 --extra 100 --no-record
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from _results import add_run_options, machine, peak_rss_mb, progress_steps, write_section
from bench_scale import CHALLENGE, DAYS, ROOT, watched

KINDS = ("noise", "amountish", "count", "sparse")


def wide_file(rows: int, extra: int, directory: Path) -> Path:
    """The simulated log (seed 3) with ``extra`` added columns (seed 0), kept in ``directory``."""
    import numpy as np
    import polars as pl

    path = directory / f"wide-{rows}x{extra}.parquet"
    if path.exists():  # kept from an earlier run (--data): both parts are seeded
        return path
    base = directory / f"sim-{rows}-seed3.parquet"
    if not base.exists():
        command = [CHALLENGE, "simulate", "--rows", str(rows), "--days", str(DAYS)]
        subprocess.run([*command, "--out", str(base), "--seed", "3", "-q"], check=True)
    frame = pl.read_parquet(base)
    amount = frame.get_column("TX_AMOUNT").to_numpy()
    rng = np.random.default_rng(0)
    added = []
    for j in range(extra):
        kind = KINDS[j % len(KINDS)]
        values: np.ndarray
        if kind == "noise":
            values = rng.standard_normal(rows, dtype=np.float32)
        elif kind == "amountish":
            noise = rng.standard_normal(rows, dtype=np.float32)
            values = (amount * rng.uniform(0.5, 2.0)).astype(np.float32) + noise
        elif kind == "count":
            values = rng.integers(0, 50, rows, dtype=np.int32)
        else:
            values = rng.standard_normal(rows, dtype=np.float32)
            values[rng.random(rows) < 0.3] = np.nan
        added.append(pl.Series(f"F{j:03d}_{kind}", values))
    frame.with_columns(added).write_parquet(path, row_group_size=256_000)
    return path


def config(data: Path, directory: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["name"] = "wide"
    cfg["data"]["path"] = str(data)
    cfg["champion"]["model"] = str(ROOT / "data" / "champion.json")
    cfg["champion"].pop("claimed", None)  # the claims are the demo's
    path = directory / "wide.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run(rows: int, extra: int, directory: Path, data_dir: Path) -> dict:
    data = wide_file(rows, extra, data_dir)
    out = directory / "run"
    command = [CHALLENGE, "run", str(config(data, directory)), "-o", str(out)]
    command += ["--tracking-uri", f"sqlite:///{directory / 'mlflow.db'}"]
    started = time.perf_counter()
    done = watched(command)
    wall = time.perf_counter() - started
    if done.code != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"challenge run failed (exit {done.code}): {last}")
    comparison = json.loads((out / "comparison.json").read_text())
    return {
        "rows": rows,
        "extra": extra,
        "features": len(comparison["data"]["features"]),
        "train_rows": comparison["data"]["rows_train"],
        "test_rows": comparison["data"]["rows_test"],
        "wall_s": wall,
        "cpu_s": done.cpu_s,
        "peak_gb": peak_rss_mb(children=True) / 1024,
        "steps": progress_steps(done.stderr),
        "step_peaks": done.step_peaks,
        "step_cpu": done.step_cpu,
    }


def render(r: dict, header: str) -> str:
    lines = [
        "## The whole run on a wide table (`bench/bench_wide.py`)",
        "",
        header,
        "",
        f"The demo's experiment on {r['rows']:,} simulated rows over {DAYS} days with "
        f"{r['extra']} added columns ({r['features']} features; see the script's docstring): "
        f"{r['train_rows']:,} training and {r['test_rows']:,} test rows. Peak: the run's max RSS; "
        "CPU s: its process and the children it waited for.",
        "",
        "| `challenge run` s | CPU s | peak GB |",
        "| ---: | ---: | ---: |",
        f"| {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_gb']:.2f} |",
        "",
        "| step | s | GB | CPU s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, seconds in r["steps"]:
        peak, cpu = r["step_peaks"].get(name, float("nan")), r["step_cpu"].get(name, float("nan"))
        lines.append(f"| {name} | {seconds:.1f} | {peak:.2f} | {cpu:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--extra", type=int, default=300, help="feature columns added")
    add_run_options(parser)
    args = parser.parse_args()
    header = machine()
    with tempfile.TemporaryDirectory(prefix="challenge-wide-") as tmp:
        result = run(args.rows, args.extra, Path(tmp), args.data or Path(tmp))
    print(json.dumps(result), flush=True)
    text = render(result, header)
    print(text)
    if not args.no_record:
        write_section("wide", text)


if __name__ == "__main__":
    main()
