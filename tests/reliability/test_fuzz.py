"""Fuzzing: generated configs (mutations of a valid one, and raw text) and small generated data
frames. The loader raises only ConfigError; `challenge check` only exits 0 or 2, with one
"error:" line per problem and never a traceback. Whole runs (`challenge run`) with columns in
several roles: the same, or exit 0 with a comparison.

Examples are derandomized (the same every run, so the suite cannot flake); set
CHALLENGE_FUZZ_EXAMPLES=500 for a longer, random search (whole runs included: seconds each).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from challengers.config import load_config
from challengers.errors import ConfigError
from tests.conftest import sim_config
from tests.reliability.conftest import Outcome, invoke

EXAMPLES = int(os.environ.get("CHALLENGE_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 40,
    derandomize=not EXAMPLES,
    deadline=None,  # a loaded machine: no per-example time limit
    database=None,  # nothing written into the working directory
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.dates(date(1990, 1, 1), date(2030, 1, 1)).map(str)
    | st.sampled_from(["TX_AMOUNT", "lightgbm", "xgboost", "graph", "anomaly", "roc_auc@0.1"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        out.append((*prefix, key))
        out += _paths(child, (*prefix, key))
    return out


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        root = root[part]
    return root


@st.composite
def mutated_configs(draw: st.DrawFn, data_path: Path) -> dict[str, Any]:
    """A valid config with 1-4 random edits: keys deleted, renamed or added, values replaced."""
    cfg: Any = sim_config(data_path)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(cfg)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(cfg, path), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "add", "rename"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(VALUES)
        elif isinstance(parent, dict) and action == "add":
            parent[draw(st.text(min_size=1, max_size=10))] = draw(VALUES)
        elif isinstance(parent, dict):
            parent[str(key)[:-1] + draw(st.text(min_size=1, max_size=2))] = parent.pop(key)
    return cfg


def _check(config: Path, tmp: Path) -> None:
    """`challenge check` ends in 0 or 2, with one 'error:' line per problem, no traceback."""
    _ends_cleanly(invoke(["check", config, "--tracking-uri", f"sqlite:///{tmp / 'm.db'}", "-q"]))


def _ends_cleanly(outcome: Outcome) -> None:
    """Exit 0 and nothing on stderr, or 2 and one 'error:' line per problem; no traceback."""
    assert outcome.code in (0, 2), f"exit {outcome.code}: {outcome.stderr}"
    assert "Traceback" not in outcome.stderr + outcome.stdout
    lines = outcome.stderr.strip().splitlines()
    if outcome.code == 2:
        assert lines and all(line.startswith("error: ") for line in lines), lines
    else:
        assert lines == [], lines


def _load(config: Path) -> None:
    try:
        load_config(config)
    except ConfigError as exc:
        assert str(exc).strip(), "an empty error message"


@FUZZ
@given(data=st.data())
def test_mutated_configs(data: st.DataObject, tmp_path: Path, sim_parquet: Path) -> None:
    cfg = data.draw(mutated_configs(sim_parquet))
    config = tmp_path / "fuzz.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    _load(config)
    _check(config, tmp_path)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.text(max_size=3)), max_size=4
    )
)
def test_corrupted_yaml_text(
    edits: list[tuple[int, int, str]], tmp_path: Path, sim_parquet: Path
) -> None:
    """The valid YAML with characters deleted or inserted (broken indentation, quotes, colons)."""
    text = yaml.safe_dump(sim_config(sim_parquet), sort_keys=False)
    for where, remove, insert in edits:
        at = where % (len(text) + 1)
        text = text[:at] + insert + text[at + remove :]
    config = tmp_path / "fuzz.yaml"
    config.write_text(text)
    _load(config)
    _check(config, tmp_path)


@FUZZ
@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_as_config(content: bytes, tmp_path: Path) -> None:
    config = tmp_path / "fuzz.yaml"
    config.write_bytes(content)
    _load(config)
    _check(config, tmp_path)


# ----------------------------------------------------------------------------------- data

START = datetime(2024, 1, 1)
TIMES = st.datetimes(START - timedelta(days=3), START + timedelta(days=12))


@st.composite
def time_columns(draw: st.DrawFn, n: int) -> pl.Series:
    """Timestamps as a validator may receive them: naive or zoned datetimes, dates, ISO text,
    text with mixed offsets, day/month text, integers; some missing."""
    times = draw(st.lists(TIMES, min_size=n, max_size=n))
    nulls = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    kind = draw(st.sampled_from(["naive", "utc", "paris", "date", "iso", "mixed", "dmy", "int"]))
    values: list[Any]
    if kind == "date":
        values = [t.date() for t in times]
    elif kind == "iso":
        values = [t.isoformat(sep=" ") for t in times]
    elif kind == "mixed":
        values = [t.isoformat() + ("+02:00" if i % 3 == 0 else "") for i, t in enumerate(times)]
    elif kind == "dmy":
        values = [t.strftime("%d/%m/%Y %H:%M") for t in times]
    elif kind == "int":
        values = [int(t.timestamp()) for t in times]
    else:
        values = list(times)
    values = [
        None if null and draw(st.booleans()) else v for v, null in zip(values, nulls, strict=True)
    ]
    series = pl.Series("T", values)
    if kind in ("utc", "paris"):
        zone = "UTC" if kind == "utc" else "Europe/Paris"
        series = series.cast(pl.Datetime("us")).dt.replace_time_zone(zone, ambiguous="earliest")
    return series


def column(n: int) -> st.SearchStrategy[pl.Series]:
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
    cells = st.sampled_from(["int", "float", "text", "bool", "null", "constant"]).flatmap(
        lambda kind: st.lists(
            {
                "int": st.integers(-5, 5) | st.none(),
                "float": floats | st.none(),
                "text": st.text(max_size=4) | st.none(),
                "bool": st.booleans() | st.none(),
                "null": st.none(),
                "constant": st.just(1.5),
            }[kind],
            min_size=n,
            max_size=n,
        )
    )
    return cells.map(lambda values: pl.Series(values, strict=False))


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 60))
    target = draw(
        st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)
        | st.lists(st.sampled_from([0, 1, None, 2, -1]), min_size=n, max_size=n)
        | st.lists(st.sampled_from(["0", "1", "yes"]), min_size=n, max_size=n)
        | st.lists(st.sampled_from([0.0, 1.0, 0.5, float("nan")]), min_size=n, max_size=n)
    )
    columns = {"T": draw(time_columns(n)), "Y": pl.Series("Y", target, strict=False)}
    for i in range(draw(st.integers(1, 4))):
        columns[f"F{i}"] = draw(column(n)).alias(f"F{i}")
    if draw(st.booleans()):
        columns["S"] = draw(column(n)).alias("S")  # the champion's production score
    return pl.DataFrame(columns)


def _data_config(path: Path, frame: pl.DataFrame, entity: bool) -> dict[str, Any]:
    champion: dict[str, Any] = {"name": "champ", "retrain": {"kind": "lightgbm"}}
    if "S" in frame.columns:
        champion = {"name": "champ", "score": "S"}
    return {
        "name": "fuzz",
        "threads": 1,
        "data": {
            "path": str(path),
            "target": "Y",
            "time": "T",
            **({"entity": "F0"} if entity else {}),
        },
        "split": {
            "train": {"start": "2024-01-01", "end": "2024-01-05"},
            "test": {"start": "2024-01-07", "end": "2024-01-10"},
            "label_delay_days": 1,
        },
        "champion": champion,
        "challengers": [{"name": "lgbm", "kind": "lightgbm"}],
        "evaluation": {"metrics": ["roc_auc", "pr_auc"], "bootstrap": 10},
    }


@FUZZ
@given(frame=frames(), as_csv=st.booleans(), entity=st.booleans())
def test_generated_data(frame: pl.DataFrame, as_csv: bool, entity: bool, tmp_path: Path) -> None:
    path = tmp_path / ("data.csv" if as_csv else "data.parquet")
    if as_csv:
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    config = tmp_path / "fuzz.yaml"
    config.write_text(yaml.safe_dump(_data_config(path, frame, entity), sort_keys=False))
    _check(config, tmp_path)


# ------------------------------------------------------------------- whole runs, column roles

# the simulated file's columns, for roles a validator may give one column twice (a segment that
# is the entity, an id that is the amount): a run must finish or stop in one line
ROLE_COLUMNS = ["CUSTOMER_ID", "TERMINAL_ID", "TRANSACTION_ID", "TX_AMOUNT", "MCC", "REGION"]
ROLES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(ROLE_COLUMNS),
        "entity": st.sampled_from(ROLE_COLUMNS),
        "amount": st.sampled_from(["TX_AMOUNT", "MCC", "CUSTOMER_ID"]),
        "segments": st.lists(st.sampled_from(ROLE_COLUMNS), min_size=1, max_size=3, unique=True),
        "scenario": st.sampled_from(["TX_FRAUD_SCENARIO", "REGION", "MCC"]),
        "features": st.lists(st.sampled_from(ROLE_COLUMNS), min_size=1, max_size=3, unique=True),
    },
)
# whole runs take seconds each: the suite runs the examples below; CHALLENGE_FUZZ_EXAMPLES=N
# adds N generated ones
RUNS = settings(
    FUZZ,
    max_examples=EXAMPLES or 1,
    phases=[Phase.explicit, Phase.generate] if EXAMPLES else [Phase.explicit],
)


@RUNS
@given(roles=ROLES, kind=st.sampled_from(["lightgbm", "xgboost", "anomaly"]))
# the id and a segment the entity: each stopped the evaluation until training_columns kept them
@example(roles={"id": "CUSTOMER_ID", "segments": ["REGION", "CUSTOMER_ID"]}, kind="xgboost")
def test_runs_with_columns_in_several_roles(
    roles: dict[str, Any], kind: str, tmp_path_factory: pytest.TempPathFactory, sim_parquet: Path
) -> None:
    """`challenge run` (not only check) with columns given several roles: exit 0, or 2 with one
    'error:' line per problem; never a traceback (a segment that was also the entity once
    stopped the evaluation with polars' ColumnNotFoundError)."""
    tmp = tmp_path_factory.mktemp("roles")
    cfg = sim_config(sim_parquet)
    cfg["data"].update(roles)
    cfg["champion"]["retrain"]["params"] = {"n_estimators": 5}
    challenger: dict[str, Any] = {"name": "m", "kind": kind, "params": {"n_estimators": 5}}
    if kind == "anomaly":
        challenger = {"name": "m", "kind": "anomaly", "detector": "ecod"}
    cfg["challengers"] = [challenger]
    cfg["evaluation"]["bootstrap"] = 10
    config = tmp / "fuzz.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    store = f"sqlite:///{tmp / 'm.db'}"
    outcome = invoke(["run", config, "-o", tmp / "out", "--tracking-uri", store, "-q"])
    _ends_cleanly(outcome)
    assert outcome.code == 2 or (tmp / "out" / "comparison.json").exists()
