"""On `local-cluster[2,1,1024]`: two executor processes of their own and a real shuffle between them
(the in-process `local[2]` shares one JVM). The windows, the known-fraud exclusion and the
fingerprint must still be the local engine's; a run that loses an executor stops in one line
(exit 3) and `--resume` finishes it. One application for both, in a process of its own: one JVM
holds one SparkContext, and the suite's `local[2]` session may be running in this one. Rows over
the driver's result limit are refused in one line: on that `local[2]` session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from challengers.config import load_config
from challengers.data.frames import DAY
from challengers.engine.local import LocalEngine
from challengers.errors import EnvironmentFailure
from challengers.pipeline import RunOptions, run_experiment
from challengers.pipeline.plan import make_plan
from challengers.pipeline.prepare import features_stay_on_engine
from challengers.replication.fingerprint import fingerprint_frame
from tests.conftest import sim_config
from tests.engine.test_spark_rows import COLUMNS, WINDOWS, load
from tests.golden.compare import stable_comparison
from tests.test_golden import _differences

ROOT = Path(__file__).resolve().parents[2]
# One application on two executor processes of their own, for both tests below: the rows after a
# shuffle between them, then a run that loses an executor and its --resume
SCRIPT = """
import json, os, sys
from pathlib import Path
from typer.testing import CliRunner
from challengers.cli.main import app
from challengers.data.frames import DAY
from challengers.engine.spark import SparkEngine
from challengers.replication.fingerprint import from_sums
from tests.engine.test_spark_cluster import finished_at, kill_executor
from tests.engine.test_spark_rows import COLUMNS, WINDOWS, load

data, config, out, uri = sys.argv[1:5]
engine = SparkEngine.start(
    "local-cluster[2,1,1024]",
    {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.driver.memory": "1g",
        "spark.task.maxFailures": "1",  # a lost executor fails the job at once
        # the executors' JVMs as tests/conftest.py starts the driver's (this process inherits
        # its SPARK_SUBMIT_OPTS): no C2 compilation, a code cache C1 does not fill
        "spark.executor.extraJavaOptions": os.environ.get("SPARK_SUBMIT_OPTS", ""),
    },
)
try:
    parts = engine.split(load(engine, data), WINDOWS, target="TX_FRAUD", entity="CUSTOMER_ID")
    test = parts.test.repartition(3, "CUSTOMER_ID")  # rows moved between the two executors
    digest = from_sums(engine.row_sums(test, COLUMNS, chunk_by=DAY)).digest
    executors = engine.session.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    print(json.dumps({"digest": digest, "excluded": parts.excluded_rows, "executors": executors}))

    # the run: the second challenger's first scoring job loses its executor (the task kills
    # it); every model's rows are scored on the executors, so its model is the third one
    # scored (the champion's, the first challenger's, its), told apart by the files' content
    # (each scoring job writes its own copy)
    scores_of, calls = SparkEngine.scores_of, []

    def losing(self, rows, model):
        calls.append(Path(model.path).read_bytes())
        if len(set(calls)) == 3:
            return self.scores_by(rows, kill_executor, ["TX_AMOUNT"])
        return scores_of(self, rows, model)

    SparkEngine.scores_of = losing
    run = ["run", config, "--output", out, "--tracking-uri", uri, "--quiet"]
    lost = CliRunner().invoke(app, run)
    SparkEngine.scores_of = scores_of
    kept = finished_at(Path(out))
    resumed = CliRunner().invoke(app, [*run, "--resume"])
    print(json.dumps({
        "lost": [lost.exit_code, lost.output],
        "kept": kept,
        "resumed": [resumed.exit_code, resumed.output],
        "after": finished_at(Path(out)),
    }))
finally:
    engine.close()
"""


def _start(script: str, *args: object, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``script`` with ``args`` in a Python process of its own (one JVM holds one SparkContext)."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> list[str]:
    """The output lines of a script :func:`_start` started, once it exited 0."""
    try:
        stdout, stderr = process.communicate(timeout=900)
    finally:
        process.kill()  # a no-op once it exited
    assert process.returncode == 0, stderr[-2000:]
    return stdout.strip().splitlines()


def finished_at(out: Path) -> dict[str, str]:
    """When each finished model of a run's output was checkpointed."""
    return {
        path.parent.name: json.loads(path.read_text())["finished_at"]
        for path in sorted((out / "models").glob("*/checkpoint.json"))
    }


def _cluster_config(data: Path) -> dict:
    """Two LightGBM challengers fitted on samples and a champion model file: every model scored
    on the executors, so the windows' features stay there (``features_stay_on_engine``) and the
    lost executor and the resume are those of a run whose driver holds no feature."""
    config = sim_config(data, engine={"kind": "spark"})
    config["champion"] = {"name": "champ", "model": str(ROOT / "data" / "champion.json")}
    config["challengers"] = [
        {"name": "lgbm-a", "kind": "lightgbm", "params": {"n_estimators": 30}},
        {"name": "lgbm-b", "kind": "lightgbm", "params": {"n_estimators": 40, "num_leaves": 15}},
    ]
    return config


@pytest.fixture(scope="module")
def cluster(sim_parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What the one local-cluster application printed, and the run's config and output."""
    folder = tmp_path_factory.mktemp("cluster")
    config = folder / "experiment.yaml"
    config.write_text(yaml.safe_dump(_cluster_config(sim_parquet), sort_keys=False))
    out, uri = folder / "out", f"sqlite:///{folder / 'mlflow.db'}"
    # the executors import kill_executor
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = _start(SCRIPT, sim_parquet, config, out, uri, env=env)
    # meanwhile, the same run uninterrupted on the local engine, which a Spark run equals
    # (test_spark_run): what the resumed run must give
    cfg = load_config(config).with_engine("local", None)
    local_uri = f"sqlite:///{folder / 'local.db'}"
    local = run_experiment(cfg, RunOptions(output_dir=folder / "local", tracking_uri=local_uri))
    lines = _finish(process)
    return {
        "rows": json.loads(lines[-2]),
        "run": json.loads(lines[-1]),
        "config": config,
        "out": out,
        "uninterrupted": json.loads(json.dumps(local.to_comparison())),
    }


@pytest.mark.xdist_group("local-cluster")  # one worker: the application runs once
@pytest.mark.slow
def test_separate_executors_and_a_shuffle_give_the_local_rows(
    cluster: dict, sim_parquet: Path
) -> None:
    got = cluster["rows"]
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


@pytest.mark.xdist_group("local-cluster")  # one worker: the application runs once
@pytest.mark.slow
def test_a_lost_executor_is_one_line_and_exit_3_and_resume_finishes_the_run(
    cluster: dict,
) -> None:
    """The second challenger's scoring task kills its executor (one attempt per task): the run
    stops with the cause and what is kept in one line, exit 3; `--resume` in the same
    application (the cluster starts another executor) reuses the finished models, trains the
    rest, and gives the comparison of an uninterrupted run (here the local engine's, which a
    Spark run equals: test_spark_run)."""
    code, output = cluster["run"]["lost"]
    lines = output.strip().splitlines()
    assert code == 3 and len(lines) == 1, output
    assert lines[0].startswith("error: engine: a Spark job failed: an executor was lost (")
    out = cluster["out"]
    assert f"2 finished model(s) kept in {out}/models (champ, lgbm-a)" in lines[0]
    assert f"resume with: challenge run {cluster['config']} --resume --output {out}" in lines[0]

    assert features_stay_on_engine(make_plan(load_config(cluster["config"])))

    code, output = cluster["run"]["resumed"]
    assert code == 0, output
    kept, after = cluster["run"]["kept"], cluster["run"]["after"]
    assert sorted(kept) == ["champ", "lgbm-a"] and sorted(after) == ["champ", "lgbm-a", "lgbm-b"]
    assert {name: after[name] for name in kept} == kept  # not trained again
    resumed = json.loads((out / "comparison.json").read_text())
    expected = stable_comparison(cluster["uninterrupted"])
    actual = stable_comparison(resumed)
    for model in actual["models"]:
        model.pop("training", None)  # how Spark trained it: the one addition
    differences = _differences(expected, actual)
    assert not differences, "\n".join(differences[:20])


@pytest.mark.slow
def test_rows_over_the_drivers_result_limit_are_one_line_and_exit_3(
    spark_engine: Any, sim_parquet: Path
) -> None:
    """The loaded rows reach the driver as task results (README, "Executors and driver"): over
    spark.driver.maxResultSize (1 MiB here; the simulated rows are several) they are refused,
    in one line that names the setting. On the suite's local[2] session instead of one of its
    own (a JVM and an interpreter started for one job): the driver reads the limit from its
    configuration for each job's task set, so it is lowered for this job and then restored."""
    conf = spark_engine.session.sparkContext._jsc.sc().conf()  # the driver's, not a copy
    conf.set("spark.driver.maxResultSize", "1m")
    try:
        with pytest.raises(EnvironmentFailure) as caught:
            spark_engine.to_polars(spark_engine.file_rows(str(sim_parquet)))
    finally:
        conf.remove("spark.driver.maxResultSize")
    line = f"{caught.value.exit_code} {caught.value}"
    assert len(line.splitlines()) == 1, line
    assert line.startswith("3 engine: a Spark job failed: the rows brought to the driver are")
    assert "spark.driver.maxResultSize" in line
    # restored: the same rows within the default limit
    assert spark_engine.to_polars(spark_engine.file_rows(str(sim_parquet))).height == 40_000
