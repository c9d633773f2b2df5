"""Report sections on the evidence: outcomes, calibration, stability, segments, explanations.
Renders results; computes nothing."""

from __future__ import annotations

import math

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
    pct,
    pvalue,
    signed_money,
)
from challengers.results import DeltaResult, ExperimentResult, ModelResult

PSI_READING = ((0.25, "major shift"), (0.1, "moderate shift"), (0.0, "stable"))


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
    return text + f"\nΔ {d.value:+.4f} {interval(d.ci)}\np={pvalue(d.p_value)}{adjusted}{mark}"


def comparison_table(result: ExperimentResult) -> Table:
    ok = [m for m in result.models if m.status == "ok"]
    rows = []
    for key in result.metric_keys:
        arrow = "↑" if result.higher_is_better.get(key, True) else "↓"
        rows.append([f"{key} {arrow}", *(_cell(result, m, key) for m in ok)])
    return Table(
        ["metric", *(f"{m.name} ({m.role})" for m in ok)],
        rows,
        caption="Values with their interval; Δ is challenger minus champion with its paired "
        "interval and p-value; ▲/▼ a significant improvement/deterioration.",
    )


def outcomes(result: ExperimentResult) -> Section:
    corrected = any(
        d.p_value_adjusted is not None
        for m in result.challengers
        for d in m.delta_vs_champion.values()
    )
    blocks: list[Block] = [
        Text(
            f"All models scored on the same {result.data.rows_test:,} out-of-time test rows "
            f"({result.data.positives_test:,} frauds). Intervals at "
            f"{100 * (1 - result.alpha):.0f}% from {result.bootstrap:,} paired bootstrap "
            "replicates; significance "
            + ("after Holm's correction across challengers." if corrected else "uncorrected.")
            + " ↑ higher is better, ↓ lower is better."
        ),
        comparison_table(result),
    ]
    blocks += [Text(f"**{m.name}** ({m.kind}) failed: {m.error}", "note") for m in result.failed]
    blocks += figure(result, "roc", "ROC curves (log false-positive rate); dots: operating point.")
    blocks += figure(result, "pr", "Precision-recall curves; dots: operating point.")
    blocks += operating_blocks(result)
    blocks += figure(result, "scores", "Score distributions of frauds and genuine rows.")
    return Section("outcomes", "Outcomes: champion vs challengers on the same rows", blocks)


def operating_blocks(result: ExperimentResult) -> list[Block]:
    op = result.operating_point
    if op is None:
        return []
    how = (
        f"the champion's score threshold {op.threshold:g}"
        if op.threshold is not None
        else "evaluation.operating_point (or the first alert-rate metric)"
    )
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
    overlap_rows = [
        [
            o.challenger,
            f"{o.both:,}",
            f"{o.only_champion:,}\n{money(o.amount_only_champion)}",
            f"{o.only_challenger:,}\n{money(o.amount_only_challenger)}",
            f"{o.neither:,}",
            f"{fmt(o.statistic, 2)}, p={pvalue(o.p_value)}\n{o.test}",
        ]
        for o in op.overlaps
    ]
    blocks: list[Block] = [
        Heading("Operating point"),
        Text(
            f"Every model alerts the same number of rows: **{op.alerts:,}** "
            f"({pct(op.rate, 2)} of the test window), set by {how}. Cost: {op.cost_basis}. "
            "Savings are the champion's cost minus the challenger's, with a paired bootstrap "
            "interval."
        ),
        Table(
            [
                "model",
                "alerts",
                "frauds caught",
                "false alerts",
                "recall",
                "precision",
                "false alerts per fraud",
                "fraud amount caught",
                "cost",
                "savings vs champion",
                "p",
            ],
            rows,
        ),
    ]
    if overlap_rows:
        blocks += [
            Heading("Alerted frauds: overlap with the champion"),
            Table(
                [
                    "challenger",
                    "caught by both",
                    "only champion (amount)",
                    "only challenger (amount)",
                    "missed by both",
                    "McNemar",
                ],
                overlap_rows,
                caption="McNemar's test on the frauds alerted by exactly one of the two models, "
                "at equal budget.",
            ),
        ]
        blocks += figure(
            result, "overlap", "Frauds caught by both, only the champion, only the challenger."
        )
    blocks += figure(result, "cost", "Cost and recall over alert budgets; dashed: operating point.")
    return blocks


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


def _psi_reading(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return next(label for limit, label in PSI_READING if value > limit or limit == 0.0)


def stability(result: ExperimentResult) -> Section:
    s = result.stability
    if s is None:
        return Section("stability", "Stability", [Text("Not computed for this run.", "note")])
    primary = result.metric_keys[0]
    models = list(s.score_psi) or [m.name for m in result.models if m.status == "ok"]
    weekly = [
        [f"{w.start}..{w.end}", f"{w.rows:,}", f"{w.positives:,}"]
        + [
            f"{fmt(w.metrics.get(m, {}).get(primary))}\n{interval(w.ci.get(m, {}).get(primary))}"
            for m in models
        ]
        for w in s.weeks
    ]
    blocks: list[Block] = [
        Heading(f"{primary} per test week"),
        Table(
            ["week", "rows", "frauds", *models],
            weekly,
            caption=f"Intervals from {s.weekly_bootstrap:,} bootstrap replicates within each week.",
        ),
    ]
    blocks += figure(result, "weekly", "Every metric per test week, with bootstrap bands.")
    blocks += [
        Heading("Score drift (population stability index)"),
        Table(
            ["model", "training → test", "week over week", "each week vs training"],
            [
                [
                    m,
                    f"{fmt(v, 3)} ({_psi_reading(v)})",
                    ", ".join(fmt(x, 3) for x in s.score_psi_weekly.get(m, [])[1:]) or "n/a",
                    ", ".join(fmt(x, 3) for x in s.score_psi_vs_train.get(m, [])),
                ]
                for m, v in s.score_psi.items()
            ],
            caption=f"{s.bins} bins at the training scores' quantiles; > 0.1 moderate, > 0.25 major.",
        ),
    ]
    blocks += _feature_drift(s.feature_psi)
    blocks += _decay_and_gap(result, models)
    return Section("stability", "Stability", blocks)


def _feature_drift(feature_psi: dict[str, float], limit: int = 25) -> list[Block]:
    if not feature_psi:
        return []
    ranked = sorted(feature_psi.items(), key=lambda kv: -kv[1] if math.isfinite(kv[1]) else 0)
    caption = f"Top {limit} of {len(ranked)}." if len(ranked) > limit else ""
    return [
        Heading("Feature drift: the champion's inputs, training → test"),
        Table(
            ["feature", "PSI", "reading"],
            [[f, fmt(v, 3), _psi_reading(v)] for f, v in ranked[:limit]],
            caption=caption,
        ),
    ]


def _decay_and_gap(result: ExperimentResult, models: list[str]) -> list[Block]:
    s = result.stability
    assert s is not None
    decay_rows = [
        [key]
        + [
            f"{s.decay[m][key].per_week:+.4f}\n{interval(s.decay[m][key].ci)} p={pvalue(s.decay[m][key].p_value)}"
            if m in s.decay and key in s.decay[m]
            else "n/a"
            for m in models
        ]
        for key in result.metric_keys
    ]
    gap_rows = [
        [key]
        + [
            f"{fmt(s.train_metrics.get(m, {}).get(key))} / {fmt(s.test_metrics.get(m, {}).get(key))}"
            for m in models
        ]
        for key in result.metric_keys
    ]
    return [
        Heading("Decay since the end of training"),
        Text(f"Slope per week: {s.decay_basis}."),
        Table(["metric", *models], decay_rows),
        Heading("Training window vs test window"),
        Table(
            ["metric", *models],
            gap_rows,
            caption="In-sample (training window) / out-of-time (test window). A large gap "
            "suggests overfitting or a changed population.",
        ),
    ]


def segments(result: ExperimentResult) -> Section:
    if not result.segments:
        return Section(
            "segments",
            "Segments",
            [Text("No segment columns configured (data.segments).", "note")],
        )
    limit = result.thresholds.get("disparity_ratio", 0.8)
    blocks: list[Block] = [
        Text(
            "At the operating point: recall and false-positive rate (FPR) per segment, and ratios "
            "against the best-served segment (recall / best recall; best FPR / FPR). Ratios below "
            f"{limit} are marked ▼. Small segments are flagged and never used as the reference."
        )
    ]
    for column in result.segments:
        rows = []
        for r in column.rows:
            for i, model in enumerate(r.fpr):
                rows.append(
                    [
                        (f"{r.value}" + (" (small)" if r.small else "")) if i == 0 else "",
                        f"{r.rows:,}" if i == 0 else "",
                        f"{r.positives:,} ({pct(r.fraud_rate, 2)})" if i == 0 else "",
                        model,
                        fmt(r.auc[model], 3),
                        fmt(r.recall[model], 3),
                        fmt(r.fpr[model], 4),
                        _ratio(r.recall_ratio[model], limit, r.small),
                        _ratio(r.fpr_ratio[model], limit, r.small),
                    ]
                )
        caption = (
            f"{column.folded_values} rarer values folded into (other)."
            if column.folded_values
            else ""
        )
        blocks += [
            Heading(column.column),
            Table(
                [
                    "segment",
                    "rows",
                    "frauds (rate)",
                    "model",
                    "AUC",
                    "recall",
                    "FPR",
                    "recall ratio",
                    "FPR ratio",
                ],
                rows,
                caption=caption,
            ),
        ]
    blocks += figure(result, "segments", "Disparity ratios per segment; dashed: threshold.")
    return Section("segments", "Segments", blocks)


def _ratio(value: float, limit: float, small: bool) -> str:
    mark = " ▼" if math.isfinite(value) and value < limit and not small else ""
    return fmt(value, 2) + mark


def explanations(result: ExperimentResult) -> Section:
    ex = result.explanations
    if ex is None:
        return Section("explanations", "Explanations", [Text("Not computed for this run.", "note")])
    blocks: list[Block] = [
        Text(
            f"Exact TreeSHAP contributions from the libraries themselves (LightGBM pred_contrib, "
            f"XGBoost pred_contribs) on a seeded sample of **{ex.sample_rows:,}** of "
            f"{ex.test_rows:,} test rows (seed {ex.seed}); shares of mean |contribution|."
        )
    ]
    if ex.models:
        top = [m.top(10) for m in ex.models]
        depth = max(len(t) for t in top)
        rows = [
            [str(i + 1)] + [f"{t[i][0]} ({pct(t[i][1])})" if i < len(t) else "" for t in top]
            for i in range(depth)
        ]
        blocks.append(Table(["rank", *(m.model for m in ex.models)], rows))
        worst = max(m.additivity_error for m in ex.models)
        blocks.append(
            Text(f"Contributions add up to each model's raw margin within {worst:.2g}.", "note")
        )
    if ex.blind_spots:
        blocks += [
            Heading("Features the champion ignores that a challenger leans on"),
            Table(
                ["feature", "challenger", "challenger share", "champion share"],
                [
                    [
                        b.feature,
                        b.challenger,
                        pct(b.challenger_share),
                        "not an input" if b.champion_share is None else pct(b.champion_share),
                    ]
                    for b in ex.blind_spots
                ],
            ),
        ]
    if ex.skipped:
        blocks.append(
            Bullets([f"**{m}**: no explanation, {why}." for m, why in ex.skipped.items()])
        )
    blocks += figure(result, "contributions", "Share of mean |SHAP contribution|, top features.")
    return Section("explanations", "Explanations", blocks)
