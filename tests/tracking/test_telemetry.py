"""MLflow's usage telemetry is off in the tool unless the user says otherwise.

Each case imports the tool's tracking package and then MLflow in a fresh interpreter whose
environment has none of the variables by which MLflow turns telemetry off by itself (pytest's,
CI's), so MLflow's own decision is what is observed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TOOL = "import challengers.tracking, mlflow"
MLFLOW_ALONE = "import mlflow"


def _telemetry_on(imports: str, **env: str) -> bool:
    """Whether MLflow started its telemetry client after ``imports``."""
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    probe = f"{imports}\nfrom mlflow.telemetry import get_telemetry_client\n"
    probe += "print(get_telemetry_client() is not None)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**kept, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1] == "True"


def test_mlflow_alone_would_send_telemetry_in_this_environment() -> None:
    """The control: without the tool's package, MLflow starts its telemetry client here."""
    assert _telemetry_on(MLFLOW_ALONE)


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, False), ({"MLFLOW_DISABLE_TELEMETRY": "false"}, True)],
    ids=["default-off", "the-user-s-choice-kept"],
)
def test_the_tool_turns_telemetry_off_unless_the_variable_is_set(
    env: dict[str, str], expected: bool
) -> None:
    assert _telemetry_on(TOOL, **env) is expected
