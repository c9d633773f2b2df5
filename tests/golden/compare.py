"""What of a comparison.json must not move when the code is only reorganised: every metric,
interval, delta, p-value and finding (not run ids, timings, paths or the environment)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

VOLATILE_MODEL_KEYS = ("run_id", "fit_seconds", "predict_seconds")


def stable_comparison(document: dict[str, Any]) -> dict[str, Any]:
    models = [
        {k: _portable(k, v) for k, v in m.items() if k not in VOLATILE_MODEL_KEYS}
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


def _portable(key: str, value: Any) -> Any:
    """A model file's path as its name: the checkout's location is not part of the result."""
    if key == "params" and isinstance(value, dict) and isinstance(value.get("path"), str):
        return {**value, "path": PurePath(value["path"]).name}
    return value
