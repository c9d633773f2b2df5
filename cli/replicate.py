"""`challenge replicate`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from challengers.cli.engine_options import ENGINE, MASTER
from challengers.cli.errors import reports_errors, stdout_may_close, visible

if TYPE_CHECKING:
    from challengers.pipeline.replicate import Replication

app = typer.Typer()


@app.command("replicate")
@reports_errors
def replicate_command(
    run_id: str | None = typer.Argument(
        None, help="Id of a logged `challenge run` (its parent run).", show_default=False
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Instead of a run id: run this config twice and compare."
    ),
    tolerance: float = typer.Option(
        1e-6,
        "--tolerance",
        help="Allowed |replicated - logged| x max(1, |logged|) per value: a number >= 0.",
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow store holding the run (default: MLFLOW_TRACKING_URI, ./mlflow.db).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output directory of the replication run."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no table."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted replication in --output: reuse its finished models, "
        "train the rest, then compare.",
    ),
    engine: str | None = ENGINE,
    master: str | None = MASTER,
) -> None:
    """Re-run a logged run from its MLflow record alone and compare every metric.

    Reads the run's logged config (all defaults filled in, thread count included), checks that the
    data still has the logged fingerprint (exit 2 naming the rows, columns and values that differ),
    re-runs it as a new run tagged replication_of=RUN_ID, and prints logged vs re-computed metrics
    per model. Exit 1 when any value (metrics, intervals, deltas, p-values) differs beyond
    --tolerance. With --config, runs the config and then replicates that run.

    Examples:

      challenge replicate 3f2a9c0d1e8b4f7a9c0d1e8b4f7a9c0d

      challenge replicate 3f2a9c0d1e8b4f7a9c0d1e8b4f7a9c0d --tolerance 1e-4 --tracking-uri http://127.0.0.1:5000

      challenge replicate --config configs/demo.yaml

      challenge replicate 3f2a9c0d1e8b4f7a9c0d1e8b4f7a9c0d -o runs/r1 --resume   (after Ctrl-C)
    """
    from challengers.cli.output import RichProgress
    from challengers.errors import ConfigError
    from challengers.pipeline.replicate import replicate_config, replicate_run

    if (run_id is None) == (config is None):
        raise ConfigError("give a RUN_ID or --config PATH (one of them)")
    if resume and (run_id is None or output is None):
        raise ConfigError(
            "--resume needs a RUN_ID and --output DIR: the output directory of the interrupted "
            "replication of that run"
        )
    if not tolerance >= 0:  # nan too: it failed click's range check as "should be >= 0"
        raise ConfigError(f"--tolerance {tolerance:g}: give a number >= 0, e.g. 1e-6")
    progress = RichProgress(quiet)
    if config is not None:
        replication = replicate_config(
            config,
            tolerance=tolerance,
            tracking_uri=tracking_uri,
            output_dir=output,
            progress=progress,
            engine=engine,
            master=master,
        )
    else:
        assert run_id is not None
        replication = replicate_run(
            run_id.strip(),
            tolerance=tolerance,
            tracking_uri=tracking_uri,
            output_dir=output,
            progress=progress,
            engine=engine,
            master=master,
            resume=resume,
        )
    if not quiet:
        with stdout_may_close():
            print_replication(replication)
    if not replication.ok:
        raise typer.Exit(1)


def _num(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.9g}"


def _diff(value: float) -> str:
    return "0" if value == 0 else ("∞" if math.isinf(value) else f"{value:.2e}")


HEADERS = ("metric", "logged", "replicated", "difference")


def replication_table(r: Replication, width: int) -> RenderableType:
    """Logged against re-computed values, grouped by model (its name on a line of its own), one
    row a value: key, logged, replicated, difference. Nothing is cut or wrapped: the key column is
    as wide as the longest key that fits beside the numbers in ``width`` columns, and a longer key
    (delta_twin_value_detection_at_alerts_0.02_p_value_adjusted) takes a line of its own, whole,
    with its numbers on the next line."""
    shown = [c for c in r.checks if c.headline or not c.within(r.tolerance)]
    cells = [[f"  {c.key}", _num(c.logged), _num(c.now), _diff(c.diff)] for c in shown]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(HEADERS)]
    spacing = _width(_rows([0, *widths[1:]])) - sum(widths[1:])  # between the columns
    widths[0] = max(len(HEADERS[0]), min(widths[0], width - spacing - sum(widths[1:])))
    parts: list[RenderableType] = [_rows(widths, header=True)]
    table = _rows(widths)
    for model in dict.fromkeys(c.model for c in shown):
        parts += [table, Text(model, style="bold", no_wrap=True, overflow="ignore")]
        table = _rows(widths)
        for c, (key, *values) in zip(shown, cells, strict=True):
            if c.model != model:
                continue
            style = "bold red" if not c.within(r.tolerance) else ""
            if len(key) > widths[0]:
                parts += [table, Text(key, style=style, no_wrap=True, overflow="ignore")]
                table = _rows(widths)
                key = ""
            table.add_row(Text(key), *values, style=style)  # (a key is no markup)
    return Group(*parts, table)


def _width(table: Table) -> int:
    return Console(width=10_000).measure(table).maximum


def _rows(widths: list[int], *, header: bool = False) -> Table:
    """A part of the table: its columns at ``widths``, the same in every part so they line up."""
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, show_header=header, padding=(0, 1)
    )
    for i, (name, size) in enumerate(zip(HEADERS, widths, strict=True)):
        table.add_column(name, width=size, justify="right" if i else "left", no_wrap=True)
    return table


def print_replication(r: Replication) -> None:
    """The logged vs re-computed table, the environment differences and the verdict."""
    from rich.markup import escape

    from challengers.cli.output import console

    for note in r.notes:
        console().print(f"[yellow]![/] {escape(visible(note))}")
    for line in r.environment:
        console().print(f"[yellow]![/] environment differs: {escape(line)}")
    verdict = {
        "identical": "[green]identical[/]",
        "within_tolerance": f"[green]within tolerance {r.tolerance:g}[/]",
        "differs": f"[bold red]differs beyond tolerance {r.tolerance:g}[/]",
    }[r.status]
    console().print(f"[bold]Replication of run {r.original} as {r.replication}:[/] {verdict}")
    out = console()
    out.print(replication_table(r, out.width))
    for change in r.status_changes:
        console().print(f"[bold red]✗[/] {escape(change)}")
    if r.unexplained:
        console().print(f"[yellow]![/] {escape(r.unexplained)}")
    models = len({c.model for c in r.checks})
    console().print(
        f"{len(r.checks)} values compared for {models} models (metrics, intervals, deltas, "
        f"p-values; timings excluded): max |difference| {_diff(r.max_diff)}, "
        f"{len(r.differing)} beyond tolerance. Outputs: {escape(str(r.output_dir))}"
    )
