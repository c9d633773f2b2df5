"""Rules on the fraud scenarios (``data.scenario``): which kinds of fraud a challenger catches that
the champion misses, at the same alert budget, significant after Holm's correction over every
challenger x scenario."""

from __future__ import annotations

from collections.abc import Iterable

from challengers.findings.context import FindingContext
from challengers.results import Finding


def _and(names: Iterable[str]) -> str:
    """a, b and c."""
    items = list(names)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def scenario_gains(ctx: FindingContext) -> list[Finding]:
    """One finding per challenger that catches significantly more frauds of some scenario."""
    point = ctx.analyses.operating_point if ctx.analyses else None
    if point is None or not getattr(point, "scenarios", None):
        return []
    out = []
    for name in dict.fromkeys(o.challenger for o in point.scenarios):
        if name in ctx.leaking:  # it catches them through a copy of the outcome
            continue
        mine = [o for o in point.scenarios if o.challenger == name]
        gains = [
            o
            for o in mine
            if o.p_value_adjusted < ctx.alpha and o.only_challenger > o.only_champion
        ]
        if not gains:
            continue
        breakdown = "; ".join(
            f"{o.name}: {o.only_challenger} frauds only it catches vs {o.only_champion} only the "
            f"champion catches, of {o.frauds} (McNemar p={o.p_value:.3g}, Holm {o.p_value_adjusted:.3g})"
            for o in mine
        )
        out.append(
            Finding(
                id=f"scenario-gain-{name}",
                severity="medium",
                area="outcomes",
                title=f"'{name}' catches {_and(o.name for o in gains)} frauds the champion misses",
                detail=f"At the champion's alert budget, by fraud scenario: {breakdown}. "
                f"Significant after Holm's correction over every challenger and scenario at "
                f"alpha {ctx.alpha}.",
                models=(name, ctx.champion.name),
                effect=float(sum(o.only_challenger - o.only_champion for o in gains)),
                evidence={
                    o.name: {
                        "only_challenger": o.only_challenger,
                        "only_champion": o.only_champion,
                        "frauds": o.frauds,
                        "p_value": o.p_value,
                        "p_adjusted": o.p_value_adjusted,
                    }
                    for o in mine
                },
                recommendation=f"Investigate the {_and(o.name for o in gains)} patterns "
                f"'{name}' detects (its added features) as candidates for the champion; "
                "re-validate after the change.",
            )
        )
    return out
