"""Benchmark: the same `challenge run` on the local engine, Spark `local[2]` and Spark
`local-cluster[2,1,4096]`, side by side.

bench_scale's experiment (the demo's XGBoost champion file, a LightGBM of 300 rounds, an XGBoost of
200, 9 metrics, 1,000 entity-bootstrap replicates, audit, diagnostics, report, MLflow) on a
simulated log of N transactions over 91 days, run once per engine as a subprocess: on Spark the
XGBoost challenger trains with ``xgboost.spark`` (2 workers) and the LightGBM challenger fits on
the stratified sample of ``engine.sample_rows``. Per engine and size: the wall time, the time of
each step (the progress lines), every model's metrics (against the local engine's), and the peak
resident memory of each process of the run, sampled every 0.2 s from /proc: the driver's Python
process, the driver's JVM (Spark's ``SparkSubmit`` child), each executor JVM of local-cluster
(``CoarseGrainedExecutorBackend``) and the Python workers each JVM starts (summed).

    .venv/bin/python bench/bench_spark.py --rows 1000000
    .venv/bin/python bench/bench_spark.py --rows 10000000 --max-load 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
import yaml
from _results import TOOL_ENV, machine, progress_steps, write_section

ROOT = Path(__file__).resolve().parents[1]
CHALLENGE = str(Path(sys.executable).parent / "challenge")
SIMDATA = Path("/work/simdata")  # pre-made `challenge simulate --rows N --days 91 --seed 1` files
DAYS = 91
# bench_scale's challengers: one LightGBM, one XGBoost
CHALLENGERS = [
    {"name": "lgbm", "kind": "lightgbm",
     "params": {"num_leaves": 31, "learning_rate": 0.05, "n_estimators": 300}},
    {"name": "xgb", "kind": "xgboost", "params": {"max_depth": 6, "eta": 0.1, "n_estimators": 200}},
]  # fmt: skip
ENGINES = ("local", "local[2]", "local-cluster[2,1,4096]")
WORKERS = 2  # xgboost.spark tasks: both cores of local[2], both executors of local-cluster
SAMPLE_ROWS = 1_000_000  # engine.sample_rows (the default): LightGBM's stratified sample
PAGE = os.sysconf("SC_PAGE_SIZE")
GB = 2**30


def spark_conf(master: str, loaded_gb: float, driver_gb: int | None, result_gb: int | None) -> dict:
    """The session's settings: the training and test windows' rows pass through the driver's
    JVM as Arrow task results, the training window's in one job (at 10M rows 0.24 GB, 0.63 times
    the windows' days in memory, ``loaded_gb``), so ``spark.driver.maxResultSize`` must exceed it
    (``loaded_gb`` here) and the heap hold it (twice that, and 1 GB); on local-cluster the
    executors take the worker's 4 GB."""
    result = result_gb or max(1, math.ceil(loaded_gb))
    conf: dict[str, str] = {
        "spark.driver.memory": f"{driver_gb or max(2, 2 * result + 1)}g",
        "spark.driver.maxResultSize": f"{result}g",
        "spark.ui.enabled": "false",
    }
    if master.startswith("local-cluster"):
        conf["spark.executor.memory"] = "4g"
    return conf


def config(data: Path, directory: Path, engine: str, conf: dict) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["data"]["path"] = str(data)
    cfg["champion"]["model"] = str(ROOT / "data" / "champion.json")
    cfg["champion"].pop("claimed", None)  # the claims are the demo's
    cfg["challengers"] = CHALLENGERS
    if engine != "local":
        cfg["engine"] = {
            "kind": "spark",
            "master": engine,
            "conf": conf,
            "num_workers": WORKERS,
            "sample_rows": SAMPLE_ROWS,
        }
    path = directory / f"experiment-{engine_slug(engine)}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def engine_slug(engine: str) -> str:
    return engine.split(",")[0].replace("[", "").replace("]", "")


def loaded_size(data: Path) -> tuple[int, float]:
    """The rows a run loads (the windows' days, Feb 1 - Mar 31, the config's columns) and their
    bytes a row in memory (polars, as the Arrow the driver's JVM passes on), from the first
    million of them."""
    lf = pl.scan_parquet(data).drop("TERMINAL_ID", "DEVICE_ID")
    lf = lf.filter(pl.col("TX_DATETIME") >= datetime(2024, 2, 1))
    rows = int(lf.select(pl.len()).collect().item())
    head = lf.head(1_000_000).collect()
    return rows, head.estimated_size() / max(1, head.height)


# ------------------------------------------------------------------------ the process tree


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _read(f"{entry}/stat")
            if stat:  # "pid (comm) state ppid ...": comm may hold spaces, split after it
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _role(pid: int, parent_role: str) -> str:
    """Which part of the run a process is, from its command line and its parent's role."""
    cmd = _read(f"/proc/{pid}/cmdline").split("\0")
    if Path(cmd[0]).name == "jspawnhelper":  # the JVM's helper, about to become what it starts
        return "other"  # (an executor's JVM): looked at again at the next sample
    java = Path(cmd[0]).name == "java" and "org.apache.spark.launcher.Main" not in cmd
    if java and "org.apache.spark.deploy.SparkSubmit" in cmd:
        return "driver JVM"
    if java and "org.apache.spark.executor.CoarseGrainedExecutorBackend" in cmd:
        at = cmd.index("--executor-id") if "--executor-id" in cmd else -1
        return f"executor {cmd[at + 1]} JVM" if at >= 0 else "executor JVM"
    if parent_role.endswith("JVM"):  # pyspark.daemon and the workers it forks
        return parent_role.removesuffix("JVM") + "Python workers"
    if parent_role.endswith("Python workers"):
        return parent_role
    if parent_role == "driver Python" and Path(cmd[0]).name not in ("", "bash", "sh", "java"):
        return "driver forks and Chromium"  # the run's forked children, the report's browser
    if parent_role == "driver forks and Chromium":
        return parent_role
    return "other"  # looked at again at the next sample: spark-submit's shell execs the JVM


def _command(pid: int) -> str:
    return " ".join(_read(f"/proc/{pid}/cmdline").split("\0"))[:160]


def _kb(status: str, key: str) -> int:
    for line in status.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


@dataclass
class Watch:
    """Peaks of the run's processes: per role, the largest sum of resident sizes sampled (for one
    process, the largest VmHWM read: its exact peak up to the last sample), and per step (since the
    previous progress line) the largest driver Python and driver JVM resident sizes sampled."""

    root: int
    peaks: dict[str, float] = field(default_factory=dict)  # GB
    step_peaks: dict[str, dict[str, float]] = field(default_factory=dict)
    current: dict[str, float] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    processes: dict[int, tuple[str, str, float]] = field(default_factory=dict)  # role, cmd, GB

    def sample(self) -> None:
        tree, sums, hwm = _children(), dict[str, float](), dict[str, float]()
        todo = [(self.root, "driver Python")]
        while todo:
            pid, role = todo.pop()
            if self.roles.get(pid, "other") == "other":
                self.roles[pid] = role if pid == self.root else _role(pid, role)
            role = self.roles[pid]
            status = _read(f"/proc/{pid}/status")
            rss = _kb(status, "VmRSS:") / 2**20
            sums[role] = sums.get(role, 0.0) + rss
            hwm[role] = max(hwm.get(role, 0.0), _kb(status, "VmHWM:") / 2**20)
            seen = self.processes.get(pid, (role, _command(pid), 0.0))
            self.processes[pid] = (role, seen[1] if seen[0] == role else _command(pid),
                                   max(seen[2], rss))  # fmt: skip
            todo += [(child, role) for child in tree.get(pid, [])]
        for role, total in sums.items():
            single = hwm[role] if not role.endswith("workers") else 0.0
            self.peaks[role] = max(self.peaks.get(role, 0.0), total, single)
            self.current[role] = max(self.current.get(role, 0.0), total)

    def step_done(self, name: str) -> None:
        self.step_peaks[name], self.current = dict(self.current), {}


def watched(command: list[str], env: dict[str, str]) -> tuple[int, str, Watch, float]:
    """Run ``command`` in its own process group: its exit code, its stderr, the memory watch and
    the largest 1-minute load average seen. Processes of the group left behind are killed."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    watch, lines, load = Watch(process.pid), list[str](), [os.getloadavg()[0]]

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            for name, _ in progress_steps(line):
                watch.step_done(name)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while process.poll() is None:
            watch.sample()
            load.append(os.getloadavg()[0])
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
        reader.join()
        _stop_left(process.pid, set(watch.processes))
    return process.returncode, "".join(lines), watch, max(load)


def _stop_left(group: int, pids: set[int]) -> None:
    """Kill what is left of the run's process group 10 s after the run ended (Spark's JVMs
    outlive a killed driver)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_read(f"/proc/{p}/stat") for p in pids):
        time.sleep(0.5)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == group:
                command = _command(pid)
                os.kill(pid, signal.SIGKILL)
                print(f"killed {pid}, left behind by the run: {command}", file=sys.stderr)


# ------------------------------------------------------------------------------ one run


def wait_for_quiet(max_load: float, patience_s: float) -> float:
    """Wait (at most ``patience_s``) until the 1-minute load average is under ``max_load``."""
    deadline = time.monotonic() + patience_s
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        print(f"load {os.getloadavg()[0]:.1f} > {max_load}: waiting", file=sys.stderr, flush=True)
        time.sleep(30)
    return os.getloadavg()[0]


def run(
    rows: int, engine: str, directory: Path, data: Path, loaded_gb: float, args: argparse.Namespace
) -> dict:
    conf = (
        {} if engine == "local" else spark_conf(engine, loaded_gb, args.driver_gb, args.result_gb)
    )
    events = directory / f"events-{rows}-{engine_slug(engine)}"
    if engine != "local":  # Spark's event log: the shuffle and result bytes of every stage
        events.mkdir()
        conf = {
            **conf,
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": events.as_uri(),
            "spark.eventLog.compress": "false",
        }
    out = directory / f"run-{rows}-{engine_slug(engine)}"
    command = [CHALLENGE, "run", str(config(data, directory, engine, conf)), "-o", str(out)]
    command += ["--tracking-uri", f"sqlite:///{directory / 'mlflow.db'}"]
    env = {**TOOL_ENV, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    load_start = wait_for_quiet(args.max_load, args.patience)
    # the code this run measures, read as it starts: others commit while a benchmark runs (read
    # after the run, it named the commits made during it)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    started = time.perf_counter()
    code, stderr, watch, load_max = watched(command, env)
    wall = time.perf_counter() - started
    record = {
        "rows": rows,
        "engine": engine,
        "commit": commit,
        "started": time.strftime("%H:%M", time.gmtime(time.time() - wall)),
        "conf": conf,
        "wall_s": wall,
        "load_start": load_start,
        "load_max": load_max,
        "peaks": watch.peaks,
        "processes": {str(pid): list(seen) for pid, seen in watch.processes.items()},
        "step_peaks": watch.step_peaks,
        "steps": progress_steps(stderr),
        "stages": stage_bytes(events) if events.exists() else [],
    }
    if code != 0:  # e.g. killed for memory: recorded, the other runs still count
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return {**record, "error": f"exit {code}: {last[:300]}"}
    comparison = json.loads((out / "comparison.json").read_text())
    data_part = comparison["data"]
    record.update(
        train_rows=data_part["rows_train"],
        test_rows=data_part["rows_test"],
        metrics={m["name"]: metric_values(m) for m in comparison["models"]},
        training={m["name"]: m.get("training") for m in comparison["models"]},
        fit_s={m["name"]: m.get("fit_seconds") for m in comparison["models"]},
    )
    return record


def stage_bytes(events: Path) -> list[dict]:
    """Per stage of the run's Spark jobs (from its event log): its name, the bytes its tasks
    wrote to the shuffle, read from it, and sent to the driver as results."""
    stages: dict[int, dict] = {}
    for log in sorted(p for p in events.rglob("*") if p.is_file()):  # Spark 4: a folder of files
        for line in log.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the end of the run
                continue
            kind = event.get("Event")
            if kind == "SparkListenerTaskEnd":
                metrics = event.get("Task Metrics") or {}
                stage = stages.setdefault(event["Stage ID"], {"name": "", "tasks": 0})
                stage["tasks"] += 1
                for key, value in (
                    ("shuffle_write", metrics.get("Shuffle Write Metrics", {}).get(
                        "Shuffle Bytes Written", 0)),
                    ("shuffle_read", sum(metrics.get("Shuffle Read Metrics", {}).get(k, 0)
                                         for k in ("Remote Bytes Read", "Local Bytes Read"))),
                    ("result", metrics.get("Result Size", 0)),
                ):  # fmt: skip
                    stage[key] = stage.get(key, 0) + int(value)
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                stage = stages.setdefault(info["Stage ID"], {"name": "", "tasks": 0})
                stage["name"] = info.get("Stage Name", "")
    return [{"stage": k, **v} for k, v in sorted(stages.items())]


def metric_values(model: dict) -> dict[str, float]:
    values = {}
    for name, metric in (model.get("metrics") or {}).items():
        value = metric.get("value") if isinstance(metric, dict) else metric
        if isinstance(value, (int, float)):
            values[name] = float(value)
    return values


# ---------------------------------------------------------------------------- the tables


def where_rows(r: dict) -> str:
    """Where each engine holds the rows in this experiment: on Spark its plan is the narrow one
    (the champion a model file, every challenger untuned and trained on the engine or on a sample
    drawn there: ``features_stay_on_engine``)."""
    if r["engine"] == "local":
        return "driver Python: the training and test windows' rows (polars), every fit and score"
    sample = (r.get("training") or {}).get("lgbm") or ""
    return (
        "executors: the read, integrity checks and fingerprint of the windows' days, the windows "
        "(label delay, known-fraud exclusion), LightGBM's sample drawn, XGBoost's training, every "
        "model's scores of the test and training rows (the champion from its file), the in-sample "
        "rankings of the training rows, the features' drift references and the explanations' "
        "rows; driver Python, through the driver JVM as Arrow results: the test rows' named "
        f"columns (label, entity, amount, segments) and day, LightGBM's sample and fit ({sample}), "
        "the audit's samples, evaluation, diagnostics, report"
    )


def gb(value: float | None) -> str:
    return "-" if not value else f"{value:.2f}"


def executor_cell(peaks: dict[str, float]) -> str:
    jvms = sorted(k for k in peaks if k.startswith("executor") and k.endswith("JVM"))
    cells = []
    for jvm in jvms:
        workers = peaks.get(jvm.removesuffix("JVM") + "Python workers")
        cells.append(f"{jvm.removesuffix(' JVM')}: {gb(peaks[jvm])} + Python {gb(workers)}")
    return "; ".join(cells) or "-"


def agreement(run: dict, local: dict | None) -> str:
    if local is None or "metrics" not in local or "metrics" not in run:
        return "-"
    if run is local:
        return (
            "; ".join(
                f"{model}: ROC {values.get('roc_auc', float('nan')):.4f}"
                for model, values in run["metrics"].items()
            )
            + " (the reference)"
        )
    cells = []
    for model, values in run["metrics"].items():
        mine = local["metrics"].get(model, {})
        gaps = [abs(v - mine[k]) for k, v in values.items() if k in mine and not math.isnan(v)]
        roc = values.get("roc_auc", float("nan"))
        cells.append(f"{model}: ROC {roc:.4f}, max gap {max(gaps, default=float('nan')):.1e}")
    return "; ".join(cells)


def step_order(runs: list[dict]) -> list[str]:
    """Every run's steps, each after the step it follows in the first run that has it."""
    names: list[str] = []
    for r in runs:
        previous = -1
        for name, _ in r["steps"]:
            if name not in names:
                names.insert(previous + 1, name)
            previous = names.index(name)
    return names


def render(runs: list[dict], header: str, notes: str) -> str:
    lines = [
        "## The run on the local engine, Spark local[2] and local-cluster (`bench/bench_spark.py`)",
        "",
        header,
        "",
        "bench_scale's experiment (XGBoost champion file, LightGBM 300 rounds, XGBoost 200 rounds, "
        "9 metrics, 1,000 entity-bootstrap replicates, audit, diagnostics, report, MLflow) on the "
        f"simulated logs over {DAYS} days, once per engine. Spark: `engine.num_workers: {WORKERS}` "
        f"(XGBoost by xgboost.spark), `engine.sample_rows: {SAMPLE_ROWS:,}` (LightGBM's stratified "
        "sample), the UI off. Memory: resident GB sampled every 0.2 s from /proc (a single "
        "process: its VmHWM); the Python workers' column sums the resident sizes of the forked "
        "workers of a JVM (shared pages counted in each).",
        "",
        "| rows | engine | Spark conf | wall s | driver Python GB | driver JVM GB "
        "| driver JVM's Python workers GB | executors GB (JVM + Python workers) "
        "| driver's forks + Chromium GB | load start / max |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for r in runs:
        conf = ", ".join(f"{k.removeprefix('spark.')}={v}" for k, v in r["conf"].items()
                         if "ui." not in k and "eventLog" not in k) or "-"  # fmt: skip
        wall = f"{r['wall_s']:.0f}" + (f" (failed: {r['error']})" if "error" in r else "")
        p = r["peaks"]
        when = f" ({r['started']} UTC, {r['commit']})" if "started" in r else ""
        lines.append(
            f"| {r['rows']:,} | {r['engine']}{when} | {conf} | {wall} | {gb(p.get('driver Python'))} "
            f"| {gb(p.get('driver JVM'))} | {gb(p.get('driver Python workers'))} "
            f"| {executor_cell(p)} | {gb(p.get('driver forks and Chromium'))} "
            f"| {r['load_start']:.1f} / {r['load_max']:.1f} |"
        )
    lines += ["", "Metrics (every metric of comparison.json, against the local engine's run):", ""]
    lines += ["| rows | engine | models: ROC-AUC, largest gap to local over all metrics |"]
    lines += ["| ---: | --- | --- |"]
    for r in runs:
        local = next((x for x in runs if x["rows"] == r["rows"] and x["engine"] == "local"), None)
        when = f" ({r['started']})" if "started" in r else ""
        lines.append(f"| {r['rows']:,} | {r['engine']}{when} | {agreement(r, local)} |")
    logged = [r for r in runs if r.get("stages")]
    if logged:
        lines += ["", "Spark's bytes (its event log): written to the shuffle, and sent to the "
                  "driver as task results; the three stages that shuffle most:", ""]  # fmt: skip
        lines += ["| rows | engine | shuffle written GB | results to the driver GB | stages |"]
        lines += ["| ---: | --- | ---: | ---: | --- |"]
        for r in logged:
            stages = r["stages"]
            top = sorted(stages, key=lambda x: -x.get("shuffle_write", 0))[:3]
            named = "; ".join(
                f"{x['name'].split(' at ')[0]} {x.get('shuffle_write', 0) / GB:.2f}" for x in top
            )
            lines.append(
                f"| {r['rows']:,} | {r['engine']} "
                f"| {sum(x.get('shuffle_write', 0) for x in stages) / GB:.2f} "
                f"| {sum(x.get('result', 0) for x in stages) / GB:.2f} | {named} |"
            )
    lines += ["", "Where the rows are:", ""]
    for rows in dict.fromkeys(r["rows"] for r in runs):
        n, per_row = next(r["loaded"] for r in runs if r["rows"] == rows)
        done = next((r for r in runs if r["rows"] == rows and "train_rows" in r), None)
        held = f"{done['train_rows'] + done['test_rows']:,}" if done else "?"
        lines.append(
            f"- {rows:,} rows in the file: {n:,} in the windows' days (Feb 1 - Mar 31, about "
            f"{n * per_row / GB:.2f} GB in memory), {held} of them in the training and test "
            "windows: the local engine holds them whole; on Spark they stay on the executors and "
            "the driver holds the test rows' named columns and the training rows' counts"
        )
    for engine in dict.fromkeys(r["engine"] for r in runs):
        first = next(r for r in runs if r["engine"] == engine)
        lines.append(f"- {engine}: {where_rows(first)}")
    for rows in dict.fromkeys(r["rows"] for r in runs):
        sized = [r for r in runs if r["rows"] == rows]
        names = step_order(sized)
        lines += ["", f"Seconds per step at {rows:,} rows (largest driver Python / JVM GB in it):"]
        heads = [r["engine"] + (f" ({r['started']})" if "started" in r else "") for r in sized]
        lines += ["", "| step | " + " | ".join(heads) + " |"]
        lines.append("| --- |" + " ---: |" * len(sized))
        for name in names:
            cells = []
            for r in sized:
                seconds = dict(r["steps"]).get(name)
                peak = r["step_peaks"].get(name, {})
                jvm = peak.get("driver JVM")
                cells.append(
                    ""
                    if seconds is None
                    else f"{seconds:.1f} ({gb(peak.get('driver Python'))}"
                    + (f" / {gb(jvm)})" if jvm else ")")
                )
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append(
            "| whole run (wall) | " + " | ".join(f"{r['wall_s']:.1f}" for r in sized) + " |"
        )
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    parser.add_argument("--data", type=Path, default=SIMDATA, help="where sim-N.parquet files are")
    parser.add_argument("--driver-gb", type=int, help="spark.driver.memory (default: by rows)")
    parser.add_argument("--result-gb", type=int, help="spark.driver.maxResultSize (by rows)")
    parser.add_argument("--max-load", type=float, default=3.0, help="wait for a load under this")
    parser.add_argument("--patience", type=float, default=300, help="seconds to wait for it")
    parser.add_argument("--section", help="RESULTS.md section (default: spark-engines-SIZES)")
    parser.add_argument("--notes", type=Path, help="a Markdown file appended to the section")
    parser.add_argument("--json", type=Path, help="also write the runs (a list) to this file")
    parser.add_argument(
        "--render", type=Path, nargs="+", help="run nothing: the table of these --json files"
    )
    parser.add_argument("--header", help="the section's machine line (default: this machine's)")
    parser.add_argument("--no-record", action="store_true", help="leave RESULTS.md as it is")
    args = parser.parse_args()
    header = args.header or machine()
    runs: list[dict] = []
    for saved in args.render or []:
        runs += json.loads(saved.read_text())
    with tempfile.TemporaryDirectory(prefix="challenge-spark-") as tmp:
        for rows in [] if args.render else sorted(args.rows):
            data = args.data / f"sim-{rows}.parquet"
            if not data.exists():
                data = Path(tmp) / data.name
                command = [CHALLENGE, "simulate", "--rows", str(rows), "--days", str(DAYS)]
                subprocess.run([*command, "--out", str(data), "--seed", "1", "-q"], check=True)
            size = loaded_size(data)
            for engine in args.engines:
                gb_loaded = size[0] * size[1] / GB
                runs.append({**run(rows, engine, Path(tmp), data, gb_loaded, args), "loaded": size})
                print(json.dumps(runs[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    text = render(runs, header, args.notes.read_text() if args.notes else "")
    print(text)
    sizes = "-".join(f"{rows // 10**6}m" for rows in dict.fromkeys(r["rows"] for r in runs))
    if not args.no_record:
        write_section(args.section or f"spark-engines-{sizes}", text)


if __name__ == "__main__":
    main()
