"""Finding rules: thresholds, severities and the correction they rest on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from challengers.analysis.calibration import Calibration
from challengers.analysis.operating import ModelAtBudget, Overlap
from challengers.findings import FindingContext, derive_findings
from challengers.findings.comparison import rounding
from challengers.findings.recommendations import recommendation, with_recommendations
from challengers.results import DeltaResult, ModelResult, beside


def at_budget(model: str, recall: float, tp: int) -> ModelAtBudget:
    return ModelAtBudget(model, 100, tp, 100 - tp, recall, tp / 100, (100 - tp) / tp)


def context(
    analyses: Any = None, *, p: float = 0.01, adjusted: float | None = 0.02
) -> FindingContext:
    champ = ModelResult("champ", "champion", "xgboost")
    chall = ModelResult("chall", "challenger", "lightgbm")
    chall.delta_vs_champion = {"roc_auc": DeltaResult(0.03, (0.01, 0.05), p, adjusted)}
    return FindingContext(
        models=[champ, chall],
        higher_is_better={"roc_auc": True},
        alpha=0.05,
        positives_test=500,
        gap_days=7,
        label_delay_days=7,
        analyses=analyses,
        metric_keys=("roc_auc",),
    )


def world(**parts: Any) -> SimpleNamespace:
    stability = SimpleNamespace(
        score_psi={}, score_psi_weekly={}, feature_psi={}, decay={}, train_metrics={},
        test_metrics={}, bins=10, weeks=[], weekly_bootstrap=0,
    )  # fmt: skip
    base = {
        "operating_point": SimpleNamespace(models=[], overlaps=[]),
        "stability": stability,
        "segments": [],
        "calibration": [],
        "explanations": SimpleNamespace(blind_spots=[], skipped={}),
        "score_levels": {},
    }
    return SimpleNamespace(**{**base, **parts})


@pytest.mark.parametrize(
    ("recall", "severity"), [(0.56, "high"), (0.52, "medium"), (0.505, "low"), (0.45, "low")]
)
def test_outcome_severity_follows_the_effect_at_the_operating_point(
    recall: float, severity: str
) -> None:
    op = SimpleNamespace(
        models=[at_budget("champ", 0.5, 50), at_budget("chall", recall, round(recall * 100))],
        overlaps=[Overlap("chall", 45, 5, 11, 39, p_value=0.2, test="exact binomial")],
    )
    found = {f.id: f for f in derive_findings(context(world(operating_point=op)))}
    f = found["outcome-better-chall"]
    assert f.severity == severity
    assert f.metric == "roc_auc" and f.models == ("chall", "champ") and f.effect == 0.03
    assert f.evidence["relative_recall_gain_at_budget"] == pytest.approx(recall / 0.5 - 1)
    assert "Holm-adjusted" in f.detail and "McNemar p=0.2" in f.detail


def test_significance_rests_on_the_adjusted_p_value() -> None:
    ids = [f.id for f in derive_findings(context(p=0.01, adjusted=0.08))]
    assert "outcome-better-chall" not in ids
    uncorrected = derive_findings(context(p=0.01, adjusted=None))
    assert any("uncorrected" in f.detail for f in uncorrected)


def test_the_verdict_rests_on_the_primary_metric_alone() -> None:
    """A secondary metric significant after Holm is reported (info), never a "beats"; a primary
    one decides, and the finding names it."""
    ctx = context()
    chall = ctx.models[1]
    chall.delta_vs_champion = {
        "roc_auc": DeltaResult(0.03, (0.01, 0.05), 0.001, 0.003, "delong", primary=False),
        "pr_auc": DeltaResult(0.01, (-0.01, 0.03), 0.4, 0.4, "bootstrap:entity", primary=True),
    }
    ctx = FindingContext(
        **{**ctx.__dict__, "metric_keys": ("roc_auc", "pr_auc"), "primary": "pr_auc"}
    )
    found = {f.id: f for f in derive_findings(ctx)}
    assert "outcome-better-chall" not in found
    secondary = found["outcome-secondary-chall"]
    assert secondary.severity == "info" and secondary.metric == "roc_auc"
    assert "Not significant on the primary metric pr_auc" in secondary.detail
    assert "name it evaluation.primary for the next validation" in recommendation(secondary)
    chall.delta_vs_champion["pr_auc"] = DeltaResult(0.02, (0.01, 0.03), 0.001, 0.002, primary=True)
    better = {f.id: f for f in derive_findings(ctx)}["outcome-better-chall"]
    assert better.metric == "pr_auc" and "on the primary metric pr_auc" in better.title
    assert "Secondary metrics (Holm over challengers x metrics): roc_auc" in better.detail


@pytest.mark.parametrize(("psi", "severity"), [(0.05, None), (0.15, "medium"), (0.3, "high")])
def test_score_psi_thresholds(psi: float, severity: str | None) -> None:
    analyses = world()
    analyses.stability.score_psi = {"chall": psi}
    found = {f.id: f for f in derive_findings(context(analyses))}
    if severity is None:
        assert "drift-score-chall" not in found
    else:
        assert found["drift-score-chall"].severity == severity
        assert found["drift-score-chall"].effect == psi


@pytest.mark.parametrize(
    ("ratio", "p", "severity"),
    [(0.7, 0.2, None), (0.7, 0.001, "medium"), (0.5, 0.001, "high"), (1.1, 0.0, None)],
)
def test_calibration_needs_a_large_and_significant_gap(
    ratio: float, p: float, severity: str | None
) -> None:
    c = Calibration("champ", True, ratio=ratio, ratio_p_value=p, mean_score=0.01 * ratio)
    found = {f.id: f for f in derive_findings(context(world(calibration=[c])))}
    assert (found["calibration-champ"].severity if "calibration-champ" in found else None) == (
        severity
    )


@pytest.mark.parametrize(("train", "severity"), [(0.75, None), (0.85, "low"), (0.95, "medium")])
def test_train_test_gap(train: float, severity: str | None) -> None:
    analyses = world()
    analyses.stability.train_metrics = {"chall": {"roc_auc": train}}
    analyses.stability.test_metrics = {"chall": {"roc_auc": 0.7}}
    found = {f.id: f for f in derive_findings(context(analyses))}
    assert (found["overfit-chall"].severity if "overfit-chall" in found else None) == severity


def _claim_context(measured: float, claimed: float, ci: tuple[float, float] | None) -> Any:
    champ = ModelResult("champ", "champion", "xgboost")
    champ.metrics = {"roc_auc": measured}
    champ.ci = {"roc_auc": ci} if ci is not None else {}
    return FindingContext(
        models=[champ],
        higher_is_better={"roc_auc": True},
        alpha=0.05,
        claimed={"roc_auc": claimed},
        metric_keys=("roc_auc",),
    )


@pytest.mark.parametrize(
    ("measured", "claimed", "ci", "expected"),
    [
        (0.8695, 0.87, None, None),  # a documented 0.87 stands for 0.865-0.875
        (0.8640, 0.87, None, "high"),
        (0.8760, 0.87, None, "medium"),
        (0.8695, 0.875, None, "high"),  # three decimals: 0.8745-0.8755
        # a figure in 0..1 is read to two decimals at least: YAML turns a documented 0.90 into
        # 0.9, which stood for 0.85-0.95 and passed this champion
        (0.86, 0.9, (0.85, 0.88), "high"),
        (0.86, 0.9, (0.85, 0.8951), None),  # 0.90 stands for 0.895-0.905
        (0.86, 0.95, (0.85, 0.88), "high"),
    ],
)
def test_a_claim_is_read_to_its_own_rounding(
    measured: float, claimed: float, ci: tuple[float, float] | None, expected: str | None
) -> None:
    found = [
        f for f in derive_findings(_claim_context(measured, claimed, ci)) if f.id == "claim-roc_auc"
    ]
    assert [f.severity for f in found] == ([expected] if expected else [])
    if found and ci is None:
        assert "(no interval: the run drew no bootstrap replicates)" in found[0].detail
        assert f"(±{0.005 if claimed == 0.87 else 0.0005:g})" in found[0].detail


@pytest.mark.parametrize(
    ("claimed", "unit_range", "half_unit"),
    [
        (2.0, False, 0.5),  # `expected_cost: 2` was held to 1.95-2.05
        (12000.0, False, 0.5),
        (2.5, False, 0.05),
        (1e-07, False, 5e-08),
        (0.87, True, 0.005),
        (0.9, True, 0.005),
        (1.0, True, 0.005),
    ],
)
def test_a_claim_s_rounding_is_half_a_unit_of_its_last_digit(
    claimed: float, unit_range: bool, half_unit: float
) -> None:
    assert rounding(claimed, unit_range=unit_range) == pytest.approx(half_unit, rel=1e-12)


def test_a_claim_on_a_metric_the_champion_has_no_value_for_is_unchecked_not_inflated() -> None:
    """brier of scores that are not probabilities is n/a: NaN failed every comparison and read
    as 'not reproduced (inflated)', a high finding that rated the champion unsatisfactory."""
    found = derive_findings(_claim_context(float("nan"), 0.02, None))
    claims = [(f.id, f.severity) for f in found if f.id.startswith("claim")]
    assert claims == [("claim-unchecked-roc_auc", "low")]


@pytest.mark.parametrize(
    ("value", "limits", "shown"),
    [
        (0.7984, (0.8, 1.25), "0.798"),  # read "0.80" beside "ratio outside [0.80, 1.25]"
        (0.79587, (0.8,), "0.796"),  # read "0.80 ▼" under "below 0.8 are marked ▼"
        (0.8049, (0.8,), "0.805"),  # "0.80" would read as at the limit
        (0.75, (0.8,), "0.75"),
        (0.8, (0.8,), "0.80"),  # on the limit: shown as it is
        (1.25004, (0.8, 1.25), "1.25004"),
    ],
)
def test_a_figure_beside_its_threshold_stays_on_its_side(
    value: float, limits: tuple[float, ...], shown: str
) -> None:
    assert beside(value, *limits) == shown


def test_a_calibration_ratio_just_inside_its_band_is_not_printed_on_the_band() -> None:
    c = Calibration("champ", True, ratio=0.7984, ratio_p_value=1e-6, mean_score=0.01)
    (found,) = [f for f in derive_findings(context(world(calibration=[c]))) if "calib" in f.id]
    assert "(mean score / fraud rate 0.798)" in found.title


def test_a_failed_explanation_is_a_finding_and_a_kind_without_a_booster_is_not() -> None:
    from challengers.findings.comparison import failed_explanations

    explanations = SimpleNamespace(
        skipped={
            "graph": "explanation failed: DataError: column 'TX_DATETIME' is not in the rows",
            "iforest": "anomaly has no native tree booster",
        }
    )
    ctx = FindingContext(
        models=[ModelResult("champ", "champion", "score")],
        higher_is_better={},
        alpha=0.05,
        analyses=SimpleNamespace(explanations=explanations),  # type: ignore[arg-type]
    )
    (found,) = failed_explanations(ctx)
    assert (found.id, found.severity, found.models) == ("explain-failed-graph", "low", ("graph",))
    assert "'TX_DATETIME' is not in the rows" in found.detail


def test_an_interval_that_misses_its_own_estimate_is_said_once_for_the_run() -> None:
    """The percentile interval of KS on 45 frauds: 0.0812 [0.0865, 0.2713] (a probe's run), the
    estimate outside the interval meant to bound it."""
    from challengers.findings.comparison import intervals_off_their_estimate

    weak = ModelResult("weak", "champion", "score")
    weak.metrics, weak.ci = {"ks": 0.0812, "pr_auc": 0.05}, {"ks": (0.0865, 0.2713)}
    fine = ModelResult("lgbm", "challenger", "lightgbm")
    fine.metrics, fine.ci = {"ks": 0.2}, {"ks": (0.15, 0.25)}
    ctx = FindingContext(models=[weak, fine], higher_is_better={}, alpha=0.05, positives_test=45)
    (found,) = intervals_off_their_estimate(ctx)
    assert (found.id, found.severity, found.models) == ("interval-off-estimate", "low", ("weak",))
    assert "ks of 'weak' 0.0812 [0.0865, 0.2713]" in found.detail and "45 frauds" in found.detail
    assert (
        intervals_off_their_estimate(FindingContext(models=[fine], higher_is_better={}, alpha=0.05))
        == []
    )


def test_gaps_and_psis_just_past_a_threshold_are_shown_past_it() -> None:
    """A train/test gap of 0.1004 (medium from 0.2, low from 0.1) read 'ROC AUC gap 0.100'
    beside 'gap > 0.1', and a score PSI of 0.2503 (high above 0.25) 'PSI 0.250': as if at the
    threshold, not past it. Enough decimals to stay on their side (``beside``)."""
    analyses = world()
    analyses.stability.train_metrics = {"chall": {"roc_auc": 0.8004}}
    analyses.stability.test_metrics = {"chall": {"roc_auc": 0.7}}
    analyses.stability.score_psi = {"chall": 0.2503}
    found = {f.id: f for f in derive_findings(context(analyses))}
    assert found["overfit-chall"].title.endswith("(ROC AUC gap 0.1004)")
    assert found["drift-score-chall"].severity == "high"
    assert found["drift-score-chall"].title.endswith("shifted (PSI 0.2503)")
    assert "training -> test 0.2503 (> 0.1 moderate, > 0.25 major" in (
        found["drift-score-chall"].detail
    )


@pytest.mark.parametrize("kind", ["score", "xgboost-file", "lightgbm-file", "xgboost"])
def test_a_delivered_champion_s_gap_is_not_called_memorising(kind: str) -> None:
    """A champion handed over as scores or a model file was not trained on the config's
    training window by the run: its gap is not evidence that it memorised those rows, and
    'regularise it' is not the first line's next step. A retrained champion keeps the text."""
    analyses = world()
    analyses.stability.train_metrics = {"champ": {"roc_auc": 0.96}}
    analyses.stability.test_metrics = {"champ": {"roc_auc": 0.75}}
    ctx = context(analyses)
    ctx.models[0].kind = kind
    (finding,) = [f for f in with_recommendations(derive_findings(ctx)) if f.id == "overfit-champ"]
    assert finding.severity == "medium"
    if kind == "xgboost":  # retrained by the run
        assert "memorises the training period" in finding.detail
        assert finding.recommendation.startswith("Regularise 'champ'")
        return
    assert "This run did not train 'champ'" in finding.detail
    assert "memorises" not in finding.detail and "overstate" not in finding.detail
    assert finding.title == (
        "'champ' does much better on the training window than out of time (ROC AUC gap 0.210)"
    )
    assert finding.recommendation.startswith("Ask the first line which rows and period trained")
