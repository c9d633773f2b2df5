"""Rules on the comparison of the models: failures, significant challengers, claimed figures, the
test window, the champion's scores, twins.

Each rule is a function ``(FindingContext) -> list[Finding]`` registered in :data:`COMPARISON_RULES`. Every
finding names the metric, the models, the effect and the evidence (``Finding.metric``, ``models``,
``effect``, ``evidence``) besides its prose. Rules on the diagnostics (drift, segments, calibration,
overfit, decay, explanations) live in :mod:`challengers.findings.diagnostics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

from challengers.analysis.explain import EXPLANATION_FAILED
from challengers.config.base import metric_from_key
from challengers.evaluation.evaluate import decision
from challengers.findings.context import FindingContext, Rule
from challengers.replication.agreement import agreement_findings
from challengers.results import DeltaResult, Finding, ModelResult, Severity


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4f}"


def failed_models(ctx: FindingContext) -> list[Finding]:
    return [
        Finding(
            id=f"run-failed-{m.name}",
            severity="medium",
            area="run",
            title=f"Challenger '{m.name}' failed",
            detail=f"{m.kind} challenger did not complete: {m.error}. Its results are missing "
            "from the comparison; the other models are unaffected.",
            models=(m.name,),
            evidence={"kind": m.kind, "error": m.error},
        )
        for m in ctx.models
        if m.status == "failed"
    ]


def failed_explanations(ctx: FindingContext) -> list[Finding]:
    """A model whose SHAP explanation failed: said only as a line of the report's limitations,
    the demo's two best challengers went unexplained for days (no top features, no blind
    spots for the model that beat the champion)."""
    if ctx.analyses is None:
        return []
    skipped = ctx.analyses.explanations.skipped
    return [
        Finding(
            id=f"explain-failed-{name}",
            severity="low",
            area="explanations",
            title=f"The explanation of '{name}' failed",
            detail=f"{why}. Its top features and the champion's blind spots it would show are "
            "missing from the report.",
            models=(name,),
            evidence={"error": why},
            recommendation="Report the error with the run's config: the explanation of every "
            "tree model is part of the validation.",
        )
        for name, why in skipped.items()
        if why.startswith(EXPLANATION_FAILED)
    ]


def _delta_text(key: str, d: DeltaResult) -> str:
    adjusted = "" if d.p_value_adjusted is None else f", adjusted p={d.p_value_adjusted:.3g}"
    return f"{key} {d.value:+.4f} [{_fmt(d.ci[0])}, {_fmt(d.ci[1])}] p={d.p_value:.3g}{adjusted}"


def _outcome_severity(ctx: FindingContext, m: ModelResult) -> tuple[Severity, str, float | None]:
    """(severity, sentence, relative recall gain) by the effect at the champion's alert budget."""
    mine, champ = ctx.at_budget(m.name), ctx.at_budget(ctx.champion.name)
    if mine is None or champ is None:
        return "medium", "", None
    t = ctx.thresholds
    if champ.recall > 0:
        gain = mine.recall / champ.recall - 1
    else:  # the champion catches nothing at its own budget
        gain = math.inf if mine.recall > 0 else 0.0
    severity: Severity = (
        "high" if gain >= t.effect_high else "medium" if gain >= t.effect_medium else "low"
    )
    point = ctx.analyses.operating_point if ctx.analyses else None
    extra = mine.true_positives - champ.true_positives
    text = (
        f" At the champion's budget of {mine.alerts:,} alerts it catches {extra:+,} frauds "
        f"(recall {champ.recall:.3f} -> {mine.recall:.3f}"
        + (f", {gain:+.1%})" if math.isfinite(gain) else ")")
    )
    if mine.savings is not None:
        text += f", savings {mine.savings:+,.0f}"
    o = next((o for o in point.overlaps if o.challenger == m.name), None) if point else None
    if o is not None:
        text += f"; McNemar p={o.p_value:.3g} ({o.only_challenger} vs {o.only_champion} frauds)"
    return severity, text + ".", gain


# Below this many frauds in the test window no paired test is trusted to call a winner: with one
# fraud DeLong's variance is zero by construction (p = 0) and a bootstrap resamples one row. The
# frauds are counted as the resampling units holding one (FindingContext.independent_frauds):
# 14 frauds on 2 cards are 2 pieces of evidence, and two equally good models read significantly
# different on pr_auc in 17 of 40 such windows (roc_auc 14; 10 cards: 4 and 2).
MIN_FRAUDS_TO_CLAIM = 10


def significant_challengers(ctx: FindingContext) -> list[Finding]:
    """The verdict on each challenger: significantly better (or worse) than the champion on the
    primary metric, Holm-adjusted across challengers; severity by the effect at the operating
    point. Secondary metrics significant after Holm over the challenger x metric family are
    reported, and never decide the verdict."""
    primary = ctx.primary_key
    out: list[Finding] = []
    if ctx.independent_frauds < MIN_FRAUDS_TO_CLAIM:  # the few-frauds finding says why
        return out
    for m in ctx.models:
        if m.role != "challenger" or m.status != "ok" or primary is None:
            continue
        secondary = {
            k: s
            for k, s in m.delta_vs_champion.items()
            if k != primary and decision(s, ctx.alpha, ctx.higher_is_better.get(k, True))
        }
        d = m.delta_vs_champion.get(primary)
        outcome = (
            None if d is None else decision(d, ctx.alpha, ctx.higher_is_better.get(primary, True))
        )
        if d is not None and outcome is not None:
            out.append(_verdict(ctx, m, primary, d, outcome == "beats", secondary))
        elif secondary:
            key = min(secondary, key=lambda k: _adjusted(secondary[k]))
            out.append(
                Finding(
                    id=f"outcome-secondary-{m.name}",
                    severity="info",
                    area="outcomes",
                    title=f"Challenger '{m.name}' differs from the champion on secondary metrics "
                    "only",
                    detail=(
                        f"Not significant on the primary metric {primary}, so no verdict."
                        if _finite_delta(m, primary)
                        else f"Not tested on the primary metric {primary}, so no verdict."
                    )
                    + _secondary_text(secondary),
                    metric=key,
                    models=(m.name, ctx.champion.name),
                    effect=secondary[key].value,
                    evidence=_evidence(secondary, None),
                )
            )
    return out


def untested_comparison(ctx: FindingContext) -> list[Finding]:
    """Challengers that scored but were never tested against the champion (no bootstrap: no
    interval, no p-value): without this the report read "no challenger significantly
    outperforms the champion" beside a challenger at pr_auc 1.00 against 0.22, and the rating
    could not see it."""
    primary = ctx.primary_key
    scored = [m for m in ctx.models if m.role == "challenger" and m.status == "ok"]
    champion = ctx.champion.metrics.get(primary, math.nan) if primary else math.nan
    tested = [m for m in scored if _finite_delta(m, primary)]
    if primary is None or not scored or tested:
        return []
    higher = ctx.higher_is_better.get(primary, True)
    values = [(m.metrics.get(primary, math.nan), m.name) for m in scored]
    finite = [(v, name) for v, name in values if math.isfinite(v)]
    best = (max if higher else min)(finite) if finite else None
    if not math.isfinite(champion):
        # brier of a champion whose scores are not probabilities: read as "not significant"
        why = (
            f"the champion's {primary} is n/a on this run (a probability metric of scores that "
            "are not probabilities, or one the test window cannot define)"
        )
    elif ctx.bootstrap == 0:
        why = "the run drew no bootstrap replicates (evaluation.bootstrap: 0)"
    else:
        why = "no paired test was computed"
    estimate = (
        f" On point estimates alone, the best challenger on {primary} is '{best[1]}' at "
        f"{_fmt(best[0])} against the champion's {_fmt(champion)}; whether the difference is "
        "real is unknown."
        if best is not None
        else ""
    )
    return [
        Finding(
            id="outcome-untested",
            severity="medium",
            area="outcomes",
            title="The challengers were not tested against the champion",
            detail=f"No interval and no p-value on the primary metric {primary}: {why}, so no "
            f"verdict can be given.{estimate}",
            metric=primary,
            # the best challenger's lead on point estimates, untested
            effect=best[0] - champion if best is not None else math.nan,
            evidence={
                "bootstrap": ctx.bootstrap,
                "challengers": [m.name for m in scored],
                "champion_value": champion,
            },
        )
    ]


def _finite_delta(m: ModelResult, key: str | None) -> bool:
    d = m.delta_vs_champion.get(key) if key else None
    return d is not None and math.isfinite(d.value) and math.isfinite(d.p_value)


def _verdict(
    ctx: FindingContext,
    m: ModelResult,
    primary: str,
    d: DeltaResult,
    beats: bool,
    secondary: dict[str, DeltaResult],
) -> Finding:
    """ "beats" (severity by the effect at the budget) or "worse than" (info), on ``primary``."""
    also = _secondary_text(secondary)
    if not beats:
        return Finding(
            id=f"outcome-worse-{m.name}",
            severity="info",
            area="outcomes",
            title=f"Challenger '{m.name}' is worse than the champion on the primary metric "
            f"{primary}",
            detail=f"{_basis(d).capitalize()}: {_delta_text(primary, d)}.{also}",
            metric=primary,
            models=(m.name, ctx.champion.name),
            effect=d.value,
            evidence=_evidence({primary: d, **secondary}, None),
        )
    leaking = ctx.leaking.get(m.name)
    if leaking:
        return _beats_by_a_leak(ctx, m, primary, d, leaking)
    severity, at_budget, gain = _outcome_severity(ctx, m)
    return Finding(
        id=f"outcome-better-{m.name}",
        severity=severity,
        area="outcomes",
        title=f"Challenger '{m.name}' beats the champion '{ctx.champion.name}' on the primary "
        f"metric {primary}",
        detail=f"Significant at alpha {ctx.alpha} on the primary metric (paired test on the same "
        f"test rows, {_basis(d)}): {_delta_text(primary, d)}.{at_budget}{also} The champion "
        "leaves performance on the table.",
        metric=primary,
        models=(m.name, ctx.champion.name),
        effect=d.value,
        evidence=_evidence({primary: d, **secondary}, gain),
    )


def _beats_by_a_leak(
    ctx: FindingContext, m: ModelResult, primary: str, d: DeltaResult, leaking: Sequence[str]
) -> Finding:
    """A challenger ahead of the champion while reading an input the audit found leaking: no
    evidence about the champion (a copy of the label wins any comparison), and no verdict."""
    columns = ", ".join(f"'{c}'" for c in leaking)
    return Finding(
        id=f"outcome-leaking-{m.name}",
        severity="medium",
        area="outcomes",
        title=f"Challenger '{m.name}' beats the champion through a leaking input: no verdict "
        "on the champion from it",
        detail=f"{_delta_text(primary, d)} ({_basis(d)}), but '{m.name}' reads {columns}, which "
        "the data audit found to carry the outcome (see the leakage findings): production "
        f"could not score it so. The comparison says nothing about '{ctx.champion.name}'.",
        metric=primary,
        models=(m.name,),
        effect=d.value,
        evidence={"leaking_inputs": list(leaking), **_evidence({primary: d}, None)},
    )


def _secondary_text(secondary: dict[str, DeltaResult]) -> str:
    if not secondary:
        return ""
    listed = "; ".join(_delta_text(k, s) for k, s in secondary.items())
    return f" Secondary metrics (Holm over challengers x metrics): {listed}."


def _basis(d: DeltaResult) -> str:
    return "uncorrected" if d.p_value_adjusted is None else "Holm-adjusted across challengers"


def _adjusted(d: DeltaResult) -> float:
    return d.p_value if d.p_value_adjusted is None else d.p_value_adjusted


def _evidence(deltas: dict[str, DeltaResult], gain: float | None) -> dict[str, object]:
    out: dict[str, object] = {
        k: {
            "delta": d.value,
            "ci": list(d.ci),
            "p_value": d.p_value,
            "p_adjusted": d.p_value_adjusted,
        }
        for k, d in deltas.items()
    }
    if gain is not None:
        out["relative_recall_gain_at_budget"] = gain
    return out


def claimed_figures(ctx: FindingContext) -> list[Finding]:
    """Figures in the champion's documentation that our interval does not contain."""
    out = []
    champ = ctx.champion
    for key, claimed in ctx.claimed.items():
        ours = champ.metrics.get(key)
        if ours is None:
            out.append(
                _unchecked_claim(
                    champ, key, claimed, "not evaluated", "add it to evaluation.metrics to check it"
                )
            )
            continue
        if not math.isfinite(ours):  # n/a for this champion: nothing to hold the claim against
            why = (
                f"the champion's {key} is n/a on this run (a probability metric of scores that "
                "are not probabilities, or a metric the test window cannot define)"
            )
            out.append(
                _unchecked_claim(champ, key, claimed, "cannot be checked on this champion", why)
            )
            continue
        interval = champ.ci.get(key)
        lo, hi = interval or (ours, ours)
        rounded = rounding(claimed, unit_range=metric_from_key(key).info.unit_range)
        slack = ctx.claim_tolerance + rounded
        if lo - slack <= claimed <= hi + slack:
            continue
        inflated = (claimed > hi) == ctx.higher_is_better.get(key, True)
        measured = (
            f"with interval [{_fmt(lo)}, {_fmt(hi)}]"
            if interval
            else "(no interval: the run drew no bootstrap replicates)"
        )
        out.append(
            Finding(
                id=f"claim-{key}",
                severity="high" if inflated else "medium",
                area="replication",
                title=f"Claimed {key} {'not reproduced (inflated)' if inflated else 'understated'}",
                detail=f"Documentation claims {key} = {claimed}; we measure {_fmt(ours)} "
                f"{measured} on the same out-of-time window, beyond the claim's own rounding "
                f"(±{rounded:g}).",
                metric=key,
                models=(champ.name,),
                effect=claimed - ours,
                evidence={
                    "claimed": claimed,
                    "measured": ours,
                    "ci": [lo, hi],
                    "tolerance": ctx.claim_tolerance,
                    "rounding": rounded,
                },
            )
        )
    return out


def _unchecked_claim(champ: ModelResult, key: str, claimed: float, title: str, why: str) -> Finding:
    """A claim held against nothing: ``title`` says why in a few words, ``why`` in full."""
    return Finding(
        id=f"claim-unchecked-{key}",
        severity="low",
        area="replication",
        title=f"Claimed {key} {title}",
        detail=f"The documentation claims {key} = {claimed}; {why}.",
        metric=key,
        models=(champ.name,),
        evidence={"claimed": claimed},
    )


def rounding(claimed: float, *, unit_range: bool = False) -> float:
    """Half a unit of a documented figure's last decimal: a claimed 0.87 stands for 0.865-0.875,
    and a measured 0.8695 reproduces it. Without it a run with no bootstrap (whose interval is
    the point estimate) called that claim "not reproduced (inflated)", a high finding that rates
    the champion unsatisfactory.

    A figure in 0..1 (``unit_range``) is read to two decimals at least: YAML keeps no trailing
    zero, so a documented 0.90 arrives as 0.9, which read to its one decimal stood for 0.85-0.95
    and passed a measured 0.851 [0.822, 0.879].

    A whole number is read to its units: a documented cost of 2 (or 12000) stands for 1.5-2.5,
    where ``repr`` gave 2.0 and the claim was held to 1.95-2.05."""
    from decimal import Decimal

    last = Decimal(repr(float(claimed))).normalize().as_tuple().exponent
    if not isinstance(last, int):
        return 0.0
    digit = min(last, 0)  # 12000 is 1.2E+4 normalised: its zeros may be digits
    return 0.5 * 10.0 ** (min(digit, -2) if unit_range else digit)


def thin_test_window(ctx: FindingContext) -> list[Finding]:
    out = _few_fraud_units(ctx)
    if ctx.positives_test >= 100:
        return out
    return [
        *out,
        Finding(
            id="data-few-test-frauds",
            severity="medium" if ctx.positives_test >= 30 else "high",
            area="data",
            title="Few frauds in the test window",
            detail=f"Only {ctx.positives_test} frauds in the test window: intervals are wide and "
            "small differences cannot be detected. Lengthen the test window.",
            metric="positives_test",
            effect=float(ctx.positives_test),
            evidence={"positives_test": ctx.positives_test},
        ),
    ]


def _few_fraud_units(ctx: FindingContext) -> list[Finding]:
    """Frauds enough, on too few independent units (cards, days) for a paired test: the
    verdict is withheld, and this says why."""
    units = ctx.fraud_units
    if units is None or units >= MIN_FRAUDS_TO_CLAIM or ctx.positives_test < MIN_FRAUDS_TO_CLAIM:
        return []
    return [
        Finding(
            id="data-few-fraud-units",
            severity="high",
            area="data",
            title=f"The test window's frauds fall on {units} resampling unit(s) only",
            detail=f"The {ctx.positives_test:,} test frauds fall on {units} of the bootstrap's "
            "independent units (entities or days): a paired test sees that many pieces of "
            f"evidence, fewer than the {MIN_FRAUDS_TO_CLAIM} it needs to call a winner, so no "
            "verdict is given. Lengthen the test window.",
            metric="fraud_units",
            effect=float(units),
            evidence={"positives_test": ctx.positives_test, "fraud_units": units},
        )
    ]


def label_delay_gap(ctx: FindingContext) -> list[Finding]:
    if ctx.gap_days >= ctx.label_delay_days:
        return []
    return [
        Finding(
            id="split-gap-shorter-than-delay",
            severity="medium",
            area="data",
            title="Test window starts before the training labels are known",
            detail=f"{ctx.gap_days} day(s) between training and test, but labels take "
            f"{ctx.label_delay_days} days: in production the last training labels would not be "
            "known yet, so the evaluation is optimistic.",
            metric="gap_days",
            effect=float(ctx.gap_days - ctx.label_delay_days),
            evidence={"gap_days": ctx.gap_days, "label_delay_days": ctx.label_delay_days},
        )
    ]


def below_chance(ctx: FindingContext) -> list[Finding]:
    """A model whose ROC AUC is below 0.5 beyond its uncertainty ranks frauds below genuine
    transactions. For the delivered champion (a model file, a column of production scores) that
    is most often a score whose direction is reversed (lower = riskier): every challenger then
    beats it and the verdict blames the model for a convention. The bound: the metric's
    interval where the run computed one, else Hanley and McNeil's standard error of an AUC."""
    out = []
    for m in ctx.models:
        auc = m.metrics.get("roc_auc", math.nan) if m.status == "ok" else math.nan
        bound = _auc_upper_bound(m, auc, ctx) if math.isfinite(auc) else None
        if bound is None or bound >= 0.5:
            continue
        champion = m.role == "champion"
        why = (
            "A delivered score whose direction is reversed (lower = riskier) gives exactly this; "
            "every comparison with it, and the verdict, would then measure that convention."
            if champion
            else "The model ranks this window's frauds as its least risky rows."
        )
        out.append(
            Finding(
                id=f"ranking-below-chance-{m.name}",
                severity="high" if champion else "medium",
                area="ranking",
                title=f"'{m.name}' ranks frauds below genuine transactions (ROC AUC {auc:.3f})",
                detail=f"ROC AUC {auc:.4f} on the test window, at most {bound:.4f} with "
                f"{1 - ctx.alpha:.0%} confidence: ordered by this score, a fraud comes after a "
                f"genuine transaction more often than before it. {why}",
                metric="roc_auc",
                models=(m.name,),
                effect=auc - 0.5,
                evidence={"roc_auc": auc, "upper_bound": bound},
            )
        )
    return out


def intervals_off_their_estimate(ctx: FindingContext) -> list[Finding]:
    """Bootstrap intervals that do not contain their own estimate: a percentile interval of a
    metric biased under resampling (KS, a maximum, on few frauds: 0.0812 [0.0865, 0.2713] on 45)
    lies beside the figure it is meant to bound. Said once for the run, every such pair named."""
    off = [
        (m.name, key, value, ci)
        for m in ctx.models
        if m.status == "ok"
        for key, value in m.metrics.items()
        if (ci := m.ci.get(key)) is not None
        and math.isfinite(value)
        and all(math.isfinite(c) for c in ci)
        and not ci[0] <= value <= ci[1]
    ]
    if not off:
        return []
    listed = "; ".join(
        f"{key} of '{name}' {_fmt(value)} [{_fmt(ci[0])}, {_fmt(ci[1])}]"
        for name, key, value, ci in off
    )
    return [
        Finding(
            id="interval-off-estimate",
            severity="low",
            area="method",
            title=f"{len(off)} bootstrap interval(s) do not contain their own estimate",
            detail=f"{listed}. The metric is biased under resampling at this size of the test "
            f"window ({ctx.positives_test:,} frauds): read such an interval as the spread of the "
            "resampled metric, not as bounds on the estimate.",
            models=tuple(dict.fromkeys(name for name, *_ in off)),
            evidence={
                f"{name}:{key}": {"value": value, "ci": list(ci)} for name, key, value, ci in off
            },
            recommendation="Compare such a metric on more frauds (a longer test window) before "
            "reading its interval as a confidence interval.",
        )
    ]


NEAR_PERFECT_AUC = 0.999  # no fraud model ranks out-of-time rows so; a copy of the label does


def near_perfect(ctx: FindingContext) -> list[Finding]:
    """A model that separates the test window's frauds almost perfectly (ROC AUC >= 0.999):
    fraud is not that predictable out of time, a copy of the outcome is. A production score
    column equal to the label went without a word (the audit leaves the champion's own score
    column alone), and so did a leak the audit's column tests cannot see (a code whose fraud
    values are scattered among its levels)."""
    if ctx.positives_test < MIN_FRAUDS_TO_CLAIM:
        return []
    out = []
    for m in ctx.models:
        auc = m.metrics.get("roc_auc", math.nan) if m.status == "ok" else math.nan
        if not auc >= NEAR_PERFECT_AUC:
            continue
        champion = m.role == "champion"
        out.append(
            Finding(
                id=f"leak-near-perfect-{m.name}",
                severity="high" if champion else "medium",
                area="leakage",
                title=f"'{m.name}' separates the test window's frauds almost perfectly (ROC AUC "
                f"{auc:.4f})",
                detail=f"On {ctx.positives_test:,} out-of-time frauds. Fraud models do not rank "
                "unseen rows so; a score or input that carries the outcome does (a score "
                "written after the case was worked, a chargeback or case flag, a label copy)."
                + (
                    " The champion's figures cannot be relied upon until its scores are shown "
                    "to be what production saw at authorisation."
                    if champion
                    else ""
                ),
                metric="roc_auc",
                models=(m.name,),
                effect=auc,
                evidence={"roc_auc": auc, "threshold": NEAR_PERFECT_AUC},
                recommendation="Trace every input (or the score column) of "
                f"'{m.name}' to the moment of authorisation; remove what is recorded after it.",
            )
        )
    return out


def _auc_upper_bound(m: ModelResult, auc: float, ctx: FindingContext) -> float | None:
    interval = m.ci.get("roc_auc")
    if interval is not None and math.isfinite(interval[1]):
        return float(interval[1])
    positives, negatives = ctx.positives_test, ctx.rows_test - ctx.positives_test
    if positives < 1 or negatives < 1:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)  # Hanley & McNeil (1982)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return auc + NormalDist().inv_cdf(1 - ctx.alpha / 2) * math.sqrt(max(variance, 0.0))


def champion_scores(ctx: FindingContext) -> list[Finding]:
    """The delivered champion must reproduce the production scores (see challengers.replication.agreement)."""
    return agreement_findings(ctx.score_agreement, ctx.champion.name)


def twin_comparisons(ctx: FindingContext) -> list[Finding]:
    """Whether a kind's added features (detector scores, graph features) beat the same tree
    without, decided as the verdict is: on the primary metric, Holm-adjusted across the twins."""
    primary = ctx.primary_key
    out: list[Finding] = []
    if ctx.independent_frauds < MIN_FRAUDS_TO_CLAIM:  # as for the verdict: too few to tell
        return out
    for m in ctx.models:
        if m.twin is None or not m.twin.delta or primary is None:
            continue
        better = {
            key: d
            for key, d in m.twin.delta.items()
            if decision(d, ctx.alpha, ctx.higher_is_better.get(key, True)) == "beats"
        }
        wins = primary in better
        secondary = "; ".join(_delta_text(k, d) for k, d in better.items() if k != primary)
        if wins:
            detail = (
                f"Significant at alpha {ctx.alpha} on the primary metric (paired test on the same "
                f"test rows, Holm-adjusted across twins): {_delta_text(primary, better[primary])}"
            )
        else:
            detail = (
                f"Not significantly better on the primary metric {primary}: the added features "
                "bring no measurable value over the same tree without them"
            )
        if secondary:
            detail += f". Better on secondary metrics (Holm over twins x metrics): {secondary}"
        out.append(
            Finding(
                id=f"twin-{m.name}",
                severity="low" if wins else "info",
                area="outcomes",
                title=f"'{m.name}' {'beats' if wins else 'does not beat'} its twin "
                f"({m.twin.label}) on {primary}",
                detail=detail + ".",
                metric=primary,
                models=(m.name,),
            )
        )
    return out


# the rules on the comparison of the models; findings/diagnostics.py holds those on the diagnostics
COMPARISON_RULES: dict[str, Rule] = {
    "failed_models": failed_models,
    "failed_explanations": failed_explanations,
    "significant_challengers": significant_challengers,
    "untested_comparison": untested_comparison,
    "claimed_figures": claimed_figures,
    "thin_test_window": thin_test_window,
    "label_delay_gap": label_delay_gap,
    "champion_scores": champion_scores,
    "below_chance": below_chance,
    "near_perfect": near_perfect,
    "intervals_off_their_estimate": intervals_off_their_estimate,
    "twin_comparisons": twin_comparisons,
}
