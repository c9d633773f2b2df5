"""The driver's memory in the evaluation and the diagnostics, at the test window of a 100M-row run.

    .venv/bin/python bench/bench_eval_memory.py                  # 17.4M test rows, into RESULTS.md
    .venv/bin/python bench/bench_eval_memory.py --rows 3000000   # one size, printed
    .venv/bin/python bench/bench_eval_memory.py --data /work/simdata/sim-100000000.parquet

The steps `pipeline/evaluating.evaluate` takes after the fits, on the test rows a narrow Spark run
holds on its driver (the named columns and the day, no feature: bench_scale's experiment at 100M
rows gives 17.4M test rows): the test rows as the metrics see them, the columns read no more let
go, every model's ranking, the demo's nine metrics with 1,000 entity-bootstrap replicates and the
paired tests, then the diagnostics (operating point, weekly and daily stability, segments,
calibration, curves). Three models' scores are synthetic; the training window's references come
from 200,000 rows. A thread samples the resident memory every 5 ms: each step's peak, in GB and in
bytes a test row above what is held before the evaluation starts (the test frame and the scores).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
from _results import machine, write_section  # bench/ is on sys.path when run as a script

from challengers.allocator import map_large_blocks, release_freed_memory
from challengers.analysis.budget import resolve_budget
from challengers.analysis.suite import AnalysisInput, Settings, analyse, training_window
from challengers.data.frames import DAY, DataSpec
from challengers.evaluation.curve import Cost
from challengers.evaluation.evaluate import TestRows, evaluate_models, rank_all
from challengers.evaluation.metrics import parse_metric

TEST_ROWS = 17_400_000  # the test window of bench_scale's experiment at 100M rows in the file
METRICS = (
    "pr_auc",
    "roc_auc",
    "recall_at_fpr@0.01",
    "precision_at_alerts@0.02",
    "entity_precision_at@100",
    "value_detection_at_alerts@0.02",
    "expected_cost",
    "brier",
    "ks",
)
SPEC = DataSpec(
    "y",
    "t",
    (),
    amount="amount",
    entity="entity",
    segments=("region", "card"),
    scenario="scenario",
    id="id",
)
STATM = Path("/proc/self/statm")
READ_NO_MORE = ["t", "id", "entity"]  # evaluating._read_no_more: timestamps, keys, entities


class Peaks:
    """The process's resident memory, sampled in a thread: the highest in each named step."""

    def __init__(self) -> None:
        self.step = "setup"
        self.highest: dict[str, float] = {}
        self._page = os.sysconf("SC_PAGE_SIZE")
        threading.Thread(target=self._sample, daemon=True).start()

    def resident_gb(self) -> float:
        return int(STATM.read_text().split()[1]) * self._page / 2**30

    def _sample(self) -> None:
        while True:
            step, now = self.step, self.resident_gb()
            self.highest[step] = max(self.highest.get(step, 0.0), now)
            time.sleep(0.005)


def window(rows: int, first: date, days: int, rng: np.random.Generator) -> pl.DataFrame:
    """Rows as a narrow run's driver holds the test window: the named columns and the day."""
    y = (rng.random(rows) < 0.01).astype(np.int8)
    day = np.sort(rng.integers(0, days, rows))
    start = np.datetime64(datetime.combine(first, datetime.min.time()), "us")
    seconds = day * 86_400 + rng.integers(0, 86_400, rows)
    frame = pl.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "entity": rng.integers(0, max(rows // 20, 10), rows),
            "amount": rng.gamma(2.0, 40.0, rows),
            "y": y,
            "region": pl.Series(rng.choice(["north", "south", "east", "west"], rows)),
            "card": pl.Series(rng.choice(["credit", "debit", "prepaid"], rows)),
            "scenario": (y * rng.integers(1, 5, rows)).astype(np.int8),
            "t": start + seconds.astype("timedelta64[s]"),
        }
    ).with_columns(pl.col("region", "card").cast(pl.Categorical))
    return frame.with_columns(pl.col("t").dt.date().alias(DAY)).rechunk()


def simulated_window(path: str, rows: int) -> pl.DataFrame:
    """At most ``rows`` test rows (Mar 8-31) of a `challenge simulate` file, every k-th (all 24
    days), named and held as :func:`window`'s: the simulator's entities, days, amounts, frauds
    and scenarios."""
    start, end = datetime(2024, 3, 8), datetime(2024, 4, 1)
    days = pl.scan_parquet(path).filter(pl.col("TX_DATETIME").is_between(start, end, closed="left"))
    every = -(-days.select(pl.len()).collect().item() // rows)
    frame = (
        days.gather_every(every)
        .select(
            pl.col("TRANSACTION_ID").alias("id"),
            pl.col("CUSTOMER_ID").alias("entity"),
            pl.col("TX_AMOUNT").alias("amount"),
            pl.col("TX_FRAUD").cast(pl.Int8).alias("y"),
            pl.col("REGION").cast(pl.Categorical).alias("region"),
            pl.col("CARD_TYPE").cast(pl.Categorical).alias("card"),
            pl.col("TX_FRAUD_SCENARIO").cast(pl.Int8).alias("scenario"),
            pl.col("TX_DATETIME").alias("t"),
        )
        .collect()
    )
    return frame.with_columns(pl.col("t").dt.date().alias(DAY)).rechunk()


def scores(y: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return 1 / (1 + np.exp(-(-4.5 + 3 * y + rng.normal(0, noise, y.size))))


def one_case(rows: int, data: str | None = None) -> dict[str, float]:
    """Each step's peak resident GB, the held rows' (``held``), and the steps' seconds; ``data``:
    the test rows of a simulated file, their scores rounded to float32 (ties, as an XGBoost
    model's), else synthetic rows."""
    map_large_blocks()  # as `challenge run` does from its start
    rng = np.random.default_rng(0)
    peaks = Peaks()
    train = window(200_000, date(2024, 2, 1), 28, rng)
    test = simulated_window(data, rows) if data else window(rows, date(2024, 3, 8), 24, rng)
    noise = {"champion": 1.2, "lgbm": 1.0, "xgb": 1.4}
    y = test.get_column("y").to_numpy()
    test_scores = {name: scores(y, s, rng) for name, s in noise.items()}
    if data:
        test_scores = {n: s.astype(np.float32).astype(np.float64) for n, s in test_scores.items()}
    metrics = [parse_metric(m) for m in METRICS]
    budget = resolve_budget(test_scores["champion"], rate=0.02, threshold=None)
    calibrated = dict.fromkeys(noise, True)
    inp = AnalysisInput(
        train=train,
        test=test,
        spec=SPEC,
        scores=test_scores,
        train_scores={name: scores(train["y"].to_numpy(), s, rng) for name, s in noise.items()},
        calibrated=calibrated,
        models={},
        champion="champion",
        champion_inputs=(),
        metrics=metrics,
        cost=Cost(5.0, None),
        budget=budget,
        train_end=date(2024, 2, 29),
        test_start=date(2024, 3, 8),
        test_end=date(2024, 3, 31),
        bootstrap=1000,
        alpha=0.05,
        seed=42,
        settings=Settings(),
    )
    inp.training, inp.train = training_window(inp), None
    del train, y
    release_freed_memory()
    time.sleep(0.1)
    held = peaks.resident_gb()
    started = time.perf_counter()
    peaks.step = "evaluation"
    rows_ = TestRows.from_frame(test, target="y", amount="amount", entity="entity")
    inp.test = test = test.drop(READ_NO_MORE)
    ranked = rank_all(rows_, test_scores, calibrated)
    evaluations = evaluate_models(
        rows_,
        test_scores,
        calibrated,
        champion="champion",
        metrics=metrics,
        cost=inp.cost,
        operating_rate=budget.rate,
        bootstrap=1000,
        alpha=0.05,
        seed=42,
        primary="pr_auc",
        ranked=ranked,
    )
    for r in ranked.values():
        r.forget_entity_days()
    release_freed_memory()
    evaluated = time.perf_counter()
    peaks.step = "diagnostics"
    inp.test_metrics = {n: dict(e.metrics) for n, e in evaluations.items()}
    inp.cost_deltas = {n: e.delta["expected_cost"] for n, e in evaluations.items() if e.delta}
    inp.test_rows, inp.ranked = rows_, ranked
    analyse(inp)
    done = time.perf_counter()
    peaks.step = "done"
    time.sleep(0.05)
    out = {"held": held, "rows": rows_.y.size, "evaluation_s": evaluated - started}
    out["diagnostics_s"] = done - evaluated
    out.update({step: peaks.highest[step] for step in ("evaluation", "diagnostics")})
    return out


def per_row(gb: float, held: float, rows: int) -> float:
    return (gb - held) * 2**30 / rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int)
    parser.add_argument("--data", help="a simulated parquet file: its test rows, not synthetic")
    args = parser.parse_args()
    got = one_case(args.rows or TEST_ROWS, args.data)
    rows = int(got["rows"])
    table = [
        f"| {step} | {got[step]:.2f} | {per_row(got[step], got['held'], rows):.0f} | "
        f"{got[f'{step}_s']:.0f} |"
        for step in ("evaluation", "diagnostics")
    ]
    lines = [
        f"{rows:,} test rows ({args.data or 'synthetic'}); held before the evaluation (the test frame and three models' "
        f"scores, the libraries): {got['held']:.2f} GB",
        "",
        "| step | peak GB | bytes a test row above the held | s |",
        "| --- | ---: | ---: | ---: |",
        *table,
    ]
    print("\n".join(lines))
    if not args.rows and not args.data:
        heading = "## The evaluation's and diagnostics' memory (`bench/bench_eval_memory.py`)"
        write_section("evaluation-memory", "\n".join([heading, "", machine(), "", *lines]))


if __name__ == "__main__":
    main()
