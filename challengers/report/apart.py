"""Drawing in a child process while the run goes on: matplotlib holds the GIL, so a thread would
not help, and a run's plots take seconds.

:func:`draw_apart` forks (POSIX; the child has the parent's finished results), the child draws and
writes its files and ends; nothing comes back but its exit status. Where fork is missing, refused
(memory) or not safe (not the main thread), or the child fails, :meth:`Apart.wait` draws in this
process instead: the same files, and the real error where there is one.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from types import TracebackType


class Apart:
    """Files being drawn by ``draw`` in a child process (or not yet drawn: :meth:`wait` does it)."""

    def __init__(self, draw: Callable[[], object] | None) -> None:
        self._draw = draw
        self._pid = _fork(draw) if draw is not None else None

    @property
    def forked(self) -> bool:
        return self._pid is not None

    def wait(self) -> None:
        """Return once the files are written: the child's, else drawn here."""
        pid, self._pid = self._pid, None
        if pid is not None:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) == 0:
                return
        if self._draw is not None:
            self._draw()

    def close(self) -> None:
        """Stop a child not waited for (the run stopped meanwhile)."""
        pid, self._pid = self._pid, None
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    def __enter__(self) -> Apart:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def draw_apart(draw: Callable[[], object] | None) -> Apart:
    """Start ``draw`` in a child process; returns at once. ``CHALLENGE_FORK=off`` draws in this
    process, at :meth:`Apart.wait`. ``None``: nothing to draw, no child."""
    return Apart(draw)


def _fork(draw: Callable[[], object]) -> int | None:
    if (
        not sys.platform.startswith("linux")
        or os.environ.get("CHALLENGE_FORK", "auto") == "off"
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    for stream in (sys.stdout, sys.stderr):  # else the child's copy of a buffer prints twice
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        with warnings.catch_warnings():  # Python >= 3.12: "multi-threaded, fork() may deadlock";
            # the child only draws (matplotlib, numpy), never touching another thread's locks
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    code = 1  # the child: draw, then leave at once (no exit handlers, no flush, no teardown)
    try:
        gc.disable()  # no finalizer of the parent's objects (connections, temporary files) here
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)  # a Ctrl-C ends it with the parent
        draw()
        code = 0
    except BaseException:  # the parent draws again, and reports what fails
        pass
    finally:
        os._exit(code)
