"""Ctrl-C, SIGTERM and SIGHUP: stop cleanly, keep what finished.

Python turns SIGINT into ``KeyboardInterrupt`` but lets SIGTERM and SIGHUP (a closed terminal, a
dropped ssh session) kill the process on the spot, which would leave MLflow runs RUNNING forever and
half-written files behind. While ``handled()`` is active the three raise ``Interrupted`` (a
``KeyboardInterrupt``, so every ``except Exception`` lets it through) at the next Python instruction; the pipeline then marks its open runs KILLED and keeps the
finished models for ``--resume``. ``deferred()`` holds signals back while a short critical step (a
checkpoint, marking runs KILLED) completes, so a second Ctrl-C cannot cut it in half.

Signal handlers can only be installed from the main thread; elsewhere both context managers do
nothing and the caller's own handling applies.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# SIGHUP: the terminal closed or the ssh session dropped; like SIGTERM, not a silent death
SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived while a run was in progress."""

    def __init__(self, signum: int | str = signal.SIGINT) -> None:
        if isinstance(signum, str):  # rebuilt by a library as type(exc)(its own message): polars
            signum = _received[0] if _received else signal.SIGINT
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def signal_name(exc: BaseException) -> str:
    """SIGINT or SIGTERM, for the message (a bare KeyboardInterrupt is a Ctrl-C)."""
    return exc.name if isinstance(exc, Interrupted) else "SIGINT"


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# signals that raised Interrupted inside the current handled() block
_received: list[int] = []


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def _quiet_unraisable(unraisable: Any) -> None:
    """An Interrupted raised inside a Python callback of native code (XGBoost's data iterator,
    through ctypes) cannot propagate: ctypes reports it as "Exception ignored" and goes on. Keep
    that off the terminal; :func:`raise_if_swallowed` raises it again between steps."""
    if not isinstance(unraisable.exc_value, Interrupted):
        sys.__unraisablehook__(unraisable)


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt ``exc`` is, or the one native code turned into ``exc``: a signal cutting a
    Python callback that polars runs comes out as polars' own error, or as a ``PanicException``
    when the callback was building a value polars unwraps (its schema's dtypes)."""
    if isinstance(exc, KeyboardInterrupt):
        return exc
    return Interrupted(_received[0]) if _received else None


def raise_if_swallowed(cause: BaseException | None = None) -> None:
    """Raise an interrupt that arrived in the block but was swallowed by native code (``cause``:
    the library's error it turned into, kept as the interrupt's cause)."""
    if _received:
        raise Interrupted(_received[0]) from cause


@contextmanager
def _installed(
    handler: Callable[[int, FrameType | None], Any], signals: tuple[int, ...] = SIGNALS
) -> Iterator[None]:
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in signals}
    for s in signals:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


# how many handled() blocks are open: a command's, and the run's inside it
_depth: list[None] = []


@contextmanager
def handled(signals: tuple[int, ...] = SIGNALS) -> Iterator[None]:
    """``signals`` (SIGINT, SIGTERM and SIGHUP) raise ``Interrupted`` inside the block, and leave
    it as one even when native code turned it into another error on the way.

    An interrupt nothing raised again (one raised in a finalizer, or caught by a library's bare
    ``except:`` while a module imports) is never lost: a block opened inside this one raises it
    on entry, and the block raises it on leaving. A run's block once cleared it instead, and a
    Ctrl-C in the command's imports let the whole run finish with exit 0."""
    from challengers.errors import RunInterrupted  # already the interrupt, in the run's words

    if _depth:
        raise_if_swallowed()  # swallowed in the enclosing block, before this one started
    else:
        _received.clear()
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable
    _depth.append(None)
    try:
        with _installed(_raise, signals):
            yield
            raise_if_swallowed()
    except BaseException as exc:
        interrupt = interrupt_behind(exc)
        if interrupt is None or interrupt is exc or isinstance(exc, RunInterrupted):
            raise
        raise interrupt from exc
    finally:
        _depth.pop()
        sys.unraisablehook = hook
        if not _depth:
            _received.clear()


@contextmanager
def deferred(*, reraise: bool = True) -> Iterator[None]:
    """Hold SIGINT/SIGTERM back until the block is done; then raise the first one that arrived
    (or drop it with ``reraise=False``, e.g. while cleaning up after an interrupt already)."""
    pending: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    with _installed(remember):
        yield
    if pending and reraise:
        raise Interrupted(pending[0])
