"""`challenge run` against the script a validator would otherwise write, side by side in one run.

The same work in both: the same simulated file (10M rows over the demo's 91 days by default), the
demo's windows (train February, a 7-day label delay, test 8-31 March, customers with a known fraud
left out of the test days), the first line's XGBoost champion file (data/champion.json), the same
LightGBM and XGBoost challengers (150 rounds each), 3 metrics (ROC AUC, average precision, card
precision@100), no bootstrap, and MLflow: a parent run and one child run per model with the model
logged. The script is pandas + scikit-learn metrics + LightGBM + XGBoost + MLflow, written plainly
(it is this file, run with ``--script``). The tool does more on top: the data audit, the
diagnostics, the report.

Each of ``--pairs`` pairs runs the tool and the script, one after the other, each a process of its
own on a store that already exists; the medians are reported: wall time, peak memory (the
process's max RSS) and the models' own fit + predict seconds.

    .venv/bin/python bench/bench_script_vs_tool.py                  # 10M rows, 2 pairs
    .venv/bin/python bench/bench_script_vs_tool.py --rows 1000000 --pairs 1
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
from pathlib import Path
from typing import Any

import yaml
from _results import TOOL_ENV, machine, progress_steps, write_section

ROOT = Path(__file__).resolve().parents[1]
CHALLENGE = str(Path(sys.executable).parent / "challenge")
DAYS = 91
DEMO = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
# the script does what the tool's config says: the demo's windows, the champion file's own inputs
TRAIN = (str(DEMO["split"]["train"]["start"]), str(DEMO["split"]["train"]["end"]))
TEST = (str(DEMO["split"]["test"]["start"]), str(DEMO["split"]["test"]["end"]))
DELAY = int(DEMO["split"]["label_delay_days"])
FEATURES: list[str] = json.loads((ROOT / "data" / "champion.json").read_text())["learner"][
    "feature_names"
]
LGBM = {"num_leaves": 31, "learning_rate": 0.1, "n_estimators": 150}
XGB = {"max_depth": 6, "learning_rate": 0.1, "n_estimators": 150}
SEED = 42


def tool_config(data: Path, directory: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())  # a copy to change
    cfg["data"]["path"] = str(data)
    cfg["data"]["features"] = FEATURES
    cfg["champion"] = {"name": "first-line-xgb", "model": str(ROOT / "data" / "champion.json")}
    cfg["challengers"] = [
        {"name": "lgbm", "kind": "lightgbm", "params": LGBM},
        {"name": "xgb", "kind": "xgboost", "params": XGB},
    ]
    cfg["evaluation"].update(
        metrics=["roc_auc", "pr_auc", "entity_precision_at@100"], bootstrap=0, primary="pr_auc"
    )
    path = directory / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_measured(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, the process's own peak RSS (GiB, from wait4) and its output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=TOOL_ENV)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed ({done.returncode}): {done.stderr[-500:]}")
    return wall, usage.ru_maxrss / 2**20, done


def run_tool(config: Path, directory: Path, store: str, index: int) -> dict:
    out = directory / f"tool-{index}"
    wall, peak, done = run_measured(
        [CHALLENGE, "run", str(config), "-o", str(out), "--tracking-uri", store]
    )
    comparison = json.loads((out / "comparison.json").read_text())
    models = sum(m["fit_seconds"] + m["predict_seconds"] for m in comparison["models"])
    return {
        "wall": wall,
        "peak": peak,
        "models": models,
        "steps": progress_steps(done.stderr),
        "metrics": {m["name"]: m["metrics"] for m in comparison["models"]},
    }


def run_script(data: Path, store: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--script", str(data), store]
    wall, peak, done = run_measured(command)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall": wall, "peak": peak, "models": report["models"], "metrics": report["metrics"]}


def create_store(uri: str) -> None:
    """The stores exist before the measured runs (a validator's store usually does)."""
    code = "import mlflow, sys; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    subprocess.run([sys.executable, "-c", code, uri], check=True)


# ------------------------------------------------------------------------------- the script


def script(data: Path, store: str) -> None:
    """What a validator writes by hand for the same comparison."""
    import lightgbm as lgb
    import mlflow
    import numpy as np
    import pandas as pd
    import xgboost as xgb
    from sklearn.metrics import average_precision_score, roc_auc_score

    columns = ["TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD", *FEATURES]
    df = pd.read_parquet(data, columns=columns)
    df["day"] = df["TX_DATETIME"].dt.normalize()
    train = df[df.day.between(pd.Timestamp(TRAIN[0]), pd.Timestamp(TRAIN[1]))]
    window = df[df.day.between(pd.Timestamp(TEST[0]), pd.Timestamp(TEST[1]))]
    frauds = df.loc[(df.TX_FRAUD == 1) & (df.day > pd.Timestamp(TRAIN[1])), ["day", "CUSTOMER_ID"]]
    known_in_train = set(train.loc[train.TX_FRAUD == 1, "CUSTOMER_ID"])
    parts = []
    for day, rows in window.groupby("day"):
        # on `day`, the frauds of the training window and of days up to day - DELAY - 1 are known
        later = frauds.loc[frauds.day < day - pd.Timedelta(days=DELAY), "CUSTOMER_ID"]
        parts.append(rows[~rows.CUSTOMER_ID.isin(known_in_train | set(later))])
    test = pd.concat(parts)
    del df, window

    def card_precision(frame: pd.DataFrame, scores: np.ndarray, k: int = 100) -> float:
        frame = frame[["day", "CUSTOMER_ID", "TX_FRAUD"]].assign(score=scores)
        detected: set = set()
        values = []
        for _, rows in frame.groupby("day"):
            rows = rows[~rows.CUSTOMER_ID.isin(detected)]
            top = (
                rows.groupby("CUSTOMER_ID")[["score", "TX_FRAUD"]]
                .max()
                .sort_values("score", ascending=False)
                .head(k)
            )
            found = set(top.index[top.TX_FRAUD == 1])
            values.append(len(found) / k)
            detected |= found
        return float(np.mean(values))

    def metrics(scores: np.ndarray) -> dict[str, float]:
        y = test.TX_FRAUD.to_numpy()
        return {
            "roc_auc": float(roc_auc_score(y, scores)),
            "pr_auc": float(average_precision_score(y, scores)),
            "entity_precision_at_100": card_precision(test, scores),
        }

    x_train = train[FEATURES].to_numpy(np.float32)
    y_train = train.TX_FRAUD.to_numpy()
    x_test = test[FEATURES].to_numpy(np.float32)
    timings = {}

    started = time.perf_counter()
    champion = xgb.Booster(model_file=str(ROOT / "data" / "champion.json"))
    scores: dict[str, Any] = {
        "first-line-xgb": champion.predict(xgb.DMatrix(x_test, feature_names=FEATURES))
    }
    timings["first-line-xgb"] = time.perf_counter() - started

    started = time.perf_counter()
    lgb_params = {k: v for k, v in LGBM.items() if k != "n_estimators"}
    booster_l = lgb.train(
        {"objective": "binary", "verbosity": -1, "seed": SEED, **lgb_params},
        lgb.Dataset(x_train, y_train, feature_name=FEATURES),
        int(LGBM["n_estimators"]),
    )
    scores["lgbm"] = booster_l.predict(x_test)
    timings["lgbm"] = time.perf_counter() - started

    started = time.perf_counter()
    xgb_params = {k: v for k, v in XGB.items() if k != "n_estimators"}
    booster_x = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "seed": SEED, **xgb_params},
        xgb.QuantileDMatrix(x_train, label=y_train, feature_names=FEATURES),
        int(XGB["n_estimators"]),
    )
    scores["xgb"] = booster_x.predict(xgb.DMatrix(x_test, feature_names=FEATURES))
    timings["xgb"] = time.perf_counter() - started

    results = {name: metrics(s) for name, s in scores.items()}
    boosters = {"first-line-xgb": champion, "lgbm": booster_l, "xgb": booster_x}
    mlflow.set_tracking_uri(store)
    mlflow.set_experiment("bench-script")
    with mlflow.start_run(run_name="script"):
        mlflow.log_params({"train": "..".join(TRAIN), "test": "..".join(TEST), "delay": DELAY})
        for name, values in results.items():
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.log_metrics(values)
                params = LGBM if name == "lgbm" else XGB if name == "xgb" else {}
                mlflow.log_params(params)
                flavour = mlflow.lightgbm if name == "lgbm" else mlflow.xgboost
                flavour.log_model(boosters[name], name=name, input_example=x_test[:3])
    print(json.dumps({"models": sum(timings.values()), "metrics": results}))


# ---------------------------------------------------------------------------------- report


def render(pairs: list[tuple[dict, dict]], rows: int, header: str, load_end: float) -> str:
    def median(side: int, key: str) -> float:
        return statistics.median(pair[side][key] for pair in pairs)

    tool_wall, script_wall = median(0, "wall"), median(1, "wall")
    lines = [
        "## `challenge run` against the script a validator would write (`bench/bench_script_vs_tool.py`)",
        "",
        f"{header} · load average at the end {load_end:.1f}",
        "",
        f"{rows:,} simulated rows over {DAYS} days; train {TRAIN[0]}..{TRAIN[1]}, label delay "
        f"{DELAY} days, test {TEST[0]}..{TEST[1]} (customers with a known fraud left out); the "
        "XGBoost champion file data/champion.json; LightGBM and XGBoost challengers, 150 rounds "
        "each; ROC AUC, average precision, card precision@100; no bootstrap; MLflow parent + one "
        "child run per model with the model logged, on a store that exists. The script: pandas + "
        "scikit-learn metrics + the same models + MLflow. Each side a process of its own, "
        f"alternating; median of {len(pairs)} pair(s). The tool also audits the data, runs the "
        "diagnostics and writes the report.",
        "",
        "| | wall s | peak RSS GiB | models' fit + predict s | the rest s |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| script (pandas + scikit-learn + MLflow) | {script_wall:.1f} | {median(1, 'peak'):.2f} "
        f"| {median(1, 'models'):.1f} | {script_wall - median(1, 'models'):.1f} |",
        f"| `challenge run` | {tool_wall:.1f} | {median(0, 'peak'):.2f} | "
        f"{median(0, 'models'):.1f} | {tool_wall - median(0, 'models'):.1f} |",
        f"| tool / script | {tool_wall / script_wall:.2f}× | "
        f"{median(0, 'peak') / median(1, 'peak'):.2f}× | | |",
        "",
        "Each pair (tool, script) wall s: "
        + ", ".join(f"({t['wall']:.1f}, {s['wall']:.1f})" for t, s in pairs)
        + ". The tool's steps (first pair), s:",
        "",
        "| step | s |",
        "| --- | ---: |",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in pairs[0][0]["steps"]),
    ]
    return "\n".join(lines)


def agree(tool: dict, script_: dict) -> list[str]:
    """Metrics that differ by more than the script's simpler exclusion rule can explain."""
    notes = []
    for name, values in script_["metrics"].items():
        for key, value in values.items():
            mine = tool["metrics"].get(name, {}).get(key)
            if mine is not None and abs(mine - value) > 0.02:
                notes.append(f"{name} {key}: tool {mine:.4f}, script {value:.4f}")
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--data", type=Path, help="an existing simulated file (else simulated)")
    args = parser.parse_args()
    header = machine()
    with tempfile.TemporaryDirectory(prefix="challenge-vs-script-") as tmp:
        directory = Path(tmp)
        data = args.data or directory / "sim.parquet"
        if args.data is None:
            command = [CHALLENGE, "simulate", "--rows", str(args.rows), "--days", str(DAYS)]
            subprocess.run([*command, "--out", str(data), "--seed", "1", "-q"], check=True)
        config = tool_config(data, directory)
        stores = {side: f"sqlite:///{directory / side}.db" for side in ("tool", "script")}
        for uri in stores.values():
            create_store(uri)
        pairs = []
        for index in range(args.pairs):
            tool = run_tool(config, directory, stores["tool"], index)
            script_ = run_script(data, stores["script"])
            pairs.append((tool, script_))
            print(json.dumps({"tool": tool["wall"], "script": script_["wall"]}), flush=True)
    text = render(pairs, args.rows, header, os.getloadavg()[0])
    differ = agree(*pairs[0])
    if differ:
        text += "\n\nMetrics that differ between the two: " + "; ".join(differ)
    print(text)
    write_section("script_vs_tool", text)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--script":
        script(Path(sys.argv[2]), sys.argv[3])
    else:
        main()
