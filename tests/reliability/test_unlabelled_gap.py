"""Labels not yet final on the days between the windows (the label delay): a run that reads none
of the gap's labels (no known-fraud exclusion, no graph features) goes on with them missing, as it
would with them; one that reads them still refuses (data/checks.py)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from tests.reliability.conftest import invoke, tiny_config
from tests.reliability.test_bad_data import IN_GAP

GAP = "the gap between the training and test windows (2024-02-21..2024-02-27)"


def _write(tmp_path: Path, name: str, config: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _evaluated(out: Path) -> tuple[Any, ...]:
    """What a run measured: its models' figures and the rows they were measured on."""
    comparison = json.loads((out / "comparison.json").read_text())
    volatile = ("run_id", "fit_seconds", "predict_seconds")
    models = [{k: v for k, v in m.items() if k not in volatile} for m in comparison["models"]]
    data = {k: v for k, v in comparison["data"].items() if k not in ("fingerprint", "source")}
    return models, data


def test_a_gap_without_labels_runs_as_with_them_when_nothing_reads_them(
    tmp_path: Path, sim_frame: pl.DataFrame, store: str
) -> None:
    labelled = tmp_path / "labelled.parquet"
    sim_frame.write_parquet(labelled)
    unlabelled = tmp_path / "unlabelled.parquet"
    nulled = pl.when(IN_GAP).then(None).otherwise(pl.col("TX_FRAUD")).alias("TX_FRAUD")
    sim_frame.with_columns(nulled).write_parquet(unlabelled)
    missing = sim_frame.filter(IN_GAP).height
    assert missing > 3000

    def config(data: Path, exclude: bool) -> dict[str, Any]:
        cfg = tiny_config(data)
        cfg["split"]["exclude_known_frauds"] = exclude
        return cfg

    # read by the known-fraud exclusion: refused, as before
    refused = invoke(["check", _write(tmp_path, "excluding", config(unlabelled, True))])
    refused.error(
        2,
        f"has {missing:,} null labels in the gap between the training and test windows",
        "during the test window, where the known-fraud exclusion reads them",
    )

    # read by nothing: `check` says they are there and unread; the run goes on
    path = _write(tmp_path, "unlabelled", config(unlabelled, False))
    checked = invoke(["check", path])
    assert checked.code == 0, checked.stderr
    said = " ".join(checked.stdout.split())
    assert (
        f"data.target: {GAP} has {missing:,} rows without a label; this configuration reads "
        "none of them (no known-fraud exclusion, no graph features)"
    ) in said
    baseline = _write(tmp_path, "labelled", config(labelled, False))
    assert "without a label" not in " ".join(invoke(["check", baseline]).stdout.split())

    outs = {name: tmp_path / name for name in ("labelled", "unlabelled")}
    for name, cfg in (("labelled", baseline), ("unlabelled", path)):
        ran = invoke(["run", cfg, "-o", outs[name], "--tracking-uri", store])
        assert ran.code == 0, ran.stderr
    assert _evaluated(outs["unlabelled"]) == _evaluated(outs["labelled"])

    # the audit: no missing-target finding (high, it rated the champion unsatisfactory), the
    # gap's rows said once; its fraud rates by day and window are of the labelled rows
    audits = {n: json.loads((out / "audit.json").read_text()) for n, out in outs.items()}
    found = {n: {f["id"]: f for f in a["findings"]} for n, a in audits.items()}
    assert "integrity-nulls-TX_FRAUD" not in found["unlabelled"]
    gap = found["unlabelled"].pop("integrity-unlabelled-gap")
    assert gap["severity"] == "info" and f"{missing:,} rows" in gap["detail"]
    assert found["unlabelled"].keys() == found["labelled"].keys()
    windows = {
        n: {r["window"]: r for r in a["tables"]["rows_per_window"]} for n, a in audits.items()
    }
    assert windows["unlabelled"]["gap"]["unlabelled"] == missing
    assert windows["unlabelled"]["gap"]["rows"] == windows["labelled"]["gap"]["rows"]
    assert windows["unlabelled"]["train"] == windows["labelled"]["train"]
    daily = {n: {r["day"]: r for r in a["tables"]["label_rate_daily"]} for n, a in audits.items()}
    assert daily["unlabelled"]["2024-02-22"]["rate"] is None  # not 0: no label to rate
    assert daily["unlabelled"]["2024-02-20"] == daily["labelled"]["2024-02-20"]
    report = (outs["unlabelled"] / "report.md").read_text()
    assert f"Rows without a label (gap: {missing:,}) are left out of the fraud rate." in report
    reports = {n: json.loads((out / "comparison.json").read_text()) for n, out in outs.items()}
    assert reports["unlabelled"]["conclusion"] == reports["labelled"]["conclusion"]


def test_labels_missing_only_outside_the_loaded_days_are_an_info_finding_not_a_high_one(
    tmp_path: Path, sim_frame: pl.DataFrame
) -> None:
    """A delivery whose first and latest days are not labelled: no step of the run reads them
    (the windows load 2024-01-31..2024-03-05), so the missing-target finding (high, it rates
    the champion) is not raised for them; an info finding counts them on each side. One missing
    label inside the training window is still the high finding."""
    at = pl.col("TX_DATETIME")
    before, after = at < datetime(2024, 1, 20), at >= datetime(2024, 3, 6)
    counts = (sim_frame.filter(before).height, sim_frame.filter(after).height)
    assert min(counts) > 1000

    def audit(name: str, unlabelled: pl.Expr) -> dict[str, Any]:
        data = tmp_path / f"{name}.parquet"
        label = pl.when(unlabelled).then(None).otherwise(pl.col("TX_FRAUD")).alias("TX_FRAUD")
        sim_frame.with_columns(label).write_parquet(data)
        cfg = tiny_config(data)
        cfg["split"]["test"]["end"] = "2024-03-05"
        audited = invoke(["audit", _write(tmp_path, name, cfg), "-o", tmp_path / name])
        assert audited.code == 0, audited.stderr
        found = json.loads((tmp_path / name / "audit.json").read_text())["findings"]
        return {f["id"]: f for f in found}

    outside = audit("outside", before | after)
    assert "integrity-nulls-TX_FRAUD" not in outside
    said = outside["integrity-unlabelled-unloaded"]
    assert said["severity"] == "info"
    assert (
        f"{counts[0]:,} rows before 2024-01-31 and {counts[1]:,} rows after 2024-03-05, "
        "outside the windows, have no label in 'TX_FRAUD'"
    ) in said["detail"]
    assert said["recommendation"].startswith("None for this run.")
    first_training_day = at.is_between(datetime(2024, 1, 31), datetime(2024, 2, 1), "left")
    inside = audit("inside", before | after | first_training_day)
    assert inside["integrity-nulls-TX_FRAUD"]["severity"] == "high"
    assert "integrity-unlabelled-unloaded" in inside
