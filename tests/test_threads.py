"""Each model's work in threads (challengers.threads): the same numbers as one at a time, results in
order, the first error raised and the pieces not started dropped."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.config import ExperimentConfig
from challengers.evaluation.curve import RADIX_ROWS, Cost
from challengers.evaluation.evaluate import TestRows as Rows
from challengers.evaluation.evaluate import evaluate_models, rank_all
from challengers.evaluation.metrics import METRICS, parse_metric
from challengers.pipeline import RunOptions, prepare
from challengers.progress import SilentProgress
from challengers.threads import SWITCH_INTERVAL_S, each, in_background, prompt_handover
from tests.conftest import sim_config


def test_each_returns_in_order_and_runs_pieces_at_once() -> None:
    running, most = [0], [0]
    lock = threading.Lock()

    def piece(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return i * i

    assert each(piece, range(6), threads=3) == [i * i for i in range(6)]
    assert most[0] == 3  # never more than asked, and as many as asked
    most[0] = 0
    assert each(piece, range(6), threads=1) == [i * i for i in range(6)]
    assert most[0] == 1


def test_each_raises_the_first_error_and_drops_the_pieces_not_started() -> None:
    started: list[int] = []

    def piece(i: int) -> int:
        started.append(i)
        if i == 0:
            raise ValueError("piece 0 failed")
        time.sleep(0.2)
        return i

    with pytest.raises(ValueError, match="piece 0 failed"):
        each(piece, range(20), threads=2)
    assert len(started) < 20


def test_the_evaluation_gives_the_same_bits_for_any_number_of_threads() -> None:
    """Four models over more rows than the compiled sort starts at, so the rankings and metrics
    run at once in the kernels: every metric equal bit for bit, and the intervals."""
    rng = np.random.default_rng(11)
    n = RADIX_ROWS + 20_000
    y = (rng.random(n) < 0.03).astype(np.int8)
    rows = Rows(
        y=y,
        amount=rng.lognormal(3, 1, n),
        entity=rng.integers(0, n // 8, n).astype(np.int32),
        day=rng.integers(0, 14, n).astype(np.int32),
    )
    scores = {
        "champ": np.round(y + rng.normal(size=n), 2),
        "a": 0.6 * y + rng.normal(size=n),
        "b": 1 / (1 + np.exp(-(2 * y + rng.normal(size=n) - 3))),
        "c": rng.random(n),
    }
    calibrated = {"b": True, "c": True}
    metrics = [parse_metric(m) for m in ("roc_auc", "pr_auc", "entity_precision_at@50")]
    assert {m.name for m in metrics} <= set(METRICS)
    results = []
    for threads in (1, 2, 3):
        ranked = rank_all(rows, scores, calibrated, threads)
        evaluated = evaluate_models(
            rows,
            scores,
            calibrated,
            champion="champ",
            metrics=metrics,
            cost=Cost(),
            operating_rate=0.01,
            bootstrap=20,
            alpha=0.05,
            seed=5,
            threads=threads,
            ranked=ranked,
        )
        assert list(ranked) == list(scores) == list(evaluated)
        results.append({name: (e.metrics, e.ci, e.delta) for name, e in evaluated.items()})
        orders = {name: r.order for name, r in ranked.items()}
        if threads == 1:
            first_orders = orders
        for name in scores:
            np.testing.assert_array_equal(orders[name], first_orders[name])
    assert results[0] == results[1] == results[2]


def test_in_background_returns_the_result_or_raises_the_error_in_the_caller() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(x: int) -> int:
        started.set()
        release.wait(5)
        return x + 1

    wait = in_background(slow, 41, name="challenge-test")
    assert started.wait(5)  # running beside the caller, which is not held up
    running = [t for t in threading.enumerate() if t.name == "challenge-test"]
    assert len(running) == 1 and running[0].daemon  # an interrupted caller need not wait for it
    release.set()
    assert wait() == 42

    error = ValueError("bad week")

    def failing() -> None:
        raise error

    with pytest.raises(ValueError) as raised:
        in_background(failing)()
    assert raised.value is error  # the worker's own error, in the caller's thread


def test_the_lock_is_handed_over_promptly_inside_the_block_and_as_before_after_it() -> None:
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S  # Python's default, 5 ms
    with pytest.raises(KeyError), prompt_handover():
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        raise KeyError("a step that fails")
    assert sys.getswitchinterval() == before
    try:  # never less promptly than it already is
        sys.setswitchinterval(SWITCH_INTERVAL_S / 10)
        with prompt_handover():
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S / 10)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S / 10)
    finally:
        sys.setswitchinterval(before)


def test_overlapping_blocks_keep_the_lock_handed_over_until_the_last_one_ends() -> None:
    """Two runs' loadings in threads of one process: the first to end leaves the interval short
    for the other; the last to end puts back the interval from before the first."""
    before = sys.getswitchinterval()
    first, second = prompt_handover(), prompt_handover()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


def test_the_data_loads_with_the_lock_handed_over_promptly_and_the_run_goes_on_as_before(
    sim_parquet: Path,
) -> None:
    """Each window is read and given to ``keep`` while the loading hands the lock over within
    0.1 ms (the main thread waited up to 5 ms behind the warm-up's imports each time it came back
    from polars or the kernels); the steps after it are as Python has them."""
    before = sys.getswitchinterval()
    seen: dict[str, float] = {}

    def keep(name: str, frame: pl.DataFrame) -> pl.DataFrame:
        seen[name] = sys.getswitchinterval()
        return frame

    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    prepare(cfg, RunOptions(), SilentProgress(), keep_history=False, keep=keep)
    assert seen == {
        "training": pytest.approx(SWITCH_INTERVAL_S),
        "test": pytest.approx(SWITCH_INTERVAL_S),
    }
    assert sys.getswitchinterval() == before
