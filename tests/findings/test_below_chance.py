"""A model that ranks frauds below genuine transactions (findings/comparison.py::below_chance): the
bound against a known answer, the severities, and a planted reversed production score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.findings import derive_findings
from challengers.findings.comparison import below_chance, near_perfect
from challengers.findings.context import FindingContext
from challengers.results import ModelResult
from tests.conftest import run_config, sim_config


def _context(*models: ModelResult, positives: int = 400, rows: int = 40_000) -> FindingContext:
    return FindingContext(
        models=list(models),
        higher_is_better={"roc_auc": True},
        alpha=0.05,
        positives_test=positives,
        rows_test=rows,
        gap_days=7,
        label_delay_days=7,
        metric_keys=("roc_auc",),
    )


def _model(name: str, role: str, auc: float, ci: tuple[float, float] | None = None) -> ModelResult:
    m = ModelResult(name, role, "score" if role == "champion" else "lightgbm")
    m.metrics = {"roc_auc": auc}
    m.ci = {"roc_auc": ci} if ci is not None else {}
    return m


def _hanley_mcneil_se(area: float, abnormal: int, normal: int) -> float:
    """Their standard error of an area, written out as the paper gives it."""
    q1, q2 = area / (2 - area), 2 * area**2 / (1 + area)
    variance = area * (1 - area) + (abnormal - 1) * (q1 - area**2) + (normal - 1) * (q2 - area**2)
    return float(np.sqrt(variance / (abnormal * normal)))


def test_without_an_interval_the_bound_is_hanley_and_mcneils() -> None:
    """Hanley & McNeil (1982), their worked example: 51 abnormal and 58 normal images, area 0.893,
    standard error 0.032; the bound is the area plus 1.96 of them."""
    assert _hanley_mcneil_se(0.893, 51, 58) == pytest.approx(0.032, abs=0.0006)  # the paper's
    found = below_chance(_context(_model("champ", "champion", 0.893), positives=51, rows=109))
    assert found == []  # far above chance
    # the same error mirrored below 0.5 (the formula is not symmetric: recomputed at 0.107)
    low = below_chance(_context(_model("champ", "champion", 0.107), positives=51, rows=109))
    assert len(low) == 1
    expected = 0.107 + 1.959964 * _hanley_mcneil_se(0.107, 51, 58)
    assert low[0].evidence["upper_bound"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("auc", "ci", "positives", "expected"),
    [
        (0.30, None, 400, "high"),
        (0.30, (0.25, 0.35), 400, "high"),
        (0.45, (0.38, 0.52), 400, None),  # the interval reaches chance
        (0.46, None, 12, None),  # 12 frauds: 0.46 is within chance's reach
        (0.46, None, 4_000, "high"),  # the same area on 4,000 frauds is not
        (0.50, None, 400, None),
        (0.70, None, 400, None),
    ],
)
def test_the_champion_below_chance_beyond_its_uncertainty_is_high(
    auc: float, ci: tuple[float, float] | None, positives: int, expected: str | None
) -> None:
    found = below_chance(_context(_model("champ", "champion", auc, ci), positives=positives))
    assert [f.severity for f in found] == ([expected] if expected else [])
    if expected:
        assert found[0].id == "ranking-below-chance-champ" and found[0].models == ("champ",)
        assert "reversed (lower = riskier)" in found[0].detail


def test_a_challenger_below_chance_is_medium_and_a_failed_one_is_not_judged() -> None:
    chall, failed = _model("iforest", "challenger", 0.3), _model("broken", "challenger", 0.2)
    failed.status = "failed"
    found = below_chance(_context(_model("champ", "champion", 0.8), chall, failed))
    assert [(f.id, f.severity) for f in found] == [("ranking-below-chance-iforest", "medium")]
    assert "ranking-below-chance-iforest" in {
        f.id for f in derive_findings(_context(_model("champ", "champion", 0.8), chall))
    }


def test_a_reversed_production_score_is_found_and_the_same_score_the_right_way_is_not(
    tmp_path: Path, sim_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: the production score is the label plus noise (ROC AUC about 0.7), delivered once
    as it is and once negated, as a score where lower means riskier would be."""
    monkeypatch.setenv("CHALLENGE_PLOTS", "off")
    frame = pl.read_parquet(sim_parquet)
    noise = np.random.default_rng(7).normal(0.0, 1.5, frame.height)
    score = frame.get_column("TX_FRAUD").to_numpy() + noise
    found = {}
    for name, values in (("as-delivered", score), ("reversed", -score)):
        data = tmp_path / f"{name}.parquet"
        frame.with_columns(pl.Series("PROD", values)).write_parquet(data)
        config = sim_config(
            data,
            threads=1,
            challengers=[{"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 10}}],
        )
        config["champion"] = {"name": "prod", "score": "PROD"}
        config["evaluation"]["bootstrap"] = 0  # the bound from Hanley and McNeil's error
        result = run_config(config, tmp_path, name)
        found[name] = (result.champion.metrics["roc_auc"], [f.id for f in result.findings])
    (auc, ids), (reversed_auc, reversed_ids) = found["as-delivered"], found["reversed"]
    assert auc == pytest.approx(1 - reversed_auc, abs=1e-9) and auc > 0.6
    assert not any(i.startswith("ranking-below-chance") for i in ids)
    assert "ranking-below-chance-prod" in reversed_ids


@pytest.mark.parametrize(
    ("role", "auc", "positives", "expected"),
    [
        ("champion", 1.0, 400, "high"),  # a production score column equal to the label
        ("challenger", 0.9995, 400, "medium"),
        ("champion", 0.998, 400, None),  # the best real models stop well short of this
        ("champion", 1.0, 6, None),  # six frauds: perfection proves little
    ],
)
def test_a_model_that_separates_the_frauds_almost_perfectly_is_a_suspected_leak(
    role: str, auc: float, positives: int, expected: str | None
) -> None:
    champion = _model("champ", "champion", 0.8 if role != "champion" else auc)
    models = [champion] + ([_model("copy", "challenger", auc)] if role == "challenger" else [])
    found = near_perfect(_context(*models, positives=positives))
    assert [f.severity for f in found] == ([expected] if expected else [])
    if expected:
        name = "champ" if role == "champion" else "copy"
        assert found[0].id == f"leak-near-perfect-{name}" and found[0].area == "leakage"
