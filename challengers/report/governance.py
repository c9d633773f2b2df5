"""The report's governance sections (SR 11-7 / TRIM-style): the model's identity, the overall
conclusion with its rating rules, the champion described, the model's limitations (from the
findings) and the ongoing-monitoring plan. Renders results; computes nothing."""

from __future__ import annotations

import json

from challengers.experiment_result import ExperimentResult
from challengers.report.document import Block, Bullets, Section, Table, Text, code, plain
from challengers.results import Finding

NOT_STATED = "not stated"
# findings that describe a weakness of the model itself (not of the data or of this analysis)
MODEL_LIMITATION_PREFIXES = {
    "segment-": "serves some segments worse",
    "decay-": "performance decays over the test window",
    "unstable-week-": "performance collapses in one test week (an incident to explain)",
    "calibration-": "scores are not calibrated probabilities",
    "coarse-scores-": "bands or labels the rows rather than ranking them",
    "overfit-": "much better on its training window than out of time",
    "drift-score-": "its score distribution shifts",
    "outcome-better-": "leaves detectable fraud undetected (a challenger catches more)",
    "explain-blind-spot-": "ignores inputs that carry signal",
    "claim-": "documented performance not reproduced",
}


def governance(result: ExperimentResult) -> Section:
    rows = [
        [label, plain(value) if value else NOT_STATED] for label, value in result.governance.items()
    ]
    blocks: list[Block] = [Table(["field", "value"], rows)] if rows else []
    if not rows or all(value is None for value in result.governance.values()):
        blocks.append(
            Text("No `governance:` block in the config: every field is not stated.", "note")
        )
    return Section("governance", "Model and validation identity", blocks)


def conclusion(result: ExperimentResult) -> Section:
    c = result.conclusion
    if c is None:
        return Section("conclusion", "Overall conclusion", [Text("No conclusion.", "note")])
    titles = {f.id: f"{plain(f.title)} ({f.severity})" for f in result.findings}
    blocks: list[Block] = [Text(f"**{c.sentence}**", "verdict")]
    if c.triggered:
        blocks.append(
            Table(
                ["rule", "rating", "condition", "findings that trigger it"],
                [
                    [
                        t.rule,
                        t.rating,
                        t.condition,
                        "\n".join(titles.get(i, plain(i)) for i in t.findings),
                    ]
                    for t in c.triggered
                ],
                caption="The rules that apply to this run's findings; the overall rating is the "
                "worst of their ratings.",
            )
        )
    blocks.append(
        Bullets(
            [f"**{rid}** -> {rating}: {condition}" for rid, rating, condition in c.rules]
            + ["otherwise -> satisfactory"]
        )
    )
    blocks.append(
        Text(
            'The rating rules, read in order (documented in the README, "The conclusion").',
            "note",
        )
    )
    return Section("conclusion", "Overall conclusion", blocks)


def champion(result: ExperimentResult) -> Section:
    card = result.champion_card
    if card is None:
        return Section("champion", "The champion", [Text("Not described.", "note")])
    params = (
        ", ".join(
            f"{code(k)} = {plain(json.dumps(v, default=str))}"
            for k, v in card.hyperparameters.items()
        )
        or "none available"
    )
    return Section(
        "champion",
        "The champion",
        [
            Bullets(
                [
                    f"Name: **{card.name}**",
                    f"Source: {plain(card.source)}",
                    f"Method: kind `{card.method}`, library {card.library}",
                    f"Hyperparameters: {params} (source: {card.hyperparameters_from})",
                    f"Features ({len(card.features)}): "
                    + (", ".join(code(f) for f in card.features) or "unknown"),
                    f"Training window: {card.training_window}",
                ]
            )
        ],
    )


def model_limitations(result: ExperimentResult) -> Section:
    """Weaknesses of the champion the findings show (the analysis' own limits are elsewhere)."""
    name = result.champion.name
    items = []
    for f in result.findings:
        about = _limitation(f, name)
        if about:
            items.append(f"{about}: {plain(f.title)} ({f.severity}; finding {code(f.id)})")
    blocks: list[Block] = [
        Text(
            f"What this validation found about the champion '{name}' itself; the limits of the "
            "analysis are listed separately under Limitations of the analysis."
        ),
        Bullets(items) if items else Text("No model limitation found by the rules.", "note"),
    ]
    return Section("model-limitations", "Limitations of the model", blocks)


def _limitation(f: Finding, champion: str) -> str:
    if champion not in f.models and not f.id.startswith("outcome-better-"):
        return ""
    return next((v for k, v in MODEL_LIMITATION_PREFIXES.items() if f.id.startswith(k)), "")


def monitoring(result: ExperimentResult) -> Section:
    if not result.monitoring:
        return Section(
            "monitoring",
            "Ongoing monitoring",
            [Text("No monitoring plan: the diagnostics did not run.", "note")],
        )
    rows = [
        [
            plain(m.metric),
            plain(m.threshold),
            m.cadence,
            plain(m.observed),
            plain(", ".join(m.findings)) or "-",
        ]
        for m in result.monitoring
    ]
    return Section(
        "monitoring",
        "Ongoing monitoring",
        [
            Text(
                "The metrics, thresholds and cadence that would catch in production what this "
                "validation found; thresholds are those of evaluation.findings."
            ),
            Table(["metric", "act when", "cadence", "this run", "findings it watches"], rows),
        ],
    )
