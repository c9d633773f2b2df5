"""A run holds only what its steps need (issue 15): the windows' rows without the rest of the
loaded rows, and the same numbers as when every loaded row was kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from challengers.config import ExperimentConfig
from challengers.pipeline import RunOptions, prepare
from challengers.progress import SilentProgress
from tests.conftest import sim_config


@pytest.mark.parametrize("exclude", [True, False])
def test_windows_loaded_alone_equal_the_windows_cut_from_every_row(
    sim_parquet: Path, exclude: bool
) -> None:
    raw = sim_config(sim_parquet)
    raw["split"]["exclude_known_frauds"] = exclude
    cfg = ExperimentConfig.model_validate(raw)
    whole = prepare(cfg, RunOptions(), SilentProgress())
    lean = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False)
    assert whole.history is not None and lean.history is None
    assert_frame_equal(lean.split.train, whole.split.train)
    assert_frame_equal(lean.split.test, whole.split.test)  # same rows, same order
    assert lean.split.excluded_rows == whole.split.excluded_rows
    assert (lean.split.excluded_rows > 0) == exclude
    assert lean.split.excluded_positives == whole.split.excluded_positives
    assert lean.data_print == whole.data_print  # every loaded row, gap days included
    assert lean.data_print.windows["loaded"] > lean.split.train.height + lean.split.test.height


def test_a_model_reading_history_keeps_every_loaded_row(sim_parquet: Path) -> None:
    graph = {
        "name": "graph",
        "kind": "graph",
        "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [7]},
        "model": {"kind": "lightgbm", "params": {"n_estimators": 5}},
    }
    raw = sim_config(sim_parquet, challengers=[graph])
    raw["data"]["drop"] = ["TX_FRAUD_SCENARIO", "DEVICE_ID"]
    cfg = ExperimentConfig.model_validate(raw)
    prepared = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False)
    assert prepared.history is not None
    assert prepared.history.height == prepared.data_print.windows["loaded"]
