"""What of a comparison.json must not move when the code is only reorganised: every metric,
interval, delta, p-value and finding (not run ids, timings, paths or the environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPOSITORY = str(Path(__file__).resolve().parents[2])
VOLATILE_MODEL_KEYS = ("run_id", "fit_seconds", "predict_seconds")


def _portable(value: Any) -> Any:
    """Paths inside the checkout (the champion file's) as ``<repository>/...``, wherever it is."""
    if isinstance(value, str):
        return value.replace(REPOSITORY, "<repository>")
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    return value


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
