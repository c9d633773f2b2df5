"""The one place where library errors become exit codes (DESIGN.md) and one line on stderr."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

state = {"debug": False}


def reports_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and DESIGN.md's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from challengers.errors import ChallengeError, scrub

        try:
            with native_output_hidden():
                return fn(*args, **kwargs)
        except ChallengeError as exc:
            if state["debug"]:
                raise
            prefix = "" if exc.exit_code == 130 else "error: "  # an interrupt is not an error
            for line in str(exc).splitlines() or [type(exc).__name__]:
                typer.echo(f"{prefix}{scrub(line)}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:  # before a run started: nothing to keep
            typer.echo("interrupted before any model finished: nothing to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def native_output_hidden() -> Iterator[None]:
    """Keep native libraries' own stderr lines ("[LightGBM] [Fatal] ...") off the terminal: the
    error they signal reaches the user once, as the tool's one-line message.

    File descriptor 2 points at a scratch file while the command runs; Python's ``sys.stderr``
    (progress bars, messages) keeps writing to the terminal. ``--debug`` leaves everything as is.
    """
    if state["debug"]:
        yield
        return
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a test runner's in-memory stream
        python_on_fd2 = False
    sys.stderr.flush()
    terminal = os.dup(2)
    original = sys.stderr
    if python_on_fd2:
        sys.stderr = os.fdopen(
            os.dup(terminal), "w", buffering=1, encoding=original.encoding, errors="replace"
        )
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
                os.dup2(terminal, 2)
    finally:
        if python_on_fd2:
            with contextlib.suppress(OSError):
                sys.stderr.close()
            sys.stderr = original
        os.close(terminal)
