"""`challenge check`."""

from __future__ import annotations

from pathlib import Path

import typer

from challengers.cli.engine_options import ALLOW_PICKLE, ENGINE, MASTER
from challengers.cli.errors import reports_errors, stdout_may_close, visible

app = typer.Typer()


@app.command("check")
@reports_errors
def check_command(
    config: Path = typer.Argument(..., help="The experiment YAML.", show_default=False),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow store."),
    allow_pickle: bool = ALLOW_PICKLE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
    engine: str | None = ENGINE,
    master: str | None = MASTER,
) -> None:
    """Validate the config, the data schema, the windows and the champion without training.

    Exit 0 when a run would start; otherwise one line per problem and exit 2.

    Example:

      challenge check configs/demo.yaml
    """
    from rich.markup import escape

    from challengers.cli.output import RichProgress, console
    from challengers.config import load_config
    from challengers.pipeline import RunOptions, check_experiment

    cfg = load_config(config).with_engine(engine, master)
    info = check_experiment(
        cfg, RunOptions(allow_pickle=allow_pickle, tracking_uri=tracking_uri), RichProgress(quiet)
    )
    if quiet:
        return
    with stdout_may_close():
        console().print(f"[green]✓[/] {escape(str(config))}: config and data are valid")
        console().print(
            f"  train {info['rows_train']:,} rows ({info['positives_train']:,} frauds) · test "
            f"{info['rows_test']:,} rows ({info['positives_test']:,} frauds) · "
            f"{info['features']} features · fingerprint {info['fingerprint']}"
        )
        if info["excluded_known_fraud_rows"]:
            console().print(
                f"  {info['excluded_known_fraud_rows']:,} test rows of already-known fraudulent "
                "entities excluded"
            )
        challengers = ", ".join(info["challengers"]) or "none"
        console().print(f"  champion: {info['champion']} · challengers: {challengers}")
        for note in info["notes"]:
            console().print(f"  [yellow]![/] {escape(visible(note))}")
