"""Champion replication: a delivered model re-scored against the production score column."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.config import ChampionConfig
from challengers.errors import ConfigError
from challengers.replication.agreement import agreement_findings, score_agreement
from tests.conftest import SIM_TRAIN, sim_config

FEATURES = ["TX_AMOUNT", "IS_ONLINE", "TX_HOUR", "AMOUNT_TO_AVG_30D", "CUSTOMER_NB_TX_1D"]


def test_agreement_known_values() -> None:
    rescored = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    production = pl.Series("P", [0.1, 0.2, 0.35, 0.4, None])
    a = score_agreement(rescored, production, tolerance=1e-6)
    assert (a.rows, a.missing, a.rows_differ) == (4, 1, 1)
    assert a.max_abs_diff == pytest.approx(0.05)
    assert a.share_differ == pytest.approx(0.25)
    assert a.spearman == pytest.approx(1.0)  # the ranks agree although one value differs
    reversed_ = score_agreement(rescored[:4], pl.Series("P", [0.4, 0.3, 0.2, 0.1]), tolerance=0)
    assert reversed_.spearman == pytest.approx(-1.0)
    assert not reversed_.matches


def test_findings_high_for_a_mismatching_model_info_otherwise() -> None:
    same = score_agreement(np.array([0.1, 0.2]), pl.Series("P", [0.1, 0.2 + 1e-9]), tolerance=1e-6)
    assert same.matches
    assert [f.severity for f in agreement_findings(same, "c")] == ["info"]
    off = score_agreement(np.array([0.1, 0.2]), pl.Series("P", [0.2, 0.1]), tolerance=1e-6)
    (finding,) = agreement_findings(off, "c")
    assert (finding.id, finding.severity, finding.area) == (
        "champion-scores-mismatch",
        "high",
        "replication",
    )
    assert "not what runs in production" in finding.detail
    retrained = score_agreement(
        np.array([0.1, 0.2]), pl.Series("P", [0.2, 0.1]), tolerance=1e-6, source="retrain"
    )
    assert [f.severity for f in agreement_findings(retrained, "c")] == ["info"]
    assert agreement_findings(None, "c") == []


def test_champion_config_sources() -> None:
    assert ChampionConfig(model="m.json", score="S").production_score == "S"
    assert ChampionConfig(retrain={"kind": "xgboost"}, score="S").production_score == "S"
    assert ChampionConfig(score="S").production_score is None
    assert ChampionConfig(model="m.json").production_score is None
    with pytest.raises(ValueError, match="exclusive"):
        ChampionConfig(model="m.json", retrain={"kind": "xgboost"})
    with pytest.raises(ValueError, match=r"give champion\.model"):
        ChampionConfig()


def test_model_and_retrain_together_is_a_config_error_with_its_line(
    sim_parquet: Path, write_config
) -> None:
    from challengers.config import load_config

    config = sim_config(sim_parquet, champion={"model": "m.json", "retrain": {"kind": "xgboost"}})
    with pytest.raises(ConfigError, match=r"experiment.yaml:\d+: champion: .*exclusive"):
        load_config(write_config(config))


@pytest.fixture(scope="module")
def with_scores(
    tmp_path_factory: pytest.TempPathFactory, sim_frame: pl.DataFrame
) -> tuple[Path, Path]:
    """The delivered champion file, and data with its true production scores and another model's."""
    import xgboost as xgb

    from challengers.data.frames import DataSpec, to_matrix
    from challengers.models.tree import XGBoostChallenger

    directory = tmp_path_factory.mktemp("agreement")
    day = pl.col("TX_DATETIME").dt.date().cast(pl.String)
    train = sim_frame.filter(day.is_between(pl.lit(SIM_TRAIN["start"]), pl.lit(SIM_TRAIN["end"])))
    spec = DataSpec(target="TX_FRAUD", time="TX_DATETIME", features=tuple(FEATURES))
    delivered = XGBoostChallenger({"n_estimators": 20, "max_depth": 3}, seed=1, threads=1)
    path = delivered.fit(train, spec).save(directory)
    other = XGBoostChallenger({"n_estimators": 20, "max_depth": 2}, seed=2, threads=1)
    other.fit(train.sample(fraction=0.5, seed=3), spec)
    x = to_matrix(sim_frame, FEATURES)
    production = xgb.Booster(model_file=str(path)).inplace_predict(x)  # what production ran
    data = directory / "scored.parquet"
    sim_frame.with_columns(
        pl.Series("PROD_SCORE", np.asarray(production, dtype=np.float64)),
        pl.Series("OTHER_SCORE", other.predict_score(sim_frame)),
    ).write_parquet(data)
    return data, path


@pytest.mark.parametrize(
    ("column", "expected"),
    [("OTHER_SCORE", "champion-scores-mismatch"), ("PROD_SCORE", "champion-scores-reproduced")],
)
def test_run_rescores_the_model_file_against_the_score_column(
    with_scores: tuple[Path, Path],
    column: str,
    expected: str,
    write_config,
    tracking_uri: str,
    tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    from challengers.config import load_config
    from challengers.pipeline import RunOptions, run_experiment

    data, model = with_scores
    config = sim_config(
        data,
        threads=1,
        champion={"name": "first-line", "model": str(model), "score": column},
        challengers=[],
        evaluation={"metrics": ["roc_auc", "pr_auc"], "bootstrap": 50},
    )
    config["data"]["drop"] += ["PROD_SCORE", "OTHER_SCORE"]
    result = run_experiment(
        load_config(write_config(config)),
        RunOptions(output_dir=tmp_path / "out", tracking_uri=tracking_uri),
    )
    found = {f.id: f for f in result.findings}
    assert expected in found
    agreement = result.champion_agreement
    assert agreement is not None and agreement["rows"] == result.data.rows_test
    if column == "OTHER_SCORE":
        assert found[expected].severity == "high"
        assert agreement["rows_differ"] > 0.5 * agreement["rows"]
        assert 0.0 < agreement["spearman"] < 0.99
    else:
        assert found[expected].severity == "info"
        assert agreement["max_abs_diff"] == 0.0 and agreement["rows_differ"] == 0
        assert "champion-scores-mismatch" not in found
    assert result.champion.kind == "xgboost-file"  # the file is evaluated, not the column
    document = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert document["champion_agreement"]["rows_differ"] == agreement["rows_differ"]
    logged = MlflowClient(tracking_uri=tracking_uri).get_run(result.run_id or "").data.metrics
    assert math.isclose(logged["champion_score_spearman"], agreement["spearman"])
