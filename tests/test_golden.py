"""The demo's comparison is the record that a reorganisation changed nothing: every metric,
interval, delta, p-value and finding of a run of ``tests/golden/demo.yaml`` equals the checked-in
``demo-comparison.json`` (regenerated only by a change meant to move the numbers; see
``tests/golden/regenerate.py``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from challengers.config import load_config
from challengers.pipeline import RunOptions, run_experiment
from tests.golden.compare import stable_comparison

GOLDEN = Path(__file__).resolve().parent / "golden"


def _differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}.{k}: missing" for k in expected if k not in actual]
        out += [f"{where}.{k}: unexpected" for k in actual if k not in expected]
        for key in expected.keys() & actual.keys():
            out += _differences(expected[key], actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items expected, {len(actual)} found"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in _differences(e, a, f"{where}[{i}]")
        ]
    if isinstance(expected, float) and isinstance(actual, float):
        same = math.isclose(expected, actual, rel_tol=1e-12, abs_tol=1e-15)
        return [] if same else [f"{where}: {expected!r} expected, {actual!r} found"]
    return [] if expected == actual else [f"{where}: {expected!r} expected, {actual!r} found"]


@pytest.mark.slow
def test_demo_comparison_equals_the_checked_in_copy(tmp_path: Path) -> None:
    cfg = load_config(GOLDEN / "demo.yaml")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_experiment(cfg, RunOptions(output_dir=tmp_path / "out", tracking_uri=uri))
    # through JSON, as comparison.json is written: tuples become lists, NaN becomes null
    actual = json.loads(json.dumps(stable_comparison(result.to_comparison())))
    expected = stable_comparison(json.loads((GOLDEN / "demo-comparison.json").read_text()))
    differences = _differences(expected, actual)
    assert not differences, "\n".join(differences[:20])
