"""Optuna tuning: what a tuned LightGBM gains over its untuned twin, and what the search costs.

On the demo data (and the handbook data with a 21-day training window, when ../shared is present):
one `challenge run` (the library, in-process) with the untuned demo LightGBM and a tuned LightGBM
(30 trials or 5 minutes). Reports the tuning wall time, trials finished and pruned, seconds per
trial, the best validation PR-AUC against the first trial (the library defaults), and both models'
test PR-AUC with their paired-bootstrap difference. Writes the `tuning` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import HANDBOOK, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
TUNE = {"trials": 30, "timeout_s": 300, "metric": "pr_auc", "max_rounds": 1000}
THREADS = 2
NOTE = (
    "The search stops at 30 trials or 5 minutes, whichever comes first (the trials column "
    "says which). A validation gain "
    "need not carry to the test window (handbook row, a 4-day validation slice): the report "
    "shows both numbers. Δ test is the point difference; see the run's paired bootstrap for "
    "its interval."
)


def demo_config() -> dict[str, Any]:
    from challengers.config import load_config

    raw = load_config(ROOT / "configs" / "demo.yaml").model_dump(mode="json")
    twin = next(c for c in raw["challengers"] if c["name"] == "lgbm")
    raw["challengers"] = [twin, {"name": "lgbm-tuned", "kind": "lightgbm", "tune": TUNE}]
    return raw


def handbook_config() -> dict[str, Any]:
    features = [
        "TX_AMOUNT",
        "TX_DURING_WEEKEND",
        "TX_DURING_NIGHT",
        *[f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "AVG_AMOUNT")],
        *[f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "RISK")],
    ]
    twin = {
        "name": "lgbm",
        "kind": "lightgbm",
        "params": {"n_estimators": 200, "learning_rate": 0.05},
    }
    return {
        "name": "bench-tuning-handbook",
        "seed": 42,
        "data": {
            "path": str(HANDBOOK),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "features": features,
        },
        "split": {
            "train": {"start": "2018-07-11", "end": "2018-07-31"},
            "test": {"start": "2018-08-08", "end": "2018-08-14"},
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {"name": "lgbm-default", "retrain": {"kind": "lightgbm"}},
        "challengers": [twin, {"name": "lgbm-tuned", "kind": "lightgbm", "tune": TUNE}],
    }


def run(raw: dict[str, Any], label: str) -> str:
    from challengers.config import ExperimentConfig
    from challengers.pipeline import RunOptions, run_experiment
    from challengers.progress import SilentProgress

    raw = {**raw, "threads": THREADS}
    raw["evaluation"] = {"metrics": ["roc_auc", "pr_auc"], "bootstrap": 200}
    cfg = ExperimentConfig.model_validate(raw)
    with tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(output_dir=Path(tmp) / "out", tracking_uri=f"sqlite:///{tmp}/m.db")
        started = time.perf_counter()
        result = run_experiment(cfg, options, SilentProgress())
        wall = time.perf_counter() - started
    by_name = {m.name: m for m in result.models}
    tuned, twin = by_name["lgbm-tuned"], by_name["lgbm"]
    t = tuned.tuning
    delta = tuned.metrics["pr_auc"] - twin.metrics["pr_auc"]
    line = (
        f"| {label} | {result.data.rows_train:,} | {t['trials']} ({t['pruned']} pruned) | "
        f"{wall:.0f} s | {t['best_value']:.4f} ({t['defaults_value'] or float('nan'):.4f}) | "
        f"{twin.metrics['pr_auc']:.4f} | "
        f"{tuned.metrics['pr_auc']:.4f} | {delta:+.4f} | {t['best_params']} |"
    )
    print(line, flush=True)
    return line


def main() -> int:
    rows = [run(demo_config(), "demo")]
    if HANDBOOK.exists():
        rows.append(run(handbook_config(), "handbook, 21-day training"))
    body = "\n".join(
        [
            "## Tuning (bench/bench_tuning.py)",
            "",
            machine(),
            "",
            f"LightGBM tuned with {TUNE} and {THREADS} threads, against its untuned twin "
            "(demo: the demo's `lgbm` challenger; handbook: 200 rounds, learning rate 0.05). "
            "Validation: the last fifth of the training window after the 7-day label-delay gap. "
            "Wall time: the whole run (data, champion, both challengers, 200 bootstrap "
            "replicates, MLflow).",
            "",
            "| data | training rows | trials | run wall time | best validation PR-AUC "
            "(library defaults) | "
            "twin test PR-AUC | tuned test PR-AUC | Δ test | best parameters |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            NOTE,
        ]
    )
    write_section("tuning", body)
    return 0


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " ")).parse_args()
    sys.exit(main())
