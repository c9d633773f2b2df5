"""Representativeness: is the test window the same population as the training window?

PSI and Kolmogorov–Smirnov per feature on seeded samples of each window, the fraud-rate shift
(exact, from the daily counts), the segment mix shift (exact, lazily); features ranked by PSI.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import polars as pl

from challengers.audit.context import AuditContext, Section, pct, said_used_by, share
from challengers.audit.measures import categorical_psi, ks, numeric_psi, psi, two_proportion_p
from challengers.results import beside
from challengers.threads import each

AREA = "drift"
MAX_NAMED = 10  # drifting features named one by one; the rest are summed up


def check_drift(ctx: AuditContext) -> Section:
    section = Section()
    section.tables["feature_drift"] = _feature_drift(ctx)
    _feature_findings(ctx, section)
    section.tables["label_rate_shift"] = [_label_shift(ctx, section)]
    section.tables["segment_mix"] = _segment_mix(ctx, section)
    return section


def _feature_drift(ctx: AuditContext) -> list[dict[str, Any]]:
    train, test = ctx.window_sample("train"), ctx.window_sample("test")
    names = [name for name in ctx.features if name in train.columns]
    # a feature a thread (the sorts and searches release the interpreter's lock): with hundreds
    # of features this step was the audit's longest, one core busy
    rows = each(partial(_drift_row, train, test), names)
    rows.sort(key=lambda r: -(r["psi"] if math.isfinite(r["psi"]) else -1))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def _drift_row(train: pl.DataFrame, test: pl.DataFrame, name: str) -> dict[str, Any]:
    a, b = train[name], test[name]
    if a.dtype.is_numeric() or a.dtype == pl.Boolean:
        value = numeric_psi(a, b)
        stat, p = ks(a, b)
    else:
        value, (stat, p) = categorical_psi(a, b), (math.nan, math.nan)
    return {
        "feature": name,
        "psi": value,
        "ks": stat,
        "ks_p_value": p,
        "null_rate_train": share(a.null_count(), a.len()),
        "null_rate_test": share(b.null_count(), b.len()),
    }


def _feature_findings(ctx: AuditContext, section: Section) -> None:
    f = ctx.thresholds
    drifting = [r for r in section.tables["feature_drift"] if _finite(r["psi"]) >= f.psi_medium]
    for row in drifting[:MAX_NAMED]:
        high = row["psi"] >= f.psi_high
        users = ctx.used_by(row["feature"])
        section.add(
            f"drift-feature-{row['feature']}",
            "medium" if high else "low",
            AREA,
            f"Feature '{row['feature']}' shifts between training and test "
            f"(PSI {f.shown_psi(row['psi'], digits=2)})",
            f"PSI {f.shown_psi(row['psi'])} {_rows_read(ctx)} (thresholds {f.psi_medium} / "
            f"{f.psi_high}), {_ks_or_missing(row)}; {said_used_by(users)}. The test window "
            "is not the population the models learned from on this feature: check the feed and "
            "whether the shift is real.",
            used_by=users,
        )
    rest = drifting[MAX_NAMED:]
    if rest:
        section.add(
            "drift-feature-more",
            "low",
            AREA,
            f"{len(rest)} more features shift between training and test",
            "PSI at or above "
            f"{f.psi_medium}: "
            + ", ".join(f"{r['feature']} ({f.shown_psi(r['psi'], digits=2)})" for r in rest[:30]),
        )


def _rows_read(ctx: AuditContext) -> str:
    """Which rows the audit's PSI reads. The run's diagnostics give the same feature another PSI
    on the rows evaluated (after the known-fraud exclusion): each figure says its rows."""
    limit = ctx.limits.sample_rows
    sampled = any(ctx.window_rows(w)[0] > limit for w in ("train", "test"))
    rows = f"a seeded sample of up to {limit:,} rows" if sampled else "every row"
    return f"on {rows} of each window as delivered, before any known-fraud exclusion"


def _ks_or_missing(row: dict[str, Any]) -> str:
    """KS, or where a window has no value to compare (KS is undefined), each window's share of
    missing values: the shift the PSI measured."""
    if math.isfinite(row["ks"]):
        return f"KS {row['ks']:.3f}"
    return (
        f"missing in {pct(row['null_rate_train'])} of the training rows and "
        f"{pct(row['null_rate_test'])} of the test rows"
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _label_shift(ctx: AuditContext, section: Section) -> dict[str, Any]:
    """Fraud rate of the raw windows (before any exclusion), with a two-proportion z-test."""
    n1, k1 = ctx.window_rows("train")
    n2, k2 = ctx.window_rows("test")
    r1, r2 = share(k1, n1), share(k2, n2)
    p = two_proportion_p(k1, n1, k2, n2)
    ratio = r2 / r1 if r1 > 0 else math.inf if r2 > 0 else 1.0
    limit = ctx.limits.label_rate_ratio
    if (ratio >= limit or ratio <= 1 / limit) and math.isfinite(p) and p < ctx.alpha:
        section.add(
            "drift-label-rate",
            "medium",
            AREA,
            f"Fraud rate {'rises' if ratio > 1 else 'falls'} from training to test "
            f"({pct(r1)} → {pct(r2)})",
            f"The test window's fraud rate{ctx.raw_windows} {_times(ratio, limit)} (flagged "
            "beyond "
            f"{limit}x either way; z-test p = {p:.2g}). Precision-type metrics and calibration "
            "move with the base rate; immature labels at the end of the data lower it.",
        )
    return {"train_rate": r1, "test_rate": r2, "ratio": ratio, "p_value": p}


def _times(ratio: float, limit: float) -> str:
    """How the test window's fraud rate compares: '2.004x' beside a 2x limit (not '2.00x'); a
    training window without frauds has no ratio (it read 'infx')."""
    if not math.isfinite(ratio):
        return "is above zero, where the training window has no fraud"
    return f"is {beside(ratio, limit, 1 / limit)}x the training window's"


def _segment_mix(ctx: AuditContext, section: Section) -> list[dict[str, Any]]:
    f = ctx.thresholds
    rows = []
    for column in ctx.spec.segments:
        counts = (
            ctx.lf.filter(ctx.train | ctx.test)
            .select(pl.col(column).cast(pl.String).alias("value"), ctx.train.alias("tr"))
            .group_by("value")
            .agg(pl.col("tr").sum().alias("train"), (~pl.col("tr")).sum().alias("test"))
            .collect()
        )
        value = psi(counts["train"].to_numpy(), counts["test"].to_numpy())
        rows.append({"segment": column, "psi": value, "values": counts.height})
        if value >= f.psi_medium:
            section.add(
                f"drift-segment-mix-{column}",
                "medium" if value >= f.psi_high else "low",
                AREA,
                f"The mix of '{column}' changes between training and test (PSI {f.shown_psi(value, digits=2)})",
                "The test window holds a different share of these segments than the training "
                "window; overall metrics weigh them differently.",
            )
    return rows
