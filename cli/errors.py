"""The one place where library errors become exit codes (DESIGN.md) and one line on stderr."""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

state = {"debug": False}


def reports_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and DESIGN.md's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # the config's models before Python gets SIGINT back: pydantic builds their validators on
        # import, and a Ctrl-C inside that build came out as a SchemaError (a traceback, exit 1)
        import challengers.config  # noqa: F401
        from challengers import interrupts
        from challengers.errors import ChallengeError, scrub

        if threading_main():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # main.py's early handler
        try:
            refuse_control_characters(kwargs)
            require_working_directory()
            # a Ctrl-C stays one even where a library's native code turned it into its own error
            with interrupts.handled((signal.SIGINT,)), native_output_hidden():
                return fn(*args, **kwargs)
        except ChallengeError as exc:
            if state["debug"]:
                raise
            prefix = "" if exc.exit_code == 130 else "error: "  # an interrupt is not an error
            for line in str(exc).splitlines() or [type(exc).__name__]:
                typer.echo(f"{prefix}{visible(scrub(line))}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:  # before a run started: nothing to keep
            typer.echo(_interrupted(fn.__name__, interrupts.signal_name(exc)), err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def visible(line: str, keep: str = "\t") -> str:
    """A message line with its control characters but ``keep`` written out (an escape as \\x1b):
    a path or a value from the data holding an escape sequence is shown, not played on the
    terminal, and a line break in it does not break the line."""
    from challengers.errors import control_character

    while (ch := control_character(line, keep)) is not None:
        line = line.replace(ch, repr(ch)[1:-1])
    return line


TRAINS = {"run_command", "replicate_command"}  # the commands whose models a --resume reuses


def _interrupted(command: str, signal_name: str) -> str:
    """The line for an interrupt before anything was kept: no resume hint where there is nothing
    to resume from (an audit, a check, a simulation)."""
    if command in TRAINS:
        return f"interrupted ({signal_name}) before any model finished: nothing to resume"
    name = command.removesuffix("_command")
    return f"interrupted ({signal_name}): challenge {name} stopped before it finished"


POSITIONAL = {"config", "run_id", "run_ids", "model"}  # the commands' arguments (not options)


def refuse_control_characters(arguments: dict[str, Any]) -> None:
    """An argument holding a line break or an escape (a config path pasted with its newline):
    every message quoting it broke in two ('error: /tmp/a' / 'error: b.yaml: config file not
    found'). Refused first, written out."""
    from challengers.errors import ConfigError, control_character

    for name, value in arguments.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if not isinstance(item, str | Path):
                continue
            bad = control_character(str(item))
            if bad is not None:
                shown = name.upper() if name in POSITIONAL else f"--{name.replace('_', '-')}"
                raise ConfigError(
                    f"{shown}: {str(item)!r} holds the control character {bad!r}; remove it"
                )


def require_working_directory() -> None:
    """Relative paths (the config, ./mlflow.db, runs/) need a working directory that exists."""
    from challengers.errors import EnvironmentFailure

    try:
        Path.cwd()
    except OSError as exc:
        raise EnvironmentFailure(
            f"the working directory no longer exists ({exc.strerror}); cd into an existing "
            "directory and run the command again"
        ) from None


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stdout_may_close() -> Iterator[None]:
    """Printing to a pipe its reader closed (``| head``) ends the printing quietly; the command
    goes on to its real exit status (a gate's 1, or 0) instead of click's bare exit 1."""
    try:
        yield
    except (BrokenPipeError, SystemExit):  # rich turns a broken pipe into SystemExit(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail too
        os.close(devnull)


ASCII = {"✓": "ok", "✗": "x", "·": "-", "…": "...", "—": "-", "–": "-", "→": "->", "≥": ">="}


def _ascii(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(ASCII.get(c, "?") for c in bad), error.end


codecs.register_error("challenge-ascii", _ascii)


def ascii_fallback(*streams: Any) -> None:
    """A terminal or pipe whose encoding lacks the tool's symbols (PYTHONIOENCODING=ascii, a C
    locale) gets ASCII stand-ins ("ok" for the check mark) instead of a UnicodeEncodeError after
    the work is done."""
    for stream in streams:
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "✓·✗".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.reconfigure(errors="challenge-ascii")


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
            os.dup(terminal),
            "w",
            buffering=1,
            encoding=original.encoding,
            errors=original.errors if original.errors != "strict" else "replace",
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
