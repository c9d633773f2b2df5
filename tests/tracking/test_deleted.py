"""Deleted experiments and runs, as MLflow keeps them until they are restored or purged: a run
cannot log to a deleted experiment (said before any work, for the stores read without MLflow),
and a deleted run is found by its id or its first characters alike, marked deleted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from challengers.errors import EnvironmentFailure
from challengers.tracking import check_reachable, read_run


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_a_deleted_experiment_of_a_sqlite_store_is_refused(tracking_uri: str) -> None:
    client = _client(tracking_uri)
    gone = client.create_experiment("gone")
    client.create_experiment("here")
    client.delete_experiment(gone)
    with pytest.raises(EnvironmentFailure) as refused:
        check_reachable(tracking_uri, experiment="gone")
    assert str(refused.value).startswith(
        f"experiment 'gone' is deleted in the tracking store {tracking_uri} (id {gone})"
    )
    check_reachable(tracking_uri, experiment="here")
    check_reachable(tracking_uri, experiment="new")  # created by the run
    check_reachable(tracking_uri)


def test_a_new_sqlite_store_has_no_deleted_experiment(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    check_reachable(uri, experiment="sim")
    assert not (tmp_path / "new.db").exists()  # the check creates nothing


@dataclass
class Server:
    """A stand-in tracking server: its /version, and experiments by name from ``known``;
    ``seen``: the headers of each request."""

    uri: str
    known: dict[str, Any] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    known: dict[str, Any] = {}
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            url = urlparse(self.path)
            if url.path == "/version":
                body, status = b"3.1.0", 200
            elif url.path == "/api/2.0/mlflow/experiments/get-by-name":
                name = parse_qs(url.query)["experiment_name"][0]
                found = known.get(name)
                status = 200 if found else 404
                body = json.dumps(
                    {"experiment": found} if found else {"error_code": "RESOURCE_DOES_NOT_EXIST"}
                ).encode()
            else:
                body, status = b"", 404
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", known, seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_deleted_experiment_on_a_tracking_server_is_refused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, known = server.uri, server.known
    known["gone sim"] = {"experiment_id": "7", "name": "gone sim", "lifecycle_stage": "deleted"}
    known["here"] = {"experiment_id": "8", "name": "here", "lifecycle_stage": "active"}
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t0ken-value")
    with pytest.raises(EnvironmentFailure) as refused:
        check_reachable(uri, experiment="gone sim")
    assert str(refused.value).startswith(
        f"experiment 'gone sim' is deleted in the tracking store {uri} (id 7), so nothing can "
        f"be logged to it; restore it with `MLFLOW_TRACKING_URI={uri} mlflow experiments "
        "restore --experiment-id 7`"
    )
    assert server.seen[-1].get("Authorization") == "Bearer t0ken-value"  # as MLflow logs in
    check_reachable(uri, experiment="here")
    check_reachable(uri, experiment="absent")  # 404: the run creates it


def test_a_deleted_run_is_found_by_its_first_characters_and_marked(tracking_uri: str) -> None:
    client = _client(tracking_uri)
    experiment = client.create_experiment("sim")
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id, "FINISHED")
    assert read_run(tracking_uri, run_id[:8]).deleted == ""
    client.delete_run(run_id)
    for given in (run_id, run_id[:8]):
        found = read_run(tracking_uri, given)
        assert (found.run_id, found.deleted, found.status) == (run_id, "run", "FINISHED")
    assert found.deleted_note(tracking_uri, ", so it is shown") == (
        f"run {run_id} is deleted in the tracking store {tracking_uri}, so it is shown; restore "
        f"it with `MLFLOW_TRACKING_URI={tracking_uri} mlflow runs restore --run-id {run_id}`"
    )
    client.restore_run(run_id)
    client.delete_experiment(experiment)
    found = read_run(tracking_uri, run_id[:8])
    assert found.deleted == f"experiment {experiment}"
    assert found.deleted_note(tracking_uri) == (
        f"run {run_id} is in experiment 'sim', which is deleted in the tracking store "
        f"{tracking_uri}; restore it with `MLFLOW_TRACKING_URI={tracking_uri} mlflow "
        f"experiments restore --experiment-id {experiment}`"
    )
