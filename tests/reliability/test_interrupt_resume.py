"""Ctrl-C and SIGTERM keep finished work; `--resume` reuses it and trains only what is missing.

The interrupt tests send a real signal to a real `challenge run` process writing to a real sqlite
MLflow store, once a model's checkpoint is on disk.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from tests.reliability.conftest import (
    CHALLENGE,
    invoke,
    run_process,
    tiny_config,
    wait_until_it_holds,
)
from tests.replication.champion_files import (
    copy_demo_champion,
    replace_with_another_model,
    sha256,
)


def _runs(store: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(experiments, order_by=["attributes.start_time ASC"]))


def _parents(store: str) -> list[Any]:
    return [r for r in _runs(store) if "mlflow.parentRunId" not in r.data.tags]


def _checkpoint(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / "models" / name / "checkpoint.json").read_text())


def _config(tmp_path: Path, data: Path, **changes: Any) -> Path:
    cfg = tiny_config(data)
    cfg["challengers"].append(
        # slow enough (seconds) that the signal lands while it trains
        {"name": "slow", "kind": "xgboost", "params": {"n_estimators": 400, "max_depth": 6}}
    )
    cfg.update(changes)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _interrupt(command: list[str], cwd: Path, wait_for: Path, signum: int) -> tuple[int, str]:
    """Start the command, send ``signum`` as soon as ``wait_for`` exists; exit code and stderr."""
    process = subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not wait_for.exists():
            assert process.poll() is None, f"ended before {wait_for}: {process.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, stderr


def _interrupted_after_lgbm(
    tmp_path: Path, sim_parquet: Path, signum: int
) -> tuple[Path, Path, str, tuple[int, str]]:
    """`challenge run` of the slow config into ``tmp_path/out`` (store ``tmp_path/m.db``),
    sent ``signum`` once the LightGBM challenger's checkpoint is written: the config, the
    output directory, the store, and the exit code and stderr."""
    config, out, store = (
        _config(tmp_path, sim_parquet),
        tmp_path / "out",
        f"sqlite:///{tmp_path}/m.db",
    )
    command = [CHALLENGE, "run", str(config), "-o", str(out), "--tracking-uri", store, "-q"]
    checkpoint = out / "models" / "lgbm" / "checkpoint.json"
    return config, out, store, _interrupt(command, tmp_path, checkpoint, signum)


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_interrupt_keeps_finished_models_and_resume_trains_only_the_rest(
    tmp_path: Path, sim_parquet: Path, signum: int
) -> None:
    config, out, store, (code, stderr) = _interrupted_after_lgbm(tmp_path, sim_parquet, signum)

    name = signal.Signals(signum).name
    assert code == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, lines
    assert lines[0].startswith(f"interrupted ({name}): the MLflow run is marked KILLED")
    assert "lgbm" in lines[0] and f"--resume --output {out}" in lines[0]
    # the resume line names the store: followed as printed, it logs to the same one
    assert lines[0].endswith(f"--tracking-uri {store}"), lines[0]
    # the open run is KILLED in the real store; nothing is left RUNNING
    (parent,) = _parents(store)
    assert parent.info.status == "KILLED"
    assert all(r.info.status != "RUNNING" for r in _runs(store))
    # finished models are kept with their predictions; the one in flight is not; no comparison
    kept = out / "models" / "lgbm"
    assert {"model.txt", "predictions.parquet", "checkpoint.json"} <= {
        p.name for p in kept.iterdir()
    }
    scores = pl.read_parquet(kept / "predictions.parquet")
    assert scores.columns == ["TRANSACTION_ID", "score"] and scores.height > 1000
    assert not (out / "models" / "slow" / "checkpoint.json").exists()
    assert not (out / "comparison.json").exists()
    if signum != signal.SIGINT:
        return

    before = _checkpoint(out, "lgbm")
    model_mtime = (kept / "model.txt").stat().st_mtime_ns
    resumed = run_process(
        ["run", config, "-o", out, "--tracking-uri", store, "--resume"], cwd=tmp_path
    )
    assert resumed.code == 0, resumed.stderr
    assert "lgbm: reused from" in resumed.stderr and "slow: reused" not in resumed.stderr
    # lgbm was not trained again: same checkpoint, same model file; slow was trained now
    assert _checkpoint(out, "lgbm") == before
    assert (kept / "model.txt").stat().st_mtime_ns == model_mtime
    assert _checkpoint(out, "slow")["finished_at"] > before["finished_at"]
    # the comparison is complete, and the new run says what it reused from which run
    comparison = json.loads((out / "comparison.json").read_text())
    assert {m["name"]: m["status"] for m in comparison["models"]} == {
        "champ": "ok",
        "lgbm": "ok",
        "slow": "ok",
    }
    assert all(m["metrics"]["roc_auc"] is not None for m in comparison["models"])
    first, second = _parents(store)
    assert (first.info.status, second.info.status) == ("KILLED", "FINISHED")
    assert second.data.tags["resumed_from"] == first.info.run_id
    assert set(second.data.tags["resumed_models"].split(",")) == {"champ", "lgbm"}
    children = [
        r for r in _runs(store) if r.data.tags.get("mlflow.parentRunId") == second.info.run_id
    ]
    assert sorted(c.info.run_name for c in children) == [
        "challenger: lgbm",
        "challenger: slow",
        "champion: champ",
    ]


OTHER_KINDS = [
    {
        "name": "graph",
        "kind": "graph",
        "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [1, 7]},
        "model": {"kind": "lightgbm", "params": {"n_estimators": 10}},
    },
    {
        "name": "ecod-lgbm",
        "kind": "anomaly",
        "detector": "ecod",
        "hybrid": "lightgbm",
        "model": {"kind": "lightgbm", "params": {"n_estimators": 10}},
        "sample_size": 2000,
    },
    {"name": "iforest", "kind": "anomaly", "detector": "iforest", "sample_size": 2000},
]


def test_every_kind_is_restored_exactly(tmp_path: Path, sim_parquet: Path) -> None:
    """Graph, hybrid (with its twin) and standalone anomaly models come back from their
    checkpoints with the same scores, metrics, twin comparison and importance."""
    cfg = tiny_config(sim_parquet)
    cfg["challengers"] += OTHER_KINDS
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    first = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
    assert first.code == 0, first.stderr
    before = json.loads((out / "comparison.json").read_text())
    assert all(m["status"] == "ok" for m in before["models"]), before["models"]
    again = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume"])
    assert again.code == 0, again.stderr
    for name in ("graph", "ecod-lgbm", "iforest"):
        assert f"{name}: reused from" in again.stderr
    after = json.loads((out / "comparison.json").read_text())
    for a, b in zip(before["models"], after["models"], strict=True):
        for key in ("name", "status", "metrics", "ci", "delta_vs_champion", "params", "features"):
            assert a[key] == b[key], (a["name"], key)
        assert a.get("twin") == b.get("twin"), a["name"]
    assert before["models"][-2]["twin"] is not None  # the hybrid's twin survived the restore


def test_in_sample_numbers_come_back_from_the_checkpoint_exactly(tmp_path: Path) -> None:
    """A narrow run's anomaly challenger keeps its in-sample metrics and score reference in its
    checkpoint.json: every float comes back bit for bit, NaN (the Brier score of scores that are
    not probabilities) and infinities included; an older checkpoint has none."""
    import numpy as np

    from challengers.analysis.stability import Reference
    from challengers.files import write_json
    from challengers.pipeline.insample import InSample

    metrics = {"roc_auc": 0.1 + 0.2, "brier": float("nan"), "ks": float("inf"), "x": -1e-300}
    edges = np.array([-np.inf, np.nextafter(0.3, 1), 1 / 3])
    kept = InSample(metrics, Reference(edges, np.array([0.1, 0.2, 0.3, 0.4, 0.0])))
    write_json(tmp_path / "checkpoint.json", {"in_sample": kept.to_state()})
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    back = InSample.from_state(state["in_sample"])
    assert back is not None and back.metrics.keys() == metrics.keys()
    values = np.array(list(back.metrics.values()))
    assert values.tobytes() == np.array(list(metrics.values())).tobytes()
    assert back.reference.edges.tobytes() == edges.tobytes()
    assert back.reference.shares.tobytes() == kept.reference.shares.tobytes()
    assert InSample.from_state({}.get("in_sample")) is None


def test_a_tuned_challenger_is_reused_with_its_tuning(tmp_path: Path, sim_parquet: Path) -> None:
    """A finished tuned challenger is not searched again on resume: its refit model, scores and
    the study's summary (best trial, trials, pruning) come back from the checkpoint, and its trials
    are logged again as nested runs."""
    from mlflow import MlflowClient

    cfg = tiny_config(sim_parquet)
    tune = {"trials": 3, "max_rounds": 40, "eval_every": 5, "early_stopping_rounds": 10}
    cfg["challengers"] = [{"name": "tuned", "kind": "lightgbm", "tune": tune}]
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    first = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
    assert first.code == 0, first.stderr
    before = json.loads((out / "comparison.json").read_text())
    stamp = _checkpoint(out, "tuned")["finished_at"]

    again = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume"])
    assert again.code == 0, again.stderr
    assert "tuned: reused from" in again.stderr and "Tuning" not in again.stderr
    assert _checkpoint(out, "tuned")["finished_at"] == stamp
    after = json.loads((out / "comparison.json").read_text())
    (a,) = [m for m in before["models"] if m["name"] == "tuned"]
    (b,) = [m for m in after["models"] if m["name"] == "tuned"]
    assert a["tuning"] == b["tuning"] and a["tuning"]["trials"] == 3
    assert (a["metrics"], a["ci"], a["params"]) == (b["metrics"], b["ci"], b["params"])
    nested = MlflowClient(tracking_uri=store).search_runs(
        [MlflowClient(tracking_uri=store).get_experiment_by_name("sim").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{b['run_id']}'",
    )
    assert len(nested) == 3  # the trials, under the resumed run's challenger


@pytest.fixture
def finished(tmp_path: Path, sim_frame: pl.DataFrame) -> tuple[Path, Path, str]:
    """A completed run (small models) on a copy of the data: its config, output and store."""
    data = tmp_path / "data.parquet"
    sim_frame.write_parquet(data)
    cfg = tiny_config(data)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    outcome = invoke(["run", path, "-o", out, "--tracking-uri", store, "-q"])
    assert outcome.code == 0, outcome.stderr
    return path, out, store


def test_resuming_a_finished_run_reuses_everything_and_gives_the_same_results(
    finished: tuple[Path, Path, str],
) -> None:
    config, out, store = finished
    first = json.loads((out / "comparison.json").read_text())
    stamps = {name: _checkpoint(out, name)["finished_at"] for name in ("champ", "lgbm")}
    predictions = pl.read_parquet(out / "predictions.parquet")
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume", "-q"])
    assert outcome.code == 0, outcome.stderr
    second = json.loads((out / "comparison.json").read_text())
    assert {n: _checkpoint(out, n)["finished_at"] for n in stamps} == stamps  # nothing retrained
    for a, b in zip(first["models"], second["models"], strict=True):
        assert (a["name"], a["metrics"], a["ci"], a["params"]) == (
            b["name"],
            b["metrics"],
            b["ci"],
            b["params"],
        )
        assert a["delta_vs_champion"] == b["delta_vs_champion"]
    assert pl.read_parquet(out / "predictions.parquet").equals(predictions)
    # the reused models are logged again, with their native booster, in the new parent run
    import mlflow
    from mlflow import MlflowClient

    lgbm = next(m for m in second["models"] if m["name"] == "lgbm")
    (output,) = MlflowClient(tracking_uri=store).get_run(lgbm["run_id"]).outputs.model_outputs
    mlflow.set_tracking_uri(store)
    booster = mlflow.lightgbm.load_model(f"models:/{output.model_id}")
    stored = pl.read_parquet(out / "models" / "lgbm" / "predictions.parquet")
    assert booster.num_trees() == 10 and stored.height == predictions.height


def test_resume_refuses_checkpoints_of_another_config(
    finished: tuple[Path, Path, str], sim_parquet: Path
) -> None:
    config, out, store = finished
    cfg = yaml.safe_load(config.read_text())
    cfg["seed"] = 8
    config.write_text(yaml.safe_dump(cfg))
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume", "-q"])
    outcome.error(2, "--resume:", "was made with another config (hash", "with another --output")


def test_resume_refuses_checkpoints_of_other_data(
    finished: tuple[Path, Path, str], sim_frame: pl.DataFrame, tmp_path: Path
) -> None:
    """Same config, same path, one amount changed in the file."""
    config, out, store = finished
    sim_frame.with_columns(
        pl.when(pl.col("TRANSACTION_ID") == 20_000)
        .then(pl.col("TX_AMOUNT") + 1)
        .otherwise(pl.col("TX_AMOUNT"))
        .alias("TX_AMOUNT")
    ).write_parquet(tmp_path / "data.parquet")
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume", "-q"])
    outcome.error(2, "--resume:", "was made from other data (fingerprint", "restore the data")


def test_resume_refuses_checkpoints_of_a_champion_file_replaced_at_its_path(
    tmp_path: Path, sim_parquet: Path, sim_frame: pl.DataFrame
) -> None:
    """The config names the champion by its path only: another model saved there was reused as
    the old one's scores ("champ: reused from ...", exit 0). The checkpoints record the file's
    sha256, and a resume with another file there is refused, naming it and both digests."""
    champion = copy_demo_champion(tmp_path / "champ.json")
    cfg = tiny_config(sim_parquet)
    cfg["champion"] = {"name": "champ", "model": "champ.json"}
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    first = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
    assert first.code == 0, first.stderr
    before = sha256(champion)
    assert _checkpoint(out, "champ")["champion_digest"] == before
    assert _checkpoint(out, "lgbm")["champion_digest"] == before

    replace_with_another_model(champion, sim_frame)
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume", "-q"])
    outcome.error(
        2,
        f"--resume: {out}/models/",
        f"was made with another champion model: {champion} changed",
        f"(sha256 {before[:12]} there, {sha256(champion)[:12]} now)",
        "restore the model of the interrupted run",
    )
    assert len(_parents(store)) == 1  # refused before MLflow heard of a run


def test_a_run_killed_outright_is_marked_killed_by_its_resume(
    tmp_path: Path, sim_parquet: Path
) -> None:
    """SIGKILL (the OOM killer, a power cut) gives the run no chance to mark itself: it stayed
    RUNNING in the store for ever, even once `--resume` had completed it. The resume marks it
    KILLED; a replication of it says what is true, before and after."""
    config, out, store, (code, _) = _interrupted_after_lgbm(tmp_path, sim_parquet, signal.SIGKILL)
    assert code == -signal.SIGKILL
    (killed,) = _parents(store)
    assert killed.info.status == "RUNNING"
    assert killed.data.tags["output_dir"] == str(out.resolve())
    run_id = killed.info.run_id
    invoke(["replicate", run_id, "--tracking-uri", store, "-q"]).error(
        2,
        f"run {run_id} did not finish (status RUNNING: still running, or its process was killed)",
        f"resume it with: challenge run {config.resolve()} --resume --output {out.resolve()} "
        f"--tracking-uri {store}",
    )

    resumed = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume", "-q"])
    assert resumed.code == 0, resumed.stderr
    first, second = _parents(store)
    assert (first.info.status, second.info.status) == ("KILLED", "FINISHED")
    assert second.data.tags["resumed_from"] == run_id
    assert all(r.info.status != "RUNNING" for r in _runs(store))
    invoke(["replicate", run_id, "--tracking-uri", store, "-q"]).error(
        2,
        f"run {run_id} did not finish (status KILLED)",
        f"run {second.info.run_id} resumed it: replicate that one",
    )


def test_the_runs_left_running_are_marked_killed_with_their_children(tracking_uri: str) -> None:
    """A run that died while it logged its models leaves model runs (and their tuning trials)
    RUNNING under it: they are marked KILLED with it. Runs it does not hold, runs already ended
    and ids the store does not know are left as they are."""
    from mlflow import MlflowClient

    from challengers.tracking import Tracker

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.create_experiment("killed")

    def run(parent: str | None = None, status: str | None = None) -> str:
        tags = {"mlflow.parentRunId": parent} if parent else {}
        run_id = str(client.create_run(experiment, tags=tags).info.run_id)
        if status:
            client.set_terminated(run_id, status)
        return run_id

    parent = run()
    model = run(parent)
    trial = run(model)
    finished = run(parent, "FINISHED")
    elsewhere = run()  # another run, RUNNING now: not this one's
    ended = run(status="KILLED")
    marked = Tracker(tracking_uri).end_interrupted([parent, ended, "0" * 32])
    assert sorted(marked) == sorted([parent, model, trial])
    statuses = {r: client.get_run(r).info.status for r in (parent, model, trial)}
    assert set(statuses.values()) == {"KILLED"}
    assert client.get_run(finished).info.status == "FINISHED"
    assert client.get_run(elsewhere).info.status == "RUNNING"
    assert client.get_run(ended).info.status == "KILLED"


def test_a_damaged_checkpoint_is_trained_again(finished: tuple[Path, Path, str]) -> None:
    config, out, store = finished
    (out / "models" / "lgbm" / "predictions.parquet").write_bytes(b"damaged")
    before = _checkpoint(out, "lgbm")["finished_at"]
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume"])
    assert outcome.code == 0, outcome.stderr
    assert "checkpoint of 'lgbm' is incomplete" in outcome.stderr
    assert _checkpoint(out, "lgbm")["finished_at"] > before
    assert "champ: reused from" in outcome.stderr


def test_interrupt_before_the_run_starts_writes_nothing(tmp_path: Path, sim_parquet: Path) -> None:
    """Ctrl-C while the data loads: exit 130, one line, no MLflow run left RUNNING."""
    config = _config(tmp_path, sim_parquet)
    store = f"sqlite:///{tmp_path}/m.db"
    env = {**os.environ}
    process = subprocess.Popen(
        [CHALLENGE, "run", str(config), "-o", str(tmp_path / "out"), "--tracking-uri", store, "-q"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(1.0)  # inside imports or loading; no parent run yet (the store has none)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    if (tmp_path / "m.db").exists():
        assert all(r.info.status != "RUNNING" for r in _runs(store))


@pytest.mark.parametrize("delay", [0.1, 0.2, 0.4, 0.8])
def test_ctrl_c_during_imports_is_one_line_and_exit_130(
    tmp_path: Path, sim_parquet: Path, delay: float
) -> None:
    """SIGINT while Python still imports the command (typer, rich, polars...): exit 130 and one
    line, never an import traceback (main.py installs its handler before the heavy imports)."""
    config = _config(tmp_path, sim_parquet)
    store = f"sqlite:///{tmp_path}/m.db"
    command = [CHALLENGE, "run", str(config), "-o", str(tmp_path / "out"), "--tracking-uri", store]
    process = subprocess.Popen([*command, "-q"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, lines
    assert lines[0].startswith("interrupted"), lines
    assert not (tmp_path / "out" / "comparison.json").exists()


def test_a_second_run_into_the_same_directory_is_refused_while_the_first_runs(
    tmp_path: Path, sim_parquet: Path
) -> None:
    """Two runs into one --output: the second is refused by the first one's lock (exit 2); once
    the first has finished, a new run there without --resume is refused too: nothing of the
    finished run is replaced in silence. The first run has no slow challenger: the seconds from
    its lock to its end (fitting, evaluation, plots, logging) are many times the second's check."""
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sim_parquet), sort_keys=False))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    command = [CHALLENGE, "run", str(config), "-o", str(out), "--tracking-uri", store, "-q"]
    first = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_it_holds(first, out)
        second = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
        second.error(2, f"--output {out}: another run is writing there now (pid {first.pid})")
        _, stderr = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    finished = (out / "comparison.json").read_bytes()
    other = tiny_config(sim_parquet)
    other["evaluation"]["bootstrap"] = 30  # a changed config, as in the report
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(other))
    again = invoke(["run", changed, "-o", out, "--tracking-uri", store, "-q"])
    again.error(2, f"--output {out} holds an earlier run (comparison.json)", "--resume")
    assert (out / "comparison.json").read_bytes() == finished


def test_a_pool_reset_cut_by_ctrl_c_prints_no_traceback() -> None:
    """SQLAlchemy logs "Exception during reset or similar" with a traceback when Ctrl-C lands
    while a pooled connection (Optuna's study, MLflow's store) is handed back, then re-raises the
    interrupt; with no logging configured Python printed that traceback above the one line (the
    flaky tuning Ctrl-C test). The pools' logger is silenced once either store is opened."""
    script = (
        "import logging\n"
        "from challengers.tuning.study import optuna_module\n"
        "optuna_module()\n"
        "try:\n"
        "    raise KeyboardInterrupt\n"
        "except KeyboardInterrupt:\n"
        "    logging.getLogger('sqlalchemy.pool.impl.QueuePool').error('reset', exc_info=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def _is_launcher(command: str) -> bool:
    return Path(command).read_bytes()[:4] == b"\x7fELF"


@pytest.mark.skipif(not _is_launcher(CHALLENGE), reason="no C compiler: `challenge` is a script")
@pytest.mark.parametrize("delay", [0.001, 0.005, 0.015, 0.03])
def test_ctrl_c_while_python_itself_starts_is_one_line_and_exit_130(delay: float) -> None:
    """The first milliseconds are Python's own start-up (site.py), before any of the tool's code:
    without cli/launcher.c holding SIGINT back, a Ctrl-C there died by the signal or printed a
    site.py traceback with exit 1 (measured: every time at 0-25 ms on an idle machine)."""
    process = subprocess.Popen(
        [CHALLENGE, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if process.returncode == -signal.SIGINT:
        # The signal came before the launcher's first instruction (a busy machine can hold the
        # new process that long): death by SIGINT, which a shell reports as 130, printing nothing.
        assert stderr == ""
        return
    assert process.returncode == 130, stderr
    assert stderr.splitlines() == ["interrupted before the command started: nothing was written"]


def test_an_interrupted_replication_resumes_as_a_replication(
    tmp_path: Path, sim_parquet: Path
) -> None:
    """Ctrl-C in `challenge replicate RUN_ID`: its line resumes it with `challenge replicate
    RUN_ID --resume`, which reuses the finished models, compares with the logged run (every
    value identical) and is tagged as its replication. The line offered `challenge run --resume`,
    which finished it as a run of its own, compared with nothing."""
    config, store = _config(tmp_path, sim_parquet), f"sqlite:///{tmp_path}/m.db"
    logged = invoke(["run", config, "-o", tmp_path / "run", "--tracking-uri", store, "-q"])
    assert logged.code == 0, logged.stderr
    (original,) = _parents(store)
    run_id, out = original.info.run_id, tmp_path / "replica"
    command = [CHALLENGE, "replicate", run_id, "-o", str(out), "--tracking-uri", store, "-q"]
    lgbm = out / "models" / "lgbm" / "checkpoint.json"
    code, stderr = _interrupt(command, tmp_path, lgbm, signal.SIGINT)
    assert code == 130, stderr
    said = shlex.join(
        [
            "challenge",
            "replicate",
            run_id,
            "--resume",
            "--output",
            str(out),
            "--tracking-uri",
            store,
        ]
    )
    assert stderr.strip().splitlines()[-1].endswith(f"resume with: {said}"), stderr
    before = _checkpoint(out, "lgbm")["finished_at"]

    # the logged run's own output given by mistake: its models compared with themselves would
    # replicate "identical" having re-run nothing
    own = invoke(["replicate", run_id, "--resume", "-o", tmp_path / "run", "--tracking-uri", store])
    own.error(
        2,
        f"--resume: {tmp_path / 'run'}/models/champ was trained by the logged run itself: reused, "
        "the replication would compare models with themselves",
    )
    resumed = invoke([*shlex.split(said)[1:], "-q"])
    assert resumed.code == 0, resumed.stderr
    assert _checkpoint(out, "lgbm")["finished_at"] == before  # reused, not trained again
    # the interrupted replication KILLED, the resumed one finished and compared
    runs = {
        r.info.status: r for r in _parents(store) if r.data.tags.get("replication_of") == run_id
    }
    assert sorted(runs) == ["FINISHED", "KILLED"]
    assert runs["FINISHED"].data.tags["replication_status"] == "identical"
