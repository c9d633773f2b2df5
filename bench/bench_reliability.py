"""Benchmark: what reliability costs — the full parse of a CSV (broken-row check), writing and
restoring a model's checkpoint, and the time from Ctrl-C to exit.

    .venv/bin/python bench/bench_reliability.py [--csv-rows 1000000 5000000]
                                                [--checkpoint-rows 1000000 10000000]

Writes the "Reliability" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, write_section

from challengers.data.frames import scan
from challengers.models.tree import LightGBMChallenger
from challengers.pipeline.checkpoint import Checkpoints
from challengers.simulate import simulate_frame


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def csv_parse(rows: int, tmp: Path) -> str:
    """scan() of a CSV (schema + the full-parse check) against polars' schema read alone, and
    against loading the columns a run needs."""
    path = tmp / f"tx-{rows}.csv"
    simulate_frame(rows, seed=1, days=90).write_csv(path)
    size = path.stat().st_size / 2**20
    plain, _ = _timed(lambda: pl.scan_csv(path, infer_schema_length=10_000).collect_schema())
    checked, _ = _timed(lambda: scan(str(path)))
    needed = ["TX_DATETIME", "TX_FRAUD", "TX_AMOUNT", "CUSTOMER_ID", "MCC", "TX_HOUR"]
    load, _ = _timed(lambda: pl.scan_csv(path, infer_schema_length=10_000).select(needed).collect())
    path.unlink()
    return f"| {rows:,} | {size:,.0f} MB | {plain:.2f} s | {checked:.2f} s | {load:.2f} s |"


def checkpoint(rows: int, tmp: Path) -> str:
    """keep() and reuse() of a fitted LightGBM challenger scored on ``rows`` test rows."""
    from challengers.data.frames import DataSpec
    from challengers.pipeline import Fitted
    from challengers.pipeline.plan import ModelPlan

    train = simulate_frame(50_000, seed=2, days=30)
    features = ("TX_AMOUNT", "TX_HOUR", "MCC", "CUSTOMER_NB_TX_1D", "AMOUNT_TO_AVG_30D")
    spec = DataSpec("TX_FRAUD", "TX_DATETIME", features, id="TRANSACTION_ID")
    model = LightGBMChallenger({"n_estimators": 200}, threads=1).fit(train, spec)
    test = pl.DataFrame({"TRANSACTION_ID": np.arange(rows, dtype=np.int64)})
    prepared: Any = SimpleNamespace(
        split=SimpleNamespace(test=test), plan=SimpleNamespace(spec=spec)
    )
    plan = ModelPlan("lgbm", "challenger", "lightgbm", features)
    scores = np.random.default_rng(0).random(rows)
    fitted = Fitted(plan=plan, model=model, scores=scores, train_scores=scores[: rows // 4])
    store = Checkpoints(tmp / f"out-{rows}", "c" * 16, "d" * 32)
    write, _ = _timed(lambda: store.keep(fitted, prepared))
    directory = tmp / f"out-{rows}" / "models" / "lgbm"
    size = sum(p.stat().st_size for p in directory.iterdir()) / 2**20
    reader = Checkpoints.open(
        store.out, config_hash="c" * 16, data_fingerprint="d" * 32, resume=True
    )
    read, restored = _timed(lambda: reader.reuse(plan, prepared))
    assert restored is not None and np.array_equal(restored.scores, scores)
    assert isinstance(restored.model.native_model(), lgb.Booster)
    return f"| {rows:,} | {size:,.0f} MB | {write:.2f} s | {read:.2f} s |"


def interrupt_latency(tmp: Path) -> str:
    """Seconds from SIGINT (sent while a challenger trains) to the process's exit."""
    data = tmp / "sim.parquet"
    simulate_frame(40_000, seed=11, days=70).write_parquet(data)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import sim_config

    cfg = sim_config(data)
    cfg["evaluation"]["bootstrap"] = 20
    cfg["challengers"] = [
        {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 10}},
        {"name": "slow", "kind": "lightgbm", "params": {"n_estimators": 100_000}},
    ]
    config = tmp / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp / "interrupted"
    challenge = str(Path(sys.executable).parent / "challenge")
    command = [
        challenge,
        "run",
        str(config),
        "-o",
        str(out),
        "-q",
        "--tracking-uri",
        f"sqlite:///{tmp / 'm.db'}",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    while not (out / "models" / "lgbm" / "checkpoint.json").exists():
        time.sleep(0.01)
    time.sleep(2.0)  # well inside the slow model's training
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    return f"{time.perf_counter() - sent:.2f} s (exit {process.returncode})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv-rows", type=int, nargs="*", default=[1_000_000, 5_000_000])
    parser.add_argument("--checkpoint-rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        csv = [csv_parse(n, tmp) for n in args.csv_rows]
        checkpoints = [checkpoint(n, tmp) for n in args.checkpoint_rows]
        latency = interrupt_latency(tmp)
    body = "\n".join(
        [
            "## Reliability (`bench/bench_reliability.py`)",
            "",
            machine(),
            "",
            "A CSV is parsed in full once when it is scanned (polars reads only the columns a "
            "query needs and would miss a broken row). Cost against reading its schema alone and "
            "against loading six columns (18-column simulated transactions):",
            "",
            "| rows | CSV size | schema only | scan() with the full-parse check | load 6 columns |",
            "| ---: | ---: | ---: | ---: | ---: |",
            *csv,
            "",
            "A model's checkpoint (LightGBM, 200 trees; test scores with their ids, training "
            "scores for a quarter as many rows): written when the model finishes, read by "
            "`--resume`:",
            "",
            "| test rows | on disk | write | restore |",
            "| ---: | ---: | ---: | ---: |",
            *checkpoints,
            "",
            f"Ctrl-C during a LightGBM training to the process's exit (runs marked KILLED): "
            f"{latency}.",
        ]
    )
    write_section("reliability", body)
    print(body)


if __name__ == "__main__":
    main()
