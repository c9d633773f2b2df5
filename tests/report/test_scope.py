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


def test_the_summary_lists_the_champions_and_the_datas_findings_before_a_challengers_own() -> None:
    """The demo's summary showed two challengers' overfitting among its 8 top findings and left
    out the champion's decay and miscalibration, which the overall rating reads (R4)."""
    from challengers.report.sections import TOP_FINDINGS, summary, top_findings
    from challengers.results import Finding

    def finding(i: int, severity: str, models: tuple[str, ...]) -> Finding:
        return Finding(f"f{i}", severity, "stability", f"finding {i}", "d", models=models)  # type: ignore[arg-type]

    challengers_own = [finding(i, "medium", (f"c{i}",)) for i in range(8)]
    champions = [finding(10, "medium", ("champ",)), finding(11, "medium", ("c1", "champ"))]
    data = finding(12, "medium", ())
    high = finding(13, "high", ("c2",))  # a high finding stays first, whoever it is about
    models = [ModelResult("champ", "champion", "xgboost-file")]
    result = bare_result(models, findings=[high, *challengers_own, *champions, data])
    top, serious = top_findings(result)
    assert serious == 12 and len(top) == TOP_FINDINGS
    assert [f.id for f in top[:4]] == ["f13", "f10", "f11", "f12"]
    assert [f.id for f in top[4:]] == ["f0", "f1", "f2", "f3"]  # then the challengers', in order
    text = str(summary(result).blocks)
    assert "Top findings** (8 of 12 high and medium; all findings" in text
