"""Finding rules on the diagnostics: drift (PSI), segment disparity, overfitting, calibration,
performance decay, a test week out of line and the champion's blind spots. Registered in
:data:`findings.RULES`.

Thresholds come from ``evaluation.findings`` (:class:`config.FindingsConfig`). Rules for the
champion weigh more than for challengers: the champion is what runs in production.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from challengers.analysis.stability import unstable_week, week_interval, weekly_trend
from challengers.results import Finding, Severity, beside

if TYPE_CHECKING:
    from challengers.analysis.segments import SegmentColumn, SegmentRow
    from challengers.analysis.stability import Slope, WeekMetrics
    from challengers.findings.context import FindingContext


def _psi_severity(value: float, ctx: FindingContext) -> Severity | None:
    t = ctx.thresholds
    if not math.isfinite(value):
        return None
    return "high" if value > t.psi_high else "medium" if value > t.psi_medium else None


def score_drift(ctx: FindingContext) -> list[Finding]:
    """A model's score distribution moved from training to test, or between test weeks."""
    if ctx.analyses is None:
        return []
    s = ctx.analyses.stability
    out = []
    for model, value in s.score_psi.items():
        weekly = [v for v in s.score_psi_weekly.get(model, []) if math.isfinite(v)]
        worst_week = max(weekly, default=float("nan"))
        effect = max(value, worst_week) if weekly else value
        severity = _psi_severity(effect, ctx)
        if severity is None:
            continue
        out.append(
            Finding(
                id=f"drift-score-{model}",
                severity=severity,
                area="stability",
                title=f"Scores of '{model}' shifted (PSI {ctx.thresholds.shown_psi(effect)})",
                detail="Population stability index of the scores: training -> test "
                + ctx.thresholds.shown_psi(value)
                + (
                    f", largest week-over-week {ctx.thresholds.shown_psi(worst_week)}"
                    if weekly
                    else ""
                )
                + f" (> {ctx.thresholds.psi_medium} moderate, > {ctx.thresholds.psi_high} major, "
                f"{s.bins} training-quantile bins). Alert volumes at a fixed threshold will move.",
                metric="score_psi",
                models=(model,),
                effect=effect,
                evidence={"train_to_test": value, "week_over_week_max": worst_week, "bins": s.bins},
            )
        )
    return out


def with_evaluated_rates(finding: Finding, summary: dict[str, int]) -> Finding:
    """The audit's fraud-rate shift, which counts every row of the windows, with the rates of
    the rows the models are evaluated on: the known-fraud exclusion can move them apart, even
    in opposite directions (1.5% -> 3.0% in the windows, 1.5% -> 1.3% evaluated)."""
    if finding.id != "drift-label-rate" or not summary["excluded_known_fraud_rows"]:
        return finding
    train = summary["positives_train"] / max(summary["rows_train"], 1)
    test = summary["positives_test"] / max(summary["rows_test"], 1)
    ratio = f"{test / train:.2f}x" if train > 0 else "n/a"
    said = (
        f" The rows the models are evaluated on (after the known-fraud exclusion) hold "
        f"{train:.2%} fraud in training and {test:.2%} in test ({ratio})."
    )
    evidence = {**finding.evidence, "evaluated_train_rate": train, "evaluated_test_rate": test}
    return replace(finding, detail=finding.detail + said, evidence=evidence)


def feature_drift(ctx: FindingContext) -> list[Finding]:
    """The champion's inputs whose test distribution moved from training, grouped by severity.

    None for a champion whose inputs are unknown (production scores only): the diagnostics then
    measure the data's features, which says nothing of what the champion reads; their drift is
    the data audit's finding (``drift-feature-*``)."""
    if ctx.analyses is None or not ctx.champion.features:
        return []
    champion = ctx.champion.name
    by_severity: dict[Severity, dict[str, float]] = {"high": {}, "medium": {}}
    for feature, value in ctx.analyses.stability.feature_psi.items():
        level = _psi_severity(value, ctx)
        if level is not None:
            by_severity[level][feature] = value
    out = []
    for severity, found in by_severity.items():
        if not found:
            continue
        ranked = sorted(found.items(), key=lambda kv: -kv[1])
        limit = ctx.thresholds.psi_high if severity == "high" else ctx.thresholds.psi_medium
        out.append(
            Finding(
                id=f"drift-features-{severity}",
                severity=severity,
                area="stability",
                title=f"{len(found)} input(s) of the champion shifted (PSI > {limit})",
                detail=f"Training -> test PSI ({_rows_evaluated(ctx)}): "
                + ", ".join(f"{f} {ctx.thresholds.shown_psi(v)}" for f, v in ranked[:10])
                + (f" and {len(ranked) - 10} more" if len(ranked) > 10 else "")
                + f". The champion '{champion}' sees inputs unlike those it was built on.",
                metric="feature_psi",
                models=(champion,),
                effect=ranked[0][1],
                evidence=dict(ranked),
            )
        )
    return out


def _rows_evaluated(ctx: FindingContext) -> str:
    """Which rows the diagnostics' PSI reads: the data audit's reads every row of each window
    before the known-fraud exclusion, and the two differ where the exclusion drops many rows."""
    test = f"{ctx.rows_test:,} " if ctx.rows_test else ""
    return f"on the rows evaluated: the training window and the {test}test rows"


def _below(
    rows: list[SegmentRow], model: str, limit: float, alpha: float
) -> dict[str, dict[str, float]]:
    """Segments whose FPR or recall ratio is below ``limit`` and significantly so."""

    def unequal(ratio: float, p: float) -> bool:
        return ratio < limit and p < alpha

    return {
        r.value: {
            "fpr_ratio": r.fpr_ratio[model],
            "recall_ratio": r.recall_ratio[model],
            "fpr": r.fpr[model],
            "recall": r.recall[model],
            "fpr_p": r.fpr_p[model],
            "recall_p": r.recall_p[model],
            "rows": r.rows,
        }
        for r in rows
        if not r.small
        and (
            unequal(r.fpr_ratio[model], r.fpr_p[model])
            or unequal(r.recall_ratio[model], r.recall_p[model])
        )
    }


def segment_disparity(ctx: FindingContext) -> list[Finding]:
    """Segments bearing more false alerts or seeing fewer frauds caught than the best one."""
    if ctx.analyses is None:
        return []
    limit = ctx.thresholds.disparity_ratio
    out = []
    for column in ctx.analyses.segments:
        for model in column.rows[0].fpr if column.rows else {}:
            bad = _below(column.rows, model, limit, ctx.alpha)
            if not bad:
                continue
            worst_value, worst = min(
                bad.items(), key=lambda kv: min(kv[1]["fpr_ratio"], kv[1]["recall_ratio"])
            )
            metric = "fpr_ratio" if worst["fpr_ratio"] <= worst["recall_ratio"] else "recall_ratio"
            is_champion = model == ctx.champion.name
            out.append(
                Finding(
                    id=f"segment-{column.column}-{model}",
                    severity="medium" if is_champion else "low",
                    area="segments",
                    title=f"'{model}' treats {column.column} segments unequally "
                    f"({metric} {beside(worst[metric], limit)} for {worst_value})",
                    detail=f"At the operating point, against the best-served {column.column} "
                    f"segment (ratio below {limit} and Fisher p < {ctx.alpha}): "
                    + "; ".join(
                        f"{v}: FPR ratio {beside(e['fpr_ratio'], limit)} (FPR {e['fpr']:.4f}, "
                        f"p={e['fpr_p']:.2g}), recall ratio {beside(e['recall_ratio'], limit)} "
                        f"(recall {e['recall']:.3f}, p={e['recall_p']:.2g})"
                        for v, e in bad.items()
                    )
                    + ".",
                    metric=metric,
                    models=(model,),
                    effect=worst[metric],
                    evidence={"column": column.column, "segments": bad},
                )
            )
    return out


def small_segments(ctx: FindingContext) -> list[Finding]:
    """Segments too small to judge: flagged, never hidden."""
    if ctx.analyses is None:
        return []
    t = ctx.thresholds
    out = []
    for column in ctx.analyses.segments:
        small = {
            r.value: {"rows": r.rows, "positives": r.positives} for r in column.rows if r.small
        }
        if small:
            out.append(_small_finding(column, small, t.min_segment_rows, t.min_segment_positives))
    return out


def _small_finding(
    column: SegmentColumn, small: dict[str, dict[str, int]], rows: int, positives: int
) -> Finding:
    return Finding(
        id=f"segment-small-{column.column}",
        severity="info",
        area="segments",
        title=f"{len(small)} {column.column} segment(s) too small to judge",
        detail=f"Fewer than {rows} rows or {positives} frauds: "
        + ", ".join(f"{v} ({e['rows']} rows, {e['positives']} frauds)" for v, e in small.items())
        + ". Their ratios are shown but not used as references or for findings.",
        metric="segment_size",
        models=tuple(column.rows[0].fpr),  # every model's figures on these segments are unsure
        effect=float(len(small)),
        evidence={"column": column.column, "segments": small},
    )


def overfit_gap(ctx: FindingContext) -> list[Finding]:
    """In-sample ROC AUC far above out-of-time ROC AUC."""
    if ctx.analyses is None:
        return []
    s, gap_limit = ctx.analyses.stability, ctx.thresholds.overfit_gap
    delivered = {m.name for m in ctx.models if m.delivered}
    out = []
    for model, train in s.train_metrics.items():
        test = s.test_metrics.get(model, {}).get("roc_auc", float("nan"))
        gap = train.get("roc_auc", float("nan")) - test
        if not (math.isfinite(gap) and gap > gap_limit):
            continue
        shown = beside(gap, gap_limit, 2 * gap_limit, digits=3)
        figures = (
            f"ROC AUC {train['roc_auc']:.4f} on the training window against {test:.4f} out of "
            f"time (gap > {gap_limit})"
        )
        if model in delivered:  # not trained by the run: which rows trained it is not known
            title = f"'{model}' does much better on the training window than out of time"
            detail = (
                f"{figures}. This run did not train '{model}' (the first line delivered it), so "
                "whether the training window's rows trained it is not known here: if they did, "
                "it memorised them; if not, the test period differs from the training window "
                "(see the drift findings)."
            )
            recommendation = (
                f"Ask the first line which rows and period trained '{model}'; if they overlap "
                "the training window, its out-of-time figures are the ones to rely on."
            )
        else:
            title = f"'{model}' does much better on its training window"
            detail = (
                f"{figures}: the model memorises the training period or the test period "
                "differs; in-sample figures overstate its performance."
            )
            recommendation = ""  # the overfit entry of findings/recommendations.py
        out.append(
            Finding(
                id=f"overfit-{model}",
                severity="medium" if gap > 2 * gap_limit else "low",
                area="stability",
                title=f"{title} (ROC AUC gap {shown})",
                detail=detail,
                metric="roc_auc",
                models=(model,),
                effect=gap,
                evidence={"train": train["roc_auc"], "test": test, "limit": gap_limit},
                recommendation=recommendation,
            )
        )
    return out


def calibration_off(ctx: FindingContext) -> list[Finding]:
    """A probability score whose mean is far from the observed fraud rate."""
    if ctx.analyses is None:
        return []
    r = ctx.thresholds.calibration_ratio
    out = []
    for c in ctx.analyses.calibration:
        if not c.assessed or not math.isfinite(c.ratio) or 1 / r <= c.ratio <= r:
            continue
        if not c.ratio_p_value < ctx.alpha:
            continue  # within what chance allows on this many rows
        direction = "over" if c.ratio > 1 else "under"
        out.append(
            Finding(
                id=f"calibration-{c.model}",
                severity="high" if not 1 / r**2 <= c.ratio <= r**2 else "medium",
                area="calibration",
                title=f"'{c.model}' {direction}states fraud risk (mean score / fraud rate "
                f"{beside(c.ratio, 1 / r, r)})",
                detail=f"Mean score {c.mean_score:.5f} against an observed fraud rate "
                f"{c.fraud_rate:.5f} on the test window (ratio outside [{1 / r:.2f}, {r:.2f}], "
                f"p={c.ratio_p_value:.2g}); "
                f"ECE {c.ece:.5f}, Brier {c.brier:.5f}. Scores used as probabilities (pricing, "
                "expected loss) would be biased.",
                metric="calibration_ratio",
                models=(c.model,),
                effect=c.ratio,
                evidence={
                    "mean_score": c.mean_score,
                    "fraud_rate": c.fraud_rate,
                    "ece": c.ece,
                    "brier": c.brier,
                    "p_value": c.ratio_p_value,
                },
            )
        )
    return out


def coarse_scores(ctx: FindingContext) -> list[Finding]:
    """A model whose test scores take a handful of values: it labels or bands rows, it does not
    rank them (an objective that outputs labels, XGBoost's ``binary:hinge``; a scorecard's
    bands). Its ROC and PR curves have as many points, and alerts at a budget that cuts a band
    are a pick among tied rows."""
    if ctx.analyses is None:
        return []
    limit, out = ctx.thresholds.coarse_scores, []
    for model, levels in ctx.analyses.score_levels.items():
        if levels > limit:
            continue
        champion = model == ctx.champion.name
        out.append(
            Finding(
                id=f"coarse-scores-{model}",
                # a challenger is the validator's own model: its bands are no finding on the
                # first line's, and the first line has no continuous score behind it to give
                severity="high" if levels <= 2 and champion else "medium",
                area="ranking",
                title=f"'{model}' gives {levels} distinct score{'s' if levels != 1 else ''} "
                "on the test window",
                detail=f"{levels} distinct value(s) over the test rows (flagged at "
                f"findings.coarse_scores: {limit} or fewer): the model labels or bands the rows "
                "rather than ranking them. Its ROC and PR curves "
                f"pass through {max(levels - 1, 0)} threshold(s), and where an alert budget cuts "
                "a band, which of its tied rows are alerted is not decided by the model (the "
                "metrics count the expected value over the ties).",
                metric="distinct_scores",
                models=(model,),
                effect=float(levels),
                evidence={"distinct_scores": levels, "limit": limit},
                recommendation=""
                if champion
                else f"Check the settings of '{model}' (objective, rounds, learning rate, "
                "depth): a challenger that bands the rows does not test the champion's ranking.",
            )
        )
    return out


def _worsens(slope: Slope, higher: bool, alpha: float) -> bool:
    """A trend significantly in the worse direction."""
    return (
        math.isfinite(slope.per_week) and slope.p_value < alpha and (slope.per_week < 0) == higher
    )


def _trend(slope: Slope) -> str:
    lo, hi = slope.ci
    return f"{slope.per_week:+.4f}/week [{lo:+.4f}, {hi:+.4f}], p={slope.p_value:.3g}"


def _out_of_line(ctx: FindingContext, model: str, key: str) -> tuple[WeekMetrics, Slope] | None:
    """The model's unstable week of ``key`` and the weekly trend of the other weeks."""
    assert ctx.analyses is not None
    s = ctx.analyses.stability
    week = unstable_week(s, model, key, ctx.higher_is_better.get(key, True))
    if week is None:
        return None
    return week, weekly_trend(s, model, key, ctx.alpha, leave_out=week.week)


def performance_decay(ctx: FindingContext) -> list[Finding]:
    """The primary metric worsens significantly with time since the end of training.

    Not where one test week out of line drives the slope: with that week (:func:`unstable_week`)
    left out, the other weeks' trend must worsen significantly too; otherwise a collapse in one
    week (an incident) reads as a decay, and the advice to retrain misses the incident. The
    week's own finding (:func:`unstable_week_drop`) then says the slope rests on it."""
    key = ctx.primary_key
    if ctx.analyses is None or key is None:
        return []
    higher = ctx.higher_is_better.get(key, True)
    out = []
    for model, slopes in ctx.analyses.stability.decay.items():
        s = slopes.get(key)
        if s is None or not _worsens(s, higher, ctx.alpha):
            continue
        outlier = _out_of_line(ctx, model, key)
        if outlier is not None and not _worsens(outlier[1], higher, ctx.alpha):
            continue  # the slope rests on one week: the week's finding says so
        evidence: dict[str, Any] = {"per_week": s.per_week, "ci": list(s.ci), "p_value": s.p_value}
        held = ""
        if outlier is not None:
            week, trend = outlier
            held = (
                f" It holds without the week {week.start}..{week.end}, out of line with the "
                f"others: their weekly {key} trends {_trend(trend)}."
            )
            evidence["without_week"] = {"week": week.start, **_slope_evidence(trend)}
        out.append(
            Finding(
                id=f"decay-{model}",
                severity="medium" if model == ctx.champion.name else "low",
                area="stability",
                title=f"{key} of '{model}' decays over the test window ({s.per_week:+.4f}/week)",
                detail=f"Weighted trend of the daily {key} over {s.points} test days: "
                f"{s.per_week:+.4f} per week [{s.ci[0]:+.4f}, {s.ci[1]:+.4f}], p={s.p_value:.3g}."
                + held
                + " Plan retraining or monitoring on this horizon.",
                metric=key,
                models=(model,),
                effect=s.per_week,
                evidence=evidence,
            )
        )
    return out


def _slope_evidence(slope: Slope) -> dict[str, Any]:
    return {"per_week": slope.per_week, "ci": list(slope.ci), "p_value": slope.p_value}


def _week(w: WeekMetrics, model: str, key: str) -> str:
    lo, hi = w.ci[model][key]
    return f"{w.start}..{w.end} {w.metrics[model][key]:.4f} [{lo:.4f}, {hi:.4f}]"


def unstable_week_drop(ctx: FindingContext) -> list[Finding]:
    """A test week whose primary metric's interval lies wholly on the worse side of every other
    week's (:func:`~challengers.analysis.stability.unstable_week`): an event in that week, which
    neither the test window's figures nor a trend describe."""
    key = ctx.primary_key
    if ctx.analyses is None or key is None:
        return []
    out = []
    for model in (m.name for m in ctx.models if m.status == "ok"):
        outlier = _out_of_line(ctx, model, key)
        if outlier is not None:
            out.append(_unstable_finding(ctx, model, key, *outlier))
    return out


def _unstable_finding(
    ctx: FindingContext, model: str, key: str, week: WeekMetrics, trend: Slope
) -> Finding:
    assert ctx.analyses is not None
    higher = ctx.higher_is_better.get(key, True)
    side = "below" if higher else "above"
    compared = [  # the weeks the rule compared it with: those with an interval
        w
        for w in ctx.analyses.stability.weeks
        if w is not week and week_interval(w, model, key) is not None
    ]
    value = week.metrics[model][key]
    others_mean = sum(w.metrics[model][key] for w in compared) / len(compared)
    champion = model == ctx.champion.name
    return Finding(
        id=f"unstable-week-{model}",
        severity="medium" if champion else "low",
        area="stability",
        title=f"{key} of '{model}' {'drops' if higher else 'rises'} in one test week "
        f"({week.start}..{week.end}: {value:.4f})",
        detail=f"Week {_week(week, model, key)}: its bootstrap interval lies wholly {side} the "
        f"interval of every other test week ("
        + "; ".join(_week(w, model, key) for w in compared)
        + "). A week out of line with all the others is an event in that week (an incident, a "
        "feed or scoring fault, a fraud pattern the model missed), not the model's level: the "
        "test window's figures average over it." + _decay_resting_on(ctx, model, key, trend),
        metric=key,
        models=(model,),
        effect=value - others_mean,
        evidence={
            "rule": f"the week's interval lies wholly {side} every other week's",
            "week": week.start,
            "end": week.end,
            "value": value,
            "ci": list(week.ci[model][key]),
            "others_mean": others_mean,
            "others": {
                w.start: {"value": w.metrics[model][key], "ci": list(w.ci[model][key])}
                for w in compared
            },
            "trend_without_week": _slope_evidence(trend),
        },
        recommendation=f"Find out what happened to '{model}' in the week {week.start}..{week.end} "
        "(an incident, a release, a feed or scoring fault, a fraud attack) before reading the "
        "test window's figures as its usual performance"
        + ("; the monitoring plan's weekly band flags a repeat." if champion else "."),
    )


def _decay_resting_on(ctx: FindingContext, model: str, key: str, trend: Slope) -> str:
    """Where the daily slope alone would have called a decay: that it rests on this week."""
    assert ctx.analyses is not None
    higher = ctx.higher_is_better.get(key, True)
    s = ctx.analyses.stability.decay.get(model, {}).get(key)
    if s is None or not _worsens(s, higher, ctx.alpha) or _worsens(trend, higher, ctx.alpha):
        return ""
    return (
        f" The daily trend of {key} ({s.per_week:+.4f}/week, p={s.p_value:.3g}) rests on this "
        f"week: without it the other weeks' {key} trends {_trend(trend)} (each week weighted by "
        "its interval), so no decay is reported."
    )


def champion_blind_spots(ctx: FindingContext) -> list[Finding]:
    """Features a challenger leans on that the champion ignores (SHAP attribution shares)."""
    if ctx.analyses is None:
        return []
    # a leaking input is never a candidate signal, and a model reading one leans on it
    leaking = ctx.leaking_columns
    spots = [
        b
        for b in ctx.analyses.explanations.blind_spots
        if b.challenger not in ctx.leaking and b.feature not in leaking
    ]
    out = []
    for challenger in dict.fromkeys(b.challenger for b in spots):
        mine = [b for b in spots if b.challenger == challenger]
        evidence: dict[str, Any] = {
            b.feature: {"challenger_share": b.challenger_share, "champion_share": b.champion_share}
            for b in mine
        }
        out.append(
            Finding(
                id=f"explain-blind-spot-{challenger}",
                severity="low",
                area="explanations",
                title=f"'{challenger}' leans on {len(mine)} feature(s) the champion ignores",
                detail="Share of mean |SHAP| on the sample: "
                + ", ".join(
                    f"{b.feature} {b.challenger_share:.1%} (champion: "
                    + ("not an input" if b.champion_share is None else f"{b.champion_share:.1%}")
                    + ")"
                    for b in mine
                )
                + ". Worth reviewing as candidate signals for the champion.",
                metric="shap_share",
                models=(challenger, ctx.champion.name),
                effect=mine[0].challenger_share,
                evidence=evidence,
            )
        )
    return out


DIAGNOSTIC_RULES: dict[str, Callable[[FindingContext], list[Finding]]] = {
    "score_drift": score_drift,
    "feature_drift": feature_drift,
    "segment_disparity": segment_disparity,
    "small_segments": small_segments,
    "overfit_gap": overfit_gap,
    "calibration_off": calibration_off,
    "coarse_scores": coarse_scores,
    "performance_decay": performance_decay,
    "unstable_week": unstable_week_drop,
    "champion_blind_spots": champion_blind_spots,
}
