"""A run holds only what its steps need (issue 15): the windows' rows without the rest of the
loaded rows, and the same numbers as when every loaded row was kept; under a memory limit, a run
that fits completes and one that cannot says so before it loads or trains (exit 3)."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from challengers.analysis import suite
from challengers.config import ExperimentConfig
from challengers.errors import DataError
from challengers.pipeline import RunOptions, prepare
from challengers.pipeline.checkpoint import Checkpoints
from challengers.pipeline.evaluating import evaluate
from challengers.pipeline.outputs import INPUT_EXAMPLE_ROWS
from challengers.pipeline.run import _fit_all, run_experiment
from challengers.progress import SilentProgress
from challengers.replication.fingerprint import fingerprint_frame
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
    # the training rows without what only labels test rows (the id, the segments)
    dropped = set(whole.split.train.columns) - set(lean.split.train.columns)
    assert dropped == {"TRANSACTION_ID", "REGION", "CARD_TYPE"}
    assert_frame_equal(lean.split.train, whole.split.train.select(lean.split.train.columns))
    assert_frame_equal(lean.split.test, whole.split.test)  # same rows, same order
    assert lean.split.excluded_rows == whole.split.excluded_rows
    assert (lean.split.excluded_rows > 0) == exclude
    assert lean.split.excluded_positives == whole.split.excluded_positives
    assert lean.data_print == whole.data_print  # every loaded row, gap days included
    assert lean.data_print.windows["loaded"] > lean.split.train.height + lean.split.test.height


@pytest.mark.parametrize("segments", [["REGION", "CARD_TYPE"], ["REGION", "CUSTOMER_ID"]])
def test_the_training_frame_without_its_label_columns_gives_the_same_numbers(
    sim_parquet: Path, tmp_path: Path, segments: list[str]
) -> None:
    """A run lets go of the training rows' id and segments once they are fingerprinted: every
    model, test metric, in-sample metric and interval is what the whole frame gave. A segment
    that is also the entity stays (the in-sample metrics read it): dropped with the segments,
    the evaluation stopped on a missing column."""
    raw = sim_config(sim_parquet)
    raw["data"]["segments"] = segments
    cfg = ExperimentConfig.model_validate(raw).resolved()
    numbers = []
    for keep_history in (True, False):
        progress, out = SilentProgress(), tmp_path / f"out-{keep_history}"
        prepared = prepare(cfg, RunOptions(output_dir=out), progress, keep_history=keep_history)
        store = Checkpoints(out, cfg.fingerprint(), prepared.fingerprint)
        fitted = _fit_all(cfg, prepared, out, progress, store, resume=False)
        evaluated = evaluate(cfg, prepared, fitted, progress)
        numbers.append(
            (
                {n: (e.metrics, e.ci) for n, e in evaluated.evaluations.items()},
                evaluated.analyses.stability.train_metrics,
            )
        )
    assert numbers[0] == numbers[1]


@pytest.mark.parametrize("keep_history", [True, False])
def test_the_windows_columns_are_held_in_one_chunk_each(
    sim_frame: pl.DataFrame, tmp_path: Path, keep_history: bool
) -> None:
    """Read from many row groups, polars cuts a window's columns into different numbers of
    chunks, and then any eager select or filter of the window copies all of it first (0.46 GB
    at 30M rows to select one column of the test window): the loaded windows come in one chunk
    per column, with the same rows in the same order."""
    path = tmp_path / "row-groups.parquet"
    sim_frame.write_parquet(path, row_group_size=2_000)
    cfg = ExperimentConfig.model_validate(sim_config(path))
    prepared = prepare(cfg, RunOptions(), SilentProgress(), keep_history=keep_history)
    for window in (prepared.split.train, prepared.split.test):
        assert window.n_chunks("all") == [1] * window.width
    reference = prepare(
        ExperimentConfig.model_validate(sim_config(_one_row_group(sim_frame, tmp_path))),
        RunOptions(),
        SilentProgress(),
    )
    assert_frame_equal(prepared.split.test, reference.split.test)
    assert prepared.fingerprint == reference.fingerprint


@pytest.mark.parametrize("keep_history", [True, False])
def test_label_columns_are_held_as_categories_with_the_files_text(
    sim_frame: pl.DataFrame, sim_parquet: Path, keep_history: bool
) -> None:
    """Segment columns of text are held as categories (a 4-byte code a row instead of a 16-byte
    view): the same text row for row, the same fingerprint (hashed as text)."""
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    prepared = prepare(cfg, RunOptions(), SilentProgress(), keep_history=keep_history)
    # a run (no history) keeps the segments on the test rows alone, once fingerprinted
    windows = [prepared.split.test] + ([prepared.split.train] if keep_history else [])
    for window in windows:
        assert window.schema["REGION"] == window.schema["CARD_TYPE"] == pl.Categorical
        assert window.schema["TRANSACTION_ID"] == sim_frame.schema["TRANSACTION_ID"]
        text = window.select("TRANSACTION_ID", pl.col("REGION", "CARD_TYPE").cast(pl.String))
        in_file = text.select("TRANSACTION_ID").join(
            sim_frame.select("TRANSACTION_ID", "REGION", "CARD_TYPE"),
            on="TRANSACTION_ID",
            how="left",
            maintain_order="left",
        )
        assert_frame_equal(text, in_file)
        as_text = window.with_columns(pl.col("REGION", "CARD_TYPE").cast(pl.String))
        assert fingerprint_frame(window) == fingerprint_frame(as_text)


def _one_row_group(frame: pl.DataFrame, directory: Path) -> Path:
    path = directory / "one-row-group.parquet"
    frame.write_parquet(path, row_group_size=frame.height)
    return path


@pytest.mark.parametrize(("value", "said"), [(float("inf"), "infinite"), (-1e300, "float32")])
def test_an_infinity_in_the_gap_is_refused_as_from_every_row(
    sim_frame: pl.DataFrame, tmp_path: Path, value: float, said: str
) -> None:
    """The gap between the windows is streamed, not kept: its infinities are still counted, and
    so are the values a model's float32 matrix would hold as infinities."""
    gap_day = pl.col("TX_DATETIME").dt.date() == date(2024, 2, 24)  # between SIM_TRAIN and SIM_TEST
    # float64 (the simulator writes this feature as float32, which would make -1e300 infinite)
    feature = pl.when(gap_day).then(value).otherwise(pl.col("AMOUNT_TO_AVG_30D").cast(pl.Float64))
    path = tmp_path / "inf.parquet"
    sim_frame.with_columns(feature.alias("AMOUNT_TO_AVG_30D")).write_parquet(path)
    cfg = ExperimentConfig.model_validate(sim_config(path))
    errors = []
    for keep in (True, False):
        with pytest.raises(DataError) as caught:
            prepare(cfg, RunOptions(), SilentProgress(), keep_history=keep)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert "AMOUNT_TO_AVG_30D" in errors[0] and said in errors[0]


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


def test_the_evaluation_lets_go_of_the_training_rows_once_it_has_read_them(
    sim_parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the in-sample metrics, nothing holds the training window's rows or scores (0.85 GB at
    30M rows in the file); the counts and the input examples are what is left of them."""
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet)).resolved()
    progress, out = SilentProgress(), tmp_path / "out"
    prepared = prepare(cfg, RunOptions(output_dir=out), progress, keep_history=False)
    store = Checkpoints(out, cfg.fingerprint(), prepared.fingerprint)
    fitted = _fit_all(cfg, prepared, out, progress, store, resume=False)
    target = prepared.plan.spec.target
    counts, head = prepared.split.summary(target), prepared.split.train.head(INPUT_EXAMPLE_ROWS)
    window = weakref.ref(prepared.split.train)
    scores = [weakref.ref(f.train_scores) for f in fitted if f.train_scores is not None]
    assert len(scores) == len(fitted) and window().height > 1000  # type: ignore[union-attr]
    ranked_with_the_frame: list[bool] = []

    def watched(*args: object, **kwargs: object) -> object:  # each in-sample ranking
        gc.collect()
        ranked_with_the_frame.append(window() is not None)
        return evaluate_rows(*args, **kwargs)

    evaluate_rows = suite._evaluate
    monkeypatch.setattr(suite, "_evaluate", watched)
    evaluated = evaluate(cfg, prepared, fitted, progress)
    monkeypatch.undo()
    # the frame went once read, before the first model's in-sample ranking
    assert ranked_with_the_frame[: len(fitted)] == [False] * len(fitted)
    gc.collect()
    assert window() is None and all(s() is None for s in scores)
    assert prepared.split.summary(target) == counts and prepared.split.train.equals(head)
    assert evaluated.analyses.stability.train_metrics.keys() == {f.plan.name for f in fitted}


def test_a_run_holds_the_training_rows_no_longer_than_the_evaluation(
    sim_parquet: Path, tmp_path: Path
) -> None:
    """Nothing in the run (a local name, a checkpoint, the audit) keeps the training frame past
    the in-sample step: at 100M rows it was 2.4 GB held through the evaluation and diagnostics."""
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet)).resolved()
    frames: list[weakref.ref[pl.DataFrame]] = []
    held: list[bool] = []  # at the evaluation's start: is the training frame still alive?

    class Watching(SilentProgress):
        @contextlib.contextmanager
        def stage(self, description: str, total: int | None = None) -> Iterator[Any]:
            if description.startswith("Evaluating"):
                gc.collect()
                held.append(frames[0]() is not None)
            with super().stage(description, total) as advance:
                yield advance

    options = RunOptions(
        output_dir=tmp_path / "out",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        verify=lambda prepared: frames.append(weakref.ref(prepared.split.train)),
    )
    run_experiment(cfg, options, Watching())
    assert frames and held == [False]


# ------------------------------------------------------------------ under an address-space limit

LIMITED = """
import resource, sys
import challengers.cli.main, challengers.pipeline.run  # what the run imports, mapped before the limit
import lightgbm, mlflow.lightgbm, mlflow.xgboost, xgboost
import matplotlib.backends.backend_agg, matplotlib.figure
import challengers.engine.rowhash_kernels  # numba, llvmlite (185 MB): the warm-up's first import

with open("/proc/self/status") as status:
    mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
limit = mapped + int(float(sys.argv[1]) * 2**30)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["challenge", "run", *sys.argv[2:]]
challengers.cli.main.main()
"""
# One thread and one malloc arena everywhere, Arrow on the system allocator (mimalloc reserves a
# GB of address space at its first allocation): what the libraries reserve does not depend on the
# machine's cores, and the limit measures the run's own memory.
LIMITED_ENV = {
    "POLARS_MAX_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "1",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "CHALLENGE_PDF": "off",
}
SPARSE, DENSE, WIDTH = 1_000, 25_000, 32  # rows a day in the windows and in the gap; features
HEADROOM_GB = 0.6  # the address space the run may add to what the imports mapped (see below)


def gap_heavy(path: Path) -> None:
    """60 days: 1,000 rows a day in the first and last 10 (the windows), 25,000 a day between
    them (the gap): 1.02M rows of 32 float64 features, ~280 MB once decoded, ~37 MB on disk."""
    rng = np.random.default_rng(0)
    per_day = [SPARSE if d < 10 or d >= 50 else DENSE for d in range(60)]
    rows = sum(per_day)
    micros = np.repeat(np.arange(60), per_day) * 86_400_000_000
    micros += np.sort(rng.integers(0, 86_400_000_000, rows))
    x = rng.integers(0, 16, (rows, WIDTH)).astype(np.float64)
    columns: dict[str, object] = {
        "TX_DATETIME": np.datetime64("2024-01-01T00:00:00", "us")
        + np.sort(micros).astype("timedelta64[us]"),
        "CUSTOMER_ID": rng.integers(0, rows // 20, rows),
        "TX_FRAUD": (x[:, 0] + x[:, 1] + rng.normal(0, 4, rows) > 30).astype(np.int8),
    }
    columns.update({f"F{i}": x[:, i] for i in range(WIDTH)})
    pl.DataFrame(columns).write_parquet(path, row_group_size=65_536)


def run_limited(
    tmp_path: Path, headroom_gb: float, train: tuple[str, str]
) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "gap.parquet"
    if not data.exists():
        gap_heavy(data)
    cfg = {
        "name": "limit",
        "seed": 1,
        "threads": 1,
        "data": {
            "path": str(data),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "entity": "CUSTOMER_ID",
        },
        "split": {
            "train": {"start": train[0], "end": train[1]},
            "test": {"start": "2024-02-20", "end": "2024-02-29"},
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {"name": "c", "retrain": {"kind": "lightgbm", "params": {"n_estimators": 5}}},
        "challengers": [{"name": "x", "kind": "xgboost", "params": {"n_estimators": 5}}],
        "evaluation": {"metrics": ["roc_auc"], "bootstrap": 0},
    }
    path = tmp_path / "limit.yaml"
    path.write_text(yaml.safe_dump(cfg))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [str(headroom_gb), str(path), "-o", str(tmp_path / "out"), "--tracking-uri", store, "-q"]
    return subprocess.run(
        [sys.executable, "-c", LIMITED, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **LIMITED_ENV},
        cwd=tmp_path,
        timeout=600,
    )


def test_a_run_completes_under_a_limit_the_code_before_issue_15_exceeded(tmp_path: Path) -> None:
    """The whole run (load, audit, two models, evaluation, diagnostics, report, MLflow) under
    RLIMIT_AS: the address space mapped after the imports plus HEADROOM_GB. Measured with this
    probe without a limit (VmPeak less the mapped size), on the windows of 10 + 10 sparse days
    around a gap of 40 dense days: main before this change (1c92ca9: the gap loaded whole for the
    fingerprint) grew the address space by 0.86 GB, so it fails under this limit; this code
    (the gap read a day at a time) by 0.33 GB."""
    done = run_limited(tmp_path, HEADROOM_GB, ("2024-01-01", "2024-01-10"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "comparison.json").exists()


def test_a_run_that_cannot_fit_says_so_in_one_line_before_loading(tmp_path: Path) -> None:
    """Training on the 30 dense days needs ~0.3 GB (the rows loaded, the float32 matrix): with
    0.2 GB added to the limit, the run stops before it loads the rows, exit 3, one line.

    What the run maps before its check (threads' stacks, the environment's description read in a
    thread, the parquet footers) took 86-98 MB of that headroom: with 0.1 GB, 2-14 MB was left and
    one CI run in many aborted (SIGABRT) before it reached the check."""
    done = run_limited(tmp_path, 0.2, ("2024-01-11", "2024-02-09"))
    assert done.returncode == 3, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: memory: loading and training need about 0.")
    assert "750,000 training rows x 32 features x 4 bytes" in lines[0]
    assert "address-space limit (ulimit -v)" in lines[0] and "split.train" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written
