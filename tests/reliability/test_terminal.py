"""The terminal a run reports to: an encoding without the tool's symbols, a pipe closed early."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.reliability.conftest import CHALLENGE, tiny_config


def _to_a_closed_pipe(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command with its stdout a pipe whose reader is gone before the first line: every
    write to stdout fails (`| head -1` once head has its line)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [CHALLENGE, *args],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env or dict(os.environ),
            text=True,
            timeout=600,
        )
    finally:
        os.close(write)


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
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    done = _to_a_closed_pipe(["run", str(config), "-o", str(out), "--tracking-uri", store], env=env)
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


@pytest.mark.slow  # a run, its replication and each command after it: about a minute
def test_a_closed_pipe_keeps_every_commands_real_status(tmp_path: Path, sim_parquet: Path) -> None:
    """`challenge compare ID | head -1` exited 1, which is replicate's "differs" and outside
    check's contract: every command that prints a table or a result ends its printing quietly
    and exits with its real status, 0 here."""
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sim_parquet)))
    out, store = tmp_path / "out", f"sqlite:///{tmp_path}/m.db"
    ran = subprocess.run(
        [CHALLENGE, "run", str(config), "-o", str(out), "--tracking-uri", store, "--register",
         "-q"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads((out / "comparison.json").read_text())["run_id"]
    commands = {
        "check": ["check", str(config), "--tracking-uri", store],
        "audit": ["audit", str(config), "-o", str(tmp_path / "audit")],
        "compare": ["compare", run_id, "--tracking-uri", store],
        "replicate": ["replicate", run_id, "--tracking-uri", store, "-o", str(tmp_path / "r")],
        "promote": ["promote", run_id, "lgbm", "--alias", "reviewed", "--tracking-uri", store],
        "simulate": ["simulate", "--rows", "2000", "--days", "10", "--out",
                     str(tmp_path / "more.parquet")],
    }  # fmt: skip
    for name, args in commands.items():
        done = _to_a_closed_pipe(args)
        assert done.returncode == 0, f"challenge {name}: exit {done.returncode}\n{done.stderr}"
        assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert (tmp_path / "audit" / "audit.json").exists() and (tmp_path / "more.parquet").exists()
