"""Challenger kinds by name: the one list the config's challenger union and the pipeline read.

A new kind is its module in ``models/`` (the class, with ``kind``, ``Params`` and ``_fit``/``_predict``,
and the ability mixins it has), one ``register(...)`` line below, and its tests (a module inheriting
``tests/models/contract.py``). Kinds import their heavy libraries (LightGBM, XGBoost, PyOD, networkx)
only when they fit, so importing every kind here stays cheap.

:func:`registered` adds a kind for the duration of a ``with`` block (tests: a kind defined in a test
module, run end to end); listeners (the config, which rebuilds its union) hear every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, get_args

from challengers.errors import ConfigError, did_you_mean
from challengers.models.anomaly import AnomalyChallenger
from challengers.models.base import BaseChallenger
from challengers.models.graph import GraphChallenger
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger

KINDS: dict[str, type[BaseChallenger]] = {}
_listeners: list[Callable[[], None]] = []


def register(cls: type[BaseChallenger]) -> type[BaseChallenger]:
    """Make ``cls`` the kind called ``cls.kind`` in configs."""
    field = cls.Params.model_fields["kind"]
    if get_args(field.annotation) != (cls.kind,):
        raise TypeError(
            f"{cls.__name__}.Params must narrow kind to its name: kind: Literal['{cls.kind}'] "
            "(the config's challenger sections are told apart by it)"
        )
    KINDS[cls.kind] = cls
    for listener in _listeners:
        listener()
    return cls


register(LightGBMChallenger)
register(XGBoostChallenger)
register(AnomalyChallenger)
register(GraphChallenger)


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever a kind is registered or removed."""
    _listeners.append(listener)


@contextmanager
def registered(cls: type[BaseChallenger]) -> Iterator[type[BaseChallenger]]:
    """``cls`` registered inside the block only (a kind of the same name is restored after)."""
    before = KINDS.get(cls.kind)
    register(cls)
    try:
        yield cls
    finally:
        if before is None:
            del KINDS[cls.kind]
            for listener in _listeners:
                listener()
        else:
            register(before)


def kind_class(kind: str) -> type[BaseChallenger]:
    """The class registered for ``kind``; ConfigError for unknown kinds."""
    if kind not in KINDS:
        raise ConfigError(
            f"unknown challenger kind '{kind}'{did_you_mean(kind, list(KINDS))}; "
            f"available: {', '.join(KINDS)}"
        )
    return KINDS[kind]


def create(kind: str, settings: Any, *, seed: int, threads: int | None) -> BaseChallenger:
    """Build an unfitted model of ``kind`` from its config section (a pydantic model)."""
    return kind_class(kind).from_config(settings, seed=seed, threads=threads)
