"""Benchmark of the paired bootstrap (issue 3): 1,000 replicates x 3 models x 1M test rows.

Each case runs in its own subprocess so its peak memory is its own. Cases: the engine with entity
blocks (default metrics + entity precision), with row blocks, with day blocks; the cold start (an
empty numba cache: compile time); and the previous engine (multinomial counts, (B, n) weight
matrices, numpy cumsums) next to the new one on a smaller size. Writes its section of
bench/RESULTS.md (``--no-write``: print only).

    .venv/bin/python bench/bench_bootstrap.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from _results import machine, peak_rss_mb, write_section

DEFAULT = [
    "roc_auc",
    "pr_auc",
    "recall_at_fpr@0.01",
    "precision_at_alerts@0.005",
    "expected_cost",
    "brier",
    "ks",
]


def simulate(rows: int, models: int, seed: int = 0) -> dict:
    """Cards with bursts of fraud (~1% of rows), 10 transactions per card, 7 days, and ``models``
    correlated calibrated scores."""
    rng = np.random.default_rng(seed)
    cards = rows // 10
    entity = rng.integers(0, cards, rows)
    compromised = rng.random(cards) < 0.02
    y = (rng.random(rows) < np.where(compromised[entity], 0.45, 0.001)).astype(np.float64)
    shared = 1.6 * y + 0.6 * rng.normal(size=cards)[entity] + rng.normal(size=rows)
    scores = {
        f"model{i}": 1 / (1 + np.exp(-(shared + 0.2 * i * y + rng.normal(size=rows) - 5)))
        for i in range(models)
    }
    return {
        "y": y,
        "amount": rng.lognormal(3.5, 1.0, rows),
        "entity": np.unique(entity, return_inverse=True)[1],
        "day": rng.integers(0, 7, rows),
        "scores": scores,
    }


def run_case(case: dict) -> dict:
    """One case, in this process: returns its timings and memory."""
    from challengers.evaluation.bootstrap import paired_bootstrap
    from challengers.evaluation.curve import Cost, Ranked
    from challengers.evaluation.metrics import parse_metric

    data = simulate(case["rows"], case["models"])
    unit = case["unit"]
    metrics = DEFAULT + (["entity_precision_at@100"] if unit != "row" else [])
    specs = [parse_metric(m) for m in metrics]
    t0 = time.perf_counter()
    ranked = {
        name: Ranked.build(
            data["y"],
            s,
            amount=data["amount"],
            entity=data["entity"],
            day=data["day"],
            calibrated=True,
        )
        for name, s in data["scores"].items()
    }
    rank_s = time.perf_counter() - t0
    rss_before = peak_rss_mb()
    blocks = {"entity": data["entity"], "day": data["day"], "row": None}[unit]
    kwargs = {
        "replicates": case["replicates"],
        "seed": 1,
        "cost": Cost(5.0, None),
        "operating_rate": 0.005,
    }
    # load (or compile) the kernels first: a once-per-process cost, reported apart
    cpu0, t0 = time.process_time(), time.perf_counter()
    if case["engine"] == "new":
        tiny = {name: Ranked.build(r.y[:2000], r.score[:2000]) for name, r in ranked.items()}
        paired_bootstrap(tiny, specs[:1], replicates=1, seed=0, cost=Cost(), operating_rate=0.01)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    cpu0, t0 = time.process_time(), time.perf_counter()
    if case["engine"] == "old":
        _old_engine(ranked, specs, blocks=blocks, **kwargs)  # type: ignore[arg-type]
    else:
        paired_bootstrap(ranked, specs, blocks=blocks, unit=unit, **kwargs)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        **case,
        "metrics": len(specs),
        "positives": int(data["y"].sum()),
        "rank_s": rank_s,
        "load_s": load_s,
        "load_cpu_s": load_cpu,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def _old_engine(ranked, metrics, *, replicates, seed, cost, operating_rate, blocks):  # type: ignore[no-untyped-def]
    """The engine this replaces (commit ebcd8fa), verbatim in substance, for the comparison."""
    from challengers.evaluation.curve import Curve
    from challengers.evaluation.metrics import compute

    n = next(iter(ranked.values())).n
    rng = np.random.default_rng(seed)
    chunk = max(1, min(replicates, 4_000_000 // n))
    n_blocks = int(blocks.max()) + 1 if blocks is not None else n
    done = 0
    while done < replicates:
        b = min(chunk, replicates - done)
        draws = rng.integers(0, n_blocks, size=(b, n_blocks))
        offsets = (np.arange(b) * n_blocks)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=b * n_blocks)
        counts = counts.reshape(b, n_blocks).astype(np.float64)
        weights = counts if blocks is None else counts[:, blocks]
        for r in ranked.values():
            curve = Curve(r, weights, cost)
            for m in metrics:
                compute(m, curve, operating_rate)
        done += b


def spawn(case: dict, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(case)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--old-rows", type=int, default=40_000)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    header = machine()
    big = {"rows": args.rows, "models": args.models, "replicates": args.replicates}
    small = {**big, "rows": args.old_rows}
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        cold = {**small, "rows": 20_000, "replicates": 8, "unit": "entity", "engine": "new"}
        rows.append(("cold start (empty numba cache)", spawn(cold, {"NUMBA_CACHE_DIR": cache})))
    for label, case in [
        ("entity blocks", {**big, "unit": "entity", "engine": "new"}),
        ("row blocks", {**big, "unit": "row", "engine": "new"}),
        ("day blocks", {**big, "unit": "day", "engine": "new"}),
        ("entity blocks, small", {**small, "unit": "entity", "engine": "new"}),
        ("previous engine, entity blocks, small", {**small, "unit": "entity", "engine": "old"}),
    ]:
        rows.append((label, spawn(case)))
        print(label, json.dumps(rows[-1][1]), flush=True)
    text = report(rows, header, os.getloadavg()[0])
    print(text)
    if not args.no_write:
        write_section("bootstrap", text)


def report(rows: list, header: str, load_after: float) -> str:
    lines = [
        "## Paired bootstrap (issue 3)",
        "",
        f"{header} · load average at the end {load_after:.1f} · `bench/bench_bootstrap.py`. When "
        "the load average exceeds the cores, wall times include waiting for a core; CPU time is "
        "the work done (2 threads).",
        "",
        "| case | rows | models | replicates | metrics | wall s | CPU s | ranking s | kernel load s (CPU) | peak RSS MB (before bootstrap) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['rows']:,} | {r['models']} | {r['replicates']:,} | {r['metrics']} | "
            f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['rank_s']:.2f} | {r['load_s']:.1f} ({r['load_cpu_s']:.1f}) | "
            f"{r['peak_rss_mb']:.0f} ({r['rss_before_mb']:.0f}) |"
        )
    lines += [
        "",
        "Wall and CPU are the bootstrap call alone (every replicate, every model, every metric), "
        "after the rows are ranked once per model (`ranking s`). Metrics: roc_auc, pr_auc, "
        "recall_at_fpr@0.01, precision_at_alerts@0.005, expected_cost, brier, ks, and "
        "entity_precision_at@100 unless rows are the blocks. `kernel load s` is the once-per-process "
        "cost of loading the compiled kernels from numba's cache (`cache=True`, in `__pycache__`); "
        "in the cold start it is the compilation.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
