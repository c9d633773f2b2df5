"""What the Spark engine ships to the executors (a broadcast: a model file, a scorer, the score
groups' marks) is destroyed when the jobs that read it are done: a call's when it returns, a
scored frame's when its block ends (its jobs may compute the frame again until then)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.engine.base import ModelFile
from challengers.engine.local import LocalEngine
from challengers.engine.spark_reading import ORDER
from challengers.models.trees import library

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


@pytest.fixture(scope="module")
def model_file(frame: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> ModelFile:
    import xgboost as xgb

    x, y = frame.select("x").to_numpy(), frame.get_column("y").to_numpy()
    params = {"objective": "binary:logistic", "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, y, feature_names=["x"]), num_boost_round=5)
    path = tmp_path_factory.mktemp("broadcasts") / "model.json"
    booster.save_model(str(path))
    return ModelFile(str(path), library("xgboost"), ("x",))


@pytest.mark.parametrize("call", ["scores_by", "scores_of", "score_groups"])
def test_a_scoring_call_destroys_what_it_shipped(
    spark_engine: Any, rows: Any, frame: pl.DataFrame, model_file: ModelFile, call: str
) -> None:
    calls: dict[str, Callable[[], Any]] = {
        "scores_by": lambda: spark_engine.scores_by(rows, SCORER, ["x"]),
        "scores_of": lambda: spark_engine.scores_of(rows, model_file),
        "score_groups": lambda: spark_engine.score_groups(rows, score="x", target="y"),
    }
    expected: dict[str, Callable[[Any], bool]] = {
        "scores_by": lambda got: np.array_equal(got, frame.get_column("x").to_numpy()),
        "scores_of": lambda got: np.array_equal(got, LocalEngine().scores_of(frame, model_file)),
        "score_groups": lambda got: got.rows == frame.height and got.positives.sum() > 0,
    }
    before = live_broadcasts(spark_engine)
    got = calls[call]()
    assert expected[call](got)
    assert live_broadcasts(spark_engine) - before == set()


@pytest.mark.parametrize("how", ["score", "scored_by"])
def test_a_scored_frame_keeps_what_it_shipped_until_its_block_ends(
    spark_engine: Any, rows: Any, frame: pl.DataFrame, model_file: ModelFile, how: str
) -> None:
    blocks = {
        "score": lambda: spark_engine.score(rows, model_file, output="s"),
        "scored_by": lambda: spark_engine.scored_by(rows, SCORER, ["x"], output="s"),
    }
    reference = {
        "score": lambda: LocalEngine().scores_of(frame, model_file),
        "scored_by": lambda: frame.get_column("x").to_numpy(),
    }
    before = live_broadcasts(spark_engine)
    with blocks[how]() as scored:
        assert len(live_broadcasts(spark_engine) - before) == 1
        first = spark_engine.to_polars(scored)  # two jobs: the frame is computed twice
        again = spark_engine.to_polars(scored.where("y = 1"))
        assert len(live_broadcasts(spark_engine) - before) == 1
    assert live_broadcasts(spark_engine) - before == set()
    assert np.array_equal(first.get_column("s").to_numpy(), reference[how]())
    assert again.equals(first.filter(pl.col("y") == 1))
