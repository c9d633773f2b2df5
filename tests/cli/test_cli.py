"""The command line: help for every command, exit codes and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from challengers.cli.main import app
from tests.conftest import sim_config

runner = CliRunner()
COMMANDS = [c.name for c in app.registered_commands] + [
    cmd.name for group in app.registered_groups for cmd in group.typer_instance.registered_commands
]


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in COMMANDS:
        assert f"challenge {name}" in readme, f"README does not document `challenge {name}`"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_examples(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert f"challenge {name}" in result.output  # every help shows an example invocation


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("challenge ")


def _run(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, args)
    return result.exit_code, result.output  # click's runner mixes stderr into output


def _bad(
    tmp_path: Path, write_config: Callable[..., Path], cfg: dict, command: str = "check"
) -> tuple[int, str]:
    path = write_config(cfg)
    code, out = _run([command, str(path), "--tracking-uri", f"sqlite:///{tmp_path}/m.db", "-q"])
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    return code, errors[0]


def test_unknown_key_exits_2(tmp_path: Path, sim_parquet: Path, write_config: Callable) -> None:
    cfg = sim_config(sim_parquet)
    cfg["split"]["label_dealy_days"] = 3
    code, line = _bad(tmp_path, write_config, cfg)
    assert code == 2
    assert "unknown key 'label_dealy_days'; did you mean 'label_delay_days'?" in line


def test_missing_column_names_the_closest(
    tmp_path: Path, sim_parquet: Path, write_config: Callable
) -> None:
    cfg = sim_config(sim_parquet)
    cfg["data"]["amount"] = "TX_AMOUNTS"
    code, line = _bad(tmp_path, write_config, cfg)
    assert code == 2
    assert "'TX_AMOUNTS' (data.amount), did you mean 'TX_AMOUNT'?" in line


def test_non_binary_target_exits_2(
    tmp_path: Path, sim_frame: pl.DataFrame, write_config: Callable
) -> None:
    data = tmp_path / "bad.parquet"
    sim_frame.with_columns(pl.col("TX_FRAUD") * 2).write_parquet(data)
    code, line = _bad(tmp_path, write_config, sim_config(data))
    assert code == 2
    assert "values other than 0/1 (2)" in line


def test_empty_window_exits_2(tmp_path: Path, sim_parquet: Path, write_config: Callable) -> None:
    cfg = sim_config(sim_parquet)
    cfg["split"]["test"] = {"start": "2025-01-01", "end": "2025-01-10"}
    code, line = _bad(tmp_path, write_config, cfg)
    assert code == 2
    assert "split.test: the window 2025-01-01..2025-01-10 has no rows; the data covers" in line


def test_test_window_without_frauds_exits_2(
    tmp_path: Path, sim_frame: pl.DataFrame, write_config: Callable
) -> None:
    data = tmp_path / "nofraud.parquet"
    test_start = pl.datetime(2024, 2, 28)
    sim_frame.with_columns(
        pl.when(pl.col("TX_DATETIME") >= test_start)
        .then(0)
        .otherwise(pl.col("TX_FRAUD"))
        .alias("TX_FRAUD")
    ).write_parquet(data)
    code, line = _bad(tmp_path, write_config, sim_config(data))
    assert code == 2
    assert "but no frauds" in line


def test_missing_model_file_exits_2(
    tmp_path: Path, sim_parquet: Path, write_config: Callable
) -> None:
    cfg = sim_config(sim_parquet)
    cfg["champion"] = {"name": "champ", "model": "models/absent.json"}
    code, line = _bad(tmp_path, write_config, cfg)
    assert code == 2
    assert "champion.model: file not found" in line and "absent.json" in line


def test_champion_missing_features_are_listed(
    tmp_path: Path, sim_parquet: Path, write_config: Callable
) -> None:
    import numpy as np
    import xgboost as xgb

    model = tmp_path / "champ.json"
    x = np.random.default_rng(0).random((50, 2))
    booster = xgb.train(
        {}, xgb.DMatrix(x, label=x[:, 0] > 0.5, feature_names=["TX_AMOUNT", "RISK"]), 2
    )
    booster.save_model(str(model))
    cfg = sim_config(sim_parquet)
    cfg["champion"] = {"name": "champ", "model": str(model)}
    code, line = _bad(tmp_path, write_config, cfg)
    assert code == 2
    assert "needs 1 feature(s) missing from the data: 'RISK'" in line


def test_pickle_is_refused(tmp_path: Path, sim_parquet: Path, write_config: Callable) -> None:
    model = tmp_path / "champ.pkl"
    model.write_bytes(b"not really a pickle")
    cfg = sim_config(sim_parquet)
    cfg["champion"] = {"name": "champ", "model": str(model)}
    code, line = _bad(tmp_path, write_config, cfg)
    assert code == 2
    assert "is a pickle" in line and "--allow-pickle" not in line


@pytest.mark.parametrize("command", ["run", "check", "audit"])
def test_allow_pickle_says_it_loads_none(command: str) -> None:
    """The help said "Allow loading pickled champion models (runs their code)", where no pickle
    is ever loaded, with the flag or without (test_pickle_is_refused)."""
    shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "250"}).output
    line = " ".join(next(line for line in shown.splitlines() if "--allow-pickle" in line).split())
    assert "no pickle is ever loaded" in line and "refused with or without this flag" in line
    assert "Allow" not in line


def test_unreachable_tracking_server_exits_3_before_training(
    tmp_path: Path, sim_parquet: Path, write_config: Callable
) -> None:
    path = write_config(sim_config(sim_parquet))
    code, out = _run(["run", str(path), "--tracking-uri", "http://127.0.0.1:9", "-q"])
    assert code == 3
    assert "is unreachable" in out and "Traceback" not in out


def test_check_accepts_a_valid_config(
    tmp_path: Path, sim_parquet: Path, write_config: Callable
) -> None:
    path = write_config(sim_config(sim_parquet))
    code, out = _run(["check", str(path)])
    assert code == 0, out
    assert "config and data are valid" in out


def test_simulate_writes_the_rows_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "sim.parquet"
    code, text = _run(
        ["simulate", "--rows", "5000", "--out", str(out), "--seed", "3", "--days", "20", "-q"]
    )
    assert code == 0, text
    assert pl.scan_parquet(out).select(pl.len()).collect().item() == 5000


def test_help_shows_no_value_for_flags_and_lists_the_gate_choices() -> None:
    root = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}).output
    assert "<bool>" not in root and "--debug" in root
    run = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "80"}).output
    assert "<bool>" not in run
    assert "high|medium|low" in run
    # at a width where nothing needs wrapping, each command's summary is one line: no break
    # left in the middle of a sentence by the docstring's own line ends
    wide = runner.invoke(app, ["--help"], env={"COLUMNS": "250"}).output
    summaries = [line for line in wide.splitlines() if line.startswith("│ ")]
    for name in COMMANDS:
        line = next(line for line in summaries if line.split()[1] == name)
        assert line.rstrip(" │").endswith("."), line


def test_register_quiet_prints_nothing(
    tmp_path: Path, sim_parquet: Path, tracking_uri: str
) -> None:
    """MLflow printed 'Successfully registered model ...' and 'Created version ...' on stderr
    under --quiet (its own print, which no logger level silences)."""
    import yaml
    from mlflow import MlflowClient

    from tests.reliability.conftest import tiny_config

    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(tiny_config(sim_parquet), sort_keys=False))
    args = ["run", str(path), "--register", "--tracking-uri", tracking_uri, "-q"]
    for n in (1, 2):  # a new registered model, then a new version of it
        result = runner.invoke(app, [*args, "-o", str(tmp_path / f"out{n}")])
        assert result.exit_code == 0, result.output
        assert (result.stdout, result.stderr) == ("", "")
    versions = MlflowClient(tracking_uri=tracking_uri).search_model_versions("name = 'sim'")
    assert len(versions) == 2


def test_simulate_names_the_file_it_wrote_as_given(tmp_path: Path) -> None:
    """A file named 'tx [bold]1[/].parquet' was announced as 'tx 1.parquet' (rich markup)."""
    out = tmp_path / "tx [bold]1[/].parquet"
    result = runner.invoke(
        app,
        ["simulate", "--rows", "5000", "--out", str(out), "--days", "20"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    assert f"✓ {out}: 5,000 transactions" in result.stdout
