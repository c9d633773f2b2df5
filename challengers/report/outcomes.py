"""Report sections on the outcomes: the side-by-side comparison, the operating point and
calibration. Renders results; computes nothing."""

from __future__ import annotations

import math

from challengers.analysis.operating import OperatingPoint
from challengers.experiment_result import ExperimentResult
from challengers.report.document import (
    Block,
    Bullets,
    Figure,
    Heading,
    Section,
    Table,
    Text,
    fmt,
    interval,
    money,
    p_is,
    pct,
    plain,
    pvalue,
    signed_money,
)
from challengers.results import DeltaResult, ModelResult


def figure(result: ExperimentResult, name: str, caption: str) -> list[Block]:
    path = result.plots.get(name)
    return [Figure(name, path, caption)] if path else []


def _decision_p(d: DeltaResult) -> float:
    return d.p_value_adjusted if d.p_value_adjusted is not None else d.p_value


def _cell(result: ExperimentResult, m: ModelResult, key: str) -> str:
    text = f"{fmt(m.metrics.get(key))}\n{interval(m.ci.get(key))}".strip()
    d = m.delta_vs_champion.get(key)
    if d is None:
        return text
    p = _decision_p(d)
    mark = ""
    if math.isfinite(p) and p < result.alpha:
        mark = " ▲" if (d.value > 0) == result.higher_is_better.get(key, True) else " ▼"
    adjusted = "" if d.p_value_adjusted is None else f" (adj. {pvalue(d.p_value_adjusted)})"
    return text + f"\nΔ {d.value:+.4f} {interval(d.ci)}\n{p_is(d.p_value)}{adjusted}{mark}"


def comparison_table(result: ExperimentResult) -> Table:
    ok = [m for m in result.models if m.status == "ok"]
    rows = []
    for key in result.metric_keys:
        arrow = "↑" if result.higher_is_better.get(key, True) else "↓"
        role = "primary" if key == result.primary_key else "secondary"
        rows.append([f"{key} {arrow}\n({role})", *(_cell(result, m, key) for m in ok)])
    return Table(
        ["metric", *(f"{m.name} ({m.role})" for m in ok)],
        rows,
        caption="Values with their interval; Δ is challenger minus champion with its paired "
        "interval and p-value; ▲/▼ a significant improvement/deterioration. The primary metric "
        "decides the verdict; secondary metrics are reported, never decide it.",
    )


def unit_text(result: ExperimentResult) -> str:
    """Which unit every interval and test of the run resampled, and why."""
    unit = result.resampling.get("unit")
    if not unit:
        return "no resampling unit recorded"
    what = {"entity": "whole entities", "day": "whole test days", "row": "single rows"}
    return f"resampling {what.get(unit, unit)} ({result.resampling.get('reason', '')})"


def resolution_note(result: ExperimentResult) -> list[str]:
    """When the replicates are too few for a secondary metric's bootstrap test ever to be
    significant after Holm: a bootstrap p-value is at least 2 / (B + 1), and Holm multiplies the
    smallest by the size of the family, which holds every secondary test (DeLong's of ROC AUC
    too: counting the bootstrap tests alone advised 840 replicates where 880 were needed)."""
    secondary = [
        d for m in result.challengers for d in m.delta_vs_champion.values() if not d.primary
    ]
    bootstrapped = sum((d.method or "").startswith("bootstrap") for d in secondary)
    family = sum(math.isfinite(d.p_value) for d in secondary)
    if not bootstrapped or result.bootstrap <= 0:
        return []
    if family * 2 / (result.bootstrap + 1) < result.alpha:
        return []
    needed = math.ceil(2 * family / result.alpha)
    return [
        f"With {result.bootstrap:,} replicates a bootstrap p-value is at least "
        f"{2 / (result.bootstrap + 1):.3g}; after Holm over the {family} secondary tests "
        f"({bootstrapped} of them bootstrap) a secondary metric tested by the bootstrap may not "
        f"reach alpha {result.alpha}. Set evaluation.bootstrap to at least {needed:,} for them "
        "to be able to."
    ]


def outcomes(result: ExperimentResult) -> Section:
    corrected = any(
        d.p_value_adjusted is not None
        for m in result.challengers
        for d in m.delta_vs_champion.values()
    )
    significance = (
        f"the verdict rests on the primary metric {result.primary_key}, Holm-adjusted across "
        "challengers; the secondary metrics are Holm-adjusted over the challenger x metric family"
        if corrected
        else "uncorrected"
    )
    methods = _methods(result)
    intervals = (
        f"Intervals at {100 * (1 - result.alpha):.0f}% from {result.bootstrap:,} paired "
        f"bootstrap replicates, {unit_text(result)}; significance: {significance}."
        if result.bootstrap
        else "Point estimates: the run drew no bootstrap replicates (no interval, and no "
        "paired test but DeLong's where shown)."
    )
    blocks: list[Block] = [
        Text(
            f"All models scored on the same {result.data.rows_test:,} out-of-time test rows "
            f"({result.data.positives_test:,} frauds). {intervals}"
            " ↑ higher is better, ↓ lower is better."
            + (f" Interval and p-value of each delta by one method: {methods}." if methods else "")
        ),
        comparison_table(result),
    ]
    blocks += [
        Text(f"**{m.name}** ({m.kind}) failed: {plain(m.error or '')}", "note")
        for m in result.failed
    ]
    blocks += figure(result, "roc", "ROC curves (log false-positive rate); dots: operating point.")
    blocks += figure(result, "pr", "Precision-recall curves; dots: operating point.")
    blocks += operating_blocks(result)
    blocks += figure(result, "scores", "Score distributions of frauds and genuine rows.")
    blocks += twin_blocks(result)
    return Section("outcomes", "Outcomes: champion vs challengers on the same rows", blocks)


def _methods(result: ExperimentResult) -> str:
    """Which method produced each delta's interval and p-value (DeLong for ROC AUC, the
    bootstrap otherwise), as "method (metrics)"."""
    keys: dict[str, list[str]] = {}
    for key in result.metric_keys:
        deltas = [m.delta_vs_champion.get(key) for m in result.challengers]
        for method in sorted({d.method for d in deltas if d is not None and d.method}):
            keys.setdefault(method, []).append(key)
    return "; ".join(f"{method} ({', '.join(k)})" for method, k in keys.items())


def twin_blocks(result: ExperimentResult) -> list[Block]:
    """Each model with a twin (the same tree without its kind's added features), paired."""
    twinned = [m for m in result.models if m.twin is not None]
    if not twinned:
        return []
    blocks: list[Block] = [
        Heading("Added value of detector / graph features: each model against its twin"),
        Text(
            "The twin is the same tree, same parameters and seed, without the features the kind "
            "adds; both are scored on the same test rows and compared by the same paired "
            "methods and unit. Δ is model minus twin; p-values are Holm-adjusted as the champion "
            "comparison's (the primary metric across twins, the others over twins x metrics)."
        ),
    ]
    for m in twinned:
        assert m.twin is not None
        rows = []
        for key in result.metric_keys:
            d = m.twin.delta.get(key)
            rows.append(
                [
                    key if key != result.primary_key else f"{key} (primary)",
                    f"{fmt(m.metrics.get(key))} {interval(m.ci.get(key))}".strip(),
                    f"{fmt(m.twin.metrics.get(key))} {interval(m.twin.ci.get(key))}".strip(),
                    f"{d.value:+.4f} {interval(d.ci)} {p_is(d.p_value)}"
                    + (
                        ""
                        if d.p_value_adjusted is None
                        else f" (adj. {pvalue(d.p_value_adjusted)})"
                    )
                    if d
                    else "",
                ]
            )
        blocks.append(
            Table(
                ["metric", m.name, m.twin.label, "Δ (model − twin)"],
                rows,
                caption=f"{m.name} against its twin ({m.twin.label})",
            )
        )
    return blocks


def operating_blocks(result: ExperimentResult) -> list[Block]:
    op = result.operating_point
    if op is None:
        return []
    how = (
        f"the champion's score threshold {op.threshold:g}"
        if op.threshold is not None
        else "evaluation.operating_point (or the first alert-rate metric)"
    )
    blocks: list[Block] = [
        Heading("Operating point"),
        Text(
            f"Every model alerts the same number of rows: **{op.alerts:,}** "
            f"({pct(op.rate, 2)} of the test window), set by {how}. Cost: {op.cost_basis}. "
            "Savings are the champion's cost minus the challenger's"
            + (
                ", with a paired bootstrap interval."
                if any(m.savings_ci is not None for m in op.models)
                else " (no interval: the run drew no bootstrap replicates)."
            )
        ),
        _budget_table(op),
    ]
    if op.overlaps:
        blocks += [Heading("Alerted frauds: overlap with the champion"), _overlap_table(op)]
        blocks += figure(
            result, "overlap", "Frauds caught by both, only the champion, only the challenger."
        )
    if op.scenarios:
        blocks += [Heading("Alerted frauds by scenario"), _scenario_table(op)]
    blocks += figure(result, "cost", "Cost and recall over alert budgets; dashed: operating point.")
    return blocks


def _budget_table(op: OperatingPoint) -> Table:
    """Each model at the shared alert budget: what it catches, what it costs, what it saves."""
    rows = [
        [
            m.model,
            f"{m.alerts:,}",
            f"{m.true_positives:,}",
            f"{m.false_positives:,}",
            fmt(m.recall, 3),
            fmt(m.precision, 3),
            fmt(m.fp_per_tp, 2),
            f"{money(m.amount_caught)}\n{pct(m.amount_share)}",
            money(m.cost),
            ""
            if m.model == op.champion
            else f"{signed_money(m.savings)}\n{_money_ci(m.savings_ci)}",
            "" if m.savings_p_value is None else pvalue(m.savings_p_value),
        ]
        for m in op.models
    ]
    header = ["model", "alerts", "frauds caught", "false alerts", "recall", "precision",
              "false alerts per fraud", "fraud amount caught", "cost", "savings vs champion", "p"]  # fmt: skip
    return Table(header, rows)


def _overlap_table(op: OperatingPoint) -> Table:
    rows = [
        [
            o.challenger,
            f"{o.both:,}",
            f"{o.only_champion:,}\n{money(o.amount_only_champion)}",
            f"{o.only_challenger:,}\n{money(o.amount_only_challenger)}",
            f"{o.neither:,}",
            f"{fmt(o.statistic, 2)}, {p_is(o.p_value)}\n{o.test}",
        ]
        for o in op.overlaps
    ]
    header = ["challenger", "caught by both", "only champion (amount)",
              "only challenger (amount)", "missed by both", "McNemar"]  # fmt: skip
    return Table(
        header,
        rows,
        caption="McNemar's test on the frauds alerted by exactly one of the two models, "
        "at equal budget.",
    )


def _scenario_table(op: OperatingPoint) -> Table:
    return Table(
        ["challenger", "scenario", "frauds", "both", "only champion", "only challenger",
         "p", "p Holm"],
        [
            [o.challenger, plain(o.name), f"{o.frauds:,}", f"{o.both:,}",
             f"{o.only_champion:,}", f"{o.only_challenger:,}", pvalue(o.p_value),
             pvalue(o.p_value_adjusted)]
            for o in op.scenarios
        ],
        caption="Frauds of each scenario (data.scenario, not a feature) alerted by only "
        "one of the two models at equal budget; McNemar per scenario, Holm over every "
        "challenger x scenario.",
    )  # fmt: skip


def _money_ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{money(ci[0])}, {money(ci[1])}]"


def calibration(result: ExperimentResult) -> Section:
    assessed = [c for c in result.calibration if c.assessed]
    blocks: list[Block] = [
        Text(
            "Brier score, expected calibration error over equal-mass score bins, and mean score "
            "against the observed fraud rate (1 = calibrated in the large), on every test row."
        )
    ]
    if assessed:
        blocks.append(
            Table(
                ["model", "Brier", "ECE", "mean score", "fraud rate", "mean score / fraud rate"],
                [
                    [
                        c.model,
                        fmt(c.brier, 5),
                        fmt(c.ece, 5),
                        fmt(c.mean_score, 5),
                        fmt(c.fraud_rate, 5),
                        fmt(c.ratio, 2),
                    ]
                    for c in assessed
                ],
            )
        )
    others = [c for c in result.calibration if not c.assessed]
    if others:
        blocks.append(Bullets([f"**{c.model}**: not assessed, {c.reason}." for c in others]))
    blocks += figure(result, "reliability", "Reliability curves of the calibrated models.")
    return Section("calibration", "Calibration", blocks)
