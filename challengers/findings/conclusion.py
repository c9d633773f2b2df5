"""The overall conclusion of a validation: a rating from explicit rules over the findings.

The rules of :data:`RATING_RULES` are read in order; every rule whose condition some finding meets
is shown in the report with those findings, and the overall rating is the worst rating among them
(``satisfactory`` when none applies). The rules are documented in the README ("The conclusion").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from challengers.results import Finding

Rating = Literal[
    "unsatisfactory", "needs improvement", "satisfactory with findings", "satisfactory"
]
RATINGS: tuple[Rating, ...] = (
    "unsatisfactory",
    "needs improvement",
    "satisfactory with findings",
    "satisfactory",
)
# areas where a high finding means the figures the model is judged on cannot be relied upon
TRUST_AREAS = ("replication", "leakage", "integrity", "privacy")


@dataclass(frozen=True)
class RatingRule:
    id: str
    rating: Rating
    condition: str  # the rule in words, as the report shows it
    applies: Callable[[Finding, str], bool]  # (finding, champion name)


def about_champion(f: Finding, champion: str) -> bool:
    """A finding on the champion or on the data (no model named), not on a challenger alone."""
    return not f.models or champion in f.models


def _high_in_trust_area(f: Finding, champion: str) -> bool:
    return f.severity == "high" and f.area in TRUST_AREAS and about_champion(f, champion)


def _champion_outperformed(f: Finding, champion: str) -> bool:
    return f.id.startswith("outcome-better-") and f.severity in ("high", "medium")


def _other_high(f: Finding, champion: str) -> bool:
    return (
        f.severity == "high"
        and about_champion(f, champion)
        and not (_high_in_trust_area(f, champion) or _champion_outperformed(f, champion))
    )


def _medium(f: Finding, champion: str) -> bool:
    return (
        f.severity == "medium"
        and about_champion(f, champion)
        and not _champion_outperformed(f, champion)
    )


RATING_RULES: tuple[RatingRule, ...] = (
    RatingRule(
        "R1",
        "unsatisfactory",
        "a high finding on the champion or the data in replication, leakage, data integrity or "
        "privacy: the figures the model is judged on cannot be relied upon",
        _high_in_trust_area,
    ),
    RatingRule(
        "R2",
        "needs improvement",
        "a challenger significantly outperforms the champion (after Holm) with a medium or high "
        "effect at the champion's alert budget: the champion leaves fraud undetected",
        _champion_outperformed,
    ),
    RatingRule(
        "R3",
        "needs improvement",
        "any other high finding on the champion or the data",
        _other_high,
    ),
    RatingRule(
        "R4",
        "satisfactory with findings",
        "a medium finding on the champion or the data (findings on a challenger alone do "
        "not rate the champion)",
        _medium,
    ),
)


@dataclass(frozen=True)
class Triggered:
    rule: str
    rating: Rating
    condition: str
    findings: tuple[str, ...]  # ids of the findings that meet the condition


@dataclass(frozen=True)
class Conclusion:
    rating: Rating
    triggered: tuple[Triggered, ...] = field(default_factory=tuple)
    rules: tuple[tuple[str, str, str], ...] = ()  # every rule: (id, rating, condition)

    @property
    def sentence(self) -> str:
        if not self.triggered:
            return f"Overall rating: {self.rating} (no rating rule applies)."
        why = "; ".join(f"{t.rule} ({len(t.findings)} finding(s))" for t in self.triggered)
        return f"Overall rating: {self.rating}, by rule(s) {why}."


def conclude(findings: Sequence[Finding], champion: str) -> Conclusion:
    """The rating and every rule that applies, with the findings that trigger it."""
    triggered = tuple(
        Triggered(rule.id, rule.rating, rule.condition, ids)
        for rule in RATING_RULES
        if (ids := tuple(f.id for f in findings if rule.applies(f, champion)))
    )
    worst = min((RATINGS.index(t.rating) for t in triggered), default=len(RATINGS) - 1)
    return Conclusion(
        RATINGS[worst],
        triggered,
        tuple((r.id, r.rating, r.condition) for r in RATING_RULES),
    )
