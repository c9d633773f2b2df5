"""Safety: nothing in a config is executed or unpickled, YAML cannot blow up the loader, and a run
writes only where the user said (its --output, the store) — no surprise files elsewhere."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
import yaml

from tests.reliability.conftest import invoke, run_process, tiny_config

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "challengers").rglob("*.py"), *(ROOT / "cli").rglob("*.py")])
UNPICKLERS = {"pickle", "cloudpickle", "dill", "joblib", "_pickle"}


def _unsafe_calls(path: Path) -> list[str]:
    """Calls that would run code from data: eval/exec, an unpickler's load(s), yaml.load without
    the safe loader, yaml.unsafe_load, numpy's load without allow_pickle=False."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        func, where = node.func, f"{path.relative_to(ROOT)}:{node.lineno}"
        keywords = {k.arg: k.value for k in node.keywords}
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            found.append(f"{where}: {func.id}()")
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            continue
        owner, name = func.value.id, func.attr
        if owner in UNPICKLERS and name in ("load", "loads", "Unpickler"):
            found.append(f"{where}: {owner}.{name}()")
        if owner == "yaml" and name in ("unsafe_load", "full_load"):
            found.append(f"{where}: yaml.{name}()")
        if owner == "yaml" and name in ("load", "load_all", "compose"):
            loader = keywords.get("Loader")
            if not (isinstance(loader, ast.Attribute) and loader.attr == "SafeLoader"):
                found.append(f"{where}: yaml.{name}() without Loader=yaml.SafeLoader")
        if owner == "np" and name == "load":
            flag = keywords.get("allow_pickle")
            if not (isinstance(flag, ast.Constant) and flag.value is False):
                found.append(f"{where}: np.load() without allow_pickle=False")
    return found


def test_no_code_runs_from_data_anywhere_in_the_package() -> None:
    assert len(SOURCES) > 40
    assert [call for path in SOURCES for call in _unsafe_calls(path)] == []


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The control of the scan above."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle, yaml, numpy as np\n"
        "eval('1')\npickle.loads(b'')\nyaml.load('a')\nnp.load('x.npy')\n"
        "yaml.load('a', Loader=yaml.SafeLoader)\nnp.load('x', allow_pickle=False)\n"
    )
    tmp_root = globals()["ROOT"]
    try:
        globals()["ROOT"] = tmp_path
        found = _unsafe_calls(bad)
    finally:
        globals()["ROOT"] = tmp_root
    assert [f.split(": ", 1)[1] for f in found] == [
        "eval()",
        "pickle.loads()",
        "yaml.load() without Loader=yaml.SafeLoader",
        "np.load() without allow_pickle=False",
    ]


LEVELS = "\n".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9))
YAML_BOMBS = [
    ("alias-bomb", f"l0: &l0 [1]\n{LEVELS}\nname: x\n", "expands to more than 100,000 values"),
    ("alias-loop", "name: x\nchallengers: &c [{name: a, kind: lightgbm, params: *c}]\n", "loop"),
    ("deep-nesting", "name: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
]


@pytest.mark.parametrize(
    ("text", "expect"), [b[1:] for b in YAML_BOMBS], ids=[b[0] for b in YAML_BOMBS]
)
def test_hostile_yaml_is_refused_quickly(text: str, expect: str, tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    # CPU seconds of this process (the command runs in it), not wall time: on a loaded machine the
    # refusal took 24 s of wall time for well under a second of work; a bomb that got through
    # would take minutes of CPU or all the memory
    started = time.process_time()
    invoke(["check", path]).error(2, str(path), expect)
    assert time.process_time() - started < 10


def test_strings_in_a_config_are_never_evaluated(
    tmp_path: Path, sim_parquet: Path, store: str
) -> None:
    marker = tmp_path / "CODE-RAN"
    payload = f"__import__('pathlib').Path('{marker}').touch()"
    cfg = tiny_config(sim_parquet)
    cfg["challengers"][0]["params"] = {"objective": payload, "n_estimators": 5}
    cfg["champion"]["retrain"]["params"] = {"metric": payload, "n_estimators": 5}
    cfg["champion"]["name"] = "champ"
    cfg["evaluation"]["metrics"] = ["roc_auc"]
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg))
    outcome = invoke(["run", config, "-o", tmp_path / "out", "--tracking-uri", store, "-q"])
    assert outcome.code in (0, 2), outcome.stderr  # strings go to the library as strings
    cfg["evaluation"]["metrics"] = [payload]
    config.write_text(yaml.safe_dump(cfg))
    invoke(["check", config, "-q"]).error(2, "unknown metric")
    assert not marker.exists()


def _tree(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def test_a_run_writes_only_its_output_and_the_store(tmp_path: Path, sim_parquet: Path) -> None:
    """Config, data, working directory: untouched; files appear only under --output and beside
    the store (the .db, its lock, its artifacts)."""
    work, configs, data, stores = (tmp_path / d for d in ("work", "configs", "data", "stores"))
    for directory in (work, configs, data, stores):
        directory.mkdir()
    (data / "tx.parquet").write_bytes(sim_parquet.read_bytes())
    config = configs / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(Path("../data/tx.parquet"))))
    before = {d: _tree(d) for d in (work, configs, data)}
    out = tmp_path / "elsewhere" / "out"
    store = f"sqlite:///{stores / 'mlflow.db'}"
    outcome = run_process(["run", config, "-o", out, "--tracking-uri", store, "-q"], cwd=work)
    assert outcome.code == 0, outcome.stderr
    assert {d: _tree(d) for d in before} == before
    assert {p.split("/")[0] for p in _tree(stores)} == {"mlflow.db", ".mlflow.db.lock", "mlruns"}
    assert (out / "comparison.json").exists()
    assert _tree(tmp_path) - {"work", "configs", "data", "stores"} <= {
        *(f"{d}/{p}" for d in ("work", "configs", "data", "stores") for p in _tree(tmp_path / d)),
        "elsewhere",
        *(f"elsewhere/{p}" for p in _tree(tmp_path / "elsewhere")),
    }


def test_defaults_write_in_the_working_directory_only(tmp_path: Path, sim_parquet: Path) -> None:
    """Without --output and --tracking-uri: runs/<name>-<time>/ and the store ./mlflow.db (with
    its artifacts in ./mlruns), as DESIGN.md says, and nothing else."""
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sim_parquet)))
    work = tmp_path / "work"
    work.mkdir()
    outcome = run_process(["run", config, "-q"], cwd=work, env={"MLFLOW_TRACKING_URI": ""})
    assert outcome.code == 0, outcome.stderr
    assert {p.split("/")[0] for p in _tree(work)} == {
        "runs",
        "mlflow.db",
        ".mlflow.db.lock",
        "mlruns",
    }
    (run,) = (work / "runs").iterdir()
    assert run.name.startswith("sim-") and (run / "comparison.json").exists()


def test_bad_input_leaves_no_empty_run_directory(
    tmp_path: Path, sim_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run or an audit refused for its data exits 2 and leaves no runs/<name>-<time>/ behind."""
    config = tmp_path / "experiment.yaml"
    cfg = tiny_config(sim_parquet)
    cfg["data"]["target"] = "NO_SUCH_COLUMN"
    config.write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    for command in (["run", config, "-q"], ["audit", config, "-q"]):
        outcome = invoke(command, env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"})
        assert outcome.code == 2, outcome.stderr
        assert "NO_SUCH_COLUMN" in outcome.stderr
        assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []
