"""`challenge audit` on the Spark engine: the rows Spark reads give the local audit's findings and
tables; an unreachable master is one line and exit 3, before any JVM starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from challengers.config import load_config
from challengers.pipeline import RunOptions, audit_experiment
from challengers.progress import SilentProgress
from tests.conftest import sim_config
from tests.engine.test_spark_run import assert_unreachable_master_is_one_line


@pytest.mark.slow
def test_the_audit_on_spark_equals_the_local_audit(
    spark_engine: Any, sim_parquet: Path, write_config, tmp_path: Path
) -> None:
    cfg = load_config(write_config(sim_config(sim_parquet)))
    local = audit_experiment(cfg, RunOptions(output_dir=tmp_path / "local"), SilentProgress())
    spark_cfg = cfg.with_engine("spark", "local[2]")
    remote = audit_experiment(
        spark_cfg, RunOptions(output_dir=tmp_path / "spark"), SilentProgress()
    )
    assert remote.findings == local.findings
    assert remote.findings  # the simulated data has findings (leaky scenario column, drift)
    assert remote.tables.keys() == local.tables.keys()
    for name, table in local.tables.items():
        assert remote.tables[name] == table, name
    timeless = {"seconds", "audited_at"}
    assert {k: v for k, v in remote.summary.items() if k not in timeless} == {
        k: v for k, v in local.summary.items() if k not in timeless
    }
    assert spark_engine.session.getActiveSession() is not None  # not stopped: it did not start it


def test_audit_on_an_unreachable_master_is_one_line_and_exit_3(
    sim_parquet: Path, write_config
) -> None:
    path = write_config(sim_config(sim_parquet))
    assert_unreachable_master_is_one_line(["audit", str(path), "-q"])
