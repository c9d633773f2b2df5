"""Terminal rendering: the side-by-side table, findings, and progress bars (rich lives only here)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from challengers.cli.errors import stdout_may_close, visible
from challengers.cli.table import comparison
from challengers.experiment_result import ExperimentResult
from challengers.progress import Advance, ignore_advance
from challengers.results import SEVERITIES, Finding

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
            f"[green]✓[/] {escape(latest[0])} [dim]({time.perf_counter() - started:.1f}s)[/]"
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
            err_console().print(f"[yellow]![/] {escape(visible(message))}")


def findings_table(findings: Sequence[Finding]) -> Table:
    """One line per finding; a long title wraps under itself (a hanging indent), not under the
    severity."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for f in findings:
        table.add_row(
            Text(f"{f.severity.upper():6}", style=SEVERITY_STYLE[f.severity]),
            Text(f"[{f.area}]", style="dim"),
            # the data's names as given: a column named '[bold]x[/]' is no markup, a segment's
            # value holding an escape sequence is not played on the terminal
            Text(visible(f.title)),
        )
    return table


def print_result(result: ExperimentResult) -> None:
    out = console()
    out.print(comparison(result, out.width))
    for note in result.notes:
        err_console().print(f"[yellow]![/] {escape(visible(note))}")
    for m in result.failed:
        error = escape(visible(m.error or "", keep="\n\t"))
        out.print(f"[red]✗ {m.name} ({m.kind}) failed:[/] {error}")
    if result.findings:
        out.print("[bold]Findings[/] (recommendations: see the report)")
        out.print(Padding(findings_table(result.findings), (0, 0, 0, 2)))
    out.print(
        f"Outputs: {escape(str(result.output_dir))}/report.html, "
        + ("report.pdf, " if (result.output_dir / "report.pdf").exists() else "")
        + "report.md, comparison.json  ·  MLflow run "
        f"{result.run_id}",
        overflow="fold",
    )


def print_audit(audit: AuditResult) -> None:
    """The audit's terminal summary: counts by severity, then each finding, most severe first.
    A closed stdout (``| head``) ends it quietly: the audit keeps its real exit status."""
    with stdout_may_close():
        _print_audit(audit)


def _print_audit(audit: AuditResult) -> None:
    s = audit.summary
    counts = audit.counts()
    table = Table(
        title=f"Data audit: {s.get('rows', 0):,} rows, {s.get('columns', 0)} columns, "
        f"{s.get('first_day')}..{s.get('last_day')}",
        show_header=True,
    )
    table.add_column("severity")
    table.add_column("area")
    table.add_column("finding", overflow="fold")  # a long name whole, never cut with …
    for severity in SEVERITIES:
        for f in (f for f in audit.findings if f.severity == severity):
            style = SEVERITY_STYLE[severity]
            table.add_row(Text(severity.upper(), style=style), Text(f.area), Text(visible(f.title)))
    if audit.findings:
        console().print(table)
    else:
        console().print(f"[green]✓[/] {table.title}: no findings")
    console().print(
        "  ".join(f"[{SEVERITY_STYLE[k]}]{k}: {n}[/]" for k, n in counts.items())
        + (f"  ·  {escape(str(audit.output_dir))}/audit.json" if audit.output_dir else "")
    )
