"""`challenge ui`."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path
from types import FrameType

import typer

from challengers.cli.errors import reports_errors

app = typer.Typer()


class _Stop(Exception):
    """Ctrl-C or SIGTERM while the UI runs: the normal way to stop it."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


@app.command("ui")
@reports_errors
def ui_command(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Use this config's tracking.uri."
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow store."),
    port: int = typer.Option(
        5000, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Server worker processes (one is plenty for one validator)."
    ),
) -> None:
    """Start the MLflow UI on the run store, bound to 127.0.0.1 (loopback only).

    The URL is printed when the server answers. Ctrl-C (or SIGTERM) stops it and every process
    it started.

    Example:

      challenge ui            # then open http://127.0.0.1:5000
    """
    from challengers.config import load_config
    from challengers.errors import scrub
    from challengers.tracking import require_store, resolve_uri
    from challengers.tracking.server import MlflowServer, free_port

    config_uri = load_config(config).tracking.uri if config else None
    uri = resolve_uri(tracking_uri, config_uri)
    require_store(uri)  # an unreachable server or a missing store: one line, before starting
    if uri.startswith("http"):
        typer.echo(f"the store is a server already: open {scrub(uri)}")
        return
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    with tempfile.NamedTemporaryFile("w+", prefix="challenge-ui-", suffix=".log") as log:
        server = MlflowServer(
            uri,
            port=port or free_port(),
            workers=workers,
            log=log,
        )
        try:
            server.start()
            seconds = server.wait_ready()
            typer.echo(
                f"MLflow UI for {scrub(uri)} at {server.url} (ready in {seconds:.1f} s; "
                "Ctrl-C to stop)"
            )
            code = server.wait()
            typer.echo(f"the MLflow UI stopped by itself (exit {code})", err=True)
            raise typer.Exit(3)
        except _Stop as stop:
            server.stop()
            typer.echo(f"MLflow UI stopped ({stop}); every process it started has ended")
        except BaseException:
            server.stop()
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
