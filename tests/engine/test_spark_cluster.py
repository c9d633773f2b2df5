"""On `local-cluster[2,1,1024]`: two executor processes of their own and a real shuffle between them
(the in-process `local[2]` shares one JVM). The windows, the known-fraud exclusion and the
fingerprint must still be the local engine's. Run in a process of its own: one JVM holds one
SparkContext, and the suite's `local[2]` session may be running in this one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from challengers.data.frames import DAY
from challengers.engine.local import LocalEngine
from challengers.replication.fingerprint import fingerprint_frame
from tests.engine.test_spark_rows import COLUMNS, WINDOWS, load

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
from challengers.data.frames import DAY
from challengers.engine.spark import SparkEngine
from challengers.replication.fingerprint import from_sums
from tests.engine.test_spark_rows import COLUMNS, WINDOWS, load

engine = SparkEngine.start(
    "local-cluster[2,1,1024]",
    {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"},
)
try:
    parts = engine.split(load(engine, sys.argv[1]), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID")
    test = parts.test.repartition(3, "CUSTOMER_ID")  # rows moved between the two executors
    digest = from_sums(engine.row_sums(test, COLUMNS, chunk_by=DAY)).digest
    executors = engine.session.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    print(json.dumps({"digest": digest, "excluded": parts.excluded_rows, "executors": executors}))
finally:
    engine.close()
"""


@pytest.mark.slow
def test_separate_executors_and_a_shuffle_give_the_local_rows(sim_parquet: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(sim_parquet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    local = LocalEngine()
    parts = local.split(load(local, sim_parquet), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID")
    assert got["executors"] == 2
    assert got["excluded"] == parts.excluded_rows > 0
    assert got["digest"] == fingerprint_frame(parts.test, COLUMNS, chunk_by=DAY).digest
