"""Run every audit check in order and gather the findings, tables and chart into an AuditResult.

Order matters: integrity fills the daily counts the samples are sized from; privacy marks the
columns whose values nobody may print before the checks that print values (segments) run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from challengers.audit.bias import check_bias
from challengers.audit.charts import label_rate_chart
from challengers.audit.context import (
    AuditContext,
    ModelInputs,
    Section,
    named_users,
    said_used_by,
)
from challengers.audit.drift import check_drift
from challengers.audit.future import check_future
from challengers.audit.integrity import check_integrity
from challengers.audit.leakage import check_leakage
from challengers.audit.privacy import check_privacy
from challengers.config import FindingsConfig
from challengers.data.frames import DataSpec
from challengers.data.split import Windows
from challengers.engine.base import Engine
from challengers.figures import plots_wanted
from challengers.files import write_json
from challengers.progress import Progress, SilentProgress
from challengers.results import SEVERITIES, Finding

AUDIT_FILE = "audit.json"
CHART_FILE = "label_rate.png"
ORDER: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

Check = Callable[[AuditContext], Section]
FIRST_CHECKS: tuple[tuple[str, Check], ...] = (
    ("integrity", check_integrity),  # fills the daily counts the samples are sized from
    ("personal data", check_privacy),  # marks the columns whose values nobody may print
)
WINDOW_CHECKS: tuple[tuple[str, Check], ...] = (
    ("leakage", check_leakage),
    ("features recomputed without the future", check_future),
    ("drift between windows", check_drift),
    ("segments", check_bias),
)


@dataclass
class AuditResult:
    """Findings (most severe first), tables of plain values, charts written, and a summary."""

    findings: list[Finding]
    tables: dict[str, list[dict[str, Any]]]
    summary: dict[str, Any]
    charts: list[str] = field(default_factory=list)
    output_dir: Path | None = None

    def counts(self) -> dict[str, int]:
        return {str(s): sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def at_least(self, severity: str) -> list[Finding]:
        """Findings of ``severity`` or worse (the ``--fail-on`` gate)."""
        return [f for f in self.findings if ORDER[f.severity] <= ORDER[severity]]

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "counts": self.counts(),
            "findings": [f.__dict__ for f in self.findings],
            "tables": self.tables,
            "charts": self.charts,
        }

    def with_failed(self, failed: Collection[str]) -> AuditResult:
        """This audit once a run knows which of its models ``failed`` in training: the audit ran
        before, and named them among the models that read a column. They read nothing the run
        evaluates: in the tables and the findings' evidence they move from ``used_by`` to
        ``failed``, and the findings' texts mark them "(failed)". A finding's ``models`` stay the
        models it concerns (one on a failed challenger's input still rates no champion)."""
        gone = set(failed)
        if not gone:
            return self
        tables = {
            name: [_without_failed(row, gone) for row in rows] for name, rows in self.tables.items()
        }
        findings = [_finding_without_failed(f, gone) for f in self.findings]
        return replace(self, findings=findings, tables=tables, charts=list(self.charts))

    def write(self) -> None:
        """audit.json, in the audit's directory (when it has one)."""
        if self.output_dir is not None:
            write_json(self.output_dir / AUDIT_FILE, self.to_json())

    def files(self) -> list[Path]:
        """audit.json and the charts, for logging as artifacts."""
        if self.output_dir is None:
            return []
        return [self.output_dir / AUDIT_FILE, *(self.output_dir / c for c in self.charts)]


def _split_users(users: Sequence[str], failed: set[str]) -> tuple[list[str], list[str]]:
    return [m for m in users if m not in failed], [m for m in users if m in failed]


def _without_failed(row: dict[str, Any], failed: set[str]) -> dict[str, Any]:
    """A table row naming the models that read its column, the failed ones apart."""
    users = row.get("used_by")
    if not isinstance(users, list) or failed.isdisjoint(users):
        return row
    kept, gone = _split_users(users, failed)
    return {**row, "used_by": kept, "failed": gone}


def _finding_without_failed(finding: Finding, failed: set[str]) -> Finding:
    users = finding.evidence.get("used_by")
    if not isinstance(users, list) or failed.isdisjoint(users):
        return finding
    kept, gone = _split_users(users, failed)
    detail = finding.detail.replace(said_used_by(users), said_used_by(named_users(kept, gone)))
    evidence = {**finding.evidence, "used_by": kept, "failed": gone}
    return replace(finding, detail=detail, evidence=evidence)


def run_audit(
    lf: pl.LazyFrame,
    spec: DataSpec,
    windows: Windows,
    models: Sequence[ModelInputs],
    thresholds: FindingsConfig,
    *,
    seed: int = 42,
    alpha: float = 0.05,
    out: Path | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    score_column: str | None = None,
    chart: bool = True,
    engine: Engine | None = None,
    rows: Any = None,
) -> AuditResult:
    """Audit the data behind a run; write audit.json and the chart into ``out`` when given.

    ``chart=False`` leaves the chart (a second of matplotlib) to :func:`draw_chart` and
    :func:`list_chart`, which a run calls where it draws its other plots. ``engine``: the
    engine holding ``rows``, the same rows as ``lf`` (:meth:`Engine.read`), where the integrity
    queries run (Spark: on the executors); else they run on ``lf`` here."""
    ctx = AuditContext(
        lf=lf,
        schema=lf.collect_schema(),
        spec=spec,
        windows=windows,
        models=list(models),
        thresholds=thresholds,
        seed=seed,
        alpha=alpha,
        score_column=score_column,
        engine=engine,
        rows=rows,
    )
    if now is not None:
        ctx.now = now
    section, seconds = _run_checks(ctx, progress or SilentProgress())
    result = AuditResult(
        findings=sorted(section.findings, key=lambda f: ORDER[f.severity]),
        tables=section.tables,
        summary=_summary(ctx, seconds),
        output_dir=out,
    )
    if out is not None:
        if chart:
            drawn = draw_chart(result, windows)
            if drawn is not None:
                result.charts.append(drawn.name)
        result.write()
    return result


def _run_checks(ctx: AuditContext, progress: Progress) -> tuple[Section, dict[str, float]]:
    """Integrity and privacy always; the window checks once integrity found rows in both."""
    section, seconds = Section(), dict[str, float]()
    for name, check in FIRST_CHECKS:
        section.extend(_timed(name, check, ctx, progress, seconds))
    empty = [w for w in ("train", "test") if ctx.window_rows(w)[0] == 0]
    if empty:
        section.add(
            "integrity-window-empty",
            "high",
            "integrity",
            f"No rows in the {' and '.join(empty)} window",
            "Leakage, drift and segment checks need rows in both windows; move the windows "
            "inside the data (see rows_per_window).",
        )
        return section, seconds
    for name, check in WINDOW_CHECKS:
        section.extend(_timed(name, check, ctx, progress, seconds))
    return section, seconds


def _timed(
    name: str, check: Check, ctx: AuditContext, progress: Progress, seconds: dict[str, float]
) -> Section:
    started = time.perf_counter()
    with progress.stage(f"Audit: {name}"):
        section = check(ctx)
    seconds[name] = round(time.perf_counter() - started, 3)
    return section


def _summary(ctx: AuditContext, seconds: dict[str, float]) -> dict[str, Any]:
    w = ctx.windows
    daily = ctx.daily if ctx.daily is not None else pl.DataFrame({"day": [], "rows": []})
    return {
        "rows": int(daily["rows"].sum()) if daily.height else 0,
        "columns": len(ctx.schema),
        "first_day": str(daily["day"].min()) if daily.height else None,
        "last_day": str(daily["day"].max()) if daily.height else None,
        "windows": {
            "train": f"{w.train_start}..{w.train_end}",
            "test": f"{w.test_start}..{w.test_end}",
            "label_delay_days": w.label_delay_days,
            "exclude_known_frauds": w.exclude_known_frauds,
        },
        "features": list(ctx.features),
        "models": [m.name for m in ctx.models],
        "seed": ctx.seed,
        "sample_rows": ctx.limits.sample_rows,
        "sensitive_columns": sorted(ctx.sensitive),
        "audited_at": ctx.now.isoformat(),
        "seconds": seconds,
        "thresholds": ctx.thresholds.model_dump(mode="json"),
    }


def draw_chart(result: AuditResult, windows: Windows) -> Path | None:
    """The label-rate chart, in the audit's directory; None when there is nothing to draw (or
    no directory, or the environment sets ``CHALLENGE_PLOTS=off``)."""
    if result.output_dir is None or not plots_wanted():
        return None
    return label_rate_chart(
        result.tables.get("label_rate_daily", []),
        result.tables.get("label_rate_weekly", []),
        windows,
        result.output_dir / CHART_FILE,
    )


def list_chart(result: AuditResult) -> None:
    """Name in ``result.charts`` and audit.json the chart :func:`draw_chart` draws (or drew)
    for ``result``, when it has one."""
    if result.output_dir is None or not result.tables.get("label_rate_daily") or not plots_wanted():
        return
    if CHART_FILE not in result.charts:
        result.charts.append(CHART_FILE)
        result.write()
