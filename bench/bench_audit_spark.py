"""Benchmark: `challenge audit` of bench_spark's experiment on Spark ``local[2]``, step by step:
the driver's peak memory (its Python process and its JVM, which on ``local[2]`` also runs the
executors' threads), the Python workers' and the wall and CPU seconds of each audit step.

    .venv/bin/python bench/bench_audit_spark.py --rows 10000000
    .venv/bin/python bench/bench_audit_spark.py --rows 10000000 30000000 --master local[2]

Each size runs in a fresh process that starts the Spark session first (as a Spark run has one when
its audit starts), then audits. At each step's start the peaks of the driver's Python process and
JVM are reset (``/proc/PID/clear_refs``), at its end their ``VmHWM`` read: the step's own peak.
The Python workers the JVM forks are sampled every 0.1 s (resident sizes summed). CPU seconds are
the whole process tree's (Python driver, JVM, workers), from /proc; on a shared machine they are the
measure, the wall times are not. Prints one JSON line per size; RESULTS.md is written by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SIMDATA = Path("/work/simdata")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _read(f"{entry}/stat")
            if stat:
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(
                    int(entry.name)
                )
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _jvm(root: int) -> int | None:
    for pid in _tree(root):
        if Path(_read(f"/proc/{pid}/cmdline").split("\0")[0]).name == "java":
            return pid
    return None


def _gb(pid: int, key: str) -> float:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 2**20
    return 0.0


def _cpu(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def _reset(pid: int) -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class Steps:
    """A Progress that measures each stage."""

    def __init__(self) -> None:
        self.me = os.getpid()
        self.jvm = _jvm(self.me)
        self.steps: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[Any]:
        workers = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                pids = [p for p in _tree(self.jvm) if p != self.jvm] if self.jvm else []
                workers[0] = max(workers[0], sum(_gb(p, "VmRSS:") for p in pids))

        for pid in (self.me, self.jvm):
            if pid:
                _reset(pid)
        thread = threading.Thread(target=sample, daemon=True)
        cpu, wall = _cpu(_tree(self.me)), time.perf_counter()
        thread.start()
        try:
            yield lambda n=1, *, description=None: None
        finally:
            done.set()
            thread.join()
            self.steps[description] = {
                "wall": time.perf_counter() - wall,
                "cpu": _cpu(_tree(self.me)) - cpu,
                "python_gb": _gb(self.me, "VmHWM:"),
                "jvm_gb": _gb(self.jvm, "VmHWM:") if self.jvm else 0.0,
                "workers_gb": workers[0],
            }

    def note(self, message: str) -> None:
        print(message, file=sys.stderr)


def config(data: Path, directory: Path, master: str, conf: dict[str, str]) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["data"]["path"] = str(data)
    cfg["champion"]["model"] = str(ROOT / "data" / "champion.json")
    cfg["champion"].pop("claimed", None)
    cfg["challengers"] = [{"name": "lgbm", "kind": "lightgbm"}]
    cfg["engine"] = {"kind": "spark", "master": master, "conf": conf}
    path = directory / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def measure(path: Path) -> dict[str, Any]:
    from challengers.config import load_config
    from challengers.engine.spark import SparkEngine
    from challengers.pipeline import RunOptions, audit_experiment

    cfg = load_config(path)
    started = time.perf_counter()
    engine = SparkEngine.start(cfg.engine.master, dict(cfg.engine.conf))  # the run's session
    session_s = time.perf_counter() - started
    steps = Steps()
    with tempfile.TemporaryDirectory() as out:
        result = audit_experiment(cfg, RunOptions(output_dir=Path(out) / "audit"), steps)
    engine.close()
    return {
        "session_s": session_s,
        "steps": steps.steps,
        "findings": sorted(f.id for f in result.findings),
        "integrity": {k: v for k, v in result.tables.items() if k == "columns"},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="also write the JSON lines here")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    conf = {"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false"}
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            path = config(SIMDATA / f"sim-{rows}.parquet", Path(tmp), args.master, conf)
            load = os.getloadavg()[0]
            child = [sys.executable, __file__, "--measure", str(path)]
            line = subprocess.check_output(child).decode().strip().splitlines()[-1]
            m = {"rows": rows, "master": args.master, "load_start": load,
                 "load_end": os.getloadavg()[0], **json.loads(line)}  # fmt: skip
        print(json.dumps(m), flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(m) + "\n")


if __name__ == "__main__":
    main()
