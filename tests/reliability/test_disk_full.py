"""Out of disk while a run writes: exit 3 and one line; no half-written file under its real name;
the models that finished stay on disk and `--resume` completes the run once there is space.

The full disk is real: a small tmpfs (root only; the tests skip where mounting is not allowed).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml

from challengers.config import load_config
from challengers.errors import EnvironmentFailure
from challengers.files import write_json
from challengers.pipeline import RunOptions, run_experiment
from challengers.progress import Advance, ignore_advance
from tests.reliability.conftest import invoke, tiny_config


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until its filesystem is full."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: closing writes nothing more
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while handle.write(b"\0" * size):
                    pass
    return filler


def _hidden(directory: Path) -> list[Path]:
    """Half-written temporaries left behind (the run's lock file is not one)."""
    return [p for p in directory.rglob(".*") if p.is_file() and p.name != ".challenge.lock"]


def test_an_interrupted_write_keeps_the_old_file_whole(tmpfs: Callable[..., Path]) -> None:
    disk = tmpfs("256k")
    target = disk / "comparison.json"
    write_json(target, {"models": ["old"]})
    fill(disk)
    with pytest.raises(EnvironmentFailure) as info:
        write_json(target, {"models": ["x" * 100_000]})
    assert info.value.exit_code == 3
    assert "No space left on device" in str(info.value)
    assert json.loads(target.read_text()) == {"models": ["old"]}  # the old file, whole
    assert _hidden(disk) == []  # the temporary file is gone


def test_a_full_output_disk_is_exit_3_with_one_line(
    tmpfs: Callable[..., Path], tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    disk = tmpfs("1m")
    fill(disk)
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sim_parquet)))
    out = disk / "run"
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
    outcome.error(3, "No space left on device")
    assert not (out / "comparison.json").exists()
    assert _hidden(out) == []


class FillsTheDisk:
    """Progress that fills the output disk when the run starts writing its outputs: the disk
    runs out after every model has finished."""

    def __init__(self, disk: Path) -> None:
        self.disk = disk
        self.filler: Path | None = None

    @contextlib.contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[Advance]:
        if description.startswith("Writing outputs"):
            self.filler = fill(self.disk)
        yield ignore_advance

    def note(self, message: str) -> None:
        pass


def test_disk_full_after_training_loses_no_model(
    tmpfs: Callable[..., Path], tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    disk = tmpfs("64m")
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sim_parquet)))
    out = disk / "run"
    progress = FillsTheDisk(disk)
    with pytest.raises(EnvironmentFailure) as info:
        run_experiment(
            load_config(config), RunOptions(output_dir=out, tracking_uri=store), progress
        )
    assert info.value.exit_code == 3
    assert "out of disk space" in str(info.value)
    # the one line says what is kept and how to go on once there is space
    assert "2 finished model(s) kept" in str(info.value) and "(champ, lgbm)" in str(info.value)
    assert f"resume with: challenge run CONFIG --resume --output {out} --tracking-uri {store}" in (
        str(info.value)
    )
    # nothing half-written under a real name; the finished models and their scores are whole:
    # every model's test scores were written before the evaluation, the disk filled after
    assert not (out / "comparison.json").exists()
    predictions = pl.read_parquet(out / "predictions.parquet")
    assert {"score:champ", "score:lgbm"} <= set(predictions.columns)
    assert predictions.height > 0 and predictions["score:lgbm"].null_count() == 0
    assert _hidden(out) == []
    for name in ("champ", "lgbm"):
        assert json.loads((out / "models" / name / "checkpoint.json").read_text())["name"] == name
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("sim").experiment_id], "tags.role = 'experiment'"
    )
    assert parent.info.status == "FAILED"

    # space again: --resume finishes without training anything
    assert progress.filler is not None
    progress.filler.unlink()
    stamps = {n: (out / "models" / n / "checkpoint.json").read_text() for n in ("champ", "lgbm")}
    resumed = invoke(["run", config, "-o", out, "--tracking-uri", store, "--resume"])
    assert resumed.code == 0, resumed.stderr
    assert "champ: reused" in resumed.stderr and "lgbm: reused" in resumed.stderr
    assert {n: (out / "models" / n / "checkpoint.json").read_text() for n in stamps} == stamps
    comparison = json.loads((out / "comparison.json").read_text())
    assert [m["status"] for m in comparison["models"]] == ["ok", "ok"]
