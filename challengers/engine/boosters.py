"""Native booster files loaded and applied the same way on the driver and on Spark executors.

The engine does not know the tree libraries: the caller hands it a :class:`TreeScorer` (the models
layer's registry entry, ``challengers.models.trees.library(name)``), whose ``load`` and ``predict``
are the champion's own, so a score is bit-identical wherever it is computed. Executors receive the
file's bytes (a broadcast) and load them from a private temporary copy of the file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from challengers.data.frames import to_matrix
from challengers.errors import ModelError, first_line


class TreeScorer(Protocol):
    """What the engine needs of a tree library (``challengers.models.trees.TreeLibrary``)."""

    @property
    def name(self) -> str: ...

    def load(self, path: str | Path) -> Any: ...

    def predict(self, booster: Any, x: np.ndarray, threads: int | None = None) -> np.ndarray: ...


def read_model(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"champion.model: cannot read {path}: {first_line(exc)}") from exc


def load_bytes(scorer: TreeScorer, raw: bytes, suffix: str) -> Any:
    """A booster from a native file's bytes, through the library's own file loader."""
    with tempfile.TemporaryDirectory(prefix="challenge-model-") as folder:
        path = Path(folder) / f"model{suffix}"
        path.write_bytes(raw)
        return scorer.load(path)


def predict(
    scorer: TreeScorer,
    booster: Any,
    frame: pl.DataFrame,
    features: Sequence[str],
    threads: int | None = None,
) -> np.ndarray:
    """Float64 scores of ``frame``'s rows, as the champion computes them."""
    x = to_matrix(frame, features)
    return np.asarray(scorer.predict(booster, x, threads), dtype=np.float64)
