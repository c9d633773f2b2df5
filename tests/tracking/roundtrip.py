"""The registry round trip a validator makes, shared by the sqlite and the server tests.

The first line's champion is a registered model ``fraud`` whose alias ``champion`` points at
version 1. A run evaluates ``models:/fraud@champion`` and registers its challengers as new versions
of ``fraud``; a person promotes one (``challenge promote``), which moves ``fraud@champion``; the
run's replication still evaluates version 1; once version 1 is deleted, it exits 2 and says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
from typer.testing import CliRunner

from challengers.cli.main import app
from tests.conftest import sim_config

runner = CliRunner()
CHAMPION_FEATURES = ["TX_AMOUNT", "TX_HOUR", "MCC", "CUSTOMER_NB_TX_1D", "AMOUNT_TO_AVG_30D"]
REGISTERED = "fraud"


def log_champion(uri: str, frame: pl.DataFrame, rounds: int = 20) -> str:
    """Train the first line's LightGBM champion, log it, register it as ``fraud`` and point
    ``fraud@champion`` at it; returns its version."""
    import lightgbm as lgb
    import mlflow

    train = frame.filter(pl.col("TX_DATETIME") < pl.datetime(2024, 1, 31))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 1},
        lgb.Dataset(
            train.select(CHAMPION_FEATURES).to_numpy(),
            train.get_column("TX_FRAUD").to_numpy(),
            feature_name=CHAMPION_FEATURES,
        ),
        rounds,
    )
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("first-line")
    with mlflow.start_run():
        info = mlflow.lightgbm.log_model(booster, name="first-line-lgbm")
    version = mlflow.register_model(info.model_uri, REGISTERED)
    mlflow.MlflowClient(uri).set_registered_model_alias(REGISTERED, "champion", version.version)
    return str(version.version)


def write_project(root: Path, data: Path) -> Path:
    """A project as a validator keeps it: configs/ and data/ in a git repository; the config
    reads ``../data/...`` (MLflow must log the dataset's normalised absolute path)."""
    (root / "configs").mkdir(parents=True)
    (root / "data").mkdir()
    shutil.copy(data, root / "data" / "tx.parquet")
    config: dict[str, Any] = sim_config(root / "data" / "tx.parquet")
    config["data"]["path"] = "../data/tx.parquet"
    config["description"] = "Second-line validation of the card-fraud champion, Q1"
    config["champion"] = {"name": "first-line", "model": f"models:/{REGISTERED}@champion"}
    config["challengers"] = [
        {"name": "lgbm", "kind": "lightgbm", "params": {"num_leaves": 31, "n_estimators": 40}},
        {"name": "xgb", "kind": "xgboost", "params": {"max_depth": 3, "n_estimators": 20}},
    ]
    config["evaluation"]["bootstrap"] = 50
    config["tracking"] = {"register": {"name": REGISTERED, "alias": "challenger"}}
    path = root / "configs" / "experiment.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "configs"], check=True)
    subprocess.run([*git, "commit", "-qm", "config"], check=True)
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))
