"""`challenge compare`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from challengers.cli.errors import reports_errors, stdout_may_close, visible

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import RenderableType
    from rich.table import Table

    from challengers.replication.records import LoggedModel, LoggedRun

app = typer.Typer()


@app.command("compare")
@reports_errors
def compare_command(
    run_ids: list[str] = typer.Argument(
        ..., help="Ids of logged `challenge run` runs (parent runs).", show_default=False
    ),
    metric: list[str] = typer.Option(
        [], "--metric", "-m", help="Show only this metric key (repeatable), e.g. pr_auc."
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow store holding the runs (default: MLFLOW_TRACKING_URI, ./mlflow.db).",
    ),
) -> None:
    """Side-by-side table of logged runs: every model of every run, each metric with its interval.

    Runs are found as every command finds them: --tracking-uri > MLFLOW_TRACKING_URI >
    ./mlflow.db. A model run's id is followed to its parent run. Runs whose data fingerprints
    differ are flagged: their metrics come from different rows.

    Examples:

      challenge compare 3f2a9c0d1e8b4f7a9c0d1e8b4f7a9c0d 81be55aa02c94c4c9d3e0f1a2b3c4d5e

      challenge compare RUN_A RUN_B --metric pr_auc --metric roc_auc
    """
    from challengers.errors import ConfigError, did_you_mean
    from challengers.replication.records import load_run
    from challengers.tracking import resolve_uri

    uri = resolve_uri(tracking_uri)
    # each run once, in the order given: a run named twice (its id and its first characters, or
    # one of its model runs) was shown twice
    runs: dict[str, LoggedRun] = {}
    for run_id in dict.fromkeys(i.strip() for i in run_ids):
        run = load_run(uri, run_id)
        runs.setdefault(run.run_id, run)
    shown = list(runs.values())
    keys = list(dict.fromkeys(k for r in shown for k in r.metric_keys))
    # --metric takes any key the model runs log (an interval's bound, a delta, a p-value, a
    # timing), not only the headline keys shown by default
    logged = list(dict.fromkeys([*keys, *(k for r in shown for m in r.models for k in m.metrics)]))
    for key in metric:
        if key not in logged:
            raise ConfigError(
                f"--metric {key}: not logged by these runs{did_you_mean(key, logged)}"
            )
    keys = [k for k in logged if k in metric] if metric else keys
    with stdout_may_close():
        _print(shown, keys)


def _print(runs: list[LoggedRun], keys: list[str]) -> None:
    """The runs, then the metrics: each as a table where it fits the terminal, else as lines."""
    from rich.markup import escape

    from challengers.cli.output import console

    for note in (n for r in runs for n in r.notes):
        console().print(f"[yellow]![/] {escape(visible(note))}")
    width = console().width
    console().print(_fitting(_runs_table(runs), lambda: _runs_lines(runs), width))
    if len({r.data_fingerprint for r in runs}) > 1:
        console().print(
            "[yellow]![/] the runs used different data (fingerprints differ): their metrics "
            "come from different rows"
        )
    elif len({r.test_rows for r in runs}) > 1:
        console().print(
            "[yellow]![/] the runs were measured on different test rows (their test windows, "
            "known-fraud exclusion or row counts differ): their metrics are not comparable "
            "side by side"
        )
    grid = _metrics_grid(runs, keys)
    console().print(_fitting(grid, lambda: _metrics_blocks(runs, keys), width))


def _fitting(table: Table, narrow: Callable[[], RenderableType], width: int) -> RenderableType:
    """``table`` where it fits ``width`` columns uncut, else the ``narrow`` layout: a table cut to
    fit showed 0.21… for every value and 91e825… for the ids."""
    from challengers.cli.table import fits

    return table if fits(table, width) else narrow()


def _metrics_grid(runs: list[LoggedRun], keys: list[str]) -> Table:
    """A column per model of each run, a row per metric."""
    from rich.table import Table

    table = Table(title="Metrics with intervals", show_lines=True)
    table.add_column("metric", style="bold", no_wrap=True)
    columns = [(r, m) for r in runs for m in r.models]
    for r, m in columns:
        table.add_column(f"{r.run_id[:8]}\n{m.name}\n[dim]{m.role} · {m.kind}[/]", justify="right")
    for key in keys:
        table.add_row(key, *(_cell(m, key) for _, m in columns))
    return table


def _metrics_blocks(runs: list[LoggedRun], keys: list[str]) -> RenderableType:
    """One block per metric (its name on a line of its own), a line per model of each run: fits
    80 columns whatever the number of runs and models (as `challenge run`'s own table)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, title="Metrics with intervals", pad_edge=False, padding=(0, 2, 0, 0))
    for name, justify in (("model", "left"), ("value", "right"), ("interval", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for key in keys:
        table.add_row(Text(key, style="bold"), "", "")
        for r in runs:
            for m in r.models:
                value, _, interval = _cell(m, key).partition("\n")
                table.add_row(f"  {r.run_id[:8]} {m.name} [dim]({m.role})[/]", value, interval)
    return Group(table)


def _facts(r: LoggedRun) -> dict[str, str]:
    """What both layouts of the runs show of a run, as text."""
    started = datetime.fromtimestamp(r.run.start_time / 1000, tz=UTC)
    replication = r.run.tags.get("replication_of")
    return {
        "started": f"{started:%Y-%m-%d %H:%M}",
        # a deleted run (or one of a deleted experiment) is shown as what it is: MLflow hides it
        "status": f"{r.run.status}, deleted" if r.run.deleted else r.run.status,
        "replicates": f"replicates {replication[:8]}" if replication else "",
        "data": (r.data_fingerprint or "?")[:12],
        "config": (r.config_hash or "?")[:12],
        "high": r.run.tags.get("findings_high", "?"),
    }


def _runs_lines(runs: list[LoggedRun]) -> RenderableType:
    """The runs table's facts as lines, for a terminal the table does not fit."""
    from rich.console import Group
    from rich.text import Text

    lines: list[RenderableType] = [Text("Runs", style="bold")]
    for r in runs:
        f = _facts(r)
        lines += [
            Text(r.run_id, style="bold"),
            Text(
                f"  {r.run.name} · experiment {r.run.experiment} · {f['started']} UTC"
                f" · {f['status']}" + (f" · {f['replicates']}" if f["replicates"] else "")
            ),
            Text(f"  test {r.test_rows}"),
            Text(f"  data {f['data']} · config {f['config']} · high findings {f['high']}"),
        ]
    return Group(*lines)


def _runs_table(runs: list[LoggedRun]) -> Table:
    from rich.table import Table

    table = Table(title="Runs")
    for name in ("run", "name", "experiment", "started (UTC)", "status", "test rows", "data"):
        table.add_column(name)
    table.add_column("config")
    table.add_column("high findings", justify="right")
    for r in runs:
        f = _facts(r)
        name = r.run.name + (f"\n[dim]{f['replicates']}[/]" if f["replicates"] else "")
        table.add_row(
            r.run_id,
            name,
            r.run.experiment,
            f["started"],
            f["status"],
            r.test_rows,
            f["data"],
            f["config"],
            f["high"],
        )
    return table


def _cell(model: LoggedModel, key: str) -> str:
    if model.status != "ok":
        return "[red]failed[/]"
    value = model.value(key)
    if math.isnan(value):
        return "n/a"
    text = f"{value:.4f}"
    interval = model.interval(key)
    if interval is not None:
        text += f"\n[dim][{interval[0]:.4f}, {interval[1]:.4f}][/]"
    return text
