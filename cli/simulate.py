"""`challenge simulate`."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from challengers.cli.errors import reports_errors, stdout_may_close, visible

if TYPE_CHECKING:
    from challengers.simulate import SimulationSpec

app = typer.Typer()


@app.command("simulate")
@reports_errors
def simulate_command(
    rows: int = typer.Option(
        ..., "--rows", "-n", help="Number of transactions.", show_default=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Parquet file to write.", show_default=False),
    seed: int = typer.Option(0, "--seed", help="Same seed, same file."),
    days: int | None = typer.Option(None, "--days", help="Days covered (default: from --rows)."),
    start: datetime = typer.Option(
        datetime(2024, 1, 1), "--start", formats=["%Y-%m-%d"], help="First day."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Write a synthetic transaction dataset with planted fraud: customers, terminals, devices;
    high amounts, compromised terminals, compromised customers and shared-device rings.

    Written in row groups: memory grows with the customers (rows per day), not the rows; a
    simulation the memory or the disk cannot hold is refused before it starts.

    Examples:

      challenge simulate --rows 200000 --out data/sim.parquet --seed 7

      challenge simulate --rows 100000000 --out /big/tx.parquet --days 183
    """
    from rich.markup import escape

    from challengers.cli.output import RichProgress, console
    from challengers.errors import ConfigError
    from challengers.simulate import SimulationSpec, expected_days_for, simulate

    try:
        spec = SimulationSpec(
            rows=rows,
            seed=seed,
            start=date.fromordinal(start.toordinal()),
            days=expected_days_for(rows) if days is None else days,  # --days 0 is refused
        )
    except ValueError as exc:
        raise ConfigError(f"simulate: {exc}") from None
    _check_room(spec, out)
    with RichProgress(quiet).stage(f"Simulating {rows:,} transactions", total=spec.days) as advance:
        summary = simulate(spec, out, on_day=advance)
    if not quiet:
        with stdout_may_close():
            console().print(
                f"[green]✓[/] {escape(visible(str(summary.path)))}: {summary.rows:,} transactions, {summary.frauds:,} "
                f"frauds ({summary.frauds / summary.rows:.2%}), {summary.customers:,} customers, "
                f"{summary.terminals:,} terminals, {summary.start}..{summary.end}"
            )


def _check_room(spec: SimulationSpec, out: Path) -> None:
    """Refuse, before any work, a simulation the memory or the disk cannot hold: 10^11 rows
    asked for 550 million customers (about 550 GB) and the command sat silent until killed."""
    import shutil

    from challengers.errors import EnvironmentFailure
    from challengers.pipeline.memory import available, size

    room = available()
    if room is not None and spec.memory_needed() > room[0]:
        raise EnvironmentFailure(
            f"simulate: {spec.rows:,} rows over {spec.days:,} days simulate {spec.customers:,} "
            f"customers, about {size(spec.memory_needed())} of memory, but {size(room[0])} is "
            f"left ({room[1]}); ask for fewer rows or more --days"
        )
    folder = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    free = shutil.disk_usage(folder).free
    if spec.file_bytes() > free:
        raise EnvironmentFailure(
            f"--out {out}: {spec.rows:,} rows take about {size(spec.file_bytes())} on disk, but "
            f"{folder} has {size(free)} free; ask for fewer rows or write elsewhere"
        )
