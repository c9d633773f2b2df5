"""No personal value planted in the data reaches any file a run or an audit writes, the MLflow
store and its artifacts included, nor the terminal or the log."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from challengers.cli.main import app
from tests.audit.frames import LAST, clean_frame, personal_columns
from tests.cli.test_audit import audit_config
from tests.conftest import PLOTS_ON

# every planted value contains one of these: finding none of them means no value leaked
MARKERS = [
    re.compile(rb"@example\.org"),  # EMAIL
    re.compile(rb"\+32 470 "),  # PHONE
    re.compile(rb"4539 \d{4} \d{4} \d{4}"),  # CARD_PAN as planted
    re.compile(rb"(?<![0-9.])4539\d{12}(?![0-9])"),  # CARD_PAN without its spaces
    re.compile(rb"BE\d\d 0961 "),  # PAYOUT_IBAN
    re.compile(rb"chargeback call with"),  # MEMO
    *(re.compile(name.encode()) for name in LAST),  # the surnames in MEMO and EMAIL
    *(re.compile(name.lower().encode()) for name in LAST),
]


def leaks(data: bytes) -> list[str]:
    return [m.pattern.decode() for m in MARKERS if m.search(data)]


def parquet_text(path: Path) -> bytes:
    """A parquet file's values as text (its bytes are compressed: grep alone would miss them)."""
    frame = pl.read_parquet(path)
    return frame.select(pl.all().cast(pl.String)).write_csv().encode()


@pytest.mark.slow
@PLOTS_ON  # the figures are files a personal value could reach too
def test_run_and_audit_write_no_personal_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    frame = pl.concat([clean_frame(), personal_columns(12_000)], how="horizontal")
    assert leaks(frame.write_csv().encode())  # the markers do find the planted values
    data_dir = tmp_path / "input"
    data_dir.mkdir()
    config = audit_config(data_dir, frame)
    text = config.read_text()
    text = text.replace(
        "champion:\n  retrain:\n    kind: lightgbm",
        "champion:\n  retrain:\n    kind: lightgbm\n    params: {n_estimators: 20}",
    )
    text += "threads: 1\nchallengers:\n- {name: xgb, kind: xgboost, params: {n_estimators: 20}}\n"
    config.write_text(text.replace("findings:", "bootstrap: 50\n  findings:"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # MLflow puts artifacts under the working directory
    caplog.set_level(logging.DEBUG)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    runner = CliRunner()
    run = runner.invoke(app, ["run", str(config), "-o", str(work / "run"), "--tracking-uri", uri])
    assert run.exit_code == 0, run.output
    audit = runner.invoke(app, ["audit", str(config), "-o", str(work / "audit")])
    assert audit.exit_code == 0, audit.output

    # the run did audit the data, and said which columns hold personal data
    comparison = json.loads((work / "run" / "comparison.json").read_text())
    found = {f["id"] for f in comparison["findings"]}
    assert {f"privacy-{c}" for c in ("EMAIL", "PHONE", "CARD_PAN", "PAYOUT_IBAN", "MEMO")} <= found
    assert "## Data audit" in (work / "run" / "report.md").read_text()
    from mlflow.tracking import MlflowClient

    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(comparison["run_id"])}
    assert {"audit.json", "label_rate.png", "report.md"} <= artifacts

    files = [p for p in work.rglob("*") if p.is_file()]
    assert len(files) > 10 and any("mlruns" in p.parts or "mlartifacts" in p.parts for p in files)
    for path in files:
        assert not leaks(path.read_bytes()), path
        if path.suffix == ".parquet":
            assert not leaks(parquet_text(path)), path
    for output in (run.output, audit.output, caplog.text):
        assert not leaks(output.encode())
