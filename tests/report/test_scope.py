"""The report's scope names where the champion came from (report/sections.py::_champion_source)."""

from __future__ import annotations

from pathlib import Path

from challengers.experiment_result import ExperimentResult
from challengers.report.sections import _champion_source
from challengers.results import DataSummary, ModelResult


def _result(source: dict[str, str]) -> ExperimentResult:
    return ExperimentResult(
        run_id="r",
        experiment="x",
        config_hash="h",
        data=DataSummary("fp", 1000, 5000, 40, 400),
        models=[ModelResult("champ", "champion", "xgboost-file")],
        findings=[],
        metric_keys=["pr_auc"],
        higher_is_better={"pr_auc": True},
        alpha=0.05,
        bootstrap=200,
        operating_alert_rate=0.01,
        output_dir=Path("out"),
        champion_source=source,
    )


def test_a_model_file_is_named_with_its_sha256() -> None:
    digest = "c994a3f0e52c" + "0" * 52
    lines = _champion_source(_result({"source.uri": "/m/champ.json", "source.digest": digest}))
    assert lines == ["Champion model: `/m/champ.json` (sha256 `c994a3f0e52c`)"]


def test_a_registry_champion_says_what_its_uri_resolved_to() -> None:
    source = {
        "source.uri": "models:/fraud@champion",
        "source.registered_model": "fraud",
        "source.version": "3",
        "source.run_id": "abc",
        "source.digest": "f" * 64,
    }
    (line,) = _champion_source(_result(source))
    assert line.startswith("Champion model: `models:/fraud@champion` resolved to registered model")
    assert "version 3" in line and "files digest `ffffffffffff`" in line
