"""How the library reports progress without knowing about terminals (the CLI draws the bars)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Advance(Protocol):
    """Advance a stage by ``n`` steps; ``description`` replaces its text (e.g. the best value so
    far of a tuning)."""

    def __call__(self, n: int = 1, *, description: str | None = None) -> None: ...


class Progress(Protocol):
    def stage(self, description: str, total: int | None = None) -> AbstractContextManager[Advance]:
        """A long step; call the yielded function to advance it."""
        ...

    def note(self, message: str) -> None:
        """A one-line remark for the user (a skipped column, a failed challenger)."""
        ...


def ignore_advance(n: int = 1, *, description: str | None = None) -> None:
    pass


class SilentProgress:
    """No output: for tests, scripts and ``--quiet``."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield ignore_advance

    def note(self, message: str) -> None:
        self.notes.append(message)
