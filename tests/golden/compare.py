"""What of a comparison.json must not move when the code is only reorganised: every metric,
interval, delta, p-value and finding (not run ids, timings, paths or the environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

VOLATILE_MODEL_KEYS = ("run_id", "fit_seconds", "predict_seconds")


def _portable(model: dict[str, Any]) -> dict[str, Any]:
    """A model file's path by its name only: the record holds in any checkout or worktree."""
    params = model.get("params")
    if isinstance(params, dict) and isinstance(params.get("path"), str):
        model = {**model, "params": {**params, "path": Path(params["path"]).name}}
    return model


def stable_comparison(document: dict[str, Any]) -> dict[str, Any]:
    models = [
        _portable({k: v for k, v in m.items() if k not in VOLATILE_MODEL_KEYS})
        for m in document["models"]
    ]
    data = {k: v for k, v in document["data"].items() if k != "source"}
    return {
        "data": data,
        "evaluation": document["evaluation"],
        "models": models,
        "findings": document["findings"],
        "champion_agreement": document["champion_agreement"],
        "operating_point": document["operating_point"],
        "stability": document["stability"],
        "segments": document["segments"],
        "calibration": document["calibration"],
    }
