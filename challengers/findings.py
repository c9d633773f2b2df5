"""Rules that turn a run's numbers into findings with a severity and the evidence.

Each rule is a function ``(FindingContext) -> list[Finding]`` registered in :data:`RULES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from challengers.agreement import ScoreAgreement, agreement_findings
from challengers.results import Finding, ModelResult


@dataclass(frozen=True)
class FindingContext:
    models: list[ModelResult]
    higher_is_better: dict[str, bool]
    alpha: float
    claimed: dict[str, float] = field(default_factory=dict)
    claim_tolerance: float = 0.0
    positives_test: int = 0
    gap_days: int = 0
    label_delay_days: int = 0
    score_agreement: ScoreAgreement | None = None  # re-scored champion vs production scores

    @property
    def champion(self) -> ModelResult:
        return next(m for m in self.models if m.role == "champion")


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
        )
        for m in ctx.models
        if m.status == "failed"
    ]


def significant_challengers(ctx: FindingContext) -> list[Finding]:
    """A challenger significantly better (or worse) than the champion on the same test rows."""
    out = []
    for m in ctx.models:
        if m.role != "challenger" or m.status != "ok":
            continue
        better: list[str] = []
        worse: list[str] = []
        for key, d in m.delta_vs_champion.items():
            if not (math.isfinite(d.p_value) and d.p_value < ctx.alpha):
                continue
            improves = (d.value > 0) == ctx.higher_is_better.get(key, True)
            (better if improves else worse).append(
                f"{key} {d.value:+.4f} [{_fmt(d.ci[0])}, {_fmt(d.ci[1])}] p={d.p_value:.3g}"
            )
        if better:
            share = len(better) / max(len(m.delta_vs_champion), 1)
            out.append(
                Finding(
                    id=f"outcome-better-{m.name}",
                    severity="high" if share >= 0.5 else "medium",
                    area="outcomes",
                    title=f"Challenger '{m.name}' beats the champion '{ctx.champion.name}'",
                    detail="Significant at alpha "
                    f"{ctx.alpha} (paired bootstrap, uncorrected): " + "; ".join(better) + ". "
                    "The champion leaves performance on the table on these metrics.",
                )
            )
        if worse:
            out.append(
                Finding(
                    id=f"outcome-worse-{m.name}",
                    severity="info",
                    area="outcomes",
                    title=f"Challenger '{m.name}' is worse than the champion on some metrics",
                    detail="; ".join(worse),
                )
            )
    return out


def claimed_figures(ctx: FindingContext) -> list[Finding]:
    """Figures in the champion's documentation that our interval does not contain."""
    out = []
    champ = ctx.champion
    for key, claimed in ctx.claimed.items():
        if key not in champ.metrics:
            out.append(
                Finding(
                    id=f"claim-unchecked-{key}",
                    severity="low",
                    area="replication",
                    title=f"Claimed {key} not evaluated",
                    detail=f"The documentation claims {key} = {claimed}; add it to "
                    "evaluation.metrics to check it.",
                )
            )
            continue
        ours = champ.metrics[key]
        lo, hi = champ.ci.get(key, (ours, ours))
        tol = ctx.claim_tolerance
        if lo - tol <= claimed <= hi + tol:
            continue
        inflated = (claimed > hi) == ctx.higher_is_better.get(key, True)
        out.append(
            Finding(
                id=f"claim-{key}",
                severity="high" if inflated else "medium",
                area="replication",
                title=f"Claimed {key} {'not reproduced (inflated)' if inflated else 'understated'}",
                detail=f"Documentation claims {key} = {claimed}; we measure {_fmt(ours)} "
                f"with interval [{_fmt(lo)}, {_fmt(hi)}] on the same out-of-time window.",
            )
        )
    return out


def thin_test_window(ctx: FindingContext) -> list[Finding]:
    if ctx.positives_test >= 100:
        return []
    return [
        Finding(
            id="data-few-test-frauds",
            severity="medium" if ctx.positives_test >= 30 else "high",
            area="data",
            title="Few frauds in the test window",
            detail=f"Only {ctx.positives_test} frauds in the test window: intervals are wide and "
            "small differences cannot be detected. Lengthen the test window.",
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
        )
    ]


def champion_scores(ctx: FindingContext) -> list[Finding]:
    """The delivered champion must reproduce the production scores (see challengers.agreement)."""
    return agreement_findings(ctx.score_agreement, ctx.champion.name)


def twin_comparisons(ctx: FindingContext) -> list[Finding]:
    """Whether a kind's added features (detector scores, graph features) beat the same tree without."""
    out = []
    for m in ctx.models:
        if m.twin is None or not m.twin.delta:
            continue
        better = [
            f"{key} {d.value:+.4f} [{_fmt(d.ci[0])}, {_fmt(d.ci[1])}] p={d.p_value:.3g}"
            for key, d in m.twin.delta.items()
            if math.isfinite(d.p_value)
            and d.p_value < ctx.alpha
            and (d.value > 0) == ctx.higher_is_better.get(key, True)
        ]
        out.append(
            Finding(
                id=f"twin-{m.name}",
                severity="low" if better else "info",
                area="outcomes",
                title=f"'{m.name}' {'beats' if better else 'does not beat'} its twin "
                f"({m.twin.label})",
                detail=(
                    "Significant at alpha "
                    f"{ctx.alpha} (paired bootstrap on the same test rows): " + "; ".join(better)
                    if better
                    else "No metric differs significantly in its favour: the added features "
                    "bring no measurable value over the same tree without them."
                ),
            )
        )
    return out


RULES: dict[str, Callable[[FindingContext], list[Finding]]] = {
    "failed_models": failed_models,
    "significant_challengers": significant_challengers,
    "claimed_figures": claimed_figures,
    "thin_test_window": thin_test_window,
    "label_delay_gap": label_delay_gap,
    "champion_scores": champion_scores,
    "twin_comparisons": twin_comparisons,
}

ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


def derive_findings(ctx: FindingContext) -> list[Finding]:
    """Every rule's findings, most severe first."""
    found = [f for rule in RULES.values() for f in rule(ctx)]
    return sorted(found, key=lambda f: ORDER[f.severity])
