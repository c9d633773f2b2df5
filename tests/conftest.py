"""Shared fixtures: simulated data, a real sqlite MLflow store per test, configs, the handbook."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from challengers.simulate import simulate_frame

# No report.pdf in the suite's runs (a headless browser per run would double the suite's time);
# tests/report/test_report_run.py turns it back on for its run.
os.environ.setdefault("CHALLENGE_PDF", "off")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CHALLENGE_SHARED", ROOT.parent / "shared"))
HANDBOOK = SHARED / "data" / "handbook_transactions.parquet"

SIM_START = "2024-01-01"
SIM_TRAIN = {"start": "2024-01-31", "end": "2024-02-20"}
SIM_TEST = {"start": "2024-02-28", "end": "2024-03-10"}


@pytest.fixture(scope="session")
def sim_frame() -> pl.DataFrame:
    """70 days of simulated transactions (about 40k rows), every fraud scenario present."""
    return simulate_frame(40_000, seed=11, days=70)


@pytest.fixture(scope="session")
def sim_parquet(tmp_path_factory: pytest.TempPathFactory, sim_frame: pl.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("sim") / "transactions.parquet"
    sim_frame.write_parquet(path)
    return path


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh, real sqlite MLflow store for one test."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def sim_config(data_path: Path, **overrides: Any) -> dict[str, Any]:
    """A valid experiment config (as a dict) over the simulated data; ``overrides`` replace keys."""
    config: dict[str, Any] = {
        "name": "sim",
        "seed": 7,
        "threads": 1,  # the suite runs two workers on two cores: no oversubscription
        "data": {
            "path": str(data_path),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "drop": ["TX_FRAUD_SCENARIO", "TERMINAL_ID", "DEVICE_ID"],
            "segments": ["REGION", "CARD_TYPE"],
        },
        "split": {
            "train": dict(SIM_TRAIN),
            "test": dict(SIM_TEST),
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {
            "name": "champ",
            "retrain": {"kind": "lightgbm", "params": {"n_estimators": 30}},
        },
        "challengers": [
            {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 50}},
            {"name": "xgb", "kind": "xgboost", "params": {"n_estimators": 50}},
        ],
        "evaluation": {
            "metrics": ["roc_auc", "pr_auc", "precision_at_alerts@0.01", "entity_precision_at@20"],
            "bootstrap": 100,
        },
    }
    for key, value in overrides.items():
        config[key] = value
    return config


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config dict as YAML in the test's directory and return its path."""

    def write(config: dict[str, Any], name: str = "experiment.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def handbook_path() -> Path:
    if not HANDBOOK.exists():
        pytest.skip(f"the shared handbook data is absent ({HANDBOOK})")
    return HANDBOOK
