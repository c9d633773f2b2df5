"""`challenge audit`: exit codes 0/1/2, the summary, --help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from challengers.cli.main import app
from tests.audit.frames import FEATURES, WINDOWS, clean_frame

runner = CliRunner()


def audit_config(tmp_path: Path, frame: pl.DataFrame, features: tuple[str, ...] = FEATURES) -> Path:
    data = tmp_path / "tx.parquet"
    frame.write_parquet(data)
    config: dict[str, Any] = {
        "name": "audit-cli",
        "data": {
            "path": data.name,
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "features": list(features),
            "segments": ["REGION"],
        },
        "split": {
            "train": {"start": str(WINDOWS.train_start), "end": str(WINDOWS.train_end)},
            "test": {"start": str(WINDOWS.test_start), "end": str(WINDOWS.test_end)},
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {"retrain": {"kind": "lightgbm"}},
        "evaluation": {"findings": {"min_segment_rows": 100, "min_segment_positives": 5}},
    }
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def leaky(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns((pl.col("TX_FRAUD") * 3).alias("TX_FRAUD_SCENARIO"))


def test_clean_data_exits_0(tmp_path: Path) -> None:
    config = audit_config(tmp_path, clean_frame())
    result = runner.invoke(
        app, ["audit", str(config), "--output", str(tmp_path / "out"), "--fail-on", "high"]
    )
    assert result.exit_code == 0, result.output
    assert "no findings" in result.stdout
    assert json.loads((tmp_path / "out" / "audit.json").read_text())["findings"] == []


def test_high_finding_with_gate_exits_1(tmp_path: Path) -> None:
    config = audit_config(tmp_path, leaky(clean_frame()), (*FEATURES, "TX_FRAUD_SCENARIO"))
    args = ["audit", str(config), "-o", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--fail-on", "high"])
    assert result.exit_code == 1, result.output
    assert (
        "gate: high finding: 'TX_FRAUD_SCENARIO' alone separates fraud from genuine"
        in result.stderr
    )
    assert "HIGH" in result.stdout and "high: 1" in result.stdout
    # without the gate the same audit succeeds
    assert runner.invoke(app, args).exit_code == 0


def test_medium_gate_includes_worse_findings(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(pl.lit(1.0).alias("F2"))  # a constant feature: medium
    config = audit_config(tmp_path, frame)
    out = ["-o", str(tmp_path / "out"), "--quiet"]
    assert runner.invoke(app, ["audit", str(config), *out, "--fail-on", "high"]).exit_code == 0
    result = runner.invoke(app, ["audit", str(config), *out, "--fail-on", "medium"])
    assert result.exit_code == 1
    assert "gate: medium finding: Feature 'F2' carries no information" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.yaml"], "config file not found"),
        (["{config}", "--fail-on", "severe"], "--fail-on severe: use high, medium or low"),
        (["{bad_column}"], "column not in the data: 'F9' (data.features). Available: "),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    config = audit_config(tmp_path, clean_frame())
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("- F3", "- F9"))
    args = [a.format(config=config, bad_column=bad) for a in args]
    result = runner.invoke(app, ["audit", *args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_help_lists_options_and_examples() -> None:
    result = runner.invoke(app, ["audit", "--help"])
    assert result.exit_code == 0
    for text in ("--output", "--fail-on", "--quiet", "challenge audit configs/demo.yaml"):
        assert text in result.stdout
