"""Large windows spilled to a file's pages while the models train (pipeline/spill.py, issue 15):
the same frames, whose memory the kernel can take back, and the same run."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from challengers.allocator import read_in_again, release_freed_memory
from challengers.config import ExperimentConfig, load_config
from challengers.pipeline import RunOptions, loading, prepare, run_experiment, spill
from challengers.pipeline.spill import (
    SPILL_FROM,
    SPILL_SHARE,
    in_memory_fs,
    mapped_frame,
    spills,
)
from challengers.progress import SilentProgress
from tests.conftest import sim_config
from tests.golden.compare import stable_comparison

ROWS = 200_000


def _frame() -> pl.DataFrame:
    """Every type a held window has: ids, labels, features with missing values and NaN, the day,
    the time, text labels as categories and as text."""
    rng = np.random.default_rng(3)
    amount = rng.gamma(2.0, 40.0, ROWS)
    amount[::97] = np.nan
    frame = pl.DataFrame(
        {
            "id": np.arange(ROWS, dtype=np.int64),
            "label": (rng.random(ROWS) < 0.02).astype(np.int8),
            "amount": amount,
            "ratio": rng.random(ROWS).astype(np.float32),
            "hour": rng.integers(0, 24, ROWS, dtype=np.int16),
            "night": rng.random(ROWS) < 0.3,
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
        }
    )
    start = datetime(2024, 1, 1)
    return frame.with_columns(
        pl.col("region").cast(pl.Categorical).alias("region_code"),
        pl.when(pl.col("id") % 11 == 0).then(None).otherwise(pl.col("hour")).alias("hour"),
        (pl.lit(start) + pl.duration(seconds=pl.col("id") * 13)).alias("time"),
    ).with_columns(pl.col("time").dt.date().alias("day"))


def _mappings(path_part: str) -> list[dict[str, int]]:
    """This process's mappings of a file whose path holds ``path_part``: their address range
    and their resident kB (/proc/self/smaps)."""
    found: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5:  # a mapping's first line: range, perms, ... path
            current = None
            if path_part in line:
                low, high = (int(x, 16) for x in head[0].split("-"))
                current = {"low": low, "high": high, "rss_kb": 0}
                found.append(current)
        elif current is not None and head[0] == "Rss:":
            current["rss_kb"] = int(head[1])
    return found


def test_a_spilled_frame_is_the_same_frame_read_from_the_files_pages(tmp_path: Path) -> None:
    frame = _frame()
    mapped, mapping = mapped_frame(frame, tmp_path)
    assert_frame_equal(mapped, frame)  # every value, every type, nulls and NaN where they were
    assert mapped["region_code"].to_physical().equals(frame["region_code"].to_physical())
    assert set(mapped.n_chunks("all")) == {1}  # one chunk a column, as the loading holds them
    assert list(tmp_path.iterdir()) == []  # a file without a name: nothing left, however it ends
    # the columns are views of the mapping: a feature's values read where the file's pages are
    (region,) = _mappings(str(tmp_path))
    values = mapped["ratio"].to_numpy()
    address = values.__array_interface__["data"][0]
    assert region["low"] <= address < region["high"]
    assert region["high"] - region["low"] >= len(mapping) - 4096


def test_where_files_cannot_be_unnamed_the_name_goes_once_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)  # a file system without unnamed files
    frame = _frame()
    mapped, _ = mapped_frame(frame, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert_frame_equal(mapped, frame)
    assert _mappings(str(tmp_path))  # the mapping holds the file, which has no name any more


def test_a_release_lets_go_of_the_pages_a_step_read(tmp_path: Path) -> None:
    frame = _frame()
    mapped, mapping = mapped_frame(frame, tmp_path)
    read_in_again(mapping)
    total = int(mapped["id"].sum())  # a step reads a column: its pages come in
    (before,) = _mappings(str(tmp_path))
    assert before["rss_kb"] * 1024 >= ROWS * 8  # at least the column it read
    release_freed_memory()
    (after,) = _mappings(str(tmp_path))
    assert after["rss_kb"] == 0
    assert int(mapped["id"].sum()) == total  # read in again, the same values
    assert_frame_equal(mapped, frame)
    del mapped, mapping  # the last frame gone, the mapping goes
    gc.collect()
    assert _mappings(str(tmp_path)) == []


WIDE_ROWS = 2_000_000  # blocks of megabytes: the kernel maps a file's pages in groups of up to
# about 1 MB (fault-around, large folios), which small blocks would not show past


def _wide_mapped(tmp_path: Path) -> tuple[pl.DataFrame, Any, int]:
    """A mapped frame of two float32 features beside 4 int64 columns no model reads (the ids,
    times and entities of a held window), its pages let go of; and the features' bytes."""
    rng = np.random.default_rng(5)
    frame = pl.DataFrame(
        {
            "f1": rng.random(WIDE_ROWS).astype(np.float32),
            "f2": rng.random(WIDE_ROWS).astype(np.float32),
            **{f"other{i}": np.arange(WIDE_ROWS, dtype=np.int64) for i in range(4)},
        }
    )
    mapped, mapping = mapped_frame(frame, tmp_path)
    read_in_again(mapping)
    release_freed_memory()
    return mapped, mapping, WIDE_ROWS * 4 * 2


def test_the_tree_libraries_bin_a_window_holding_one_block_of_its_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block's pages are let go of once pushed, and LightGBM's bin sample gathers the
    features alone: a fit holds a block of the window it bins, not every page it read."""
    from challengers.models import blocks

    mapped, _, features_bytes = _wide_mapped(tmp_path)
    monkeypatch.setattr(blocks, "TRAIN_BLOCK", WIDE_ROWS // 10)
    y = (np.arange(WIDE_ROWS) % 50 == 0).astype(np.int8)
    blocks.quantile_matrix(mapped, ("f1", "f2"), y, threads=1)
    (after,) = _mappings(str(tmp_path))
    assert after["rss_kb"] * 1024 < features_bytes / 3  # the last block's, where all were read
    release_freed_memory()
    rows = blocks.FrameRows(mapped, ("f1", "f2"))
    picked = np.sort(np.random.default_rng(1).choice(WIDE_ROWS, 20_000, replace=False))
    assert rows.sample(picked).shape == (20_000, 2)
    (sampled,) = _mappings(str(tmp_path))
    assert sampled["rss_kb"] * 1024 <= features_bytes + 2**21  # not the other columns' pages


def test_scoring_in_blocks_holds_one_block_of_a_mapped_windows_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from challengers.models import base

    mapped, _, features_bytes = _wide_mapped(tmp_path)
    monkeypatch.setattr(base, "SCORE_BLOCK", WIDE_ROWS // 10)
    scores = base.predict_in_blocks(mapped, ("f1", "f2"), lambda x: x.sum(axis=1))
    (after,) = _mappings(str(tmp_path))
    assert after["rss_kb"] * 1024 < features_bytes / 3  # the last block's, where all were read
    assert np.array_equal(scores, mapped["f1"].to_numpy() + mapped["f2"].to_numpy())


def test_the_feature_references_of_a_mapped_window_hold_no_page_they_read(
    tmp_path: Path,
) -> None:
    """The in-sample step reads every feature of the training window for its PSI references: each
    column's pages go before the next column is read (held together, 1.7 GB at 100M rows)."""
    from challengers.analysis.stability import Reference
    from challengers.analysis.suite import _feature_reference

    mapped, _, _ = _wide_mapped(tmp_path)
    reference = _feature_reference(mapped, 10, "f1")
    (after,) = _mappings(str(tmp_path))
    assert after["rss_kb"] == 0
    expected = Reference.of(mapped["f1"].cast(pl.Float64).to_numpy(), 10)
    assert np.array_equal(reference.edges, expected.edges)
    assert np.array_equal(reference.shares, expected.shares)


def test_only_large_frames_are_spilled_and_only_where_the_disk_has_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHALLENGE_SPILL", raising=False)
    roomy = lambda: 10 * SPILL_FROM  # noqa: E731
    disk, tmpfs = (lambda: False), (lambda: True)
    assert not spills(SPILL_FROM - 1, roomy, disk)
    assert spills(SPILL_FROM, roomy, disk)
    assert not spills(SPILL_FROM, lambda: 2 * SPILL_FROM - 1, disk)  # the file, and as much again
    assert not spills(SPILL_FROM, roomy, tmpfs)  # its pages could not be taken back
    monkeypatch.setenv("CHALLENGE_SPILL", "on")
    assert spills(1, roomy, disk)
    assert spills(1, roomy, tmpfs)
    monkeypatch.setenv("CHALLENGE_SPILL", "off")
    assert not spills(10 * SPILL_FROM, roomy, disk)


def test_windows_stay_in_memory_up_to_an_eighth_of_the_memory_the_run_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Spilling costs its writes and the pages read in again (15 s of the 100M run): a frame goes
    to disk only once the frames left in memory, it included, pass SPILL_SHARE of the memory."""
    monkeypatch.delenv("CHALLENGE_SPILL", raising=False)
    roomy, disk = (lambda: 100 * SPILL_FROM), (lambda: False)
    memory = lambda: SPILL_SHARE * 2 * SPILL_FROM  # noqa: E731  an eighth: two frames' worth
    assert not spills(SPILL_FROM, roomy, disk, memory)
    assert not spills(SPILL_FROM, roomy, disk, memory, held=SPILL_FROM)  # both fit
    assert spills(SPILL_FROM, roomy, disk, memory, held=SPILL_FROM + 1)  # the second passes it
    assert spills(2 * SPILL_FROM + 1, roomy, disk, memory)
    assert spills(SPILL_FROM, roomy, disk, lambda: None)  # memory unknown: the size decides
    assert not spills(SPILL_FROM - 1, roomy, disk, lambda: 0)  # small frames never
    monkeypatch.setenv("CHALLENGE_SPILL", "on")
    assert spills(1, roomy, disk, memory)


def test_the_spiller_keeps_the_first_window_in_memory_and_spills_the_one_that_passes_the_share(
    sim_parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With memory for the training frame within the share and not for both, the training rows
    stay in the heap and the test rows are mapped from a file; the frames are the same."""
    monkeypatch.delenv("CHALLENGE_SPILL", raising=False)
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    reference = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False)
    train, test = reference.split.train, reference.split.test
    monkeypatch.setattr(spill, "SPILL_FROM", 1)
    monkeypatch.setattr(spill, "usable", lambda: SPILL_SHARE * int(train.estimated_size()))
    spiller = spill.Spiller(tmp_path, SilentProgress())
    prepared = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False, keep=spiller)
    assert (spiller.kept, spiller.spilled) == (train.estimated_size(), test.estimated_size())
    assert len(_mappings(str(tmp_path))) == 1  # the test frame's file alone
    assert_frame_equal(prepared.split.train, train)
    assert_frame_equal(prepared.split.test, test)


def test_each_window_goes_to_disk_once_read_and_one_that_cannot_be_written_stays_in_memory(
    sim_parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training rows are written before the test rows are read (loading's peak holds one
    window, not both); a full disk while the test window is written keeps it as it was, and the
    training window already spilled stays spilled (never a reason to stop a run). The frames and
    the fingerprint are those of a load that spills nothing."""
    monkeypatch.setenv("CHALLENGE_SPILL", "on")
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    reference = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False)
    train, test = reference.split.train, reference.split.test
    events: list[str] = []
    read, written = loading.collect_days, spill.mapped_frame

    def reads(*args: Any) -> pl.DataFrame:
        events.append("read")
        return read(*args)

    def full_disk(frame: pl.DataFrame, directory: Path) -> tuple[pl.DataFrame, Any]:
        events.append(f"write {frame.height}")
        if frame.height == test.height:
            raise OSError(28, "No space left on device")
        return written(frame, directory)

    monkeypatch.setattr(loading, "collect_days", reads)
    monkeypatch.setattr(spill, "mapped_frame", full_disk)
    spiller = spill.Spiller(tmp_path, SilentProgress())
    prepared = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False, keep=spiller)
    assert events.index(f"write {train.height}") < len(events) - 2  # then the gap and the test
    assert events[-2:] == ["read", f"write {test.height}"]
    assert (spiller.spilled, spiller.failed) == (train.estimated_size(), True)
    assert_frame_equal(prepared.split.train, train)  # the same columns too (labels-only let go)
    assert_frame_equal(prepared.split.test, test)
    assert prepared.fingerprint == reference.fingerprint
    assert len(_mappings(str(tmp_path))) == 1  # the training frame's file alone
    assert list(tmp_path.iterdir()) == []


def test_no_spill_onto_a_file_system_held_in_memory(tmp_path: Path) -> None:
    """On tmpfs the file's pages are memory the kernel cannot take back without swap."""
    mounts = (
        "/dev/vda / ext4 rw,relatime 0 0\n"
        "tmpfs /tmp tmpfs rw,nosuid 0 0\n"
        "/dev/vdb /tmp/disk xfs rw 0 0\n"
        "tmpfs /run/my\\040runs tmpfs rw 0 0\n"
    )
    assert in_memory_fs(Path("/tmp/run-1"), mounts)
    assert in_memory_fs(Path("/tmp"), mounts)
    assert not in_memory_fs(Path("/tmp/disk/run-1"), mounts)  # the deeper mount decides
    assert not in_memory_fs(Path("/tmpfoo/run-1"), mounts)  # a prefix of a name is not a mount
    assert not in_memory_fs(Path("/work/runs"), mounts)
    assert in_memory_fs(Path("/run/my runs/a"), mounts)
    # this machine's own answer for the test's directory, from the real mount table
    real = Path("/proc/self/mounts").read_text()
    assert in_memory_fs(tmp_path) == in_memory_fs(tmp_path, real)


def test_no_spill_under_an_address_space_limit(tmp_path: Path) -> None:
    """Under ulimit -v a mapping counts as the heap does, and the heap's freed frames may stay
    reserved: the frames stay in memory (in a process of its own, as the limit cannot be lifted)."""
    code = (
        "import resource, os\n"
        "resource.setrlimit(resource.RLIMIT_AS, (64 * 2**30, resource.RLIM_INFINITY))\n"
        "os.environ['CHALLENGE_SPILL'] = 'on'\n"
        "from challengers.pipeline.spill import spills\n"
        "print(spills(2**40, lambda: 2**50, lambda: False))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]


def test_a_run_on_spilled_windows_equals_the_run_in_memory(
    tmp_path: Path,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every model (a champion retrained, trees, a graph model reading the rows before its window:
    the history frame spilled too) fitted, scored and evaluated on the mapped frames."""
    graph = {
        "name": "graph",
        "kind": "graph",
        "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [7]},
        "model": {"kind": "lightgbm", "params": {"n_estimators": 10}},
    }
    raw = sim_config(sim_parquet)
    raw["challengers"].append(graph)
    raw["data"]["drop"] = ["TX_FRAUD_SCENARIO", "DEVICE_ID"]
    raw["evaluation"]["bootstrap"] = 50
    cfg = load_config(write_config(raw))
    documents = {}
    for mode in ("off", "on"):
        monkeypatch.setenv("CHALLENGE_SPILL", mode)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="challengers.pipeline.spill"):
            out = tmp_path / mode
            run_experiment(cfg, RunOptions(output_dir=out, tracking_uri=tracking_uri))
        spilled = [r.args[0] for r in caplog.records if "from a file's pages" in r.msg]
        assert spilled == (["history", "training", "test"] if mode == "on" else [])
        assert not list(out.rglob(".rows-*"))
        documents[mode] = json.loads((out / "comparison.json").read_text())
    assert {m["status"] for m in documents["on"]["models"]} == {"ok"}
    assert stable_comparison(documents["on"]) == stable_comparison(documents["off"])
    scores = [pl.read_parquet(tmp_path / mode / "predictions.parquet") for mode in ("off", "on")]
    assert_frame_equal(*scores)  # every test row's score, bit for bit
