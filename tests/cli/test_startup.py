"""Start-up: `challenge --help` and the first line of `challenge run` come before any heavy library.

The heavy libraries (seconds of imports together) are imported where a step needs them. Checked on
the import graph, not by timing (the times are in bench/RESULTS.md, `bench/bench_handbook.py`): a
fresh interpreter runs the command, then lists which of them ``sys.modules`` holds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "mlflow",
    "lightgbm",
    "xgboost",
    "matplotlib",
    "optuna",
    "pyod",
    "networkx",
    "scipy",
    "numba",
    "pandas",
    "sklearn",
    "pyspark",
)

PROBE = """
import json, sys
heavy = json.loads(sys.argv[1])
code = sys.argv[2]
if code == "help":
    from challengers.cli.main import app
    try:
        app(sys.argv[3:])
    except SystemExit:
        pass
else:  # what `challenge run` imports before it reads the data
    import challengers.cli.main, challengers.cli.output, challengers.config, challengers.pipeline
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def _loaded(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["compare", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    assert _loaded("help", *argv) == []


def test_the_run_command_reaches_its_first_step_without_heavy_libraries() -> None:
    """The pipeline and the progress bars import polars and numpy, nothing heavier."""
    assert _loaded("run") == []
