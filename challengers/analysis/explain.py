"""Explanations from the tree libraries' own SHAP contributions (no extra dependency).

LightGBM (``predict(..., pred_contrib=True)``) and XGBoost (``predict(..., pred_contribs=True)``)
return, per row, one exact TreeSHAP contribution per feature plus the bias; they sum to the raw margin
(log-odds). The mean |contribution| of a feature over a seeded sample of test rows is its global
importance in the model's own units, comparable across models on the same rows, unlike gain. Each
library's calls (and XGBoost's best iteration) live in :mod:`challengers.models.trees`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from challengers.models import trees


def library_of(booster: Any) -> str | None:
    """'lightgbm', 'xgboost' or None for anything else."""
    lib = trees.library_of(booster)
    return None if lib is None else lib.name


def _library(booster: Any) -> trees.TreeLibrary:
    lib = trees.library_of(booster)
    if lib is None:
        raise TypeError(f"no native SHAP contributions for {type(booster).__name__}")
    return lib


def contributions(
    booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
) -> np.ndarray:
    """Per-row SHAP contributions, shape (rows, features + 1); the last column is the bias."""
    return _library(booster).contributions(booster, x, names, threads)


def raw_margin(
    booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
) -> np.ndarray:
    """The model's raw output (log-odds) for each row."""
    return _library(booster).raw_margin(booster, x, names, threads)


@dataclass
class ModelExplanation:
    """Mean |SHAP contribution| per feature of one model on the sample."""

    model: str
    library: str
    rows: int
    features: list[str]
    mean_abs: list[float]
    share: list[float]  # mean_abs normalised to sum to 1
    base_value: float  # mean bias (log-odds)
    additivity_error: float  # max |sum of contributions - raw margin| over the sample

    def shares(self) -> dict[str, float]:
        return dict(zip(self.features, self.share, strict=True))

    def top(self, n: int) -> list[tuple[str, float]]:
        pairs = sorted(zip(self.features, self.share, strict=True), key=lambda p: -p[1])
        return pairs[:n]


def explain(
    model: str, booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
) -> ModelExplanation:
    """SHAP summary of ``booster`` on the rows of ``x`` (columns named ``names``), on
    ``threads`` threads (default: every core)."""
    library = _library(booster).name
    contrib = contributions(booster, x, names, threads)
    if contrib.shape[1] != len(names) + 1:
        raise ValueError(f"{contrib.shape[1] - 1} contributions for {len(names)} features")
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0) if len(x) else np.zeros(len(names))
    total = float(mean_abs.sum())
    error = np.abs(contrib.sum(axis=1) - raw_margin(booster, x, names, threads))
    return ModelExplanation(
        model=model,
        library=library,
        rows=len(x),
        features=list(names),
        mean_abs=mean_abs.tolist(),
        share=(mean_abs / total if total > 0 else mean_abs).tolist(),
        base_value=float(contrib[:, -1].mean()) if len(x) else float("nan"),
        additivity_error=float(error.max()) if error.size else 0.0,
    )


@dataclass
class BlindSpot:
    """A feature a challenger leans on that the champion ignores or does not have."""

    feature: str
    challenger: str
    challenger_share: float
    champion_share: float | None  # None: not one of the champion's inputs


def blind_spots(
    champion: ModelExplanation | None,
    champion_inputs: Sequence[str],
    challengers: Sequence[ModelExplanation],
    *,
    ignored: float,
    leaned: float,
) -> list[BlindSpot]:
    """Features with a challenger share >= ``leaned`` and a champion share < ``ignored``.

    A feature outside the champion's inputs counts as ignored. Without a champion explanation only
    those are reported (the champion's use of its own inputs is unknown).
    """
    inputs = set(champion_inputs)
    champ = champion.shares() if champion is not None else {}
    out = []
    for c in challengers:
        for feature, share in c.shares().items():
            if share < leaned:
                continue
            if feature not in inputs and feature not in champ:
                out.append(BlindSpot(feature, c.model, share, None))
            elif feature in champ and champ[feature] < ignored:
                out.append(BlindSpot(feature, c.model, share, champ[feature]))
    return sorted(out, key=lambda b: -b.challenger_share)


EXPLANATION_FAILED = "explanation failed"  # a skipped model's reason: an error, not a kind


@dataclass
class Explanations:
    """SHAP summaries of every tree model on one seeded sample of test rows."""

    sample_rows: int
    test_rows: int
    seed: int
    models: list[ModelExplanation]
    skipped: dict[str, str]  # model -> why it has no explanation
    blind_spots: list[BlindSpot]
