"""`challenge ui`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TextIO

import typer

from challengers.cli.errors import reports_errors

app = typer.Typer()


@app.command("ui")
@reports_errors
def ui_command(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Use this config's tracking.uri."
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow store."),
    port: int = typer.Option(5000, "--port", help="Port on 127.0.0.1."),
) -> None:
    """Start the MLflow UI on the run store, bound to 127.0.0.1 (loopback only).

    Example:

      challenge ui            # then open http://127.0.0.1:5000
    """
    from challengers.config import load_config
    from challengers.errors import scrub
    from challengers.tracking import require_store, resolve_uri

    config_uri = load_config(config).tracking.uri if config else None
    uri = resolve_uri(tracking_uri, config_uri)
    require_store(uri)  # an unreachable server or a missing store: one line, before starting
    if uri.startswith("http"):
        typer.echo(f"the store is a server already: open {scrub(uri)}")
        return
    typer.echo(f"MLflow UI for {scrub(uri)} at http://127.0.0.1:{port} (Ctrl-C to stop)")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # the server's own log goes to the terminal (the native-output guard points fd 2 elsewhere)
    raise typer.Exit(subprocess.call(command, env=os.environ.copy(), stderr=_stream(sys.stderr)))


def _stream(stream: TextIO) -> TextIO | None:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return stream
