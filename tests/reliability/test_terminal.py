"""The terminal a run reports to: an encoding without the tool's symbols, a pipe closed early."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.reliability.conftest import CHALLENGE, tiny_config


@pytest.mark.slow  # two runs (the second resumes): about a minute on a busy machine
def test_ascii_output_and_a_closed_pipe_keep_the_runs_real_status(
    tmp_path: Path, sim_parquet: Path
) -> None:
    """PYTHONIOENCODING=ascii (a C locale) and stdout closed by its reader (`| head`): the run
    finishes, writes everything, prints ASCII stand-ins ("ok" for the check mark) and exits with
    its real status (0 here; the gate's 1 with its message on stderr)."""
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sim_parquet)))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write to stdout fails
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    done = subprocess.run(
        [CHALLENGE, "run", str(config), "-o", str(out), "--tracking-uri", store],
        stdout=write,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        timeout=600,
    )
    os.close(write)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert "ok Loading data" in done.stderr and "\u2713" not in done.stderr
    assert json.loads((out / "comparison.json").read_text())["models"]

    gated = subprocess.run(
        [CHALLENGE, "run", str(config), "-o", str(out), "--resume", "--tracking-uri", store,
         "--fail-on", "low"],
        capture_output=True, env=env, text=True, timeout=600,
    )  # fmt: skip
    assert gated.returncode == 1, gated.stderr
    assert "gate: " in gated.stderr and "Traceback" not in gated.stderr
    assert "sim: champion vs challengers" in gated.stdout  # the table, in ASCII
