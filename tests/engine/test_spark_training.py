"""Challengers on Spark: XGBoost trained distributed (xgboost.spark) and compared in a run; the
stratified sample other kinds fit on keeps the fraud rate and is the same for the same seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from challengers.config import load_config
from challengers.data.frames import DataSpec, labels, to_matrix
from challengers.errors import ConfigError
from challengers.models.anomaly import AnomalyChallenger
from challengers.models.tree import XGBoostChallenger
from challengers.models.trees import library
from challengers.pipeline import RunOptions, prepare, run_experiment
from challengers.progress import SilentProgress
from tests.conftest import sim_config
from tests.engine.test_spark_rows import COLUMNS, WINDOWS, load

pytestmark = pytest.mark.slow  # a Spark session and its jobs: seconds each

TARGET = "TX_FRAUD"


def _train(engine: Any, path: Path) -> Any:
    return engine.split(load(engine, path), WINDOWS, target=TARGET, entity="CUSTOMER_ID").train


def _rate(frame: pl.DataFrame) -> float:
    return float(frame.get_column(TARGET).mean())  # type: ignore[arg-type]


def test_the_stratified_sample_keeps_the_fraud_rate_and_is_reproducible_by_seed(
    spark_engine: Any, sim_parquet: Path
) -> None:
    train = _train(spark_engine, sim_parquet)
    every = spark_engine.to_polars(train)
    negatives, positives = spark_engine.class_counts(train, TARGET)
    assert (negatives, positives) == (every.height - every[TARGET].sum(), every[TARGET].sum())
    sample = spark_engine.sample(train, target=TARGET, size=3000, seed=7)
    assert sample.height == 3000
    assert sample.schema == every.schema  # the driver's columns and types, no helper column
    # the fraud rate of the window, to one row
    assert int(sample[TARGET].sum()) == round(3000 * positives / every.height)
    assert abs(_rate(sample) - _rate(every)) < 1 / 3000
    # rows of the window, in load order
    ids = every.get_column("TRANSACTION_ID")
    assert sample.get_column("TRANSACTION_ID").is_in(ids.implode()).all()
    order = {t: i for i, t in enumerate(ids.to_list())}
    places = [order[t] for t in sample.get_column("TRANSACTION_ID").to_list()]
    assert places == sorted(places)
    # the same seed: the same rows, however Spark partitions them; another seed: others
    again = spark_engine.sample(
        train.repartition(5, "CUSTOMER_ID"), target=TARGET, size=3000, seed=7
    )
    assert again.equals(sample)
    other = spark_engine.sample(train, target=TARGET, size=3000, seed=8)
    assert not other.equals(sample) and int(other[TARGET].sum()) == int(sample[TARGET].sum())
    # a window smaller than the size: every row
    assert spark_engine.sample(train, target=TARGET, size=10**7, seed=7).equals(every)


def _config(sim_parquet: Path, write_config: Any) -> Any:
    raw = sim_config(
        sim_parquet,
        challengers=[
            {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 50}},
            {"name": "xgb", "kind": "xgboost", "params": XGB_PARAMS},
        ],
        evaluation={"metrics": ["roc_auc", "pr_auc"], "bootstrap": 20},
        engine={"kind": "spark", "master": "local[2]", "num_workers": 2, "sample_rows": 4000},
    )
    return load_config(write_config(raw))


XGB_PARAMS = {"n_estimators": 50, "max_depth": 4}


def test_a_distributed_xgboost_challenger_trains_on_spark_and_is_compared(
    spark_engine: Any, sim_parquet: Path, write_config: Any, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = _config(sim_parquet, write_config)
    out = tmp_path / "spark"
    remote = run_experiment(cfg, RunOptions(output_dir=out, tracking_uri=uri))
    by_name = {m.name: m for m in remote.models}
    xgb, lgbm, champion = by_name["xgb"], by_name["lgbm"], by_name["champ"]
    assert xgb.status == lgbm.status == "ok"
    assert xgb.training == "trained on the spark engine by 2 workers, on all " + (
        f"{remote.data.rows_train:,} training rows"
    )
    assert lgbm.training is not None and "stratified sample of 4,000 of the" in lgbm.training
    assert champion.training is None  # the champion is evaluated as it runs, never resampled
    # the scores came from the executors, in the driver's row order: the booster applied on the
    # driver gives the same, and the reported ROC-AUC is theirs
    local = prepare(cfg.with_engine("local", None), RunOptions(), SilentProgress())
    test, y = local.split.test, labels(local.split.test, TARGET)
    booster = library("xgboost").load(out / "models" / "xgb" / "model.json")
    scores = pl.read_parquet(out / "models" / "xgb" / "predictions.parquet")["score"].to_numpy()
    driver = library("xgboost").predict(booster, to_matrix(test, xgb.features))
    np.testing.assert_array_equal(scores, driver)
    assert xgb.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-9)
    # its training rows were scored on the executors too: the in-sample ROC-AUC is the driver's
    train, y_train = local.split.train, labels(local.split.train, TARGET)
    in_sample = library("xgboost").predict(booster, to_matrix(train, xgb.features))
    assert remote.stability is not None
    assert remote.stability.train_metrics["xgb"]["roc_auc"] == pytest.approx(
        roc_auc_score(y_train, in_sample), abs=1e-9
    )
    # fraud is learnable in the simulation: well above chance, and close to the same XGBoost
    # trained locally (the test window is hard, known frauds' cards excluded: locally 0.695
    # ROC-AUC, distributed 0.687; PR-AUC 0.23 at 0.94% frauds)
    spec = local.plan.spec.with_features(tuple(xgb.features))
    alone = XGBoostChallenger(XGB_PARAMS, seed=cfg.seed, threads=1).fit(local.split.train, spec)
    local_auc = roc_auc_score(y, alone.predict_score(test))
    assert xgb.metrics["roc_auc"] > 0.65 and xgb.metrics["pr_auc"] > 10 * float(y.mean())
    assert abs(xgb.metrics["roc_auc"] - local_auc) < 0.02
    # compared with the champion like any challenger, on the same test rows
    assert set(xgb.delta_vs_champion) == {"roc_auc", "pr_auc"}
    assert xgb.delta_vs_champion["roc_auc"].p_value is not None
    # the report and comparison.json say how each challenger was trained
    report = (out / "report.md").read_text()
    assert f"**lgbm** {lgbm.training}" in report and f"**xgb** {xgb.training}" in report
    parent = mlflow.MlflowClient(uri).get_run(remote.run_id).data.tags
    assert parent["engine"] == "spark" and parent["spark_master"] == "local[2]"
    assert parent["spark_version"] == spark_engine.session.version


def test_more_xgboost_workers_than_task_slots_is_one_line(
    spark_engine: Any, sim_parquet: Path, write_config: Any
) -> None:
    """Barrier tasks start together: 3 workers on local[2] would wait for a slot, then fail. The
    run says so before it trains anything (exit 2)."""
    assert spark_engine.workers(None) == 2  # the session's default parallelism
    with pytest.raises(
        ConfigError, match=r"engine\.num_workers: 3 XGBoost workers but the cluster"
    ):
        spark_engine.workers(3)
    raw = sim_config(sim_parquet, engine={"kind": "spark", "master": "local[2]", "num_workers": 3})
    with pytest.raises(ConfigError, match="at most 2"):
        prepare(load_config(write_config(raw)), RunOptions(), SilentProgress())


def test_a_sampled_anomaly_hybrid_scores_on_the_executors_as_on_the_driver(
    spark_engine: Any, local_engine: Any, sim_parquet: Path
) -> None:
    """The fitted model itself goes to the executors (its detector scores each row alone), and its
    scores come back in the driver's row order."""
    columns = [*COLUMNS, "AMOUNT_TO_AVG_30D", "CUSTOMER_NB_TX_1D"]
    features = ("TX_AMOUNT", "AMOUNT_TO_AVG_30D", "CUSTOMER_NB_TX_1D")
    spec = DataSpec(target=TARGET, time="TX_DATETIME", features=features)
    local = local_engine.split(
        load(local_engine, sim_parquet, columns), WINDOWS, target=TARGET, entity="CUSTOMER_ID"
    )
    remote = spark_engine.split(
        load(spark_engine, sim_parquet, columns), WINDOWS, target=TARGET, entity="CUSTOMER_ID"
    )
    model = AnomalyChallenger(
        "ecod",
        hybrid="lightgbm",
        model={"kind": "lightgbm", "params": {"n_estimators": 20}, "imbalance": "none"},
        twin=False,
        seed=3,
        threads=1,
    ).fit(spark_engine.sample(remote.train, target=TARGET, size=3000, seed=3), spec)
    theirs = spark_engine.scores_by(remote.test, model.predict_score, features)
    np.testing.assert_array_equal(theirs, model.predict_score(local.test))
