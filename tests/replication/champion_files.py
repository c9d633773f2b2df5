"""Champion model files for the tests of a champion replaced at the same path."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl

from tests.conftest import DEMO_CHAMPION, SIM_FEATURES

FEATURES = list(SIM_FEATURES)  # what the demo champion reads, columns of the simulated data


def copy_demo_champion(path: Path) -> Path:
    shutil.copyfile(DEMO_CHAMPION, path)
    return path


def replace_with_another_model(path: Path, frame: pl.DataFrame) -> None:
    """Another XGBoost model of the same inputs saved over ``path``: what a first line delivering
    a new version in place of the old one does."""
    import xgboost

    rows = frame.head(5_000)
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1)
    model.fit(rows.select(FEATURES).to_numpy(), rows.get_column("TX_FRAUD").to_numpy())
    booster = model.get_booster()
    booster.feature_names = FEATURES
    booster.save_model(str(path))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
