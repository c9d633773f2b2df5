"""A clean twin raises no alarm (issue 18): on simulated data with no planted problem, a champion
that is the challenger's own model class, trained on the same window with another seed, gives no
high-severity finding in at least 19 of 20 seeds.

Each seed simulates its own data (the planted label copy ``TX_FRAUD_SCENARIO`` removed) and goes
through the run's own steps: the data checks and audit, both fits, the evaluation (200 paired
bootstrap replicates, entity blocks) and every finding rule. Only the writing of outputs and the
MLflow logging (three quarters of a run's time here, and no finding comes from them) are left out,
so 20 runs stay affordable. The count is recorded in bench/RESULTS.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from challengers.config import load_config
from challengers.pipeline.auditing import audit_in_run
from challengers.pipeline.checkpoint import Checkpoints
from challengers.pipeline.evaluating import evaluate
from challengers.pipeline.prepare import RunOptions, prepare
from challengers.pipeline.run import _findings, _fit_all
from challengers.progress import SilentProgress
from challengers.replication.agreement import check_champion
from challengers.results import Finding
from challengers.simulate import simulate_frame
from tests.conftest import sim_config

SEEDS = 20
ROWS = 60_000  # about 9,000 test rows, 60-100 frauds
# no shared-device rings: at this scale one ring's hundred frauds doubles or halves the fraud rate
# between windows (label drift, rightly reported as miscalibration of both models)
WORLD = {
    "compromised_terminals_per_10k": 4.0,
    "compromised_customers_per_10k": 10.0,
    "rings_per_100k_customers": 0.0,
}
TREE = {"n_estimators": 100, "learning_rate": 0.05, "bagging_fraction": 0.8, "bagging_freq": 1}


def clean_twin_findings(seed: int, root: Path) -> list[Finding]:
    """Every finding of a run of lightgbm against a lightgbm champion differing only by its seed."""
    root.mkdir(parents=True)
    frame = simulate_frame(ROWS, seed=seed, days=70, **WORLD).drop("TX_FRAUD_SCENARIO")
    frame.write_parquet(root / "data.parquet")
    config = sim_config(root / "data.parquet", seed=seed)
    config["data"]["drop"] = ["TERMINAL_ID", "DEVICE_ID"]
    # scored on every test row, as in training: excluding known-fraud cards lowers the test fraud
    # rate below the training one, which the calibration rule rightly reports for both models
    config["split"]["exclude_known_frauds"] = False
    config["champion"] = {
        "name": "champ",
        "retrain": {"kind": "lightgbm", "params": {**TREE, "seed": 1000 + seed}},
    }
    config["challengers"] = [{"name": "lgbm", "kind": "lightgbm", "params": TREE}]
    config["evaluation"] = {
        "metrics": ["pr_auc", "roc_auc", "precision_at_alerts@0.01", "entity_precision_at@20"],
        "bootstrap": 200,
        "diagnostics": {"explain_rows": 200, "weekly_bootstrap": 50},
    }
    (root / "experiment.yaml").write_text(yaml.safe_dump(config))
    cfg = load_config(root / "experiment.yaml").resolved()
    progress, out = SilentProgress(), root / "out"
    prepared = prepare(cfg, RunOptions(output_dir=out), progress)
    audit = audit_in_run(cfg, prepared.plan, out, progress)
    store = Checkpoints(out, cfg.fingerprint(), prepared.fingerprint)
    fitted = _fit_all(cfg, prepared, out, progress, store, resume=False)
    agreement = check_champion(
        cfg.champion, fitted[0].scores, prepared.split.test, cfg.evaluation.findings.score_tolerance
    )
    evaluated = evaluate(cfg, prepared, fitted, progress)
    return _findings(cfg, prepared, evaluated, agreement, audit)


@pytest.mark.slow
def test_a_clean_twin_raises_no_high_finding(tmp_path: Path) -> None:
    alarms = {}
    for seed in range(SEEDS):
        high = [
            f.id for f in clean_twin_findings(seed, tmp_path / str(seed)) if f.severity == "high"
        ]
        if high:
            alarms[seed] = high
    assert SEEDS - len(alarms) >= 19, alarms
