"""Native booster files loaded and applied the same way on the driver and on Spark executors.

The calls are those of the champion (:mod:`challengers.models.champion`): LightGBM's
``Booster.predict`` and XGBoost's ``inplace_predict`` on the float32 feature matrix, so a score is
bit-identical wherever it is computed. Executors receive the file's bytes (a broadcast), not a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from challengers.data.frames import to_matrix
from challengers.errors import ModelError, first_line


def read_model(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"champion.model: cannot read {path}: {first_line(exc)}") from exc


def load_booster(raw: bytes, library: str) -> Any:
    """A booster from a native file's bytes (LightGBM text, XGBoost json or ubj)."""
    if library == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_str=raw.decode())
    if library == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        return booster
    raise ModelError(f"champion.model: library '{library}' has no native scoring here")


def predict(booster: Any, library: str, frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Float64 scores of ``frame``'s rows, as the champion computes them."""
    x = to_matrix(frame, features)
    if library == "xgboost":
        out = booster.inplace_predict(x, validate_features=False)
    else:
        out = booster.predict(x)
    return np.asarray(out, dtype=np.float64)
