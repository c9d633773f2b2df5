"""The run's terminal table at 80 and 120 columns: every metric name in full, numbers whole,
Holm-adjusted p-values and the better/worse marks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from challengers.cli.output import findings_table
from challengers.cli.table import comparison
from challengers.experiment_result import ExperimentResult
from challengers.results import DataSummary, DeltaResult, Finding, ModelResult

KEYS = [
    "roc_auc",
    "pr_auc",
    "recall_at_fpr_0.01",
    "precision_at_alerts_0.005",
    "entity_precision_at_100",
    "value_detection_at_alerts_0.005",
    "expected_cost",
    "brier",
    "ks",
]
LOWER = {"expected_cost", "brier"}
NAMES = ["first-line-xgb", "lgbm", "graph-lgbm", "lgbm-ecod"]


def _model(i: int, name: str) -> ModelResult:
    metrics = dict.fromkeys(KEYS, 0.1234 + 0.1 * i)
    ci = {k: (v - 0.0211, v + 0.0199) for k, v in metrics.items()}
    deltas = {}
    if i:
        for k in KEYS:
            # graph-lgbm: significant after Holm; lgbm: raw p small, adjusted not
            raw, adjusted = {1: (0.03, 0.09), 2: (0.0004, 0.0012), 3: (0.5, 0.9)}[i]
            deltas[k] = DeltaResult(0.1 * i, (0.05, 0.2), raw, adjusted, "bootstrap")
    role = "champion" if i == 0 else "challenger"
    return ModelResult(name, role, "lightgbm", metrics=metrics, ci=ci, delta_vs_champion=deltas)


def result() -> ExperimentResult:
    findings = [
        Finding(
            "outcome-better-graph-lgbm",
            "high",
            "outcomes",
            "Challenger 'graph-lgbm' beats the champion 'first-line-xgb' on every metric that "
            "a validator would look at, with room to spare",
            "detail",
        )
    ]
    return ExperimentResult(
        run_id="r",
        experiment="demo",
        config_hash="h",
        data=DataSummary("fp", 1000, 45088, 10, 861),
        models=[_model(i, n) for i, n in enumerate(NAMES)],
        findings=findings,
        metric_keys=KEYS,
        higher_is_better={k: k not in LOWER for k in KEYS},
        alpha=0.05,
        bootstrap=200,
        operating_alert_rate=0.005,
        output_dir=Path("out"),
    )


def render(renderable: object, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 120])
def test_every_metric_and_number_is_whole(width: int) -> None:
    text = render(comparison(result(), width), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for key in KEYS:
        assert re.search(rf"(^|\s){re.escape(key)} [↑↓]", text), f"{key} not shown in full"
    # the first metric decides the verdict (evaluation.primary's default); the rest are secondary
    assert "roc_auc ↑ primary" in text and text.count(" secondary") == len(KEYS) - 1
    assert "…" not in text
    # every value and interval of every model, whole on one line
    for v in ("0.1234", "[0.1023, 0.1433]", "0.4234", "[0.4023, 0.4433]"):
        assert v in text
    # Holm-adjusted p-values and the marks: graph-lgbm (adjusted 0.001) is better, lgbm's raw
    # p 0.03 is not significant once adjusted (0.090)
    assert "0.001" in text and "0.090" in text
    graph = [line.rstrip() for line in lines if "graph-lgbm" in line and "0.3234" in line]
    assert len(graph) == len(KEYS)
    assert sum(line.endswith("▲") for line in graph) == len(KEYS) - len(LOWER)
    assert sum(line.endswith("▼") for line in graph) == len(LOWER)
    assert not any(line.rstrip().endswith(("▲", "▼")) for line in lines if " lgbm " in line)


def test_wide_terminals_use_the_room() -> None:
    narrow, wide = render(comparison(result(), 80), 80), render(comparison(result(), 120), 120)
    assert "Δ interval" in wide and "Δ interval" not in narrow  # more columns, not just padding
    assert "0.030" in wide  # the raw p beside the adjusted one


def test_findings_wrap_with_a_hanging_indent() -> None:
    lines = render(findings_table(result().findings), 80).rstrip().splitlines()
    assert len(lines) > 1 and lines[0].startswith("HIGH")
    indent = lines[0].index("Challenger")
    assert all(line[:indent].strip() == "" for line in lines[1:])


def test_the_replication_table_reads_at_80_columns() -> None:
    from challengers.cli.replicate import replication_table
    from challengers.pipeline.replicate import MetricCheck, Replication

    checks = [
        MetricCheck("graph-lgbm", "value_detection_at_alerts_0.005", 0.2023456789, 0.2023456789, True),
        MetricCheck("graph-lgbm", "delta_value_detection_at_alerts_0.005_p_value", 0.0019, 0.0021, False),
    ]  # fmt: skip
    text = render(replication_table(Replication("a", "b", 1e-6, checks), 80), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "0.202345679" in text and "0.0019" in text and "0.0021" in text and "2.00e-04" in text
    assert "…" not in text
    assert text.index("graph-lgbm") < text.index("value_detection")  # the model heads its rows


def test_every_replication_key_is_whole_on_one_line_at_80_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`challenge replicate` in 80 columns (a pipe, a CI log): the metric column folded the long
    keys (delta_twin_..._p_value_adjusted at 37 characters a line, the rest on the next). Each key
    is now whole on one line, on a line of its own when it does not fit beside its numbers, and
    the numbers are whole on theirs."""
    from challengers.cli.replicate import print_replication
    from challengers.pipeline.replicate import MetricCheck, Replication

    keys = [
        ("pr_auc", 0.207, 0.207),
        ("value_detection_at_alerts_0.02", 0.520812345, 0.520812345),
        ("entity_precision_at_100_ci_low", 0.0692, 0.0692),
        ("delta_twin_value_detection_at_alerts_0.02_p_value_adjusted", 0.0461234567, 0.0561234567),
        ("delta_recall_at_fpr_0.01_ci_high", 0.31, 0.32),
        ("tune_validation_recall_at_fpr_0.01", 0.5, float("nan")),
    ]
    checks = [MetricCheck("lgbm-ecod", k, was, now, i < 3) for i, (k, was, now) in enumerate(keys)]
    monkeypatch.setenv("COLUMNS", "80")
    print_replication(Replication("a" * 32, "b" * 32, 1e-6, checks))
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("metric"))) :]
    assert all(len(line) <= 80 for line in table) and "…" not in "\n".join(table)
    for key, was, now in keys:
        (line,) = [line for line in table if key in line.split()]  # whole, and once
        if len(line.split()) == 1:  # on a line of its own: its numbers on the next
            line = table[table.index(line) + 1]
        assert line.split()[-3:-1] == [f"{was:.9g}", "—" if now != now else f"{now:.9g}"]


def test_without_bootstrap_the_title_says_why_there_are_no_intervals_or_tests() -> None:
    """It explained the Δ and p columns and the ▲/▼ marks of a table that had none of them."""
    untested = result()
    untested.bootstrap = 0
    for m in untested.models:
        m.ci, m.delta_vs_champion = {}, {}
    text = render(comparison(untested, 80), 80)
    assert "point estimates only: no bootstrap, so no intervals, tests or verdict" in text
    assert "Δ = challenger" not in text and "% intervals" not in text
    assert "95% intervals" in render(comparison(result(), 80), 80)


MARKUP = "Région [bold]x[/] & [red]"  # a column's name, a segment's value: the data's, as given


def test_names_holding_rich_markup_are_printed_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment column named 'Région [bold]x[/]' read 'Région x' in the findings (rich took the
    brackets for markup); the same for the audit's table, the notes and the output directory."""
    from challengers.audit import AuditResult
    from challengers.cli.output import RichProgress, print_audit, print_result

    title = f"'lgbm' treats {MARKUP} segments unequally"
    finding = Finding("segment-x", "medium", "segments", title, "detail")
    assert title in render(findings_table([finding]), 120)
    capsys.readouterr()

    monkeypatch.setenv("COLUMNS", "400")  # nothing folded
    RichProgress().note(f"the column '{MARKUP}' is a note")
    audit = AuditResult([finding], {}, {"rows": 10}, output_dir=tmp_path / "[dim]audit")
    print_audit(audit)
    run = result()
    run.findings, run.output_dir = [finding], tmp_path / "[b]out"
    print_result(run)
    out, err = capsys.readouterr()
    flat = " ".join(out.split())
    assert f"the column '{MARKUP}' is a note" in err
    assert title in flat and flat.count(title) == 2  # the audit's table, the run's findings
    assert f"{tmp_path}/[dim]audit/audit.json" in flat
    assert f"{tmp_path}/[b]out/report.html" in flat


def test_a_value_holding_an_escape_or_a_line_break_is_written_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment's value is the data's: one holding a clear-screen escape was played on the
    terminal by the findings' table and the --fail-on gate's line, and a line break in one broke
    the gate's line in two."""
    import typer

    from challengers.cli.output import print_result
    from challengers.cli.run import _gate

    title = "'lgbm' treats REGION segments unequally (recall_ratio 0.18 for x\x1b[2J\ny)"
    run = result()
    run.findings = [Finding("segment-x", "high", "segments", title, "detail")]
    monkeypatch.setenv("COLUMNS", "400")
    print_result(run)
    with pytest.raises(typer.Exit):
        _gate(run.findings, "high")
    out, err = capsys.readouterr()
    shown = "'lgbm' treats REGION segments unequally (recall_ratio 0.18 for x\\x1b[2J\\ny)"
    assert "\x1b" not in out + err and shown in out
    assert err.splitlines() == [f"gate: high finding: {shown}"]


def test_the_audit_table_folds_a_long_name_and_never_cuts_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 300-character feature name ended at the table's edge with '…' in challenge audit's
    table (the run's findings fold it)."""
    from challengers.audit import AuditResult
    from challengers.cli.output import print_audit

    name = "L" * 300
    title = f"Feature '{name}' shifts between training and test (PSI 0.33)"
    monkeypatch.setenv("COLUMNS", "80")
    print_audit(AuditResult([Finding("drift-x", "medium", "drift", title, "d")], {}, {}))
    out = capsys.readouterr().out
    assert "…" not in out
    assert name in "".join(line.strip("│ ").split("│")[-1].strip() for line in out.splitlines())
