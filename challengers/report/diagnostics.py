"""Report sections on stability, segments and explanations. Renders results; computes nothing."""

from __future__ import annotations

import math

from challengers.analysis.segments import SegmentRow
from challengers.analysis.stability import Slope
from challengers.experiment_result import ExperimentResult
from challengers.report.document import (
    Block,
    Bullets,
    Heading,
    Section,
    Table,
    Text,
    fmt,
    interval,
    p_is,
    pct,
    plain,
)
from challengers.report.outcomes import figure
from challengers.results import beside

PSI_READING = ((0.25, "major shift"), (0.1, "moderate shift"), (0.0, "stable"))


def _psi_reading(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return next(label for limit, label in PSI_READING if value > limit or limit == 0.0)


def stability(result: ExperimentResult) -> Section:
    s = result.stability
    if s is None:
        return Section("stability", "Stability", [Text("Not computed for this run.", "note")])
    primary = result.primary_key
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
            caption=f"Intervals from {s.weekly_bootstrap:,} bootstrap replicates within each week."
            if s.weekly_bootstrap
            else "Point estimates: the run drew no bootstrap replicates, so no week has an "
            "interval.",
        ),
    ]
    bands = ", with bootstrap bands" if s.weekly_bootstrap else " (point estimates)"
    blocks += figure(result, "weekly", f"Every metric per test week{bands}.")
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
    blocks += _feature_drift(result, s.feature_psi)
    blocks += _decay_and_gap(result, models)
    return Section("stability", "Stability", blocks)


def _feature_drift(
    result: ExperimentResult, feature_psi: dict[str, float], limit: int = 25
) -> list[Block]:
    if not feature_psi:
        return []
    ranked = sorted(feature_psi.items(), key=lambda kv: -kv[1] if math.isfinite(kv[1]) else 0)
    # the data audit's PSI of the same feature reads every row of each window before the
    # known-fraud exclusion: without the rows named, the two figures contradict each other
    caption = (
        f"On the rows evaluated: the training window and the {result.data.rows_test:,} test rows."
    ) + (f" Top {limit} of {len(ranked)}." if len(ranked) > limit else "")
    # a champion known by its scores alone: the diagnostics measured the data's features
    whose = (
        "the champion's inputs"
        if result.champion.features
        else "the data's features (the champion's inputs are unknown)"
    )
    return [
        Heading(f"Feature drift: {whose}, training → test"),
        Table(
            ["feature", "PSI", "reading"],
            [[plain(f), fmt(v, 3), _psi_reading(v)] for f, v in ranked[:limit]],
            caption=caption,
        ),
    ]


def _slope(slope: Slope | None) -> str:
    if slope is None or not math.isfinite(slope.per_week):
        return f"n/a ({slope.points} days)" if slope is not None else "n/a"
    return f"{slope.per_week:+.4f}\n{interval(slope.ci)} {p_is(slope.p_value)}"


def _decay_and_gap(result: ExperimentResult, models: list[str]) -> list[Block]:
    s = result.stability
    assert s is not None
    decay_rows = [
        [key] + [_slope(s.decay.get(m, {}).get(key)) for m in models] for key in result.metric_keys
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
            f"{limit} are marked ▼ when Fisher's exact test against the best segment gives "
            f"p < {result.alpha}, (n.s.) otherwise. Small segments are flagged and never used as "
            "the reference."
        )
    ]
    for column in result.segments:
        rows = []
        for r in column.rows:
            for i, model in enumerate(r.fpr):
                rows.append(
                    [
                        (plain(f"{r.value}") + (" (small)" if r.small else "")) if i == 0 else "",
                        f"{r.rows:,}" if i == 0 else "",
                        f"{r.positives:,} ({pct(r.fraud_rate, 2)})" if i == 0 else "",
                        model,
                        fmt(r.auc[model], 3),
                        fmt(r.recall[model], 3),
                        fmt(r.fpr[model], 4),
                        _ratio(r.recall_ratio[model], r.recall_p.get(model), limit, r, result),
                        _ratio(r.fpr_ratio[model], r.fpr_p.get(model), limit, r, result),
                    ]
                )
        caption = (
            f"{column.folded_values} rarer values folded into (other)."
            if column.folded_values
            else ""
        )
        blocks += [
            Heading(plain(column.column)),
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


def _ratio(
    value: float, p: float | None, limit: float, row: SegmentRow, result: ExperimentResult
) -> str:
    """▼ below the threshold and significant; (n.s.) below it but within noise."""
    if not math.isfinite(value):
        return fmt(value, 2)
    shown = beside(value, limit)  # a 0.796 read "0.80 ▼" under "below 0.8 are marked"
    if row.small or not value < limit:
        return shown
    significant = p is not None and p < result.alpha
    return shown + (" ▼" if significant else " (n.s.)")


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
            [str(i + 1)] + [f"{plain(t[i][0])} ({pct(t[i][1])})" if i < len(t) else "" for t in top]
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
                        plain(b.feature),
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
