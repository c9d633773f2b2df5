"""Independent pieces of work (each model's ranking, each feature's bins) on the machine's cores.

The compiled kernels (numba, ``nogil``), numpy's sorts and gathers and the tree libraries release
the interpreter's lock, so threads overlap what processes would have to copy arrays for. Each piece
runs whole in one thread and the results come back in the order of the items: the numbers are the
same bits for any number of threads. At most ``threads`` pieces are held at once (their memory:
the callers say what one piece holds).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


# how long a thread running Python keeps the interpreter's lock from one that asks for it (Python's
# default: 5 ms), where a thread goes in and out of native code many times and each time waited
# behind threads running Python: the loading step at 10M rows ended 6.97 -> 5.65 s after the start
# (medians of 6 pairs, 5 faster). Not for a whole run: the forced hand-overs cost CPU where threads
# running Python meet (1 CPU-s on the handbook's fixed-cost run, whose models then trained slower);
# nor for the audit, which gained nothing
SWITCH_INTERVAL_S = 1e-4


@contextmanager
def prompt_handover() -> Iterator[None]:
    """The interpreter's lock handed over within :data:`SWITCH_INTERVAL_S` inside the block (never
    less promptly than it already is); the interval as it was once the last block open in any
    thread ends (two runs' loadings in threads of one process may overlap)."""
    _HANDOVER.enter()
    try:
        yield
    finally:
        _HANDOVER.leave()


class _Handover:
    """The blocks of :func:`prompt_handover` open in the process, and the interval before the
    first."""

    def __init__(self) -> None:
        self.lock, self.open, self.before = threading.Lock(), 0, 0.0

    def enter(self) -> None:
        with self.lock:
            if self.open == 0:
                self.before = sys.getswitchinterval()
                sys.setswitchinterval(min(self.before, SWITCH_INTERVAL_S))
            self.open += 1

    def leave(self) -> None:
        with self.lock:
            self.open -= 1
            if self.open == 0:
                sys.setswitchinterval(self.before)


_HANDOVER = _Handover()


def workers(threads: int | None) -> int:
    """The threads to use: ``threads``, else every core."""
    return max(1, threads or os.cpu_count() or 1)


def each(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, up to ``threads`` (default: every core) at a time.

    The first error is raised here once the pieces under way have finished; the pieces not
    started are dropped, as they are when an interrupt reaches the waiting thread."""
    todo = list(items)
    count = min(workers(threads), len(todo))
    if count <= 1:
        return [fn(item) for item in todo]
    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="challenge-each")
    try:
        return list(pool.map(fn, todo))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def in_background(
    work: Callable[..., R], *args: Any, name: str = "challenge-background"
) -> Callable[[], R]:
    """Start ``work(*args)`` in a daemon thread; the function returned waits for it and returns
    its result, or raises what it raised, in the caller's thread. A daemon: a caller that stops
    (an error, an interrupt) without waiting is not held up by it, nor is the process's exit."""
    future: Future[R] = Future()

    def target() -> None:
        try:
            future.set_result(work(*args))
        except BaseException as exc:  # raised again in the caller's thread
            future.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future.result
