"""Champion scores on Spark executors are bit-identical to the local engine's (and the champion's),
and exact metrics from Spark's per-score statistics equal the local evaluation within 1e-9."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.data.frames import DAY, DataSpec, labels, to_matrix
from challengers.engine.base import ModelFile, ScoreStats, merge_negative_runs
from challengers.engine.local import LocalEngine
from challengers.engine.metrics import card_precision, metrics_from_stats
from challengers.evaluation.curve import Cost, Ranked
from challengers.evaluation.evaluate import headline
from challengers.evaluation.metrics import parse_metric
from challengers.models.champion import NativeModelChampion
from challengers.models.trees import library
from tests.engine.test_spark_rows import WINDOWS, load

pytestmark = pytest.mark.slow  # a Spark session and its jobs: seconds each

FEATURES = (
    "TX_AMOUNT",
    "IS_ONLINE",
    "TX_HOUR",
    "TX_DURING_NIGHT",
    "CUSTOMER_NB_TX_1D",
    "CUSTOMER_AVG_AMOUNT_30D",
    "AMOUNT_TO_AVG_30D",
)
COLUMNS = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD", *FEATURES]
METRICS = [
    parse_metric(m)
    for m in (
        "roc_auc",
        "pr_auc",
        "recall_at_fpr@0.05",
        "precision_at_alerts@0.01",
        "value_detection_at_alerts@0.02",
        "expected_cost",
        "brier",
        "ks",
    )
]


@pytest.fixture(scope="module")
def model_files(sim_frame: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A LightGBM and an XGBoost champion trained on the training window, saved natively."""
    import lightgbm as lgb
    import xgboost as xgb

    train = sim_frame.filter(
        pl.col("TX_DATETIME").dt.date().is_between(WINDOWS.train_start, WINDOWS.train_end)
    )
    x, y = to_matrix(train, FEATURES), labels(train, "TX_FRAUD")
    folder = tmp_path_factory.mktemp("champions")
    params = {"objective": "binary", "num_threads": 1, "verbose": -1}
    data = lgb.Dataset(x, y, feature_name=list(FEATURES))
    lgb.train(params, data, num_boost_round=30).save_model(str(folder / "lgbm.txt"))
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(x, y, feature_names=list(FEATURES)),
        num_boost_round=30,
    )
    booster.save_model(str(folder / "xgb.json"))
    return {
        "lightgbm": ModelFile(str(folder / "lgbm.txt"), library("lightgbm"), FEATURES),
        "xgboost": ModelFile(str(folder / "xgb.json"), library("xgboost"), FEATURES),
    }


@pytest.fixture(scope="module")
def test_rows(spark_engine: Any, local_engine: LocalEngine, sim_parquet: Path) -> tuple:
    local = local_engine.split(
        load(local_engine, sim_parquet, COLUMNS), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID"
    ).test
    remote = spark_engine.split(
        load(spark_engine, sim_parquet, COLUMNS), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID"
    ).test
    return local, remote


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_scores_on_executors_are_bit_identical(
    spark_engine: Any, local_engine: LocalEngine, model_files: dict, test_rows: tuple, kind: str
) -> None:
    model = model_files[kind]
    local, remote = test_rows
    with (
        local_engine.score(local, model, output="_score") as mine,
        spark_engine.score(remote, model, output="_score") as scored,
    ):
        theirs = spark_engine.to_polars(scored)
    assert theirs.height == mine.height
    key = "TRANSACTION_ID"
    joined = mine.select(key, "_score").join(theirs.select(key, "_score"), on=key, suffix="_s")
    assert joined.height == mine.height
    assert np.array_equal(joined["_score"].to_numpy(), joined["_score_s"].to_numpy())
    # and the local engine scores as the champion of a run does
    reference = NativeModelChampion(model.path, list(FEATURES))
    reference.open()
    spec = DataSpec(target="TX_FRAUD", time="TX_DATETIME", features=FEATURES)
    expected = reference.fit(local.head(0), spec).predict_score(local)
    assert np.array_equal(mine["_score"].to_numpy(), np.asarray(expected, dtype=np.float64))


@contextmanager
def rounded_scores(
    engines: tuple[LocalEngine, Any], model: ModelFile, test_rows: tuple, digits: int
) -> Iterator[tuple[pl.DataFrame, Any]]:
    """The test rows with ``model``'s scores rounded to ``digits`` on each engine, for the block:
    ties on purpose, many rows in one group of scores (the engines' tie rules must agree)."""
    from pyspark.sql import functions as F

    (local_engine, spark_engine), (local, remote) = engines, test_rows
    with (
        local_engine.score(local, model, output="_score") as mine,
        spark_engine.score(remote, model, output="_score") as theirs,
    ):
        yield (
            mine.with_columns(pl.col("_score").round(digits)),
            theirs.withColumn("_score", F.round("_score", digits)),
        )


def test_metrics_from_spark_statistics_equal_the_local_evaluation(
    spark_engine: Any, local_engine: LocalEngine, model_files: dict, test_rows: tuple
) -> None:
    names = {"score": "_score", "target": "TX_FRAUD", "amount": "TX_AMOUNT"}
    engines = (local_engine, spark_engine)
    with rounded_scores(engines, model_files["xgboost"], test_rows, 3) as (scored, remote_scored):
        stats = spark_engine.score_stats(remote_scored, **names)
        # the runs of scores without a fraud merged: Spark's groups are the local ones merged
        groups = spark_engine.score_groups(remote_scored, **names)
    local_stats = local_engine.score_stats(
        scored, score="_score", target="TX_FRAUD", amount="TX_AMOUNT"
    )
    assert isinstance(stats, ScoreStats) and stats.rows == scored.height
    assert len(stats.score) < scored.height / 5  # the ties are there
    assert np.array_equal(stats.score, local_stats.score)
    assert np.array_equal(stats.positives, local_stats.positives)
    assert np.array_equal(stats.negatives, local_stats.negatives)
    assert stats.fraud_amount is not None and local_stats.fraud_amount is not None
    np.testing.assert_allclose(stats.fraud_amount, local_stats.fraud_amount, rtol=1e-12)

    assert stats.squared_error == pytest.approx(local_stats.squared_error, rel=1e-12)
    assert (stats.lowest, stats.non_finite) == (local_stats.lowest, 0)

    merged = merge_negative_runs(local_stats)
    assert np.array_equal(groups.score, merged.score)
    assert np.array_equal(groups.positives, merged.positives)
    assert np.array_equal(groups.negatives, merged.negatives)
    assert groups.fraud_amount is not None and merged.fraud_amount is not None
    np.testing.assert_allclose(groups.fraud_amount, merged.fraud_amount, rtol=1e-12)
    assert groups.rows == stats.rows and len(groups.score) <= 2 * groups.positives.sum() + 1
    assert len(groups.score) < len(stats.score) / 2  # far fewer groups than distinct scores
    assert groups.squared_error == pytest.approx(stats.squared_error, rel=1e-12)
    assert (groups.lowest, groups.non_finite) == (stats.lowest, 0)

    cost = Cost(false_positive=5.0, false_negative=None)
    ranked = Ranked.build(
        labels(scored, "TX_FRAUD"),
        scored["_score"].to_numpy(),
        amount=scored["TX_AMOUNT"].to_numpy(),
        calibrated=True,
    )
    expected = headline(ranked, METRICS, cost=cost, operating_rate=0.01)
    for summary in (stats, groups, merged):
        got = metrics_from_stats(summary, METRICS, operating_rate=0.01, calibrated=True, cost=cost)
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert np.isfinite(value), key
            assert abs(got[key] - value) <= 1e-9, (key, got[key], value)


def test_score_groups_count_non_finite_scores_apart(spark_engine: Any) -> None:
    """A score that is not finite is counted, never grouped, on both engines (a model scoring
    one loses its in-sample diagnostics, as on the driver)."""
    frame = pl.DataFrame(
        {
            "s": [0.9, float("nan"), 0.5, float("inf"), 0.5, 0.1, 0.2],
            "y": [1, 0, 1, 1, 0, 0, 0],
            "a": [10.0, 1.0, 5.0, 7.0, 3.0, 2.0, 4.0],
        }
    )
    rows = spark_engine.session.createDataFrame(frame.to_arrow()).repartition(2)
    names = {"score": "s", "target": "y", "amount": "a"}
    local = merge_negative_runs(LocalEngine().score_stats(frame, **names))
    remote = spark_engine.score_groups(rows, **names)
    for got in (local, remote):
        assert got.non_finite == 2
        assert got.score.tolist() == [0.9, 0.5, 0.2]  # 0.2 and 0.1: one run without a fraud
        assert got.positives.tolist() == [1.0, 1.0, 0.0]
        assert got.negatives.tolist() == [0.0, 1.0, 2.0]
        assert got.fraud_amount is not None and got.fraud_amount.tolist() == [10.0, 5.0, 0.0]
        assert got.lowest == 0.1 and got.in_unit
        assert got.squared_error == pytest.approx(0.1**2 + 0.5**2 + 0.5**2 + 0.1**2 + 0.2**2)


# 20 x the days is below Spark's group-limit setting (1000), 150 x the days above it (raised)
@pytest.mark.parametrize("k", [20, 150])
def test_card_precision_from_spark_window_ranks_equals_the_local_evaluation(
    spark_engine: Any, local_engine: LocalEngine, model_files: dict, test_rows: tuple, k: int
) -> None:
    """Card precision top-k per day: entities ranked per day on Spark (a window), tied entities
    sharing their rank as locally (the places at the cut shared among them), detected cards
    leaving later days."""
    names = {"score": "_score", "target": "TX_FRAUD", "entity": "CUSTOMER_ID", "k": k}
    engines = (local_engine, spark_engine)
    # coarse scores: many cards tie at the top of a day
    with rounded_scores(engines, model_files["lightgbm"], test_rows, 2) as (scored, remote_scored):
        theirs = spark_engine.entity_day_cells(remote_scored, **names)
    ranked = Ranked.build(
        labels(scored, "TX_FRAUD"),
        scored["_score"].to_numpy(),
        entity=scored["CUSTOMER_ID"].rank("dense").to_numpy() - 1,
        day=scored[DAY].rank("dense").to_numpy() - 1,
    )
    spec = parse_metric(f"entity_precision_at@{k}")
    value = headline(ranked, [spec], cost=Cost(), operating_rate=0.01)[spec.key]
    mine = local_engine.entity_day_cells(scored, **names)
    assert 0 < value < 1
    assert abs(card_precision(mine, k) - value) <= 1e-12
    assert abs(card_precision(theirs, k) - value) <= 1e-12
    top = mine.filter(pl.col("rank") <= theirs["rank"].max())  # Spark sends only what can matter
    assert (
        theirs.select(DAY, "entity", "label", "rank")
        .sort(DAY, "rank", "entity")
        .equals(top.select(DAY, "entity", "label", pl.col("rank").cast(theirs["rank"].dtype)))
    )
