"""A challenger that reads an input the audit found leaking (a copy of the label) wins any
comparison; it must not become the verdict, rate the champion, or be recommended to it
(findings/comparison.py::_beats_by_a_leak, findings/context.py::leaking_inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.findings.context import leaking_inputs
from challengers.models.tree import XGBoostChallenger
from challengers.report.sections import verdict
from challengers.results import Finding
from tests.conftest import SIM_FEATURES, run_config, sim_config


def test_leaking_inputs_come_from_high_leakage_findings_that_name_a_column() -> None:
    audit = [
        Finding("leak-auc-COPY", "high", "leakage", "t", "d", models=("a", "b"), evidence={"column": "COPY"}),
        Finding("leak-auc-OLD", "info", "leakage", "t", "d", evidence={"column": "OLD"}),  # unused
        Finding("leak-identifier-ID", "medium", "leakage", "t", "d", models=("a",), evidence={"column": "ID"}),
        Finding("drift-feature-X", "high", "drift", "t", "d", models=("a",), evidence={"column": "X"}),
        Finding("leak-future-b-F", "high", "leakage", "t", "d", models=("b",), evidence={"column": "F"}),
    ]  # fmt: skip
    assert leaking_inputs(audit) == {"a": ("COPY",), "b": ("COPY", "F")}


def test_a_challenger_ahead_through_a_label_copy_is_left_out_of_the_verdict(
    tmp_path: Path, sim_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: RESOLVED is the label with 0.2% of it flipped, read by one challenger only; the
    champion and the other challenger read the data's features."""
    monkeypatch.setenv("CHALLENGE_PLOTS", "off")
    frame = pl.read_parquet(sim_parquet)
    label = frame.get_column("TX_FRAUD").to_numpy()
    flip = np.random.default_rng(3).random(frame.height) < 0.002
    data = tmp_path / "data.parquet"
    frame.with_columns(pl.Series("RESOLVED", np.where(flip, 1 - label, label))).write_parquet(data)
    config = sim_config(data, threads=1)
    features = [c for c in frame.columns if c.startswith(("TX_AMOUNT", "CUSTOMER_", "AMOUNT_"))]
    features = [c for c in features if c != "CUSTOMER_ID"]
    config["champion"]["features"] = features
    config["challengers"] = [
        {"name": "clean", "kind": "lightgbm", "params": {"n_estimators": 30}, "features": features},
        {
            "name": "copying",
            "kind": "lightgbm",
            "params": {"n_estimators": 30},
            "features": [*features, "RESOLVED"],
        },
    ]
    config["evaluation"]["bootstrap"] = 200
    result = run_config(config, tmp_path)
    by_id = {f.id: f for f in result.findings}
    copying = next(m for m in result.models if m.name == "copying")
    assert copying.metrics["pr_auc"] > result.champion.metrics["pr_auc"] + 0.3  # far ahead...
    leak = by_id["leak-auc-RESOLVED"]
    assert leak.severity == "high" and leak.models == ("copying",)
    # ...and is said to, without a verdict against the champion
    assert "outcome-better-copying" not in by_id
    left_out = by_id["outcome-leaking-copying"]
    assert left_out.models == ("copying",) and "'RESOLVED'" in left_out.detail
    assert "Left out of the verdict, ahead through a leaking input: 'copying'" in verdict(result)
    # a leak the champion does not read leaves its figures trusted (R1) and its rating alone
    assert result.conclusion is not None
    assert not {"R1", "R2"} & {t.rule for t in result.conclusion.triggered}
    assert not [f for f in result.findings if f.id.startswith("scenario-gain-copying")]
    # the label copy is never a candidate input for the champion
    assert not [f for f in result.findings if "RESOLVED" in f.evidence and "blind" in f.id]


def _raise(*args: object, **kwargs: object) -> None:
    raise ValueError("the library refuses")


def test_a_failed_challenger_is_not_a_user_of_the_leaking_column(
    tmp_path: Path, sim_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit runs before training: a challenger reading the planted label copy whose fit
    then raises was listed as a user of the column in the leakage table and the finding (report,
    comparison.json, audit.json), though it has no scores and no part in the verdict. It is
    marked failed there; the challenger that trained is still its user."""
    monkeypatch.setenv("CHALLENGE_PLOTS", "off")
    frame = pl.read_parquet(sim_parquet)
    data = tmp_path / "data.parquet"
    frame.with_columns(pl.col("TX_FRAUD").alias("RESOLVED")).write_parquet(data)
    config = sim_config(data, threads=1)
    features = [*SIM_FEATURES, "RESOLVED"]
    config["champion"]["features"] = list(SIM_FEATURES)
    config["challengers"] = [
        {
            "name": "copying",
            "kind": "lightgbm",
            "params": {"n_estimators": 5},
            "features": features,
        },
        {"name": "broken", "kind": "xgboost", "params": {"n_estimators": 5}, "features": features},
    ]
    monkeypatch.setattr(XGBoostChallenger, "_fit", _raise)  # its training fails
    result = run_config(config, tmp_path)
    assert [m.name for m in result.failed] == ["broken"]
    marked = "used by copying, broken (failed)"

    leak = next(f for f in result.findings if f.id == "leak-auc-RESOLVED")
    assert marked in leak.detail and "broken." not in leak.detail
    assert leak.evidence == {"column": "RESOLVED", "used_by": ["copying"], "failed": ["broken"]}
    out = tmp_path / "out"
    comparison = json.loads((out / "comparison.json").read_text())
    (saved,) = [f for f in comparison["findings"] if f["id"] == "leak-auc-RESOLVED"]
    assert (saved["detail"], saved["evidence"]) == (leak.detail, leak.evidence)
    audit = json.loads((out / "audit.json").read_text())
    (row,) = [r for r in audit["tables"]["column_auc"] if r["column"] == "RESOLVED"]
    assert (row["used_by"], row["failed"]) == (["copying"], ["broken"])
    (audited,) = [f for f in audit["findings"] if f["id"] == "leak-auc-RESOLVED"]
    assert audited["detail"] == leak.detail

    # the leakage table of the report, in both formats
    report = (out / "report.md").read_text()
    (line,) = [x for x in report.splitlines() if x.startswith("| `RESOLVED` |")]
    assert line.endswith("| copying, broken (failed) |")
    assert f"{marked}." in report
    html = (out / "report.html").read_text()
    assert "<td>copying, broken (failed)</td>" in html
    # the features both read: the honest ones' findings mark it too, never name it a user alone
    assert ", broken." not in report and "by broken." not in report
