"""The registry round trip against a real `mlflow server` on 127.0.0.1 (an ephemeral port),
started and stopped by the test: register, alias, a run of ``models:/fraud@champion`` with
``--register``, the alias moved by ``challenge promote``, and ``replicate`` refusing (exit 2) once
the version the run used is gone."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from challengers.tracking.server import MlflowServer, free_port, process_tree
from tests.tracking.roundtrip import REGISTERED, invoke, log_champion, write_project


@pytest.mark.slow
def test_registry_round_trip_on_a_real_server(
    tmp_path: Path, sim_parquet: Path, sim_frame: pl.DataFrame
) -> None:
    from mlflow import MlflowClient

    server = MlflowServer(
        f"sqlite:///{tmp_path / 'server.db'}",
        port=free_port(),
        artifacts=tmp_path / "artifacts",
    )
    with server:
        server.wait_ready(timeout_s=120)
        uri = server.url
        version = log_champion(uri, sim_frame)
        config = write_project(tmp_path / "project", sim_parquet)
        ran = invoke(
            "run", str(config), "-o", str(tmp_path / "out"), "--tracking-uri", uri, "--register"
        )
        assert ran.exit_code == 0, ran.output
        comparison = json.loads((tmp_path / "out" / "comparison.json").read_text())
        run_id = comparison["run_id"]
        assert comparison["champion_source"]["source.version"] == version
        assert comparison["champion_source"]["source.registered_model"] == REGISTERED

        promoted = invoke("promote", run_id, "xgb", "--tracking-uri", uri)
        assert promoted.exit_code == 0, promoted.output
        client = MlflowClient(uri)
        now = client.get_model_version_by_alias(REGISTERED, "champion")
        assert now.version != version and now.tags["challenge.model"] == "xgb"

        client.delete_model_version(REGISTERED, version)
        gone = invoke("replicate", run_id, "--tracking-uri", uri, "-o", str(tmp_path / "r"))
        assert gone.exit_code == 2
        assert gone.output.startswith(
            f"error: champion.model models:/{REGISTERED}@champion: the run used version "
            f"{version} of '{REGISTERED}', which is gone (it resolves to version {now.version} "
            "now)"
        )
        tree = process_tree(server.process.pid if server.process else -1)
    assert tree  # the server was a process tree, and nothing of it is left
    assert [pid for pid in tree if Path(f"/proc/{pid}").exists()] == []
