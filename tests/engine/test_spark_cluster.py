"""On `local-cluster[2,1,1024]`: two executor processes of their own and a real shuffle between them
(the in-process `local[2]` shares one JVM). The windows, the known-fraud exclusion and the
fingerprint must still be the local engine's. Run in a process of its own: one JVM holds one
SparkContext, and the suite's `local[2]` session may be running in this one."""

from __future__ import annotations

import json
import os
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


def _run(script: str, data: Path, env: dict[str, str] | None = None) -> list[str]:
    """``script`` on ``data`` in a Python process of its own (one JVM holds one SparkContext);
    its output lines, once it exited 0."""
    result = subprocess.run(
        [sys.executable, "-c", script, str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()


@pytest.mark.slow
def test_separate_executors_and_a_shuffle_give_the_local_rows(sim_parquet: Path) -> None:
    got = json.loads(_run(SCRIPT, sim_parquet)[-1])
    local = LocalEngine()
    parts = local.split(load(local, sim_parquet), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID")
    assert got["executors"] == 2
    assert got["excluded"] == parts.excluded_rows > 0
    assert got["digest"] == fingerprint_frame(parts.test, COLUMNS, chunk_by=DAY).digest


def kill_executor(frame: object) -> object:
    """A scorer whose task's Python worker kills the executor JVM that runs it (an ancestor)."""
    import os
    import signal

    pid = os.getppid()
    while pid > 1:
        if Path(f"/proc/{pid}/comm").read_text().strip() == "java":
            os.kill(pid, signal.SIGKILL)  # the nearest: the driver's JVM is a java above it
            break
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise AssertionError("the executor outlived its killing")


LOST = """
import sys
from challengers.engine.spark import SparkEngine
from challengers.errors import EnvironmentFailure
from tests.engine.test_spark_cluster import kill_executor

engine = SparkEngine.start(
    "local-cluster[1,1,1024]",
    {"spark.ui.enabled": "false", "spark.task.maxFailures": "1", "spark.driver.memory": "1g"},
)
try:
    engine.scores_by(engine.file_rows(sys.argv[1]), kill_executor, ["TX_AMOUNT"])
except EnvironmentFailure as exc:
    print(f"{exc.exit_code} {exc}")
finally:
    engine.close()
"""


@pytest.mark.slow
def test_a_lost_executor_is_one_line_and_exit_3(sim_parquet: Path) -> None:
    """A task kills its executor (on a cluster of one executor, one attempt per task): the engine
    step fails with the cause in one line, as EnvironmentFailure (exit 3), not a JVM dump."""
    # the executors import kill_executor
    lines = _run(LOST, sim_parquet, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert len(lines) == 1, lines
    assert lines[0].startswith("3 engine: a Spark job failed: an executor was lost (")
    assert "ExecutorLostFailure" in lines[0] and "run again" in lines[0]


TOO_LARGE = """
import sys
from challengers.engine.spark import SparkEngine
from challengers.errors import EnvironmentFailure

conf = {"spark.ui.enabled": "false", "spark.driver.maxResultSize": "1m"}
engine = SparkEngine.start("local[1]", conf)
try:
    engine.to_polars(engine.file_rows(sys.argv[1]))
except EnvironmentFailure as exc:
    print(f"{exc.exit_code} {exc}")
finally:
    engine.close()
"""


@pytest.mark.slow
def test_rows_over_the_drivers_result_limit_are_one_line_and_exit_3(sim_parquet: Path) -> None:
    """The loaded rows reach the driver as task results (README, "Executors and driver"): over
    spark.driver.maxResultSize (1 MiB here; the simulated rows are several) they are refused,
    in one line that names the setting."""
    lines = _run(TOO_LARGE, sim_parquet)
    assert len(lines) == 1, lines
    assert lines[0].startswith("3 engine: a Spark job failed: the rows brought to the driver are")
    assert "spark.driver.maxResultSize" in lines[0]
