"""The report's scope names where the champion came from (report/sections.py::_champion_source)."""

from __future__ import annotations

from challengers.experiment_result import ExperimentResult
from challengers.report.sections import _champion_source
from challengers.results import ModelResult
from tests.conftest import bare_result


def _result(source: dict[str, str]) -> ExperimentResult:
    return bare_result([ModelResult("champ", "champion", "xgboost-file")], champion_source=source)


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
