"""The output directory is the command's alone: it never holds, nor is reached by, a file the
command reads (the data, the champion's model, the config), a run never takes foreign files for an
earlier run, and `challenge audit` honours a run's lock and never writes into a run's directory.

Each refusal is the one line of exit 2, said before anything is read or written: the files there
are byte for byte what they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from challengers.config import load_config
from challengers.errors import ConfigError
from tests.reliability.conftest import CHALLENGE, invoke, tiny_config, wait_until_it_holds


def _config(path: Path, data: Path | str, **changes: object) -> Path:
    cfg = tiny_config(Path(data))
    cfg.update(changes)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_a_data_file_in_the_output_directory_is_refused_with_or_without_resume(
    tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    """The probe's data loss: the data copied in as ``dg/predictions.parquet`` was taken for an
    earlier run (the refusal suggested --resume), and `--resume` replaced it with the run's score
    table. Both are refused as the data, before anything is read; the hint offers no --resume."""
    out = tmp_path / "dg"
    out.mkdir()
    data = out / "predictions.parquet"
    shutil.copy(sim_parquet, data)
    config = _config(tmp_path / "experiment.yaml", data)
    before = data.read_bytes()
    for resume in ([], ["--resume"]):
        line = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q", *resume]).error(
            2, f"--output {out} holds data.path ({data}), which the run reads"
        )
        assert "--resume" not in line, line
    assert data.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["predictions.parquet"]


def test_an_output_directory_the_data_glob_matches_is_refused(
    tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    """``data.path: ../dg/*.parquet`` with ``-o dg``: the run's predictions.parquet landed in the
    glob and every later command failed on the files' schemas. Refused, by run and audit."""
    data = tmp_path / "dg"
    data.mkdir()
    shutil.copy(sim_parquet, data / "part-1.parquet")
    (tmp_path / "configs").mkdir()
    config = _config(tmp_path / "configs" / "experiment.yaml", "../dg/*.parquet")
    expect = f"--output {data}: data.path '{data}/*.parquet' matches files there"
    invoke(["run", config, "-o", data, "--tracking-uri", store, "-q"]).error(2, expect, "run's")
    invoke(["audit", config, "-o", data, "-q"]).error(2, expect, "audit's")
    assert sorted(p.name for p in data.iterdir()) == ["part-1.parquet"]


@pytest.mark.parametrize(
    ("pattern", "out", "refused"),
    [
        ("dg/*.parquet", "dg", True),
        ("dg/*.csv", "dg", True),  # the run writes no csv there today; any file may be next
        ("dg/*.parquet", "dg/run", False),  # * does not cross a directory
        ("dg/*/*.parquet", "dg/run", True),  # the run's models/ and plots/ are one level down
        ("dg/*/*.parquet", "dg/run/sub", False),  # two levels down: below the pattern
        ("dg/**/*.parquet", "dg/run/sub", True),  # polars reads ** at any depth
        ("dg/2024-*.parquet", "runs/x", False),
        ("dg/part-*.parquet", ".", True),  # its files are inside the output directory
        ("link/*.parquet", "dg", True),  # resolved: link is dg
    ],
)
def test_what_a_data_glob_reaches(
    tmp_path: Path, sim_parquet: Path, pattern: str, out: str, refused: bool
) -> None:
    from challengers.pipeline.preflight import check_inputs

    (tmp_path / "dg").mkdir()
    shutil.copy(sim_parquet, tmp_path / "dg" / "part-1.parquet")
    (tmp_path / "link").symlink_to(tmp_path / "dg")
    cfg = load_config(_config(tmp_path / "experiment.yaml", pattern))
    # the config is checked too: kept outside every output directory of the cases
    where = tmp_path / "elsewhere" / "experiment.yaml"
    if not refused:
        check_inputs(cfg, tmp_path / out, str(where))
        return
    with pytest.raises(ConfigError, match="matches files there"):
        check_inputs(cfg, tmp_path / out, str(where))


def test_the_champion_model_and_the_config_in_the_output_directory_are_refused(
    tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    """A run writes config.yaml and models/<name>/ into its directory: a config or a champion
    model kept there would be replaced, or fingerprinted with the run's own files."""
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    model = out / "models" / "champion.txt"
    model.write_text("tree\n")
    champion = {"name": "champ", "model": str(model)}
    config = _config(tmp_path / "experiment.yaml", sim_parquet, champion=champion)
    invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"]).error(
        2, f"--output {out} holds champion.model ({model})"
    )
    inside = _config(out / "experiment.yaml", sim_parquet)
    for command in (["run", inside, "-o", out, "--tracking-uri", store], ["audit", inside]):
        invoke([*command, "-o", out, "-q"]).error(
            2, f"--output {out} holds the config file ({inside})"
        )
    assert model.read_text() == "tree\n"


def test_files_no_run_wrote_are_never_taken_for_an_earlier_run(
    tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    """A directory holding a file named as a run's output, but no run of this tool (no lock, no
    checkpoint): not "an earlier run" to resume, with or without --resume."""
    config = _config(tmp_path / "experiment.yaml", sim_parquet)
    out = tmp_path / "foreign"
    out.mkdir()
    theirs = out / "predictions.parquet"
    shutil.copy(sim_parquet, theirs)
    before = theirs.read_bytes()
    for resume in ([], ["--resume"]):
        line = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q", *resume]).error(
            2, f"--output {out} holds predictions.parquet", "no run of challenge"
        )
        assert "--resume" not in line and "earlier run" not in line, line
    assert theirs.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["predictions.parquet"]


def test_audit_honours_a_run_lock_and_never_writes_into_a_run_directory(
    tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    """`challenge audit -o DIR` replaced the audit.json of the run writing there (which then
    logged it as its own), and of a finished run. It takes the run's lock, and refuses a run's
    directory as `run` does. An audit's own directory stays open to a run: it leaves no lock."""
    config = _config(tmp_path / "experiment.yaml", sim_parquet)
    other = _config(tmp_path / "other.yaml", sim_parquet, seed=11)
    out = tmp_path / "out"
    audited = invoke(["audit", config, "-o", out, "-q"])
    assert audited.code == 0, audited.stderr
    assert (out / "audit.json").exists() and not (out / ".challenge.lock").exists()
    command = [CHALLENGE, "run", str(config), "-o", str(out), "--tracking-uri", store, "-q"]
    first = subprocess.Popen(
        command, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=_no_plots()
    )
    try:
        wait_until_it_holds(first, out)
        audit = invoke(["audit", other, "-o", out, "-q"])
        audit.error(2, f"--output {out}: another run is writing there now (pid {first.pid})")
        _, stderr = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    written = (out / "audit.json").read_bytes()
    invoke(["audit", other, "-o", out, "-q"]).error(
        2, f"--output {out} holds a run (comparison.json)", "choose another directory"
    )
    assert (out / "audit.json").read_bytes() == written


def _no_plots() -> dict[str, str]:
    return {**os.environ, "CHALLENGE_PLOTS": "off"}
