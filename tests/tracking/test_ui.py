"""`challenge ui` as a user runs it: a real process, a real page, a real Ctrl-C.

It must answer within seconds, print its URL, and on SIGINT or SIGTERM end within 5 s with one line,
no traceback, and no process of the tree it started left alive.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from challengers.tracking import open_mlflow
from challengers.tracking.server import process_tree

CHALLENGE = Path(sys.executable).with_name("challenge")


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _kill_all(process: subprocess.Popen[str], tree: set[int]) -> None:
    alive = {process.pid} if process.poll() is None else set()
    for pid in alive | tree | (process_tree(process.pid) if alive else set()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def _start_ui(tmp_path: Path) -> tuple[subprocess.Popen[str], str, float]:
    store = tmp_path / "mlflow.db"
    open_mlflow(f"sqlite:///{store}")  # an existing store, as after `challenge run`
    started = time.monotonic()
    process = subprocess.Popen(
        [str(CHALLENGE), "ui", "--tracking-uri", f"sqlite:///{store}", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the URL is printed (or the process ends)
    ready = time.monotonic() - started
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if match is None:
        _kill_all(process, set())
        pytest.fail(f"no URL printed: {line!r} {process.communicate()[1]}")
    return process, match.group(0), ready


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)]
)
def test_ui_starts_and_stops_its_whole_tree(tmp_path: Path, sig: signal.Signals) -> None:
    process, url, ready = _start_ui(tmp_path)
    tree: set[int] = set()
    try:
        # 5-8 s on an idle 2-core machine; the bound leaves room for a loaded test machine
        assert ready < 45, f"the UI took {ready:.1f} s to answer"
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
            assert "MLflow" in page.read().decode()
        tree = process_tree(process.pid)
        assert any("mlflow" in Path(f"/proc/{p}/cmdline").read_text() for p in tree), tree
        stopping = time.monotonic()
        process.send_signal(sig)
        out, err = process.communicate(timeout=10)
        took = time.monotonic() - stopping
    finally:  # a failing test must not leave the server (its own session) behind either
        if process.poll() is None or _alive(tree):
            _kill_all(process, _alive(tree))
    assert took < 5, f"stopping took {took:.1f} s"
    assert process.returncode == 0
    assert out.strip().splitlines() == [
        f"MLflow UI stopped ({sig.name}); every process it started has ended"
    ]
    assert "Traceback" not in err and "interrupted" not in err, err
    assert _alive(tree) == set(), "processes left behind"
