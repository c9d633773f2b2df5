"""The tracking store: an unreachable or unusable store stops every command before any work (exit 3,
one line); two runs can share one sqlite store at once; credentials never reach a file or a line."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.reliability.conftest import CHALLENGE, invoke, run_process, tiny_config

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


@pytest.fixture
def config(tmp_path: Path, sim_parquet: Path) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(tiny_config(sim_parquet), sort_keys=False))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["check", "{config}", "--tracking-uri", DOWN],
        ["compare", "0123abcd", "--tracking-uri", DOWN],
        ["replicate", "0123abcd", "--tracking-uri", DOWN],
        ["replicate", "--config", "{config}", "--tracking-uri", DOWN, "-o", "{tmp}/out"],
        ["ui", "--tracking-uri", DOWN],
        ["ui", "--config", "{config_down}"],
        ["run", "{config_down}", "-o", "{tmp}/out"],
    ],
    ids=["check", "compare", "replicate", "replicate-config", "ui", "ui-config", "run-config"],
)
def test_an_unreachable_server_stops_every_command(
    args: list[str], config: Path, tmp_path: Path
) -> None:
    down = yaml.safe_load(config.read_text())
    down["tracking"] = {"uri": DOWN}
    config_down = tmp_path / "down.yaml"
    config_down.write_text(yaml.safe_dump(down))
    filled = [a.format(config=config, config_down=config_down, tmp=tmp_path) for a in args]
    started = time.monotonic()
    outcome = invoke(filled + (["-q"] if args[0] in ("check", "run", "replicate") else []))
    outcome.error(3, f"tracking store {DOWN} is unreachable", "start the server")
    assert time.monotonic() - started < 30  # seconds, not a training
    assert not (tmp_path / "out").exists()  # before any work


def test_the_environment_variable_is_checked_too(tmp_path: Path) -> None:
    outcome = invoke(["compare", "0123abcd"], env={"MLFLOW_TRACKING_URI": DOWN})
    outcome.error(3, f"tracking store {DOWN} is unreachable")


@pytest.mark.parametrize(
    ("uri", "code", "expect"),
    [
        ("sqlite:////nonexistent-dir/mlflow.db", 3, "directory /nonexistent-dir does not exist"),
        ("sqlite:///{tmp}/not-a-db.db", 3, "not-a-db.db is not a sqlite database"),
        ("sqlite:///{tmp}", 3, "is a directory; name a file such as sqlite:///"),
        ("gopher://host/store", 2, "has an unknown scheme 'gopher'"),
    ],
    ids=["missing-directory", "not-a-database", "a-directory", "unknown-scheme"],
)
def test_an_unusable_store_stops_the_run_before_training(
    uri: str, code: int, expect: str, config: Path, tmp_path: Path
) -> None:
    (tmp_path / "not-a-db.db").write_text("hello, not sqlite")
    out = tmp_path / "out"
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", uri.format(tmp=tmp_path), "-q"])
    outcome.error(code, expect)
    assert not (out / "models").exists()  # no model was trained


@pytest.mark.parametrize("name", ["runs.db", "store.sqlite3", "existing-store"])
def test_a_database_path_is_answered_with_the_uri_that_opens_it(
    name: str, config: Path, tmp_path: Path, empty_store: Path
) -> None:
    """``--tracking-uri mlflow.db`` (a path where MLflow wants a URI) is refused with the URI to
    write instead, and that URI opens the store: an existing sqlite file is recognised by its
    content, whatever its name (an MLflow store: another application's database is refused,
    tests/tracking/test_schema.py)."""
    path = tmp_path / name
    if name == "existing-store":
        shutil.copyfile(empty_store, path)
    line = invoke(["check", config, "--tracking-uri", path, "-q"]).error(
        2, "is a database file's path, not a URI"
    )
    suggested = line.rpartition("write ")[2]
    assert suggested == f"sqlite:///{path}"
    assert invoke(["check", config, "--tracking-uri", suggested, "-q"]).code == 0


def test_a_directory_path_is_not_taken_for_a_database(config: Path, tmp_path: Path) -> None:
    (tmp_path / "runs.db").mkdir()  # a directory store someone named like a file
    invoke(["check", config, "--tracking-uri", tmp_path / "runs.db", "-q"]).error(
        2, "is a directory store, which MLflow no longer opens"
    )


@pytest.mark.parametrize("command", ["compare", "replicate"])
def test_reading_commands_never_create_an_empty_store(command: str, tmp_path: Path) -> None:
    store = tmp_path / "typo.db"
    outcome = invoke([command, "0123abcd", "--tracking-uri", f"sqlite:///{store}"])
    outcome.error(2, f"no tracking store at sqlite:///{store} (the file does not exist)")
    assert not store.exists()


@pytest.mark.parametrize("command", ["compare", "replicate"])
def test_reading_commands_never_create_a_directory_store(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MLFLOW_ALLOW_FILE_STORE=true, MLflow made the missing directory a new store (its
    Default experiment in it), and the run was 'not found'."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "typo-store"
    outcome = invoke([command, "0123abcd", "--tracking-uri", f"file://{store}"])
    outcome.error(
        2,
        f"no tracking store at file://{store} (the directory does not exist); pass "
        "--tracking-uri or set MLFLOW_TRACKING_URI to the store the run was logged to",
    )
    assert not store.exists()


def test_ui_on_a_missing_store_says_so(tmp_path: Path) -> None:
    invoke(["ui", "--tracking-uri", f"sqlite:///{tmp_path}/none.db"]).error(2, "no tracking store")


def test_two_runs_share_one_new_sqlite_store(config: Path, tmp_path: Path) -> None:
    """Two real processes start at once on a store that does not exist yet: both finish."""
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    processes = [
        subprocess.Popen(
            [
                CHALLENGE,
                "run",
                str(config),
                "-o",
                str(tmp_path / f"out{i}"),
                "--tracking-uri",
                store,
                "-q",
            ],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    errors = [p.communicate(timeout=600)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("sim")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.info.run_name for r in parents) == ["out0", "out1"]
    assert all(r.info.status == "FINISHED" for r in runs) and len(runs) == 6
    # artifacts live beside the store, not in the directory the command ran from
    assert experiment.artifact_location == str(tmp_path / "mlruns" / "sim")
    assert not (Path.cwd() / "mlruns" / "sim").exists() or Path.cwd() == tmp_path


# the user name is not a secret: MLflow records it as the run's user (tag mlflow.user)
SECRETS = {
    "MLFLOW_TRACKING_USERNAME": "alice",
    "MLFLOW_TRACKING_PASSWORD": "pw-Zebra-4f9e2c",
    "MLFLOW_TRACKING_TOKEN": "tok-Quartz-81b7aa",
}


def _leaks(root: Path, secrets: list[str], *texts: str) -> list[str]:
    """Every file under ``root`` and every text that contains one of the secrets."""
    found = [t[:80] for t in texts for s in secrets if s in t]
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found += [str(path) for s in secrets if s.encode() in content]
    return found


def test_secrets_reach_no_file_and_no_line(config: Path, tmp_path: Path) -> None:
    """Credentials in the environment are neither written (outputs, store, artifacts) nor
    printed, by a run, a failing run, or a refusal."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**SECRETS}
    run = run_process(
        ["run", config, "-o", tmp_path / "out", "--tracking-uri", store], cwd=tmp_path, env=env
    )
    assert run.code == 0, run.stderr
    url_secret = "url-Secret-31c"
    down = run_process(
        ["run", config, "-o", tmp_path / "out2", "-q"],
        cwd=tmp_path,
        env={**env, "MLFLOW_TRACKING_URI": f"http://bob:{url_secret}@127.0.0.1:9"},
    )
    down.error(3, "tracking store http://***@127.0.0.1:9 is unreachable")
    refused = invoke(["check", config, "--tracking-uri", f"http://bob:{url_secret}@127.0.0.1:9"])
    refused.error(2, "the URI holds credentials", "MLFLOW_TRACKING_PASSWORD")
    secrets = [SECRETS["MLFLOW_TRACKING_PASSWORD"], SECRETS["MLFLOW_TRACKING_TOKEN"], url_secret]
    texts = (run.stdout, run.stderr, down.stdout, down.stderr, refused.stdout, refused.stderr)
    assert _leaks(tmp_path, secrets, *texts) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (its own process group, ended by its id)."""
    port = _free_port()
    root = tmp_path / "server"
    root.mkdir()
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                import urllib.request

                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, (root / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "mlflow server did not start in 180 s"
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_secrets_sent_to_a_real_server_are_not_stored(
    config: Path, tmp_path: Path, mlflow_server: str
) -> None:
    """A run against a real server with credentials in the environment (and in
    MLFLOW_TRACKING_URI): nothing under the client's or the server's directories holds them."""
    url_secret = "url-Secret-5aa"
    host = mlflow_server.removeprefix("http://")
    env = {**SECRETS, "MLFLOW_TRACKING_URI": f"http://bob:{url_secret}@{host}"}
    run = run_process(["run", config, "-o", tmp_path / "out"], cwd=tmp_path, env=env)
    assert run.code == 0, run.stderr
    assert "MLflow run" in run.stdout
    secrets = [SECRETS["MLFLOW_TRACKING_PASSWORD"], SECRETS["MLFLOW_TRACKING_TOKEN"], url_secret]
    assert _leaks(tmp_path, secrets, run.stdout, run.stderr) == []


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_store_in_a_directory_nobody_can_write_stops_before_any_work(
    command: str, config: Path, tmp_path: Path, unwritable_dir: Path
) -> None:
    """check passes only what run can use: the store's directory must take new files (the
    store's lock and journal), which os.access does not tell for root on a read-only mount."""
    uri = f"sqlite:///{unwritable_dir / 'm.db'}"
    out = tmp_path / "out"
    extra = ["-o", str(out)] if command == "run" else []
    outcome = invoke([command, config, "--tracking-uri", uri, "-q", *extra])
    outcome.error(3, f"tracking store {uri}: cannot create files in {unwritable_dir}")
    assert not out.exists()


@contextlib.contextmanager
def _web_server() -> Iterator[str]:
    """Any web server: 200 and a page for every path (not an MLflow server)."""
    import http.server
    import threading

    class Everything(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>welcome</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Everything)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_web_server_that_is_not_mlflow_is_refused(config: Path, tmp_path: Path) -> None:
    with _web_server() as url:
        outcome = invoke(["check", config, "--tracking-uri", url, "-q"])
    outcome.error(3, f"tracking store {url} answers, but not as an MLflow tracking server")


def test_a_store_mlflow_cannot_open_stops_the_run_before_training(
    config: Path, tmp_path: Path
) -> None:
    """The store is opened in the background while the data loads (pipeline/run.py's warm-up); its
    failure still stops the run before any model trains, in one line, exit 3."""
    from challengers.tracking import open_mlflow

    uri = f"sqlite:///{tmp_path / 'old.db'}"
    open_mlflow(uri)  # a real store, then marked with a schema version MLflow does not know
    with contextlib.closing(sqlite3.connect(tmp_path / "old.db")) as db:
        db.execute("UPDATE alembic_version SET version_num = '0000dead'")
        db.commit()
    out = tmp_path / "out"
    # a process of its own: this one has the store open and cached (MLflow caches it per URI)
    outcome = run_process(["run", config, "-o", out, "--tracking-uri", uri, "-q"], cwd=tmp_path)
    outcome.error(
        3,
        f"tracking store {uri} cannot be opened: its schema (revision 0000dead) is not one MLflow",
    )
    assert not (out / "models").exists()
