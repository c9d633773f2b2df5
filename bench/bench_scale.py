"""Benchmark: the whole `challenge run` on large simulated data, end to end.

The demo's experiment with the two challengers the scale goals were set on (a LightGBM of 300
rounds, an XGBoost of 200; the demo itself now compares three LightGBM families), its XGBoost
champion file, 9 metrics, 1,000 entity-bootstrap replicates, the audit, diagnostics, report and
MLflow logging, on a simulated log of N transactions over the demo's 91 days, so every window
holds N/91 rows a day. Each size runs `challenge run` as a subprocess: its wall time, its peak
memory (max RSS), its CPU seconds (the run's process and every process it waited for: the
forked plot drawers, the browser), the time of each step (the progress lines), the largest
resident memory sampled during each step and the CPU seconds of the run's process (all its threads)
between a step's line and the line before are recorded. CPU seconds tell work from waiting where
this machine's speed moves wall times by 10-20% from hour to hour.

    .venv/bin/python bench/bench_scale.py                      # 1M, 10M and 100M rows
    .venv/bin/python bench/bench_scale.py --rows 1000000       # one size
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from _results import (  # bench/ is on sys.path when run as a script
    TOOL_ENV,
    add_run_options,
    children_cpu_s,
    machine,
    peak_rss_mb,
    progress_steps,
    write_section,
)

ROOT = Path(__file__).resolve().parents[1]
CHALLENGE = str(Path(sys.executable).parent / "challenge")
DAYS = 91  # the demo's span: 2024-01-01 .. 2024-03-31
# the challengers of the first measurement (issue 15's goals): one LightGBM, one XGBoost
CHALLENGERS = [
    {"name": "lgbm", "kind": "lightgbm",
     "params": {"num_leaves": 31, "learning_rate": 0.05, "n_estimators": 300}},
    {"name": "xgb", "kind": "xgboost", "params": {"max_depth": 6, "eta": 0.1, "n_estimators": 200}},
]  # fmt: skip


def simulated(rows: int, directory: Path) -> tuple[Path, float]:
    path = directory / f"sim-{rows}.parquet"
    if path.exists():  # kept from an earlier run (--data): the simulator is seeded
        return path, float("nan")
    started = time.perf_counter()
    command = [CHALLENGE, "simulate", "--rows", str(rows), "--days", str(DAYS)]
    subprocess.run([*command, "--out", str(path), "--seed", "1", "-q"], check=True)
    return path, time.perf_counter() - started


def config(data: Path, directory: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["data"]["path"] = str(data)
    cfg["champion"]["model"] = str(ROOT / "data" / "champion.json")
    cfg["champion"].pop("claimed", None)  # the claims are the demo's
    cfg["challengers"] = CHALLENGERS
    path = directory / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run(rows: int, directory: Path, data_dir: Path) -> dict:
    data, simulate_s = simulated(rows, data_dir)
    out = directory / f"run-{rows}"
    command = [CHALLENGE, "run", str(config(data, directory)), "-o", str(out)]
    command += ["--tracking-uri", f"sqlite:///{directory / 'mlflow.db'}"]
    started = time.perf_counter()
    done = watched(command)
    wall = time.perf_counter() - started
    # the largest finished child so far: this run's peak, as sizes run from small to large
    peak_gb = peak_rss_mb(children=True) / 1024
    if done.code != 0:  # e.g. killed for memory (-9): recorded, the other sizes still count
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"rows": rows, "error": f"exit {done.code}: {last[:200]}", "wall_s": wall}
    comparison = json.loads((out / "comparison.json").read_text())
    steps = progress_steps(done.stderr)
    fit_predict = sum(
        m["fit_seconds"] + m["predict_seconds"]
        for m in comparison["models"]
        if m["role"] == "challenger"
    )
    return {
        "rows": rows,
        "simulate_s": simulate_s,
        "wall_s": wall,
        "peak_gb": peak_gb,
        "challengers_fit_predict_s": fit_predict,
        "train_rows": comparison["data"]["rows_train"],
        "test_rows": comparison["data"]["rows_test"],
        "cpu_s": done.cpu_s,
        "steps": steps,
        "step_peaks": done.step_peaks,
        "step_cpu": done.step_cpu,
    }


def rss_gb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Watched:
    code: int
    stderr: str
    step_peaks: dict[str, float]  # step -> largest resident GB sampled while it ran
    step_cpu: dict[str, float]  # step -> the process's CPU seconds since the line before
    cpu_s: float  # the whole run: the process and every child it waited for


def watched(command: list[str]) -> Watched:
    """Run ``command``; per finished step (its progress line) the largest resident memory sampled
    every 0.2 s while that step ran and the CPU seconds spent since the line before."""
    before = children_cpu_s()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=TOOL_ENV
    )
    lines: list[str] = []
    peaks: dict[str, float] = {}
    step_cpu: dict[str, float] = {}
    current, last_cpu = [0.0], [0.0]

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            for name, _ in progress_steps(line):
                used = cpu_s(process.pid)
                peaks[name], current[0] = current[0], 0.0
                step_cpu[name], last_cpu[0] = used - last_cpu[0], used

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while process.poll() is None:
        current[0] = max(current[0], rss_gb(process.pid))
        time.sleep(0.2)
    reader.join()
    used = children_cpu_s() - before
    return Watched(process.returncode, "".join(lines), peaks, step_cpu, used)


def render(runs: list[dict], header: str) -> str:
    lines = [
        "## The whole run at scale (`bench/bench_scale.py`)",
        "",
        header,
        "",
        "The demo's experiment with the challengers of the first measurement (XGBoost champion "
        "file, LightGBM 300 rounds, XGBoost 200 rounds, 9 "
        "metrics, 1,000 entity-bootstrap replicates, audit, diagnostics, report, MLflow) on "
        f"simulated logs over {DAYS} days. Peak: the `challenge run` process's max RSS. CPU s: "
        "the user + system seconds of the run's process and of the children it waited for (the "
        "plot drawers, the browser). "
        "Overhead: the run's wall time over the challengers' own fit + predict seconds "
        "(comparison.json), the floor of any run of these models.",
        "",
        "| rows in the file | train rows | test rows | simulate s | `challenge run` s | CPU s "
        "| peak GB | challengers' fit + predict s | overhead |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        if "error" in r:
            lines.append(
                f"| {r['rows']:,} | failed after {r['wall_s']:.0f} s: {r['error']} |||||||"
            )
            continue
        lines.append(
            f"| {r['rows']:,} | {r['train_rows']:,} | {r['test_rows']:,} | {r['simulate_s']:.0f} "
            f"| {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_gb']:.1f} "
            f"| {r['challengers_fit_predict_s']:.0f} "
            f"| {r['wall_s'] / r['challengers_fit_predict_s']:.2f} |"
        )
    done = [r for r in runs if "error" not in r]
    steps = [name for name, _ in done[-1]["steps"]] if done else []
    lines += [
        "",
        "Seconds per step (the step's own figure), the largest resident GB sampled during it, and "
        "the run process's CPU seconds between the progress line before and this one (the first "
        "line's include the start; lines printed together put them all on the first: the "
        "fingerprint's line, printed with loading's, carries the loading's):",
        "",
    ]
    lines.append(
        "| step | " + " | ".join(f"{r['rows']:,} rows: s / GB / CPU s" for r in done) + " |"
    )
    lines.append("| --- |" + " ---: |" * len(done))
    for name in steps:
        cells = [
            f"{dict(r['steps']).get(name, float('nan')):.1f} "
            f"/ {r['step_peaks'].get(name, float('nan')):.1f} "
            f"/ {r['step_cpu'].get(name, float('nan')):.1f}"
            for r in done
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 100_000_000])
    add_run_options(parser)
    args = parser.parse_args()
    header = machine()
    runs = []
    with tempfile.TemporaryDirectory(prefix="challenge-scale-") as tmp:
        for rows in sorted(args.rows):
            runs.append(run(rows, Path(tmp), args.data or Path(tmp)))
            print(json.dumps(runs[-1]), flush=True)
    text = render(runs, header)
    print(text)
    if not args.no_record:
        write_section("scale", text)


if __name__ == "__main__":
    main()
