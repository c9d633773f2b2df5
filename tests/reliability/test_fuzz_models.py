"""Fuzzing champion files: a LightGBM text model with lines lost, repeated, moved or given other
values, an XGBoost JSON model with values replaced or deleted, an XGBoost UBJSON model with bytes
overwritten. `challenge check` exits 0 or 2 with one "error:" line; a file it accepts loads and
scores rows. Before the trees were checked, such files made LightGBM abort the process and either
library loop forever in its predictions (the suite's timeout would stop this test); before .ubj
files were read by the tool first, 75 of 400 byte-damaged ones ended the process inside XGBoost's
own reader (a segmentation fault), and one asked for 22 GB.

Examples are derandomized; CHALLENGE_FUZZ_EXAMPLES=N draws N random ones per library instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
import yaml
from hypothesis import given
from hypothesis import strategies as st

from challengers.models.trees import LIBRARIES
from tests.conftest import sim_config
from tests.reliability.conftest import invoke
from tests.reliability.test_fuzz import FUZZ

FEATURES = ["TX_AMOUNT", "TX_HOUR", "IS_ONLINE"]
ROWS = np.random.default_rng(0).random((200, len(FEATURES)))
VALUES = st.sampled_from(["", "0", "-1", "nan", "inf", "1e400", "x", "99", "0 0", "-2 -3"])


def _label() -> np.ndarray:
    return (ROWS[:, 0] + ROWS[:, 1] > 1.0).astype(int)


@pytest.fixture(scope="module")
def lightgbm_model() -> str:
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "num_leaves": 6}
    data = lgb.Dataset(ROWS, label=_label(), feature_name=FEATURES)
    return str(lgb.train(params, data, 4).model_to_string())


@pytest.fixture(scope="module")
def xgboost_model() -> dict[str, Any]:
    data = xgb.DMatrix(ROWS, label=_label(), feature_names=FEATURES)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1, "max_depth": 3}, data, 4)
    return dict(json.loads(booster.save_raw(raw_format="json")))


@pytest.fixture(scope="module")
def xgboost_ubj(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    data = xgb.DMatrix(ROWS, label=_label(), feature_names=FEATURES)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1, "max_depth": 3}, data, 4)
    path = tmp_path_factory.mktemp("ubj") / "m.ubj"
    booster.save_model(path)
    return path.read_bytes()


@st.composite
def damaged_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(damaged) - 1))
        size = draw(st.integers(1, 4))
        damaged[at : at + size] = draw(st.binary(min_size=size, max_size=size))
    return bytes(damaged)


@st.composite
def damaged_text(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["lose", "repeat", "move", "value"]))
        if how == "lose":
            del lines[at]
        elif how == "repeat":
            lines.insert(at, lines[at])
        elif how == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(at))
        elif "=" in lines[at]:
            lines[at] = lines[at].split("=")[0] + "=" + draw(VALUES)
    return "\n".join(lines)


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths to every value of a JSON document (the first few items of each list)."""
    if isinstance(node, dict):
        return [p for key, child in node.items() for p in _leaves(child, (*path, key))]
    if isinstance(node, list) and node:
        return [p for i, child in enumerate(node[:4]) for p in _leaves(child, (*path, i))]
    return [path]


@st.composite
def damaged_json(draw: st.DrawFn, model: dict[str, Any]) -> str:
    model = json.loads(json.dumps(model))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_leaves(model)))
        parent = model
        for key in path[:-1]:
            parent = parent[key]
        replacement = draw(st.sampled_from([0, -1, 99, 1e300, "", "x", None, [], "nan"]))
        parent[path[-1]] = replacement
    return json.dumps(model)


def _outcome(tmp_path: Path, name: str, content: str | bytes) -> Any:
    if isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    else:
        (tmp_path / name).write_text(content)
    cfg = sim_config(tmp_path / "data.parquet")
    cfg["champion"] = {"name": "champ", "model": str(tmp_path / name), "features": FEATURES}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return invoke(["check", tmp_path / "c.yaml", "--tracking-uri", "sqlite:///:memory:", "-q"])


def _holds(outcome: Any, tmp_path: Path, name: str) -> None:
    """Exit 2 with one error line, or 0 and a model that scores rows."""
    assert "Traceback" not in outcome.stderr + outcome.stdout
    if outcome.code == 2:
        lines = outcome.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: champion.model:"), lines
        return
    assert outcome.code == 0, outcome.stderr
    library = LIBRARIES["lightgbm" if name.endswith(".txt") else "xgboost"]
    scores = library.predict(library.load(tmp_path / name), ROWS)
    assert scores.shape[0] == len(ROWS)


@pytest.fixture
def data(tmp_path: Path, sim_parquet: Path) -> Path:
    (tmp_path / "data.parquet").symlink_to(sim_parquet)
    return tmp_path / "data.parquet"


FILES: dict[str, tuple[Any, str]] = {  # file name -> (its damage, the fixture of the intact file)
    "champion.txt": (damaged_text, "lightgbm_model"),
    "champion.json": (damaged_json, "xgboost_model"),
    "champion.ubj": (damaged_bytes, "xgboost_ubj"),
}


@FUZZ
@pytest.mark.parametrize("name", list(FILES))
@given(choice=st.data())
def test_a_damaged_champion_file_is_one_line_or_a_model_that_scores(
    choice: st.DataObject, name: str, request: pytest.FixtureRequest, tmp_path: Path, data: Path
) -> None:
    damage, intact = FILES[name]
    content = choice.draw(damage(request.getfixturevalue(intact)))
    _holds(_outcome(tmp_path, name, content), tmp_path, name)
