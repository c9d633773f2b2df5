"""A graph challenger in a Spark run: its graph features computed on Spark for the training and the
test rows (every loaded row before each as history, as locally), its tree fitted on the driver on a
stratified sample of the featured training rows and scored on the executors.

One Spark preparation of the simulated data serves both tests; each computes the graph features
of the training and the test rows once. Their cost is the window plans' (planning, code
generation, a few small jobs each), hardly the rows': the file took 215 s at a load of 3-13 on 2
cores (preparation 58 s with the session's start, the tests 97 s and 56 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.config import ExperimentConfig
from challengers.evaluation import evaluate as ev
from challengers.evaluation.curve import Cost
from challengers.models import registry
from challengers.models.graph import GraphChallenger
from challengers.pipeline import RunOptions, prepare
from challengers.pipeline.distributed import scores_on_engine, trained_on_engine
from challengers.pipeline.fitting import fit_challenger
from challengers.pipeline.prepare import Prepared
from challengers.progress import SilentProgress
from tests.conftest import sim_config

pytestmark = [
    pytest.mark.slow,  # Spark jobs: seconds each
    pytest.mark.xdist_group("spark-graph-run"),  # one worker: one preparation for both tests
]

GRAPH = {
    "name": "graph",
    "kind": "graph",
    "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [1, 7]},
    "model": {"kind": "lightgbm", "params": {"n_estimators": 20}},
}
METRICS = ["roc_auc", "pr_auc", "precision_at_alerts@0.01", "entity_precision_at@20"]


def _config(sim_parquet: Path, sample_rows: int) -> ExperimentConfig:
    raw = sim_config(
        sim_parquet,
        challengers=[GRAPH],
        evaluation={"metrics": METRICS, "bootstrap": 0},
        engine={"kind": "spark", "master": "local[2]", "sample_rows": sample_rows},
    )
    return ExperimentConfig.model_validate(raw)


@pytest.fixture(scope="module")
def on_spark(spark_engine: Any, sim_parquet: Path) -> Iterator[Prepared]:
    """The simulated data loaded and split by Spark (the fixture's session, reused), with every
    training row within engine.sample_rows."""
    prepared = prepare(_config(sim_parquet, 10**6), RunOptions(), SilentProgress())
    yield prepared
    prepared.close()


@pytest.fixture(scope="module")
def local(sim_parquet: Path) -> Prepared:
    return prepare(
        _config(sim_parquet, 10**6).with_engine("local", None), RunOptions(), SilentProgress()
    )


def _graph(cfg: ExperimentConfig, prepared: Prepared) -> tuple[GraphChallenger, Any]:
    mp = prepared.plan.challengers[0]
    model = registry.create(mp.kind, mp.settings, seed=cfg.seed, threads=1)
    assert isinstance(model, GraphChallenger)
    return model, prepared.plan.spec.with_features(mp.features)


def _metrics(cfg: ExperimentConfig, prepared: Prepared, scores: np.ndarray) -> dict[str, float]:
    """The run's headline metrics of ``scores`` on the prepared test rows."""
    s, e = prepared.plan.spec, cfg.evaluation
    rows = ev.TestRows.from_frame(
        prepared.split.test, target=s.target, amount=s.amount, entity=s.entity
    )
    ranked = ev.rank_scores(rows, scores, calibrated=False)
    cost = Cost(e.cost.false_positive, cfg.cost_false_negative)
    return ev.headline(ranked, e.metric_specs, cost=cost, operating_rate=e.alert_rate)


def _assert_same_features(remote: pl.DataFrame, local: pl.DataFrame, names: list[str]) -> None:
    assert remote.height == local.height
    for name in names:
        expected = local.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
        found = remote.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
        np.testing.assert_allclose(found, expected, rtol=1e-6, atol=0, equal_nan=True, err_msg=name)


def test_a_graph_challenger_on_spark_has_the_local_features_scores_and_metrics(
    sim_parquet: Path, on_spark: Prepared, local: Prepared
) -> None:
    """engine.sample_rows above the training rows: the tree sees every training row, in load
    order, with the graph features Spark computed (equal to the local ones within 1e-6), so it
    is the local tree: its scores of the test and the training rows, computed on the executors,
    and every metric equal the local run's within 1e-9 (the scores are equal to the last bit here)."""
    cfg = _config(sim_parquet, 10**6)
    model, spec = _graph(cfg, on_spark)
    mp = on_spark.plan.challengers[0]
    baseline = fit_challenger(cfg.with_engine("local", None), local, mp, 1, SilentProgress())
    assert baseline.error is None and baseline.training is None
    engine, split, history = on_spark.engine, local.split, local.history
    assert engine is not None
    with trained_on_engine(cfg, on_spark, mp.features, model) as trained:
        assert trained is not None and trained.derived
        assert trained.training == (
            "graph features computed on the spark engine, then fitted on the driver on all "
            f"{split.train.height:,} training rows (engine.sample_rows: 1,000,000)"
        )
        names = model.graph_feature_names(spec)
        for remote, rows in ((trained.rows.train, split.train), (trained.rows.test, split.test)):
            expected, _ = model.with_graph_features(rows, spec, history)  # the local run's features
            _assert_same_features(engine.to_polars(remote), expected, names)
        scores = scores_on_engine(on_spark, model, trained.rows.test, split.test.height)
        train_scores = scores_on_engine(on_spark, model, trained.rows.train, split.train.height)
    assert scores is not None and train_scores is not None
    assert baseline.scores is not None and baseline.train_scores is not None
    np.testing.assert_allclose(scores, baseline.scores, rtol=0, atol=1e-9)
    np.testing.assert_allclose(train_scores, baseline.train_scores, rtol=0, atol=1e-9)
    remote_metrics = _metrics(cfg, on_spark, scores)
    local_metrics = _metrics(cfg, local, baseline.scores)
    assert remote_metrics.keys() == local_metrics.keys() and len(remote_metrics) == len(METRICS)
    for key, value in local_metrics.items():
        assert remote_metrics[key] == pytest.approx(value, abs=1e-9), key
    assert local_metrics["roc_auc"] > 0.6  # the graph model learned something: not all ties


def test_a_smaller_sample_is_the_one_other_kinds_fit_on_and_the_report_says_its_size(
    sim_parquet: Path, on_spark: Prepared, local: Prepared
) -> None:
    """engine.sample_rows under the training rows: the run's step fits the tree on a stratified
    sample of the featured training rows, drawn by the data's columns alone, so the rows a
    LightGBM challenger samples; its "how it was trained" line gives the sample's size, and its
    scores of the test and the training rows (from the executors) are those of the same tree
    fitted locally on those rows with the local graph features."""
    cfg = _config(sim_parquet, 3000)
    mp = on_spark.plan.challengers[0]
    fitted = fit_challenger(cfg, on_spark, mp, 1, SilentProgress())
    assert fitted.error is None and fitted.training is not None
    total = local.split.train.height
    assert fitted.training.startswith(
        "graph features computed on the spark engine, then fitted on the driver on a stratified "
        f"sample of 3,000 of the {total:,} training rows (engine.sample_rows, seed {cfg.seed}): "
    )
    # the sample of the plain training rows (what a LightGBM challenger fits on), featured locally
    engine, rows = on_spark.engine, on_spark.engine_rows
    assert engine is not None and rows is not None
    drawn = engine.sample(rows.train, target=cfg.data.target, size=3000, seed=cfg.seed)
    frauds = int(drawn.get_column(cfg.data.target).sum())
    assert f"{frauds:,} frauds" in fitted.training
    model, spec = _graph(cfg, local)
    featured, _ = model.with_graph_features(local.split.train, spec, local.history)
    ids = drawn.get_column("TRANSACTION_ID").implode()
    model.fit_featured(featured.filter(pl.col("TRANSACTION_ID").is_in(ids)), spec)
    np.testing.assert_allclose(
        fitted.scores, model.predict_score(local.split.test, history=local.history), atol=1e-9
    )
    np.testing.assert_allclose(
        fitted.train_scores,
        model.predict_score(local.split.train, history=local.history),
        atol=1e-9,
    )
