"""Planted truths from the probe of a production-score champion: a week that collapsed is an
unstable week, not a decay, and the monitoring band leaves it out; the inputs of a champion known
by its scores alone are unknown, so no finding says they drifted."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from challengers.analysis.stability import Slope, Stability
from challengers.config import FindingsConfig
from challengers.findings import FindingContext, derive_findings
from challengers.findings.monitoring import monitoring_plan
from challengers.results import Finding, ModelResult
from tests.analysis.test_stability import PROBE_WEEKS, weeks_of
from tests.findings.test_comparison import world

# the daily slope the probe's collapse produced: significant, and -0.0971 per week
PROBE_DECAY = Slope(-0.0971, (-0.16, -0.03), 0.004, 24)


def context(stability: Stability, features: tuple[str, ...] = ()) -> FindingContext:
    return FindingContext(
        models=[ModelResult("prod", "champion", "score", features=list(features))],
        higher_is_better={"pr_auc": True},
        alpha=0.05,
        positives_test=861,
        rows_test=45_088,
        analyses=world(stability=stability),  # type: ignore[arg-type]
        metric_keys=("pr_auc",),
    )


def probe(planted: list[tuple[float, tuple[float, float]]] = PROBE_WEEKS) -> Stability:
    s = weeks_of(planted, model="prod")
    s.decay = {"prod": {"pr_auc": PROBE_DECAY}}
    return s


def found(ctx: FindingContext) -> dict[str, Finding]:
    return {f.id: f for f in derive_findings(ctx)}


def test_a_collapsed_week_is_an_unstable_week_not_a_decay() -> None:
    findings = found(context(probe()))
    assert "decay-prod" not in findings  # the last week is better than the first
    week = findings["unstable-week-prod"]
    assert (week.severity, week.metric, week.models) == ("medium", "pr_auc", ("prod",))
    assert "2024-03-22..2024-03-28: 0.0320" in week.title
    assert "2024-03-22..2024-03-28 0.0320 [0.0231, 0.0435]" in week.detail
    assert "wholly below the interval of every other test week" in week.detail
    assert "2024-03-29..2024-03-31 0.3645 [0.2000, 0.5939]" in week.detail  # the others named
    assert "rests on this week" in week.detail and "no decay is reported" in week.detail
    assert week.evidence["week"] == "2024-03-22"
    assert week.effect is not None and week.effect < -0.3  # below the other weeks' mean
    assert "2024-03-22..2024-03-28" in week.recommendation


def test_a_decay_that_holds_without_the_collapsed_week_is_still_a_decay() -> None:
    # the weeks decline steadily, then the last one falls below all of them
    planted = [
        (0.60, (0.57, 0.63)),
        (0.50, (0.47, 0.53)),
        (0.40, (0.37, 0.43)),
        (0.05, (0.03, 0.07)),
    ]
    findings = found(context(probe(planted)))
    assert "unstable-week-prod" in findings
    decay = findings["decay-prod"]
    assert "It holds without the week 2024-03-29..2024-03-31" in decay.detail
    assert decay.evidence["without_week"]["per_week"] < 0
    assert "rests on this week" not in findings["unstable-week-prod"].detail


def test_a_steady_decline_is_a_decay_and_no_week_is_singled_out() -> None:
    planted = [
        (0.50, (0.44, 0.56)),
        (0.45, (0.39, 0.51)),
        (0.40, (0.34, 0.46)),
        (0.35, (0.29, 0.41)),
    ]
    findings = found(context(probe(planted)))
    assert "decay-prod" in findings and "unstable-week-prod" not in findings
    assert "holds without" not in findings["decay-prod"].detail


def plan(ctx: FindingContext, findings: list[Finding], higher: bool = True) -> dict[str, Any]:
    assert ctx.analyses is not None
    items = monitoring_plan(
        ctx.analyses.stability,
        SimpleNamespace(rate=0.02, alerts=902),  # type: ignore[arg-type]
        findings,
        FindingsConfig(),
        champion="prod",
        champion_inputs=ctx.champion.features,
        primary="pr_auc",
        label_delay_days=7,
        fraud_rates=(0.0154, 0.0191),
        primary_higher_is_better=higher,
    )
    return {i.metric.split(":")[0]: i for i in items}


def test_the_monitoring_band_leaves_the_collapsed_week_out_and_says_so() -> None:
    ctx = context(probe())
    band = plan(ctx, derive_findings(ctx))[
        "weekly pr_auc of the champion, 7 days after the week ends"
    ]
    # the other weeks' intervals: a repeat of the collapse (0.0320) falls below the band
    assert band.threshold.startswith("below the band 0.2000..0.5939 (")
    assert "but the week 2024-03-22..2024-03-28, out of line with all the others" in band.threshold
    assert band.findings == ("unstable-week-prod",)


def test_a_lower_is_better_primary_metric_alerts_above_its_band() -> None:
    """A cost-like primary metric worsens upwards: 'below the band' watched the wrong side."""
    ctx = context(probe())
    band = plan(ctx, [], higher=False)["weekly pr_auc of the champion, 7 days after the week ends"]
    assert band.threshold.startswith("above the band ")


def test_the_inputs_of_a_champion_known_by_its_scores_alone_are_not_said_to_drift() -> None:
    stability = probe()
    stability.feature_psi = {"CUSTOMER_AVG_AMOUNT_30D": 0.579, "TX_AMOUNT": 0.006}
    score_only = context(stability)
    assert not [f for f in derive_findings(score_only) if f.id.startswith("drift-features-")]
    item = plan(score_only, [])[
        "PSI of the data's features (the champion's inputs are unknown) against the training window"
    ]
    assert item.observed == "CUSTOMER_AVG_AMOUNT_30D 0.579 (on the rows evaluated)"
    # the same PSI with the champion's inputs known is a finding, saying which rows it reads
    drift = found(context(stability, ("CUSTOMER_AVG_AMOUNT_30D", "TX_AMOUNT")))
    detail = drift["drift-features-high"].detail
    assert "on the rows evaluated: the training window and the 45,088 test rows" in detail
    assert "PSI of the champion's inputs against the training window" in plan(
        context(stability, ("TX_AMOUNT",)), []
    )
