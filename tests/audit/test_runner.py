"""The audit as a whole: silent on clean data, audit.json and the chart, the report section,
and the handbook acceptance check."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from challengers.config import load_config
from challengers.pipeline import RunOptions, audit_experiment
from challengers.progress import SilentProgress
from challengers.report.audit_section import blocks
from challengers.report.document import Document, Section
from challengers.report.markdown import to_markdown
from tests.audit.frames import audit, clean_frame
from tests.conftest import PLOTS_ON

HANDBOOK_ENGINEERED = [
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(f"CUSTOMER_ID_{k}_{d}DAY_WINDOW" for k in ("NB_TX", "AVG_AMOUNT") for d in (1, 7, 30)),
    *(f"TERMINAL_ID_{k}_{d}DAY_WINDOW" for k in ("NB_TX", "RISK") for d in (1, 7, 30)),
]


def test_clean_dataset_has_no_finding_at_all(tmp_path: Path) -> None:
    result = audit(clean_frame(), tmp_path)
    assert result.findings == []
    assert result.counts() == {"high": 0, "medium": 0, "low": 0, "info": 0}
    # every table was filled: the silence is not for want of checking
    for table in ("columns", "label_rate_daily", "rows_per_window", "column_auc", "identifiers",
                  "entities", "feature_drift", "label_rate_shift", "segment_mix", "segments"):  # fmt: skip
        assert result.tables[table], table


@PLOTS_ON
def test_audit_json_and_chart(tmp_path: Path) -> None:
    frame = clean_frame().with_columns((pl.col("TX_FRAUD") * 2).alias("TX_FRAUD_SCENARIO"))
    result = audit(frame, tmp_path, out=tmp_path / "out")
    document = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert document["counts"] == result.counts()
    assert [f["id"] for f in document["findings"]] == [f.id for f in result.findings]
    assert document["findings"][0]["severity"] == "info"
    assert document["summary"]["rows"] == frame.height
    assert document["summary"]["first_day"] == "2024-01-01"
    assert set(document["tables"]) >= {"columns", "column_auc", "feature_drift", "segments"}
    png = tmp_path / "out" / "label_rate.png"
    assert document["charts"] == ["label_rate.png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert result.files() == [tmp_path / "out" / "audit.json", png]


@PLOTS_ON
def test_report_section_renders_the_tables(tmp_path: Path) -> None:
    frame = clean_frame().with_columns((pl.col("TX_FRAUD") * 2).alias("TX_FRAUD_SCENARIO"))
    result = audit(frame, tmp_path, out=tmp_path / "out")
    text = to_markdown(Document("t", "s", [Section("soundness", "Soundness", blocks(result))]))
    assert "### Data audit" in text
    assert "](label_rate.png)" in text
    assert "| `TX_FRAUD_SCENARIO` | 1.000 |" in text  # the strongest column comes first
    assert "Drift between training and test" in text
    assert "| `REGION` | north |" in text
    assert "0 high, 0 medium, 0 low, 1 info finding(s)" in text


def handbook_config(path: Path, data: Path, features: list[str]) -> Path:
    config = {
        "name": "handbook-audit",
        "data": {
            "path": str(data),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "features": features,
        },
        "split": {
            "train": {"start": "2018-07-25", "end": "2018-07-31"},
            "test": {"start": "2018-08-08", "end": "2018-08-14"},
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {"retrain": {"kind": "lightgbm"}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.handbook
def test_handbook_scenario_column_is_high_leakage(handbook_path: Path, tmp_path: Path) -> None:
    features = ["TX_AMOUNT", *HANDBOOK_ENGINEERED, "TX_FRAUD_SCENARIO"]
    cfg = load_config(handbook_config(tmp_path / "hb.yaml", handbook_path, features))
    result = audit_experiment(cfg, RunOptions(output_dir=tmp_path / "out"), SilentProgress())
    leak = next(f for f in result.findings if f.id == "leak-auc-TX_FRAUD_SCENARIO")
    assert leak.severity == "high" and leak.area == "leakage"
    leakage = [f for f in result.findings if f.area == "leakage"]
    assert [f.id for f in leakage] == ["leak-auc-TX_FRAUD_SCENARIO"]
    assert not [f for f in result.findings if any(c in f.title for c in HANDBOOK_ENGINEERED)]
    entity = result.tables["entities"][0]
    # the handbook protocol: 568 test frauds, 183 on customers already known: 385 remain
    assert entity["test_frauds"] - entity["test_frauds_on_known_fraud_entities"] == 385
    assert result.counts()["high"] == 1
