"""Challenger kinds by name. Heavy libraries import lazily inside each kind.

A new kind is one class in ``models/``, one line here, and one test module inheriting the shared
contract suite (``tests/models/contract.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

from challengers.errors import ConfigError, did_you_mean
from challengers.models.base import BaseChallenger

KINDS: dict[str, str] = {
    "lightgbm": "challengers.models.tree:LightGBMChallenger",
    "xgboost": "challengers.models.tree:XGBoostChallenger",
    "anomaly": "challengers.models.anomaly:AnomalyChallenger",
    "graph": "challengers.models.graph:GraphChallenger",
}


def kind_class(kind: str) -> type[BaseChallenger]:
    """The class registered for ``kind``; ConfigError for unknown kinds."""
    if kind not in KINDS:
        raise ConfigError(
            f"unknown challenger kind '{kind}'{did_you_mean(kind, list(KINDS))}; "
            f"available: {', '.join(KINDS)}"
        )
    module_name, _, attr = KINDS[kind].partition(":")
    cls: type[BaseChallenger] = getattr(importlib.import_module(module_name), attr)
    return cls


def create(kind: str, settings: Any, *, seed: int, threads: int | None) -> BaseChallenger:
    """Build an unfitted model of ``kind`` from its config section (a pydantic model)."""
    cls = kind_class(kind)
    factory = getattr(cls, "from_config", None)
    if factory is None:
        raise TypeError(f"{cls.__name__} has no from_config")
    model: BaseChallenger = factory(settings, seed=seed, threads=threads)
    return model
