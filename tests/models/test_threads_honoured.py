"""A run's `threads` bounds the champion's scoring and every model's explanations: an XGBoost
champion file predicted with every core (the file holds no thread count), and LightGBM's SHAP
contributions were computed with OpenMP's default, whatever the run said.

Measured as the process's CPU seconds over wall seconds while the library works: one thread
cannot exceed 1 by more than the interpreter's own bookkeeping."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.analysis.explain import explain
from challengers.models.champion import load_model_file
from challengers.models.tree import LightGBMChallenger
from tests.models.contract import EASY_FEATURES, ChallengerContract, easy_frame

ROOT = Path(__file__).resolve().parents[2]
ONE_THREAD = 1.3  # CPU seconds per wall second at most, for one thread

pytestmark = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing to bound")


def _cores_used(work: Callable[[], object], seconds: float = 0.5) -> float:
    """CPU over wall seconds of ``work`` repeated for about ``seconds``."""
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        work()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def test_the_champion_file_scores_on_the_runs_threads() -> None:
    frame = pl.read_parquet(ROOT / "data" / "demo.parquet")
    champion = load_model_file(
        str(ROOT / "data" / "champion.json"), features=None, schema=frame.schema
    )
    champion.threads = 1  # what the plan sets from the run's config
    champion.fit(frame.head(1000), ChallengerContract().make_spec())
    rows = frame.head(100_000)
    assert _cores_used(lambda: champion.predict_score(rows)) <= ONE_THREAD


def test_explanations_run_on_the_runs_threads() -> None:
    model = LightGBMChallenger({"n_estimators": 60, "num_leaves": 31}, seed=1, threads=2)
    model.fit(easy_frame(5_000, seed=1), ChallengerContract().make_spec())
    x = np.asarray(easy_frame(2_000, seed=2).select(EASY_FEATURES).to_numpy(), dtype=np.float32)
    booster = model.native_model()
    assert _cores_used(lambda: explain("m", booster, x, EASY_FEATURES, threads=1)) <= ONE_THREAD
