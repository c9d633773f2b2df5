"""Benchmark: challengers on Spark against the local engine, on simulated transactions.

For N rows over the demo's 91 days (training window: February; test: March 8-31), the XGBoost
challenger of the scale benchmark (depth 6, eta 0.1, 200 rounds): trained locally (the driver's
polars rows, every core) and by ``xgboost.spark`` on ``local[2]`` (2 workers), each scored on the
test rows and its ROC-AUC; and the stratified sample a LightGBM challenger fits on (drawn on Spark,
brought to the driver). Wall times of this machine, not of a cluster: ``local[2]`` runs the two
workers on the same two cores the local engine uses.

    .venv/bin/python bench/bench_spark_training.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _results import machine, write_section  # bench/ is on sys.path when run as a script
from sklearn.metrics import roc_auc_score

from challengers.data.frames import DataSpec, labels
from challengers.data.split import Windows
from challengers.engine.base import ModelFile
from challengers.engine.spark import SparkEngine
from challengers.models.tree import XGBoostChallenger
from challengers.models.trees import library

CHALLENGE = str(Path(sys.executable).parent / "challenge")
PARAMS = {"max_depth": 6, "eta": 0.1, "n_estimators": 200}
FEATURES = ("TX_AMOUNT", "IS_ONLINE", "MCC", "TX_HOUR", "TX_DURING_NIGHT", "TX_DURING_WEEKEND",
            "CUSTOMER_NB_TX_1D", "CUSTOMER_AVG_AMOUNT_30D", "AMOUNT_TO_AVG_30D")  # fmt: skip
COLUMNS = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD", *FEATURES]
WINDOWS = Windows(
    train_start=date(2024, 2, 1),
    train_end=date(2024, 2, 29),
    test_start=date(2024, 3, 8),
    test_end=date(2024, 3, 31),
    label_delay_days=7,
    exclude_known_frauds=True,
)
SAMPLE = 200_000


def timed(step: object) -> tuple[object, float]:
    started = time.perf_counter()
    return step(), time.perf_counter() - started  # type: ignore[operator]


def measure(rows: int, folder: Path) -> str:
    data = folder / "sim.parquet"
    command = [CHALLENGE, "simulate", "--rows", str(rows), "--days", "91", "--seed", "1", "-q"]
    subprocess.run([*command, "--out", str(data)], check=True)
    engine = SparkEngine.start(
        "local[2]", {"spark.ui.enabled": "false", "spark.driver.memory": "4g"}
    )
    engine.session.sparkContext.setLogLevel("ERROR")
    try:
        loaded = engine.load_days(
            str(data), columns=COLUMNS, time="TX_DATETIME", target="TX_FRAUD",
            start=WINDOWS.first_day, end=WINDOWS.last_day,
        )  # fmt: skip
        parts = engine.split(loaded, WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID")
        train, test = engine.to_polars(parts.train), engine.to_polars(parts.test)
        y = labels(test, "TX_FRAUD")
        spec = DataSpec(target="TX_FRAUD", time="TX_DATETIME", features=FEATURES)
        local = XGBoostChallenger(PARAMS, seed=1, threads=os.cpu_count())
        _, local_fit = timed(lambda: local.fit(train, spec))
        local_scores, local_score = timed(lambda: local.predict_score(test))
        spread = XGBoostChallenger(PARAMS, seed=1)
        _, spark_fit = timed(lambda: spread.fit_on_engine(engine, parts.train, spec, workers=2))
        path = spread.save(folder)
        model = ModelFile(str(path), library("xgboost"), FEATURES)
        spark_scores, spark_score = timed(lambda: engine.scores_of(parts.test, model))
        sample, sample_time = timed(
            lambda: engine.sample(parts.train, target="TX_FRAUD", size=SAMPLE, seed=1)
        )
    finally:
        engine.close()
    return (
        f"| {rows:,} | {train.height:,} | {local_fit:.1f} s | {spark_fit:.1f} s "
        f"| {local_score:.1f} s | {spark_score:.1f} s "
        f"| {roc_auc_score(y, local_scores):.4f} | {roc_auc_score(y, spark_scores):.4f} "
        f"| {sample_time:.1f} s ({sample.height:,} rows) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args()
    lines = []
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            lines.append(measure(rows, Path(folder)))
            print(lines[-1], flush=True)
    write_section(
        "spark-training",
        f"""## Challengers on Spark (`bench/bench_spark_training.py`)

{machine()}

XGBoost (depth 6, eta 0.1, 200 rounds) trained on the driver's rows with every core (local) and by
`xgboost.spark` on `local[2]` with 2 workers (Spark), scored on the test window (local: in
process; Spark: on the executors from the native file), and the stratified sample
(`engine.sample_rows: {SAMPLE:,}`) a LightGBM challenger fits on, drawn on Spark and brought to the
driver. On one machine both use the same two cores, so this is not a cluster's speed-up; on a
loaded machine (other sessions' jobs) the local fit's OpenMP threads lose more than Spark's two
single-threaded tasks. Scoring on Spark reads the test window again (parquet, the known-fraud
join) and sorts the scores into the driver's row order.

| rows | training rows | fit local | fit Spark | score local | score Spark | ROC-AUC local | ROC-AUC Spark | sample |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
"""
        + "\n".join(lines),
    )


if __name__ == "__main__":
    main()
