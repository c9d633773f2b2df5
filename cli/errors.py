"""The one place where library errors become exit codes (DESIGN.md) and one line on stderr."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

state = {"debug": False}


def reports_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and DESIGN.md's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from challengers.errors import ChallengeError

        try:
            return fn(*args, **kwargs)
        except ChallengeError as exc:
            if state["debug"]:
                raise
            for line in str(exc).splitlines() or [type(exc).__name__]:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
