"""Bias: volume and fraud rate per segment (``data.segments``) in each window, and the segments
too small to evaluate (``evaluation.findings.min_segment_rows`` / ``min_segment_positives``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from challengers.audit.context import AuditContext, Section, share

AREA = "bias"
MISSING = "(missing)"


def check_bias(ctx: AuditContext) -> Section:
    section = Section()
    rows: list[dict[str, Any]] = []
    for column in ctx.spec.segments:
        table = _segment_table(ctx, column)
        rows += table
        _findings(ctx, section, column, table)
    section.tables["segments"] = rows
    return section


def _segment_table(ctx: AuditContext, column: str) -> list[dict[str, Any]]:
    y = ctx.label
    counts = (
        ctx.lf.filter(ctx.train | ctx.test)
        .select(
            pl.col(column).cast(pl.String).fill_null(MISSING).alias("value"),
            ctx.train.alias("tr"),
            y.alias("y"),
        )
        .group_by("value")
        .agg(
            pl.col("tr").sum().alias("train_rows"),
            (pl.col("tr") & (pl.col("y") == 1)).sum().alias("train_frauds"),
            (~pl.col("tr")).sum().alias("test_rows"),
            (~pl.col("tr") & (pl.col("y") == 1)).sum().alias("test_frauds"),
        )
        .sort("test_rows", descending=True)
        .collect()
    )
    f = ctx.thresholds
    out = []
    for i, row in enumerate(counts.iter_rows(named=True), 1):
        value = row.pop("value")
        out.append(
            {
                "segment": column,
                # a segment column found to hold personal data is listed by rank, never by value
                "value": f"value #{i}" if column in ctx.sensitive else value,
                **{k: int(v) for k, v in row.items()},
                "train_rate": share(row["train_frauds"], row["train_rows"]),
                "test_rate": share(row["test_frauds"], row["test_rows"]),
                "evaluable": row["test_rows"] >= f.min_segment_rows
                and row["test_frauds"] >= f.min_segment_positives,
            }
        )
    return out


def _findings(
    ctx: AuditContext, section: Section, column: str, table: list[dict[str, Any]]
) -> None:
    f = ctx.thresholds
    small = [r for r in table if r["test_rows"] and not r["evaluable"]]
    if small:
        listed = ", ".join(
            f"{r['value']} ({r['test_rows']:,} rows, {r['test_frauds']:,} frauds)"
            for r in small[:8]
        )
        section.add(
            f"bias-small-segments-{column}",
            "low",
            AREA,
            f"{len(small)} segment(s) of '{column}' too small to evaluate",
            f"In the test window{ctx.raw_windows}: {listed}{' ...' if len(small) > 8 else ''}. Below "
            f"{f.min_segment_rows:,} rows or {f.min_segment_positives} frauds a per-segment "
            "metric is noise: no conclusion about these segments can be drawn.",
        )
    unseen = [r for r in table if r["test_rows"] and not r["train_rows"]]
    if unseen:
        section.add(
            f"bias-unseen-segments-{column}",
            "medium",
            AREA,
            f"Segment(s) of '{column}' absent from training",
            f"{', '.join(str(r['value']) for r in unseen[:8])}: "
            f"{sum(r['test_rows'] for r in unseen):,} test rows come from segments the models "
            "never saw.",
        )
