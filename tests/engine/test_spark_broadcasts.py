"""What the Spark engine ships to the executors (a broadcast: a scorer, the score groups' marks)
is destroyed when the jobs that read it are done: a call's when it returns."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.engine.spark_reading import ORDER

pytestmark = pytest.mark.slow  # a Spark session and its jobs: seconds each

SCORER = operator.methodcaller("get_column", "x")  # a row's score is its x (pickled by reference)


def live_broadcasts(engine: Any) -> set[Path]:
    """The session's Python broadcasts that are not destroyed: PySpark writes each one's pickled
    value to a file in the context's temporary folder, and ``destroy()`` deletes it right after
    destroying the JVM's broadcast (``unpersist()`` leaves both)."""
    return set(Path(engine.session.sparkContext._temp_dir).iterdir())


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.random(400)
    y = (x + rng.normal(0, 0.3, x.size) > 0.7).astype(np.int64)
    return pl.DataFrame({ORDER: np.arange(x.size), "x": x, "y": y})


@pytest.fixture(scope="module")
def rows(spark_engine: Any, frame: pl.DataFrame) -> Any:
    return spark_engine.session.createDataFrame(frame.to_arrow()).repartition(2)


@pytest.mark.parametrize("call", ["scores_by", "score_groups"])
def test_a_scoring_call_destroys_what_it_shipped(
    spark_engine: Any, rows: Any, frame: pl.DataFrame, call: str
) -> None:
    calls: dict[str, Callable[[], Any]] = {
        "scores_by": lambda: spark_engine.scores_by(rows, SCORER, ["x"]),
        "score_groups": lambda: spark_engine.score_groups(rows, score="x", target="y"),
    }
    expected: dict[str, Callable[[Any], bool]] = {
        "scores_by": lambda got: np.array_equal(got, frame.get_column("x").to_numpy()),
        "score_groups": lambda got: got.rows == frame.height and got.positives.sum() > 0,
    }
    before = live_broadcasts(spark_engine)
    got = calls[call]()
    assert expected[call](got)
    assert live_broadcasts(spark_engine) - before == set()
