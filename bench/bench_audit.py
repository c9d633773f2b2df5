"""Benchmark of the data audit on simulated data: time per check and peak memory.

    .venv/bin/python bench/bench_audit.py --rows 10000000

The data is simulated once into bench/out/ (row groups of one day), then audited lazily with the
same config shape as the demo. Results are printed as a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date, timedelta
from pathlib import Path

import yaml

from challengers.audit.runner import audit_plan
from challengers.config import load_config
from challengers.plan import make_plan
from challengers.simulate import SimulationSpec, expected_days_for, simulate

OUT = Path(__file__).resolve().parent / "out"


def data(rows: int) -> tuple[Path, SimulationSpec]:
    spec = SimulationSpec(rows=rows, seed=1, days=expected_days_for(rows))
    path = OUT / f"audit-{rows}.parquet"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        simulate(spec, path)
        print(f"simulated {rows:,} rows in {time.perf_counter() - started:.0f}s")
    return path, spec


def config(path: Path, spec: SimulationSpec) -> Path:
    end = spec.start + timedelta(days=spec.days - 1)
    test_end = end - timedelta(days=7)
    test_start = test_end - timedelta(days=13)
    train_end = test_start - timedelta(days=8)
    train_start = train_end - timedelta(days=27)
    cfg = {
        "name": "bench-audit",
        "data": {
            "path": str(path),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "drop": ["TX_FRAUD_SCENARIO", "TERMINAL_ID", "DEVICE_ID"],
            "segments": ["REGION", "CARD_TYPE"],
        },
        "split": {
            "train": {"start": str(train_start), "end": str(train_end)},
            "test": {"start": str(test_start), "end": str(test_end)},
            "exclude_known_frauds": True,
        },
        "champion": {"retrain": {"kind": "lightgbm"}},
    }
    out = OUT / "bench-audit.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    path, spec = data(args.rows)
    cfg = load_config(config(path, spec))
    plan = make_plan(cfg)
    started = time.perf_counter()
    result = audit_plan(plan, cfg.evaluation.findings, seed=1, out=OUT / "audit")
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        "| rows | columns | total s | peak RSS GB | " + " | ".join(result.summary["seconds"]) + " |"
    )
    print(
        f"| {args.rows:,} | {result.summary['columns']} | {total:.1f} | {peak:.2f} | "
        + " | ".join(f"{v:.1f}" for v in result.summary["seconds"].values())
        + " |"
    )
    print("findings:", [(f.severity, f.id) for f in result.findings])
    print("day:", date.today())


if __name__ == "__main__":
    main()
