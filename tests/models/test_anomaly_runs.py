"""Anomaly challengers through the whole run: a failing detector is a failed challenger while the
others go on; every detector is reported with intervals on the demo and the handbook data; a
hybrid and its tree-only twin are compared by the paired test."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pytest

from challengers.config import load_config
from challengers.errors import ConfigError
from challengers.experiment_result import ExperimentResult
from challengers.pipeline import RunOptions, run_experiment
from challengers.pipeline.plan import make_plan
from tests.conftest import ROOT, sim_config

SIX = ("iforest", "ecod", "copod", "hbos", "lof", "knn")
FAST = {"threads": 1, "seed": 3}


def detectors(sample: int, **extra: Any) -> list[dict[str, Any]]:
    """The six detectors standalone, each on a small fit sample."""
    return [
        {"name": d, "kind": "anomaly", "detector": d, "sample_size": sample, **extra} for d in SIX
    ]


def hybrid(detector: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"lgbm-{detector}",
        "kind": "anomaly",
        "detector": detector,
        "hybrid": "lightgbm",
        "model": {"kind": "lightgbm", "params": {"n_estimators": 40}},
        "fit_on": "genuine",
        **extra,
    }


def run(config: dict[str, Any], write_config: Callable[..., Path], out: Path, uri: str) -> Any:
    cfg = load_config(write_config(config))
    return run_experiment(cfg, RunOptions(output_dir=out, tracking_uri=uri))


def assert_reported_with_intervals(result: ExperimentResult, names: list[str]) -> None:
    by_name = {m.name: m for m in result.models}
    for name in names:
        m = by_name[name]
        assert m.status == "ok", f"{name}: {m.error}"
        for key in ("roc_auc", "pr_auc"):
            lo, hi = m.ci[key]
            assert lo <= m.metrics[key] <= hi, (name, key)
            assert key in m.delta_vs_champion, (name, key)


def assert_twin_compared(result: ExperimentResult, name: str) -> None:
    m = next(m for m in result.models if m.name == name)
    assert m.twin is not None and m.twin.label == f"lightgbm without anomaly_{name[5:]}"
    for key in ("roc_auc", "pr_auc"):
        d = m.twin.delta[key]
        assert d.value == pytest.approx(m.metrics[key] - m.twin.metrics[key])
        assert d.ci[0] <= d.ci[1] and 0.0 <= d.p_value <= 1.0


def test_failing_detectors_are_failed_challengers_and_the_others_go_on(
    sim_parquet: Path, write_config: Callable[..., Path], tracking_uri: str, tmp_path: Path
) -> None:
    challengers = [
        {"name": "iforest", "kind": "anomaly", "detector": "iforest"},
        # too little data for the parameters: 500 neighbours from a 200-row sample
        {
            "name": "knn-tiny",
            "kind": "anomaly",
            "detector": "knn",
            "params": {"n_neighbors": 500},
            "sample_size": 200,
        },
        # a value only the library can judge: 40 components of 9 features
        {"name": "pca-bad", "kind": "anomaly", "detector": "pca", "params": {"n_components": 40}},
        hybrid("hbos"),
    ]
    config = sim_config(sim_parquet, challengers=challengers, **FAST)
    result = run(config, write_config, tmp_path / "out", tracking_uri)

    status = {m.name: (m.status, m.error or "") for m in result.models}
    assert status["knn-tiny"][0] == "failed" and "n_neighbors" in status["knn-tiny"][1]
    assert status["pca-bad"][0] == "failed" and "n_components" in status["pca-bad"][1]
    assert_reported_with_intervals(result, ["iforest", "lgbm-hbos"])
    assert_twin_compared(result, "lgbm-hbos")
    assert {f"run-failed-{n}" for n in ("knn-tiny", "pca-bad")} <= {f.id for f in result.findings}
    assert any(f.id == "twin-lgbm-hbos" for f in result.findings)

    document = json.loads((tmp_path / "out" / "comparison.json").read_text())
    entry = next(m for m in document["models"] if m["name"] == "lgbm-hbos")
    twin = entry["twin"]["delta"]
    assert set(twin["roc_auc"]) == {
        "value", "ci", "p_value", "p_value_adjusted", "method", "primary"
    }  # fmt: skip
    # the run's unit (entity blocks) and methods; roc_auc is the primary metric (the first)
    assert twin["roc_auc"]["method"] == "delong-clustered:entity" and twin["roc_auc"]["primary"]
    assert twin["pr_auc"]["method"] == "bootstrap:entity" and not twin["pr_auc"]["primary"]
    assert twin["roc_auc"]["p_value_adjusted"] >= twin["roc_auc"]["p_value"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "lgbm-hbos against its twin (lightgbm without anomaly_hbos)" in report

    client = mlflow.MlflowClient(tracking_uri)
    run_id = next(m.run_id for m in result.models if m.name == "lgbm-hbos")
    assert run_id is not None
    logged = client.get_run(run_id).data.metrics
    assert logged["delta_twin_roc_auc"] == pytest.approx(entry["twin"]["delta"]["roc_auc"]["value"])
    assert "twin_pr_auc_ci_low" in logged
    assert logged["delta_twin_pr_auc_p_value_adjusted"] == pytest.approx(
        twin["pr_auc"]["p_value_adjusted"]
    )


def test_plan_time_checks_need_no_training(sim_parquet: Path, write_config: Callable) -> None:
    bad = [
        ({"detector": "ecod", "categorical": ["MCCC"]}, "'MCCC' is not one of the challenger's"),
        ({"detector": "pca", "params": {"n_component": 3}}, "did you mean 'n_components'"),
        ({"detector": "auto_encoder"}, "it needs torch"),
    ]
    for given, message in bad:
        challenger = {"name": "a", "kind": "anomaly", **given}
        cfg = load_config(write_config(sim_config(sim_parquet, challengers=[challenger])))
        with pytest.raises(ConfigError, match=message):
            make_plan(cfg)


@pytest.mark.slow
def test_every_detector_on_the_demo_data(
    write_config: Callable[..., Path], tracking_uri: str, tmp_path: Path
) -> None:
    import yaml

    config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    config["data"]["path"] = str(ROOT / "data" / "demo.parquet")
    config["champion"]["model"] = str(ROOT / "data" / "champion.json")
    config["evaluation"]["bootstrap"] = 200
    extra = {"categorical": ["MCC"], "fit_on": "genuine"}
    config["challengers"] = [*detectors(3000, **extra), hybrid("ecod", categorical=["MCC"])]
    config.update(FAST)
    result = run(config, write_config, tmp_path / "out", tracking_uri)
    assert_reported_with_intervals(result, [*SIX, "lgbm-ecod"])
    assert_twin_compared(result, "lgbm-ecod")


HANDBOOK_FEATURES = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(f"CUSTOMER_ID_NB_TX_{d}DAY_WINDOW" for d in (1, 7, 30)),
    *(f"CUSTOMER_ID_AVG_AMOUNT_{d}DAY_WINDOW" for d in (1, 7, 30)),
    *(f"TERMINAL_ID_NB_TX_{d}DAY_WINDOW" for d in (1, 7, 30)),
    *(f"TERMINAL_ID_RISK_{d}DAY_WINDOW" for d in (1, 7, 30)),
]


@pytest.mark.slow
@pytest.mark.handbook
def test_every_detector_on_the_handbook_data(
    handbook_path: Path, write_config: Callable[..., Path], tracking_uri: str, tmp_path: Path
) -> None:
    """The handbook split; scenario 1 (amount above 220) is an outlier in TX_AMOUNT, so every
    detector fitted on genuine rows must rank frauds above chance, not merely run."""
    config = {
        "name": "handbook-anomaly",
        **FAST,
        "data": {
            "path": str(handbook_path),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "features": HANDBOOK_FEATURES,
        },
        "split": {
            "train": {"start": "2018-07-25", "end": "2018-07-31"},
            "test": {"start": "2018-08-08", "end": "2018-08-14"},
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {"name": "xgb", "retrain": {"kind": "xgboost", "params": {"max_depth": 3}}},
        "challengers": [*detectors(5000, fit_on="genuine"), hybrid("iforest")],
        "evaluation": {
            "metrics": ["roc_auc", "pr_auc", "entity_precision_at@100"],
            "bootstrap": 200,
        },
    }
    result = run(config, write_config, tmp_path / "out", tracking_uri)
    assert result.data.rows_test == 58_264
    assert_reported_with_intervals(result, [*SIX, "lgbm-iforest"])
    assert_twin_compared(result, "lgbm-iforest")
    for m in result.models:  # measured: 0.76 (hbos) to 0.84 (knn)
        if m.name in SIX:
            assert m.metrics["roc_auc"] > 0.7 and m.ci["roc_auc"][0] > 0.5, m.name
