"""The kind registry is complete, both ways: every kind class of the library is registered, every
registered kind is contract-tested, and every contract-tested kind is registered (kinds defined in
tests, registered for their tests only, aside). The config's union follows the registry."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import get_args

import pytest

import challengers.models
from challengers.errors import ConfigError
from challengers.models import registry
from challengers.models.base import BaseChallenger
from challengers.models.champion import NativeModelChampion, ScoreColumnChampion
from tests.models.contract import ChallengerContract

# built from the champion section, not registered as challenger kinds (and the base itself)
NOT_KINDS = {BaseChallenger, ScoreColumnChampion, NativeModelChampion}


def _kind_classes() -> set[type[BaseChallenger]]:
    """Every class of challengers/models/ that names a kind."""
    found = set()
    for info in pkgutil.iter_modules(challengers.models.__path__):
        module = importlib.import_module(f"challengers.models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseChallenger)
                and cls.__module__ == module.__name__
                and "kind" in cls.__dict__
            ):
                found.add(cls)
    return found


def _contract_kinds() -> dict[str, set[type[BaseChallenger]]]:
    """kind -> the classes the contract suites of tests/models/ test under that name."""
    kinds: dict[str, set[type[BaseChallenger]]] = {}
    for path in Path(__file__).parent.glob("test_*.py"):
        module = importlib.import_module(f"tests.models.{path.stem}")
        for _, suite in inspect.getmembers(module, inspect.isclass):
            if issubclass(suite, ChallengerContract) and suite is not ChallengerContract:
                kinds.setdefault(suite.kind, set()).add(type(suite().make_model()))
    return kinds


def _library_kinds(kinds: dict[str, set[type[BaseChallenger]]]) -> set[str]:
    return {
        k
        for k, classes in kinds.items()
        if any(c.__module__.startswith("challengers.") for c in classes)
    }


def test_every_kind_class_is_registered() -> None:
    assert _kind_classes() - NOT_KINDS == set(registry.KINDS.values())


def test_every_registered_kind_is_contract_tested() -> None:
    tested = _contract_kinds()
    for kind, cls in registry.KINDS.items():
        assert cls in tested.get(kind, set()), f"kind '{kind}' has no contract suite"


def test_every_contract_tested_kind_is_registered() -> None:
    tested = _contract_kinds()
    assert _library_kinds(tested) == set(registry.KINDS)
    test_only = set(tested) - _library_kinds(tested)
    assert test_only == {"column_score"}  # tests/models/test_new_kind.py, registered there only


def test_the_config_union_is_the_registered_kinds() -> None:
    from challengers.config import KIND_CONFIGS

    assert {k: c.Params for k, c in registry.KINDS.items()} == KIND_CONFIGS
    for kind, section in KIND_CONFIGS.items():
        assert get_args(section.model_fields["kind"].annotation) == (kind,)


def test_every_model_class_builds_from_its_config() -> None:
    """``from_config`` is declared on the base; each class either has its own ``Params`` (the
    base's from_config reads it) or overrides from_config (champions, from the champion section)."""
    for cls in _kind_classes() - {BaseChallenger}:
        own_params = cls.Params is not BaseChallenger.Params
        assert own_params or "from_config" in cls.__dict__, cls.__name__


def test_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown challenger kind 'lightgmb'; did you mean 'lightgbm'"
    ):
        registry.kind_class("lightgmb")
