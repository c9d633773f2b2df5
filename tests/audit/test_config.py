"""The audit's thresholds in the config: `evaluation.findings.audit`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from challengers.config import load_config
from challengers.errors import ConfigError
from tests.conftest import sim_config


def write(tmp_path: Path, audit: dict) -> Path:
    config = sim_config(tmp_path / "x.parquet", evaluation={"findings": {"audit": audit}})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_audit_thresholds_are_read(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, {"leak_auc": 0.9, "sample_rows": 50_000}))
    audit = cfg.evaluation.findings.audit
    assert (audit.leak_auc, audit.sample_rows, audit.null_rate) == (0.9, 50_000, 0.5)


def test_misspelt_audit_key_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, {"leak_acu": 0.9}))
    message = str(caught.value)
    assert (
        "evaluation.findings.audit.leak_acu: unknown key 'leak_acu'; did you mean 'leak_auc'?"
        in message
    )
    assert "c.yaml:" in message


def test_audit_threshold_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"evaluation\.findings\.audit\.leak_auc"):
        load_config(write(tmp_path, {"leak_auc": 0.4}))
