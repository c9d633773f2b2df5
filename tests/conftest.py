"""Shared fixtures: simulated data, a real sqlite MLflow store per test, configs, the handbook."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from challengers.data.split import Windows
from challengers.simulate import simulate_frame

# No report.pdf in the suite's runs (a headless browser per run would double the suite's time);
# tests/report/test_report_run.py turns it back on for its run.
os.environ.setdefault("CHALLENGE_PDF", "off")
# No figures either (the report's, the models', the audit's chart, the Optuna plots), but in the
# tests that check them (PLOTS_ON): drawing a run's 21 figures was about a quarter of a small
# run's CPU, and 26% of the wall time of test_interrupt_resume, test_pipeline and tests/tuning.
os.environ.setdefault("CHALLENGE_PLOTS", "off")


@pytest.fixture
def plots_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs draw their plots (the suite turns them off)."""
    monkeypatch.setenv("CHALLENGE_PLOTS", "on")


PLOTS_ON = pytest.mark.usefixtures("plots_on")
# The Spark drivers the suite starts (in process and in the processes it runs) compile with the
# JVM's C1 compiler only: its Spark applications are short and small, and the C2 compiler's work
# never paid back (a 40k-row run on local[2]: the JVM's CPU time 51 -> 23 s, wall 73 -> 36 s).
# C1 alone reserves a 48 MB code cache (240 MB with C2), and a worker's session JVM, which compiles
# every test's generated Spark classes, filled it after about 260 s: "Out of space in CodeCache for
# adapters", a VirtualMachineError that shut the JVM down and failed every later Spark test of
# the worker (and its MLflow runs, which ask the dead session for its context). 256 MB, reserved
# address space only until used.
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"
os.environ.setdefault("SPARK_SUBMIT_OPTS", JVM_OPTIONS)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CHALLENGE_SHARED", ROOT.parent / "shared"))
HANDBOOK = SHARED / "data" / "handbook_transactions.parquet"

SIM_START = "2024-01-01"
SIM_TRAIN = {"start": "2024-01-31", "end": "2024-02-20"}
SIM_TEST = {"start": "2024-02-28", "end": "2024-03-10"}
# the windows of sim_config as the split reads them (label delay 7, known frauds excluded)
SIM_WINDOWS = Windows(
    train_start=date.fromisoformat(SIM_TRAIN["start"]),
    train_end=date.fromisoformat(SIM_TRAIN["end"]),
    test_start=date.fromisoformat(SIM_TEST["start"]),
    test_end=date.fromisoformat(SIM_TEST["end"]),
    label_delay_days=7,
    exclude_known_frauds=True,
)
# the simulator's feature columns, honest ones (the demo champion reads exactly these: its file's
# own names, data/build_demo.py)
DEMO_CHAMPION = ROOT / "data" / "champion.json"
SIM_FEATURES = tuple(json.loads(DEMO_CHAMPION.read_text())["learner"]["feature_names"])


@pytest.fixture(scope="session")
def sim_frame() -> pl.DataFrame:
    """70 days of simulated transactions (about 40k rows), every fraud scenario present."""
    return simulate_frame(40_000, seed=11, days=70)


@pytest.fixture(scope="session")
def sim_parquet(tmp_path_factory: pytest.TempPathFactory, sim_frame: pl.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("sim") / "transactions.parquet"
    sim_frame.write_parquet(path)
    return path


DEMO_RUN = pytest.mark.xdist_group("demo_run")  # a test of the demo run: on its one worker


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    """One run of the real demo config for the tests that read it (tests/test_pipeline.py and
    tests/report/test_demo.py; mark them DEMO_RUN). Fewer bootstrap replicates and a smaller SHAP
    sample (the findings, not their third decimal) and one thread per model (the suite runs two
    workers on two cores: two threads each spin and wait); the run and what it finds are
    otherwise the shipped demo's."""
    from challengers.config import load_config
    from challengers.pipeline import RunOptions, run_experiment

    tmp = tmp_path_factory.mktemp("demo")
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    diagnostics = cfg.evaluation.diagnostics.model_copy(
        update={"explain_rows": 200, "weekly_bootstrap": 50}
    )
    evaluation = cfg.evaluation.model_copy(update={"bootstrap": 200, "diagnostics": diagnostics})
    cfg = cfg.model_copy(update={"evaluation": evaluation, "threads": 1})
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    result = run_experiment(cfg, RunOptions(output_dir=tmp / "out", tracking_uri=uri))
    return result, uri


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new sqlite MLflow store, created once: MLflow's schema migrations take 1.5 CPU-seconds
    per new store, and a copy of this file is a new store without them."""
    import mlflow

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments(max_results=1)
    return path


def run_config(config: dict[str, Any], folder: Path, name: str = "out") -> Any:
    """A run of ``config`` (a dict) as a user starts one: written as ``folder/<name>.yaml``, its
    outputs in ``folder/<name>``, logged to the sqlite store ``folder/m.db``."""
    from challengers.config import load_config
    from challengers.pipeline import RunOptions, run_experiment

    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    store = f"sqlite:///{folder / 'm.db'}"
    return run_experiment(
        load_config(path), RunOptions(output_dir=folder / name, tracking_uri=store)
    )


def bare_result(
    models: list[Any],
    *,
    positives: int = 400,
    metric_keys: tuple[str, ...] = ("pr_auc",),
    lower_is_better: tuple[str, ...] = (),
    bootstrap: int = 200,
    **fields: Any,
) -> Any:
    """An ExperimentResult of ``models`` and little else: what the report's sentences read
    (the test window's frauds, the metrics, the replicates); ``fields`` set the rest."""
    from challengers.experiment_result import ExperimentResult
    from challengers.results import DataSummary

    return ExperimentResult(
        run_id="r",
        experiment="x",
        config_hash="h",
        data=DataSummary("fp", 1000, 5000, 40, positives),
        models=models,
        findings=fields.pop("findings", []),
        metric_keys=list(metric_keys),
        higher_is_better={k: k not in lower_is_better for k in metric_keys},
        alpha=0.05,
        bootstrap=bootstrap,
        operating_alert_rate=0.01,
        output_dir=Path("out"),
        **fields,
    )


def new_store(empty_store: Path, folder: Path) -> str:
    """The URI of a fresh, real sqlite MLflow store in ``folder`` (a copy of ``empty_store``).
    Tests of how a store is created (tests/reliability/test_tracking_store.py) make their own."""
    shutil.copyfile(empty_store, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def tracking_uri(tmp_path: Path, empty_store: Path) -> str:
    """A fresh, real sqlite MLflow store for one test."""
    return new_store(empty_store, tmp_path)


def sim_config(data_path: Path, **overrides: Any) -> dict[str, Any]:
    """A valid experiment config (as a dict) over the simulated data; ``overrides`` replace keys."""
    config: dict[str, Any] = {
        "name": "sim",
        "seed": 7,
        "threads": 1,  # the suite runs two workers on two cores: no oversubscription
        "data": {
            "path": str(data_path),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "drop": ["TX_FRAUD_SCENARIO", "TERMINAL_ID", "DEVICE_ID"],
            "segments": ["REGION", "CARD_TYPE"],
        },
        "split": {
            "train": dict(SIM_TRAIN),
            "test": dict(SIM_TEST),
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {
            "name": "champ",
            "retrain": {"kind": "lightgbm", "params": {"n_estimators": 30}},
        },
        "challengers": [
            {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 50}},
            {"name": "xgb", "kind": "xgboost", "params": {"n_estimators": 50}},
        ],
        "evaluation": {
            "metrics": ["roc_auc", "pr_auc", "precision_at_alerts@0.01", "entity_precision_at@20"],
            "bootstrap": 100,
        },
    }
    for key, value in overrides.items():
        config[key] = value
    return config


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config dict as YAML in the test's directory and return its path."""

    def write(config: dict[str, Any], name: str = "experiment.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def handbook_path() -> Path:
    if not HANDBOOK.exists():
        pytest.skip(f"the shared handbook data is absent ({HANDBOOK})")
    return HANDBOOK


# The suite's longest tests, longest first (`--durations` of a whole-suite run on 2 cores at a load
# of 11-20: 1.5 to 8 minutes each there, about a fifth of that on idle cores). They are handed to
# the xdist workers first: started last, one of them would run alone at the end while the other
# worker idles. A name is a test module or a test's node id.
LONGEST = (
    "tests/engine/test_spark_cluster.py",  # a local-cluster application
    "tests/test_pipeline.py",  # the demo run (demo_run) and two runs of the same config
    "tests/engine/test_spark_run.py::test_the_demo_on_spark_equals_the_checked_in_record",
    "tests/reliability/test_interrupt_resume.py::"
    "test_a_second_run_into_the_same_directory_is_refused_while_the_first_runs",
    "tests/tuning/test_tuning_run.py::test_on_the_demo_data_tuning_beats_the_untuned_twin",
    "tests/engine/test_spark_run.py::test_a_local_run_replicates_on_spark",
    "tests/reliability/test_interrupt_resume.py::"
    "test_interrupt_keeps_finished_models_and_resume_trains_only_the_rest",
    "tests/reliability/test_interrupt_resume.py::test_every_kind_is_restored_exactly",
    "tests/engine/test_spark_graph_run.py",  # one Spark preparation, graph features twice
    "tests/engine/test_spark_graph.py::test_graph_features_on_spark_equal_the_local_ones_on_the_demo",
    "tests/reliability/test_tracking_store.py::test_secrets_sent_to_a_real_server_are_not_stored",
    "tests/reliability/test_terminal.py::test_ascii_output_and_a_closed_pipe_keep_the_runs_real_status",
    "tests/test_clean_twin.py::test_a_clean_twin_raises_no_high_finding",
    "tests/tuning/test_tuning_run.py::test_ctrl_c_then_resume_continues_the_study",
    "tests/engine/test_spark_training.py::"
    "test_a_distributed_xgboost_challenger_trains_on_spark_and_is_compared",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of LONGEST first, in its order; the others keep theirs. Under ``--dist
    loadgroup``, the tests of one ``xdist_group`` go to one worker (see _in_group)."""

    def rank(item: pytest.Item) -> int:
        for i, name in enumerate(LONGEST):
            if item.nodeid == name or item.nodeid.startswith((f"{name}::", f"{name}[")):
                return i
        return len(LONGEST)

    items.sort(key=rank)  # stable
    if getattr(config.option, "loadgroup", False):
        for item in items:
            _in_group(item)


def _in_group(item: pytest.Item) -> None:
    """Suffix the node id with the test's ``xdist_group``, which is how xdist's loadgroup
    scheduler finds the groups. xdist 3.8 writes the suffix to ``item._nodeid``, which pytest 9
    no longer reads (a node id is ``item._id`` now): without this, a group's tests went to both
    workers and each set up the group's shared fixture (a local-cluster application, twice)."""
    from _pytest.nodeid import NodeId

    names = sorted(
        {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
         for m in item.iter_markers("xdist_group")}
    )  # fmt: skip
    if names and "@" not in item.nodeid:
        item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")
