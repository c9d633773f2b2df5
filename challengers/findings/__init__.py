"""Findings: rules that turn a run's numbers into findings with a severity, the evidence and what to
do about it.

A rule is a function ``(FindingContext) -> list[Finding]``. :mod:`.comparison` holds the rules on
the comparison of the models (significance, claimed figures, the champion's scores, twins),
:mod:`.diagnostics` those on the diagnostics (drift, segments, calibration, overfit, decay, blind
spots), :mod:`.scenarios` the frauds of each scenario a challenger alone catches;
:mod:`.recommendations` says what to do about each finding, :mod:`.conclusion` rates the whole,
:mod:`.monitoring` plans what to watch; :data:`RULES` is all of them, and :func:`derive_findings` runs them.
"""

from __future__ import annotations

from challengers.findings.comparison import COMPARISON_RULES
from challengers.findings.context import FindingContext, Rule
from challengers.findings.diagnostics import DIAGNOSTIC_RULES
from challengers.findings.scenarios import scenario_gains
from challengers.results import SEVERITIES, Finding

RULES: dict[str, Rule] = {
    **COMPARISON_RULES,
    "scenario_gains": scenario_gains,
    **DIAGNOSTIC_RULES,
}


def derive_findings(ctx: FindingContext) -> list[Finding]:
    """Every rule's findings, most severe first."""
    found = [f for rule in RULES.values() for f in rule(ctx)]
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity))


__all__ = ["RULES", "FindingContext", "Rule", "derive_findings"]
