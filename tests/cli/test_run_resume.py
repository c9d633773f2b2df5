"""`challenge run --resume` continues the run in --output, so it needs one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from challengers.cli.main import app
from tests.conftest import sim_config


def test_resume_without_output_is_a_usage_error(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    path = write_config(sim_config(sim_parquet))
    result = CliRunner().invoke(app, ["run", str(path), "--resume", "-q"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --resume needs --output DIR: the output directory of the run to continue"
    )
