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


def test_the_resume_hint_pastes_into_a_shell_with_spaces_in_its_paths(tmp_path: Path) -> None:
    """It printed `challenge run /tmp/sp ace/cfg/my cfg.yaml --resume --output out dir/r 1`,
    which the shell split into other arguments."""
    import shlex

    from challengers.errors import DataError
    from challengers.pipeline.resume import interrupted_error, resume_command, with_resume_hint

    out = tmp_path / "out dir" / "r 1"
    (out / "models" / "lgbm").mkdir(parents=True)
    (out / "models" / "lgbm" / "checkpoint.json").write_text("{}")
    config = str(tmp_path / "sp ace" / "my cfg.yaml")
    uri = f"sqlite:///{tmp_path / 'st ore' / 'm.db'}"
    expected = ["challenge", "run", config, "--resume", "--output", str(out), "--tracking-uri", uri]
    assert shlex.split(resume_command(out, config, uri)) == expected
    unnamed = ["challenge", "run", "CONFIG", "--resume", "--output", str(out)]
    assert shlex.split(resume_command(out, None, None)) == unnamed
    said = str(interrupted_error(KeyboardInterrupt(), out, config, uri))
    assert shlex.split(said.split("resume with: ", 1)[1]) == expected
    failed = str(with_resume_hint(DataError("disk"), out, config, uri))
    assert shlex.split(failed.split("resume with: ", 1)[1]) == expected
