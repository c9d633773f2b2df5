"""The handbook split, done twice in the same invocation: by `challenge run`, and by a plain
pandas + scikit-learn + mlflow script doing the same work (load, split with the label delay and the
known-fraud exclusion, champion from a score column, LightGBM and XGBoost with the same parameters,
the same metrics with the same number of bootstrap replicates, an MLflow parent run with one child
run per model and the models logged).

Prints both wall times, their ratio, and the tool's total wall time over the sum of its models' fit
and predict seconds (the tool's overhead). Writes the `handbook` section of bench/RESULTS.md.

``--fixed``: the fixed cost of a run on the handbook split (wall time minus the models' fit +
predict), `challenge --help`'s time, the time to the first line of `challenge run`, and the slowest
imports at start-up (the `handbook_fixed` section).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import HANDBOOK, TOOL_ENV, children_cpu_s, machine, progress_steps, write_section

FEATURES = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *[f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "AVG_AMOUNT")],
    *[f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "RISK")],
]
TRAIN_START, TRAIN_DAYS, DELAY, TEST_DAYS = date(2018, 7, 25), 7, 7, 7
REPLICATES = 200
LGBM = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31}
XGB = {"n_estimators": 200, "max_depth": 6, "eta": 0.1}


def prepare_scored(out: Path) -> None:
    """A 'production score' column for the champion: a logistic regression (untimed setup)."""
    import polars as pl
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    day = pl.col("TX_DATETIME").dt.date()
    end = TRAIN_START + timedelta(days=TRAIN_DAYS + DELAY + TEST_DAYS - 1)
    frame = pl.scan_parquet(HANDBOOK).filter(day.is_between(TRAIN_START, end)).collect()
    train = frame.filter(day < TRAIN_START + timedelta(days=TRAIN_DAYS))
    scaler = StandardScaler().fit(train.select(FEATURES).to_numpy())
    lr = LogisticRegression().fit(
        scaler.transform(train.select(FEATURES).to_numpy()), train["TX_FRAUD"]
    )
    scores = lr.predict_proba(scaler.transform(frame.select(FEATURES).to_numpy()))[:, 1]
    frame.with_columns(pl.Series("PROD_SCORE", scores)).write_parquet(out)


def tool_config(data: Path, directory: Path) -> Path:
    import yaml

    test_start = TRAIN_START + timedelta(days=TRAIN_DAYS + DELAY)
    config = {
        "name": "bench-handbook",
        "seed": 1,
        "data": {
            "path": str(data),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "features": FEATURES,
        },
        "split": {
            "train": {
                "start": str(TRAIN_START),
                "end": str(TRAIN_START + timedelta(days=TRAIN_DAYS - 1)),
            },
            "test": {
                "start": str(test_start),
                "end": str(test_start + timedelta(days=TEST_DAYS - 1)),
            },
            "label_delay_days": DELAY,
            "exclude_known_frauds": True,
        },
        "champion": {"name": "production", "score": "PROD_SCORE"},
        "challengers": [
            {"name": "lgbm", "kind": "lightgbm", "params": LGBM},
            {"name": "xgb", "kind": "xgboost", "params": XGB},
        ],
        "evaluation": {
            "metrics": ["roc_auc", "pr_auc", "entity_precision_at@100"],
            "bootstrap": REPLICATES,
        },
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_tool(
    config: Path, directory: Path, tag: str = "tool", env: Mapping[str, str] = TOOL_ENV
) -> tuple[float, dict, list[tuple[str, float]]]:
    """Wall time, comparison.json, and the time of each step as the progress lines report it
    (``env``: the tool's environment; compare_revisions.py puts a revision's tree on its path)."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "challenge"),  # the console script a user runs
            "run",
            str(config),
            "--output",
            str(directory / f"{tag}-out"),
            "--tracking-uri",
            f"sqlite:///{directory}/tool.db",
        ],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=directory,  # outside every source tree (compare_revisions.py's sides)
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:  # the tool's own message, not a CalledProcessError's traceback
        raise SystemExit(f"challenge run failed ({done.returncode}): {done.stderr[-800:]}")
    steps = progress_steps(done.stderr)
    return wall, json.loads((directory / f"{tag}-out" / "comparison.json").read_text()), steps


def run_plain(data: Path, directory: Path) -> float:
    """The same work written directly with pandas, scikit-learn, LightGBM, XGBoost and MLflow."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--plain", str(data), str(directory)],
        check=True,
    )
    return time.perf_counter() - started


def plain_script(data: Path, directory: Path) -> None:
    import lightgbm as lgb
    import mlflow
    import pandas as pd
    import xgboost as xgb
    from sklearn.metrics import average_precision_score, roc_auc_score

    df = pd.read_parquet(data)
    df["day"] = df["TX_DATETIME"].dt.normalize()
    start = pd.Timestamp(TRAIN_START)
    train = df[(df.day >= start) & (df.day < start + pd.Timedelta(days=TRAIN_DAYS))]
    known = set(train[train.TX_FRAUD == 1].CUSTOMER_ID)
    parts = []
    for i in range(TEST_DAYS):
        delay_day = start + pd.Timedelta(days=TRAIN_DAYS + i - 1)
        known |= set(df[(df.day == delay_day) & (df.TX_FRAUD == 1)].CUSTOMER_ID)
        day_rows = df[df.day == start + pd.Timedelta(days=TRAIN_DAYS + DELAY + i)]
        parts.append(day_rows[~day_rows.CUSTOMER_ID.isin(known)])
    test = pd.concat(parts)

    def card_precision(frame: pd.DataFrame, scores: np.ndarray) -> float:
        frame = frame.assign(predictions=scores)
        detected: list = []
        values = []
        for _, rows in frame.groupby("day"):
            rows = rows[~rows.CUSTOMER_ID.isin(detected)]
            top = (
                rows.groupby("CUSTOMER_ID")[["predictions", "TX_FRAUD"]]
                .max()
                .sort_values("predictions", ascending=False)
                .head(100)
            )
            found = list(top[top.TX_FRAUD == 1].index)
            values.append(len(found) / 100)
            detected += found
        return float(np.mean(values))

    def metrics(frame: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
        y = frame.TX_FRAUD.to_numpy()
        return {
            "roc_auc": roc_auc_score(y, scores),
            "pr_auc": average_precision_score(y, scores),
            "entity_precision_at_100": card_precision(frame, scores),
        }

    x_train, y_train = train[FEATURES].to_numpy(np.float32), train.TX_FRAUD.to_numpy()
    x_test = test[FEATURES].to_numpy(np.float32)
    lgb_params = dict(LGBM)
    rounds = lgb_params.pop("n_estimators")
    booster_l = lgb.train(
        {"objective": "binary", "verbosity": -1, "seed": 1, **lgb_params},
        lgb.Dataset(x_train, y_train),
        rounds,
    )
    xgb_params = dict(XGB)
    xrounds = xgb_params.pop("n_estimators")
    booster_x = xgb.train(
        {"objective": "binary:logistic", "seed": 1, "tree_method": "hist", **xgb_params},
        xgb.DMatrix(x_train, label=y_train),
        xrounds,
    )
    scores = {
        "production": test.PROD_SCORE.to_numpy(),
        "lgbm": booster_l.predict(x_test),
        "xgb": booster_x.predict(xgb.DMatrix(x_test)),
    }
    rng = np.random.default_rng(1)
    customers = test.CUSTOMER_ID.unique()
    replicates: dict[str, list[dict[str, float]]] = {name: [] for name in scores}
    for _ in range(REPLICATES):  # entity-block bootstrap, paired across models
        picked = rng.choice(customers, len(customers))
        counts = pd.Series(picked).value_counts()
        idx = test.CUSTOMER_ID.map(counts).fillna(0).astype(int).to_numpy()
        rows = np.repeat(np.arange(len(test)), idx)
        sample = test.iloc[rows]
        for name, s in scores.items():
            replicates[name].append(metrics(sample, s[rows]))
    mlflow.set_tracking_uri(f"sqlite:///{directory}/plain.db")
    mlflow.set_experiment("bench-plain")
    with mlflow.start_run():
        for name, s in scores.items():
            with mlflow.start_run(run_name=name, nested=True):
                point = metrics(test, s)
                reps = pd.DataFrame(replicates[name])
                mlflow.log_metrics(point)
                mlflow.log_metrics({f"{k}_ci_low": reps[k].quantile(0.025) for k in point})
                mlflow.log_metrics({f"{k}_ci_high": reps[k].quantile(0.975) for k in point})
                if name == "lgbm":
                    mlflow.lightgbm.log_model(booster_l, name="model")
                elif name == "xgb":
                    mlflow.xgboost.log_model(booster_x, name="model")


def main() -> None:
    if not HANDBOOK.exists():
        print(f"skipped: {HANDBOOK} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        data = directory / "handbook-scored.parquet"
        prepare_scored(data)
        config = tool_config(data, directory)
        plain_wall = run_plain(data, directory)
        tool_wall, comparison, steps = run_tool(config, directory)
    model_seconds = sum(m["fit_seconds"] + m["predict_seconds"] for m in comparison["models"])
    lines = [
        "## Handbook split: `challenge run` vs a plain pandas + scikit-learn + mlflow script",
        "",
        f"Machine: {machine()}",
        "",
        f"Same work in both: handbook split (train {TRAIN_DAYS} days, delay {DELAY}, test {TEST_DAYS}, "
        "known frauds excluded), a score-column champion, LightGBM and XGBoost (200 rounds each), "
        f"roc_auc / pr_auc / card precision@100 with {REPLICATES} paired entity-bootstrap replicates, "
        "MLflow parent + 3 child runs with models. Both measured end to end as subprocesses "
        "(interpreter start and imports included).",
        "",
        "| | wall (s) |",
        "|---|---|",
        f"| plain pandas + scikit-learn + mlflow | {plain_wall:.1f} |",
        f"| `challenge run` | {tool_wall:.1f} |",
        f"| ratio plain / tool | {plain_wall / tool_wall:.1f}× |",
        "",
        f"Tool overhead: total wall {tool_wall:.1f} s over the models' fit + predict "
        f"{model_seconds:.1f} s = {tool_wall / max(model_seconds, 1e-9):.1f}×. The tool also does "
        "work the plain script does not: the data audit, the diagnostics (operating point, "
        "stability, segments, calibration, SHAP) and the HTML report. Its steps:",
        "",
        "| step | s |",
        "|---|---|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in steps),
        f"| interpreter start, imports, the rest | {tool_wall - sum(s for _, s in steps):.1f} |",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("handbook", text)


# ------------------------------------------------------------------ fixed cost and start-up

FIXED_RUNS = 3  # timed runs after one that creates the store (median)


def fixed_config(directory: Path) -> Path:
    """The handbook split straight from the shared file: a LightGBM champion retrained and an
    XGBoost challenger, 100 rounds each, 3 metrics, no bootstrap."""
    import yaml

    config = yaml.safe_load(tool_config(HANDBOOK, directory).read_text())
    config["name"] = "bench-fixed-cost"
    config["champion"] = {
        "name": "lgbm",
        "retrain": {"kind": "lightgbm", "params": {"n_estimators": 100}},
    }
    config["challengers"] = [{"name": "xgb", "kind": "xgboost", "params": {"n_estimators": 100}}]
    config["evaluation"]["bootstrap"] = 0
    path = directory / "fixed.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def fixed_run(config: Path, directory: Path, tag: str, env: Mapping[str, str] = TOOL_ENV) -> dict:
    """One run's wall and CPU seconds, its models' fit + predict seconds and its steps."""
    before = children_cpu_s()
    wall, comparison, steps = run_tool(config, directory, tag, env)
    # the run's CPU seconds, its own children's (the browser printing the PDF) included: what a
    # loaded machine's wall time hides
    cpu = children_cpu_s() - before
    models = sum(m["fit_seconds"] + m["predict_seconds"] for m in comparison["models"])
    return {"wall": wall, "models": models, "steps": steps, "cpu": cpu}


def first_line_seconds(config: Path, directory: Path) -> tuple[float, float]:
    """Seconds from starting `challenge run` to its first line on stderr, and to its first
    finished step; the run is then stopped."""
    command = [str(Path(sys.executable).parent / "challenge"), "run", str(config)]
    command += [
        "-o",
        str(directory / "first-line"),
        "--tracking-uri",
        f"sqlite:///{directory}/tool.db",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=TOOL_ENV)
    assert process.stderr is not None
    process.stderr.readline()
    first = time.perf_counter() - started
    line = "-"
    while line and "✓" not in line:  # "": the run ended (failed) before finishing a step
        line = process.stderr.readline()
    step = time.perf_counter() - started if line else float("nan")
    process.kill()
    process.wait()
    return first, step


def help_seconds() -> tuple[float, float]:
    """`challenge --help`, median of 5: whole-process wall seconds, and its CPU seconds (user +
    system, from wait4: what the wall time would be on an idle core)."""
    command = [str(Path(sys.executable).parent / "challenge"), "--help"]
    walls, cpus = [], []
    for _ in range(5):
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=TOOL_ENV)
        _, _, usage = os.wait4(process.pid, 0)
        walls.append(time.perf_counter() - started)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def import_times(code: str, top: int = 12) -> list[str]:
    """The slowest imports (cumulative) of ``code`` in a fresh interpreter (-X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return [f"{us / 1000:7.1f} ms  {name}" for us, name in sorted(rows, reverse=True)[:top]]


def fixed_cost() -> None:
    if not HANDBOOK.exists():
        print(f"skipped: {HANDBOOK} is absent")
        return
    header = machine()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = fixed_config(directory)
        fixed_run(config, directory, "fixed-warm")  # creates the store; not counted
        runs = [fixed_run(config, directory, f"fixed-{i}") for i in range(FIXED_RUNS)]
        first, step = first_line_seconds(config, directory)
    helping, help_cpu = help_seconds()
    walls = [r["wall"] for r in runs]
    overheads = [r["wall"] - r["models"] for r in runs]
    cpus = [r["cpu"] for r in runs]
    middle = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    lines = [
        "## Fixed cost per run and start-up (`bench/bench_handbook.py --fixed`)",
        "",
        f"{header} · load average at the end {os.getloadavg()[0]:.1f}",
        "",
        "The handbook split (1.75M rows in the file; train 7 days, delay 7, test 7), a LightGBM "
        "champion retrained and an XGBoost challenger, 100 rounds each, 3 metrics, no bootstrap, "
        f"an existing sqlite store; `challenge run` as a subprocess, {FIXED_RUNS} runs (median). "
        "The fixed cost is the run's wall time minus the models' own fit + predict seconds "
        "(comparison.json): loading, audit, diagnostics, report, MLflow, start-up.",
        "",
        "| | s |",
        "| --- | ---: |",
        f"| `challenge run`, wall (median; runs {', '.join(f'{w:.1f}' for w in walls)}) "
        f"| {statistics.median(walls):.1f} |",
        f"| the models' fit + predict | {middle['models']:.1f} |",
        f"| `challenge run`, CPU seconds (user + system, the browser included; median; runs "
        f"{', '.join(f'{c:.1f}' for c in cpus)}) | {statistics.median(cpus):.1f} |",
        f"| **fixed cost**: wall - fit - predict (median; goal <= 5) "
        f"| **{statistics.median(overheads):.1f}** |",
        f"| `challenge --help`, whole process (median of 5; goal <= 0.5) | {helping:.2f} "
        f"(CPU {help_cpu:.2f}) |",
        f"| `challenge run`: its first line on screen (goal <= 1.0) | {first:.2f} |",
        f"| `challenge run`: its first finished step (loading the data) | {step:.2f} |",
        "",
        "Steps of the median run, s:",
        "",
        "| step | s |",
        "| --- | ---: |",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in middle["steps"]),
        "",
        "Slowest imports before `--help` answers (`python -X importtime`, cumulative):",
        "",
        "```",
        *import_times("import challengers.cli.main"),
        "```",
        "",
        "and before `challenge run` reads its data (the heavy libraries come later, in a "
        "background thread or where a step needs them):",
        "",
        "```",
        *import_times(
            "import challengers.cli.main, challengers.cli.output, challengers.config, "
            "challengers.pipeline"
        ),
        "```",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("handbook_fixed", text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument(
        "--fixed", action="store_true", help="only the fixed-cost section (handbook_fixed)"
    )
    parser.add_argument(  # the benchmark's own child process, not for people
        "--plain", nargs=2, metavar=("DATA", "DIRECTORY"), type=Path, help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.plain:
        plain_script(*args.plain)
    elif args.fixed:
        fixed_cost()
    else:  # `make bench`: both sections
        main()
        fixed_cost()
