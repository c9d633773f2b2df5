"""`challenge audit`."""

from __future__ import annotations

from pathlib import Path

import typer

from challengers.cli.engine_options import ALLOW_PICKLE, ENGINE, MASTER
from challengers.cli.errors import reports_errors, visible

app = typer.Typer()

GATES = ("high", "medium", "low")


@app.command("audit")
@reports_errors
def audit_command(
    config: Path = typer.Argument(..., help="The experiment YAML.", show_default=False),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output directory (default: runs/NAME-audit-TIME/)."
    ),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        metavar="high|medium|low",
        help="Exit 1 when a finding of this severity or worse exists.",
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow store (only to fetch a champion given as a URI)."
    ),
    allow_pickle: bool = ALLOW_PICKLE,
    engine: str | None = ENGINE,
    master: str | None = MASTER,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no summary."),
) -> None:
    """Audit the data of an experiment without training: integrity, leakage, drift between the
    windows, personal data and segments. Writes audit.json and label_rate.png.

    Personal values are never printed or written: findings name the column only.

    Examples:

      challenge audit configs/demo.yaml

      challenge audit configs/handbook.yaml --output runs/audit --fail-on high

      challenge audit configs/demo.yaml --master "local[2]"   (rows read by Spark)
    """
    from challengers.cli.output import RichProgress, print_audit
    from challengers.config import load_config
    from challengers.errors import ConfigError
    from challengers.pipeline import RunOptions, audit_experiment

    if fail_on not in (None, *GATES):
        raise ConfigError(f"--fail-on {fail_on}: use high, medium or low")
    cfg = load_config(config).with_engine(engine, master)
    options = RunOptions(
        output_dir=output,
        allow_pickle=allow_pickle,
        tracking_uri=tracking_uri,
        config_file=str(config.resolve()),  # kept out of --output, as a run's
    )
    audit = audit_experiment(cfg, options, RichProgress(quiet))
    if not quiet:
        print_audit(audit)
    if fail_on:
        failing = audit.at_least(fail_on)
        if failing:
            for f in failing:
                typer.echo(f"gate: {f.severity} finding: {visible(f.title)}", err=True)
            raise typer.Exit(1)
