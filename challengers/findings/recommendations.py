"""What the first line should do about each finding: one recommendation per kind of finding.

A rule may write its own ``Finding.recommendation``; every finding left without one gets the
recommendation of the first entry of :data:`RECOMMENDATIONS` whose id prefix it carries (audit
findings included), else the one of its area. ``{model}`` is the finding's first model.
"""

from __future__ import annotations

from dataclasses import replace

from challengers.results import Finding

# (finding id prefix, recommendation), most specific first
RECOMMENDATIONS: tuple[tuple[str, str], ...] = (
    (
        "outcome-better-",
        "Investigate what '{model}' adds (features, entities, method) and plan a "
        "champion update or a challenger pilot; re-validate the updated model before deployment.",
    ),
    (
        "outcome-leaking-",
        "Drop the leaking input(s) from '{model}' and run again: until then '{model}' is no "
        "evidence about the champion.",
    ),
    (
        "outcome-secondary-",
        "No verdict: '{model}' differs only on secondary metrics. If one of them is what the "
        "business needs, name it evaluation.primary for the next validation (chosen before "
        "seeing results, or the verdict loses its error rate).",
    ),
    (
        "outcome-untested",
        "Re-run with evaluation.bootstrap of 1000 or more before reading the comparison as a "
        "verdict on the champion.",
    ),
    (
        "outcome-worse-",
        "No action on the champion; record that this challenger family was "
        "tested and did not improve on it.",
    ),
    ("twin-", "Keep the added features only where they beat the same model without them."),
    ("run-failed-", "Fix the challenger's error and re-run it so the comparison is complete."),
    ("claim-unchecked-", "Add the claimed metric to evaluation.metrics so the claim is tested."),
    (
        "claim-",
        "Ask the first line to reconcile the documented figures with the measured ones "
        "(data, window, exclusions) and correct the model documentation.",
    ),
    (
        "champion-",
        "Reconcile the delivered model with the production scores before relying on "
        "this validation (version, features, preprocessing).",
    ),
    (
        "data-few-test-frauds",
        "Lengthen the test window until it holds enough frauds to detect "
        "the differences that matter.",
    ),
    (
        "data-few-fraud-units",
        "Lengthen the test window until its frauds fall on at least 10 cards (or days), the "
        "independent units the paired tests resample; check that data.entity names the card.",
    ),
    ("split-gap", "Leave a gap of at least the label delay between training and test."),
    (
        "ranking-below-chance-",
        "Confirm with the first line which way the scores of '{model}' point: if lower means "
        "riskier, validate the negated scores; otherwise find out why it ranks frauds last "
        "before relying on it or on any comparison with it.",
    ),
    ("drift-score-", "Monitor the score distribution (PSI) monthly and investigate the shift."),
    (
        "drift-label-rate",
        "Check whether the fraud mix changed; monitor the alert and fraud rates "
        "weekly and recalibrate thresholds if the change persists.",
    ),
    ("drift-", "Monitor the drifting inputs (PSI) and review their upstream sources."),
    ("segment-small-", "Collect more data for the small segments before judging them."),
    (
        "segment-",
        "Review the model's treatment of the worse-served segments with the business "
        "and compliance; consider segment-aware thresholds or features.",
    ),
    ("overfit-", "Regularise '{model}' (depth, leaves, rounds) or enlarge its training window."),
    (
        "calibration-",
        "Recalibrate '{model}' (isotonic or Platt on recent data) before its "
        "scores are read as probabilities.",
    ),
    (
        "coarse-scores-",
        "Ask the first line for the continuous score behind '{model}' (the probability or "
        "margin before any threshold or banding) and validate that; alert volumes cannot be set "
        "inside a band.",
    ),
    (
        "decay-",
        "Shorten the retraining cadence of '{model}' and monitor its weekly metric "
        "against the bands of the monitoring plan.",
    ),
    (
        "explain-blind-spot-",
        "Assess the inputs the champion ignores that the challenger relies "
        "on as candidate features for the champion.",
    ),
    (
        "leak-known-fraud-entities-",
        "Set split.exclude_known_frauds: true and run again (production blocks these "
        "entities); ask the first line whether its documented figures count their frauds.",
    ),
    (
        "leak-",
        "Remove the column from the model's inputs (or prove it is known at scoring time) "
        "and retrain.",
    ),
    (
        "integrity-unlabelled-gap",
        "None for this run. Fill the gap's labels as known now (0 where no fraud was reported) "
        "before turning on split.exclude_known_frauds or adding a graph challenger: both read "
        "them.",
    ),
    (
        "integrity-unlabelled-unloaded",
        "None for this run. Fill those days' labels as known now before moving the windows "
        "over them.",
    ),
    ("privacy-", "Remove or pseudonymise the personal data before it reaches the model or logs."),
    ("integrity-", "Correct the data feed and re-run the validation on the corrected data."),
    ("bias-", "Review the coverage of the segments named with the data owners."),
)
AREA_RECOMMENDATIONS = {
    "outcomes": "Review the comparison with the first line.",
    "replication": "Reconcile the figures with the first line's documentation.",
    "data": "Correct the data or the split and re-run.",
}
DEFAULT = "Discuss with the first line and record the decision."


def recommendation(finding: Finding) -> str:
    """The recommendation for ``finding``: its own, else the table's."""
    if finding.recommendation:
        return finding.recommendation
    model = finding.models[0] if finding.models else "the model"
    for prefix, text in RECOMMENDATIONS:
        if finding.id.startswith(prefix):
            return text.format(model=model)
    return AREA_RECOMMENDATIONS.get(finding.area, DEFAULT)


def with_recommendations(findings: list[Finding]) -> list[Finding]:
    """Every finding with its recommendation filled in."""
    return [replace(f, recommendation=recommendation(f)) for f in findings]
