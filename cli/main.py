"""The `challenge` command: a thin Typer shell over the `challengers` library.

Every command parses its arguments, calls the library once and prints. Library errors become one line
on stderr and the exit code of DESIGN.md; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from challengers import __version__

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="challenge",
    help="Independent validation of fraud-detection models: replicate the champion, train "
    "challengers, compare them honestly on the same out-of-time rows, and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"challenge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = debug


def reports_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and DESIGN.md's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from challengers.errors import ChallengeError

        try:
            return fn(*args, **kwargs)
        except ChallengeError as exc:
            if _state["debug"]:
                raise
            for line in str(exc).splitlines() or [type(exc).__name__]:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _register() -> None:
    from challengers.cli import audit, check, run, simulate, ui

    for module in (run, check, audit, simulate, ui):
        app.add_typer(module.app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
