"""Registries are complete: every kind class is registered and contract-tested."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import challengers.models
from challengers.errors import ConfigError
from challengers.models import registry
from challengers.models.base import BaseChallenger
from tests.models.contract import ChallengerContract

CHAMPION_ONLY = {
    "BaseChallenger",
    "ScoreColumnChampion",
    "NativeModelChampion",
    "LightGBMFileChampion",
    "XGBoostFileChampion",
}


def _kind_classes() -> set[type]:
    found = set()
    for info in pkgutil.iter_modules(challengers.models.__path__):
        module = importlib.import_module(f"challengers.models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseChallenger)
                and cls.__module__ == module.__name__
                and cls.__name__ not in CHAMPION_ONLY
                and "kind" in cls.__dict__
            ):
                found.add(cls)
    return found


def _contract_kinds() -> set[str]:
    kinds = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        module = importlib.import_module(f"tests.models.{path.stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ChallengerContract) and cls is not ChallengerContract:
                kinds.add(cls.kind)
    return kinds


def test_every_kind_class_is_registered() -> None:
    registered = {registry.kind_class(k) for k in registry.KINDS}
    assert _kind_classes() <= registered


def test_every_registered_kind_is_contract_tested() -> None:
    assert set(registry.KINDS) <= _contract_kinds()


def test_every_config_kind_is_registered() -> None:
    from challengers.config import CHALLENGER_KINDS

    assert set(CHALLENGER_KINDS) <= set(registry.KINDS)


def test_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown challenger kind 'lightgmb'; did you mean 'lightgbm'"
    ):
        registry.kind_class("lightgmb")
