"""Ctrl-C in the last step, while the report prints and the models' runs are logged: the runs end
KILLED and the browser printing report.pdf (started while the models were evaluated) is stopped,
its profile removed.

A real signal to a real `challenge run` process, a real sqlite store, a real headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.reliability.conftest import CHALLENGE, tiny_config
from tests.reliability.test_interrupt_resume import _parents, _runs


def _using(directory: Path) -> list[str]:
    """Command lines naming ``directory`` (a browser whose profile is in it, and its helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(directory).encode() in line:
                found.append(line.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium")
def test_ctrl_c_while_the_report_prints_kills_the_runs_and_the_browser(
    tmp_path: Path, sim_parquet: Path, request: pytest.FixtureRequest
) -> None:
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sim_parquet), sort_keys=False))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    # short: Chromium's socket path under a long pytest directory is too long for it to start
    temporary = Path(tempfile.mkdtemp(prefix="challenge-test-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(temporary, ignore_errors=True))
    env = {**os.environ, "CHALLENGE_PDF": "auto", "TMPDIR": str(temporary)}
    command = [CHALLENGE, "run", str(config), "-o", str(out), "--tracking-uri", store, "-q"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 300
        # report.html written: its print has started, the models' runs are being logged
        while not (out / "report.html").exists():
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no report.html after 300 s"
            time.sleep(0.01)
        assert _using(temporary), "no browser printing the report"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr.startswith("interrupted (SIGINT): the MLflow run is marked KILLED"), stderr
    (parent,) = _parents(store)
    assert parent.info.status == "KILLED"
    assert all(r.info.status != "RUNNING" for r in _runs(store))
    assert not (out / "comparison.json").exists()
    # the browser and its helpers end with the run; the profile is removed
    deadline = time.monotonic() + 10
    while _using(temporary) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _using(temporary)
    assert not any(temporary.glob("challenge-chromium-*"))
