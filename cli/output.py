"""Terminal rendering: the side-by-side table, findings, and progress bars (rich lives only here)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from challengers.evaluation.evaluate import decision
from challengers.experiment_result import ExperimentResult
from challengers.progress import Advance, ignore_advance
from challengers.results import SEVERITIES, ModelResult

if TYPE_CHECKING:
    from challengers.audit import AuditResult


def console() -> Console:
    """Standard output, sized when called (so COLUMNS and redirections are honoured)."""
    return Console()


def err_console() -> Console:
    return Console(stderr=True)


SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


class RichProgress:
    """Progress bars on stderr, one line per finished step with its time."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[Advance]:
        if self.quiet:
            yield ignore_advance
            return
        started = time.perf_counter()
        latest = [description]
        if err_console().is_terminal:
            with self._live_bar(description, total, latest) as advance:
                yield advance
        else:
            # A log file or CI: no live bar (rich would leave a blank line per step), only the
            # finished line, with the latest description (e.g. the best value of a tuning).
            def remember(n: int = 1, *, description: str | None = None) -> None:
                if description is not None:
                    latest[0] = description

            yield remember
        err_console().print(
            f"[green]✓[/] {latest[0]} [dim]({time.perf_counter() - started:.1f}s)[/]"
        )

    @staticmethod
    @contextmanager
    def _live_bar(description: str, total: int | None, latest: list[str]) -> Iterator[Advance]:
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total:
            columns += [BarColumn(), TextColumn("{task.completed}/{task.total}")]
        with Progress(*columns, TimeElapsedColumn(), console=err_console(), transient=True) as bar:
            task = bar.add_task(description, total=total)

            def advance(n: int = 1, *, description: str | None = None) -> None:
                if description is not None:
                    latest[0] = description
                bar.update(task, advance=n, description=description)

            yield advance

    def note(self, message: str) -> None:
        if not self.quiet:
            err_console().print(f"[yellow]![/] {message}")


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _cell(model: ModelResult, key: str, higher_is_better: bool, alpha: float) -> str:
    value = model.metrics.get(key)
    text = _num(value)
    lo, hi = model.ci.get(key, (math.nan, math.nan))
    if math.isfinite(lo):
        text += f"\n[dim][{_num(lo)}, {_num(hi)}][/]"
    delta = model.delta_vs_champion.get(key)
    if delta is not None and math.isfinite(delta.value):
        outcome = decision(delta, alpha, higher_is_better)  # on the Holm-adjusted p-value
        style = {"beats": "green", "worse": "red", None: "dim"}[outcome]
        adjusted = "" if delta.p_value_adjusted is None else f" adj={delta.p_value_adjusted:.3f}"
        text += f"\n[{style}]Δ {delta.value:+.4f} p={delta.p_value:.3f}{adjusted}[/]"
    return text


def comparison_table(result: ExperimentResult) -> Table:
    ok = [m for m in result.models if m.status == "ok"]
    table = Table(
        title=f"{result.experiment}: champion vs challengers on {result.data.rows_test:,} test rows "
        f"({result.data.positives_test:,} frauds), {100 * (1 - result.alpha):.0f}% intervals",
        show_lines=True,
    )
    table.add_column("metric", style="bold")
    for m in ok:
        table.add_column(f"{m.name}\n[dim]{m.role} · {m.kind}[/]", justify="right")
    for key in result.metric_keys:
        hib = result.higher_is_better.get(key, True)
        role = "primary" if key == result.primary_key else "secondary"
        table.add_row(
            f"{key} {'↑' if hib else '↓'}\n[dim]{role}[/]",
            *(_cell(m, key, hib, result.alpha) for m in ok),
        )
    return table


def print_result(result: ExperimentResult) -> None:
    console().print(comparison_table(result))
    for m in result.failed:
        console().print(f"[red]✗ {m.name} ({m.kind}) failed:[/] {m.error}")
    if result.findings:
        console().print("[bold]Findings[/]")
        for f in result.findings:
            style = SEVERITY_STYLE[f.severity]
            console().print(f"  [{style}]{f.severity.upper():6}[/] [{f.area}] {f.title}")
    console().print(
        f"Outputs: {result.output_dir}/report.html, report.md, comparison.json  ·  MLflow run "
        f"{result.run_id}"
    )


def print_audit(audit: AuditResult) -> None:
    """The audit's terminal summary: counts by severity, then each finding, most severe first."""
    s = audit.summary
    counts = audit.counts()
    table = Table(
        title=f"Data audit: {s.get('rows', 0):,} rows, {s.get('columns', 0)} columns, "
        f"{s.get('first_day')}..{s.get('last_day')}",
        show_header=True,
    )
    table.add_column("severity")
    table.add_column("area")
    table.add_column("finding")
    for severity in SEVERITIES:
        for f in (f for f in audit.findings if f.severity == severity):
            style = SEVERITY_STYLE[severity]
            table.add_row(f"[{style}]{severity.upper()}[/]", f.area, f.title)
    if audit.findings:
        console().print(table)
    else:
        console().print(f"[green]✓[/] {table.title}: no findings")
    console().print(
        "  ".join(f"[{SEVERITY_STYLE[k]}]{k}: {n}[/]" for k, n in counts.items())
        + (f"  ·  {audit.output_dir}/audit.json" if audit.output_dir else "")
    )
