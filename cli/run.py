"""`challenge run`."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from challengers.cli.engine_options import ALLOW_PICKLE, ENGINE, MASTER
from challengers.cli.errors import reports_errors, stdout_may_close, visible

if TYPE_CHECKING:
    from challengers.findings import Finding

app = typer.Typer()


@app.command("run")
@reports_errors
def run_command(
    config: Path = typer.Argument(..., help="The experiment YAML.", show_default=False),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output directory (default: runs/NAME-TIME/)."
    ),
    only: list[str] = typer.Option(
        [],
        "--only",
        metavar="NAME",
        help="Train only this challenger (repeatable); the champion always runs.",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run in --output: reuse its finished models (checkpoints) "
        "and tuning studies, train the rest.",
    ),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        metavar="high|medium|low",
        help="Exit 1 when a finding of this severity or worse exists.",
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow store (default: config, MLFLOW_TRACKING_URI, ./mlflow.db).",
    ),
    allow_pickle: bool = ALLOW_PICKLE,
    register: bool = typer.Option(
        False,
        "--register",
        help="Register the challengers' models in the MLflow registry (as tracking.register "
        "says, else under the experiment's name) and set the alias 'challenger' on the one the "
        "findings name best.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no table."),
    engine: str | None = ENGINE,
    master: str | None = MASTER,
) -> None:
    """Load and check the data, score the champion, train every challenger, compare them on the
    same out-of-time test rows, log to MLflow and write the report.

    Examples:

      challenge run configs/demo.yaml

      challenge run configs/handbook.yaml --only lgbm --output runs/lgbm-only

      challenge run configs/demo.yaml --fail-on high --quiet

      challenge run configs/demo.yaml --register   (then: challenge promote RUN_ID lgbm --alias champion)

      challenge run configs/demo.yaml --output runs/demo --resume   (after Ctrl-C: train what is missing)

      challenge run configs/demo.yaml --master "local[2]"   (rows loaded by Spark)
    """
    if not quiet:  # on screen at once, before the heavy imports and the data
        typer.echo(f"challenge run {visible(str(config))}", err=True)
    from challengers.cli.output import RichProgress, print_result
    from challengers.config import load_config
    from challengers.errors import ConfigError
    from challengers.pipeline import RunOptions, run_experiment
    from challengers.tracking.registry import quiet_registration

    if fail_on not in (None, *SEVERITY_ORDER):
        raise ConfigError(f"--fail-on {fail_on}: use high, medium or low")
    if resume and output is None:
        raise ConfigError(
            "--resume needs --output DIR: the output directory of the run to continue"
        )
    cfg = load_config(config).with_engine(engine, master)
    _require_challengers(cfg.champion.name, [c.name for c in cfg.challengers], only)
    options = RunOptions(
        output_dir=output,
        only=tuple(only),
        resume=resume,
        allow_pickle=allow_pickle,
        tracking_uri=tracking_uri,
        config_text=config.read_text(encoding="utf-8"),
        config_file=str(config.resolve()),
        register=True if register else None,
    )
    # --quiet: nor MLflow's own lines on registering the models
    with quiet_registration() if quiet else contextlib.nullcontext():
        result = run_experiment(
            cfg, options, RichProgress(quiet), config_dir=config.resolve().parent
        )
    if not quiet:
        with stdout_may_close():
            print_result(result)
    _gate(result.findings, fail_on)


SEVERITY_ORDER = ("high", "medium", "low")


def _require_challengers(champion: str, challengers: Sequence[str], only: Sequence[str]) -> None:
    """--only names challengers: the champion's name there is refused as what it is (it read
    "no such challenger"). Other unknown names are refused when the run is planned."""
    from challengers.errors import ConfigError

    if champion in only and champion not in challengers:
        raise ConfigError(
            f"--only {champion}: '{champion}' is the champion, which every run scores; --only "
            f"picks challengers: {', '.join(challengers) or 'none'}"
        )


def _gate(findings: Sequence[Finding], fail_on: str | None) -> None:
    """--fail-on: each finding of that severity or worse on stderr, then exit 1."""
    if not fail_on:
        return
    gate = SEVERITY_ORDER[: SEVERITY_ORDER.index(fail_on) + 1]
    failing = [f for f in findings if f.severity in gate]
    for f in failing:
        typer.echo(f"gate: {f.severity} finding: {visible(f.title)}", err=True)
    if failing:
        raise typer.Exit(1)
