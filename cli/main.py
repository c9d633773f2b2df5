"""The `challenge` command: a thin Typer shell over the `challengers` library.

Every command parses its arguments, calls the library once and prints. Library errors become one line
on stderr and the exit code of DESIGN.md (cli/errors.py); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C while Python imports the command (the first second): nothing has started yet."""
    os.write(2, b"interrupted before the command started: nothing was written\n")
    os._exit(130)


# before the heavy imports below (typer, rich; each command imports more): an early Ctrl-C is one
# line and exit 130, never an import traceback. reports_errors hands SIGINT back to Python.
signal.signal(signal.SIGINT, _interrupted_early)
# cli/launcher.c starts Python with SIGINT blocked, so that a Ctrl-C during Python's own start-up
# waits, pending, for the handler above instead of ending in a site.py traceback.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

import typer  # noqa: E402
from typer.core import TyperOption  # noqa: E402

from challengers import __version__  # noqa: E402
from challengers.cli import (  # noqa: E402
    audit,
    check,
    compare,
    promote,
    replicate,
    run,
    simulate,
    ui,
)
from challengers.cli.errors import ascii_fallback, state  # noqa: E402
from challengers.models.lean_imports import hide_sklearn_from_tree_libraries  # noqa: E402

_value_type = TyperOption.display_type_rich


def _no_type_for_flags(self: TyperOption, ctx: typer.Context) -> str | None:
    """A flag takes no value, so --help shows none (Typer would print ``<bool>``)."""
    return None if self.is_flag else _value_type(self, ctx)


# Typer offers no setting for it and builds --help's own option, so the display is changed once here.
TyperOption.display_type_rich = _no_type_for_flags  # type: ignore[method-assign,assignment]

app = typer.Typer(
    name="challenge",
    help="Independent validation of fraud-detection models: replicate the champion, train "
    "challengers, compare them honestly on the same out-of-time rows, and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


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
    state["debug"] = debug


for _command in (run, check, audit, simulate, ui, replicate, compare, promote):
    app.add_typer(_command.app)


def main() -> None:
    ascii_fallback(sys.stdout, sys.stderr)
    # one command in this process: LightGBM and XGBoost without their scikit-learn wrappers, which
    # no command uses but the Spark engine's (it shows them again): 1 CPU-s of imports less
    hide_sklearn_from_tree_libraries()
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
        raise


def _leave(code: object) -> None:
    """End the process now that the command is done, without the interpreter's teardown.

    Tearing down what a run imported (MLflow, polars, LightGBM, XGBoost, matplotlib, SciPy: every
    module's objects freed one by one) takes about 2 s after the last line is printed. Here stdout
    and stderr are flushed and the exit handlers run (logging, MLflow's, temporary files), as at a
    normal exit; then the process ends. A thread other than a daemon one still running, an exit
    code that is not a number, or an output that cannot be flushed (a closed pipe): the normal
    exit, which handles each of these.
    """
    if code is not None and not isinstance(code, int):
        return
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not _MAIN):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code or 0)


_MAIN = threading.main_thread()


if __name__ == "__main__":
    main()
