"""The store a command uses is the one it was given, or the user's MLFLOW_TRACKING_URI, or the
default: never the store of an earlier command of the same process. MLflow exports whatever URI
it is pointed at as MLFLOW_TRACKING_URI (for its subprocesses); a suite's `check` without
--tracking-uri then opened an earlier test's store (a newer schema: exit 3 where the check's own
refusal, exit 2, was expected)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from challengers.tracking import open_mlflow, resolve_uri
from challengers.tracking.store import DEFAULT_URI


def test_opening_a_store_leaves_the_environment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = f"sqlite:///{tmp_path / 'first.db'}"
    open_mlflow(first)
    assert mlflow.get_tracking_uri() == first  # MLflow's own calls go to the store opened
    assert resolve_uri() == DEFAULT_URI  # a later command without a store: not `first`

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///users-own.db")
    open_mlflow(f"sqlite:///{tmp_path / 'second.db'}")
    assert resolve_uri() == "sqlite:///users-own.db"
