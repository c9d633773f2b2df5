"""A real sqlite store while a run logs to it: runs that log the same new dataset at once all
succeed, and a store that fails under a run is one line (exit 3), not MLflow's traceback."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from challengers.errors import EnvironmentFailure
from challengers.tracking.writing import DatasetRef, Tracker

TRAIN = DatasetRef("/data/tx.parquet", "demo-train", "abcd1234abcd1234", "train", {"a": "Float32"})


def test_runs_logging_one_new_dataset_at_once_all_succeed(tmp_path: Path) -> None:
    """MLflow reads the dataset table, then inserts: released together, every run but the first
    to commit broke the table's key (3 of 4 trials of 4 processes failed before the retry)."""
    for trial in range(4):
        path = tmp_path / f"store{trial}.db"
        failures = _log_at_once(f"sqlite:///{path}", runs=8)
        assert not failures, f"trial {trial}: {failures[0]}"
        with sqlite3.connect(path) as db:
            assert db.execute("select count(*) from datasets").fetchone() == (1,)
            assert db.execute("select count(*) from inputs").fetchone() == (8,)


def _log_at_once(uri: str, runs: int) -> list[BaseException]:
    """``runs`` runs of one experiment, released together to log the same dataset."""
    Tracker(uri).start("shared", "setup", {})
    Tracker(uri).finish()
    released = threading.Barrier(runs)
    failures: list[BaseException] = []

    def log(name: str) -> None:
        tracker = Tracker(uri)  # MLflow keeps the active run per thread
        tracker.start("shared", name, {})
        released.wait()
        try:
            tracker.log_parent(datasets=[TRAIN])
        except BaseException as exc:
            failures.append(exc)
        tracker.finish()

    threads = [threading.Thread(target=log, args=(f"run{i}",)) for i in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def test_a_store_failing_under_a_run_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    tracker = Tracker(f"sqlite:///{path}")
    tracker.start("broken", "run", {})
    with sqlite3.connect(path) as db:  # the store loses a table the run writes to
        db.execute("drop table datasets")
    with pytest.raises(EnvironmentFailure) as raised:
        tracker.log_parent(params={"seed": 7}, datasets=[TRAIN])
    tracker.finish("FAILED")
    message = str(raised.value)
    assert message.startswith(f"tracking store sqlite:///{path} failed while logging the run's ")
    assert "no such table: datasets" in message
    assert "\n" not in message
