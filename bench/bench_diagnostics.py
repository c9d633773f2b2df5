"""Time the diagnostics suite (operating point, stability, segments, calibration, SHAP, curves)
on a large synthetic test window.

    .venv/bin/python bench/bench_diagnostics.py                 # the cases below, into RESULTS.md
    .venv/bin/python bench/bench_diagnostics.py --rows 1000000 --bootstrap 200   # one case, printed

Scores are synthetic (three models), one real LightGBM is explained on the SHAP sample. With
--bootstrap 0 the weekly intervals and the savings interval are skipped, so the time is the
diagnostics' own; with --bootstrap B they ride on the evaluation's paired bootstrap.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, datetime

import numpy as np
import polars as pl
from _results import machine, write_section  # bench/ is on sys.path when run as a script

from challengers.analysis.budget import budget_from_rate
from challengers.analysis.suite import AnalysisInput, Settings, analyse
from challengers.data.frames import DAY, DataSpec
from challengers.evaluation.curve import Cost
from challengers.evaluation.metrics import parse_metric
from challengers.models.tree import LightGBMChallenger

FEATURES = tuple(f"f{i}" for i in range(20))


def window(rows: int, first: date, days: int, rng: np.random.Generator) -> pl.DataFrame:
    y = (rng.random(rows) < 0.01).astype(np.int8)
    day = np.sort(rng.integers(0, days, rows))
    start = datetime.combine(first, datetime.min.time())
    columns = {f: rng.normal(0, 1, rows).astype(np.float32) for f in FEATURES}
    columns["f0"] += y * 1.5
    frame = pl.DataFrame(
        {
            "y": y,
            "amount": rng.gamma(2.0, 40.0, rows),
            "entity": rng.integers(0, rows // 20, rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "card": rng.choice(["credit", "debit", "prepaid"], rows, p=[0.3, 0.65, 0.05]),
            **columns,
        }
    ).with_columns(
        (pl.lit(start) + pl.duration(days=pl.Series(day))).alias("t"),
    )
    return frame.with_columns(pl.col("t").dt.date().alias(DAY))


CASES = ((100_000, 0), (1_000_000, 0), (1_000_000, 200))


def one_case(rows: int, bootstrap: int) -> float:
    """Seconds of ``analyse`` on ``rows`` train + ``rows`` test rows."""
    rng = np.random.default_rng(0)
    train = window(rows, date(2024, 1, 1), 28, rng)
    test = window(rows, date(2024, 2, 5), 28, rng)
    model = LightGBMChallenger({"n_estimators": 100}, seed=0, threads=1)
    spec = DataSpec(
        "y", "t", FEATURES, amount="amount", entity="entity", segments=("region", "card")
    )
    model.fit(train.head(50_000), spec)

    def scores(frame: pl.DataFrame, noise: float) -> np.ndarray:
        y = frame.get_column("y").to_numpy()
        return 1 / (1 + np.exp(-(-4.5 + 3 * y + rng.normal(0, noise, len(y)))))

    names = {"champ": 1.2, "c1": 1.0, "c2": 1.4}
    inp = AnalysisInput(
        train=train,
        test=test,
        spec=spec,
        scores={n: scores(test, s) for n, s in names.items()},
        train_scores={n: scores(train, s) for n, s in names.items()},
        calibrated=dict.fromkeys(names, True),
        models={"c1": model},
        champion="champ",
        champion_inputs=FEATURES,
        metrics=[parse_metric(m) for m in ("roc_auc", "pr_auc", "precision_at_alerts@0.005")],
        cost=Cost(5.0, None),
        budget=budget_from_rate(test.height, 0.005),
        train_end=date(2024, 1, 28),
        test_start=date(2024, 2, 5),
        test_end=date(2024, 3, 3),
        bootstrap=bootstrap,
        alpha=0.05,
        seed=1,
        settings=Settings(),
    )
    started = time.perf_counter()
    result = analyse(inp)
    elapsed = time.perf_counter() - started
    print(
        f"analyse: {rows:,} train + {rows:,} test rows, 3 models, 20 features, "
        f"bootstrap {bootstrap}: {elapsed:.1f} s "
        f"(SHAP on {result.explanations.sample_rows:,} rows)",
        flush=True,
    )
    return elapsed


SECTION_NOTE = """With bootstrap 0 the time is the diagnostics' own (per-day metrics for the decay slopes, PSI,
segments with Fisher tests, reliability, ROC/PR points, SHAP). With a bootstrap, the weekly
intervals and the savings interval call the evaluation's paired bootstrap (`evaluate_models`); in
a real run the savings interval reuses the evaluation's own `expected_cost` replicates when that
metric is configured, and the weekly intervals use `evaluation.diagnostics.weekly_bootstrap`
(200) replicates."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int)
    parser.add_argument("--bootstrap", type=int, default=0)
    args = parser.parse_args()
    if args.rows:
        one_case(args.rows, args.bootstrap)
        return
    header = machine()
    timings = [(rows, boot, one_case(rows, boot)) for rows, boot in CASES]
    lines = [
        "## Diagnostics (operating point, stability, segments, calibration, SHAP, curves)",
        "",
        "`bench/bench_diagnostics.py`: `analysis.suite.analyse` on synthetic data, 3 models "
        "(synthetic scores), 20 features (feature PSI), 2 segment columns, 28 test days, one "
        "LightGBM (100 trees) explained on the 2,000-row SHAP sample.",
        "",
        header,
        "",
        "| rows (train + test) | bootstrap | analyse s |",
        "| ---: | ---: | ---: |",
        *(f"| {rows:,} + {rows:,} | {boot} | {s:.1f} |" for rows, boot, s in timings),
        "",
        SECTION_NOTE,
    ]
    write_section("diagnostics", "\n".join(lines))


if __name__ == "__main__":
    main()
