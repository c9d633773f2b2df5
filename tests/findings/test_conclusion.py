"""The overall rating follows its documented rules; every finding gets a recommendation."""

from __future__ import annotations

from challengers.findings.conclusion import RATING_RULES, conclude
from challengers.findings.recommendations import with_recommendations
from challengers.results import Finding


def _f(id: str, severity: str, area: str, models: tuple[str, ...] = ()) -> Finding:
    return Finding(id, severity, area, f"title {id}", "detail", models=models)  # type: ignore[arg-type]


def test_the_worst_rule_sets_the_rating_and_each_rule_names_its_findings() -> None:
    findings = [
        _f("claim-roc_auc", "high", "replication"),
        _f("outcome-better-graph", "high", "outcomes", ("graph", "champ")),
        _f("calibration-champ", "medium", "calibration", ("champ",)),
        _f("overfit-graph", "medium", "stability", ("graph",)),  # a challenger's: not rated
        _f("segment-REGION-champ", "low", "segments", ("champ",)),
    ]
    c = conclude(findings, "champ")
    assert c.rating == "unsatisfactory"
    assert {t.rule: t.findings for t in c.triggered} == {
        "R1": ("claim-roc_auc",),
        "R2": ("outcome-better-graph",),
        "R4": ("calibration-champ",),
    }
    assert conclude(findings[1:], "champ").rating == "needs improvement"
    assert conclude(findings[2:], "champ").rating == "satisfactory with findings"
    assert conclude(findings[3:], "champ").rating == "satisfactory"
    assert conclude([], "champ").triggered == () and len(c.rules) == len(RATING_RULES)


def test_every_finding_gets_a_recommendation_naming_its_model() -> None:
    found = with_recommendations(
        [
            _f("overfit-lgbm", "medium", "stability", ("lgbm",)),
            _f("leak-auc-X", "high", "leakage"),
            _f("something-new", "low", "elsewhere"),
            _f("leak-known-fraud-entities-CUSTOMER_ID", "medium", "leakage"),
            _f("integrity-unlabelled-unloaded", "info", "integrity"),
        ]
    )
    assert "'lgbm'" in found[0].recommendation
    assert "Remove the column" in found[1].recommendation
    # no column to remove, no feed to correct: the exclusion to turn on; nothing for this run
    assert found[3].recommendation.startswith("Set split.exclude_known_frauds: true")
    assert found[4].recommendation.startswith("None for this run.")
    assert all(f.recommendation for f in found)
