"""Tree parameters the libraries refuse (``num_leaves: 1``, ``max_depth: -1``, a tuned range that
reaches such a value): `check` refuses them before a row is read, `run` once its rows are (before
the audit and any training), exit 2, one line naming the model and the parameter. They used to pass
`check` and fail the challenger in `run`, after the data had loaded and been audited."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import challengers.pipeline.prepare  # noqa: F401
from tests.conftest import sim_config
from tests.reliability.conftest import invoke


@dataclass(frozen=True)
class Refused:
    id: str
    edit: Callable[[dict[str, Any]], Any]
    expect: tuple[str, ...]


def _challenger(section: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda cfg: cfg["challengers"].append(section)


def _params(index: int, **params: Any) -> Callable[[dict[str, Any]], None]:
    return lambda cfg: cfg["challengers"][index]["params"].update(params)


GRAPH = {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [7]}

CASES = [
    Refused(
        "lightgbm-num-leaves-1",
        _params(0, num_leaves=1),
        (
            "error: challengers.lgbm.params.num_leaves: LightGBM refuses num_leaves: 1 (it needs "
            "num_leaves > 1); give a value LightGBM accepts, or remove num_leaves for its default",
        ),
    ),
    Refused(
        "lightgbm-bagging-fraction-above-1",
        _params(0, learning_rate=0.05, bagging_fraction=1.5),
        ("challengers.lgbm.params.bagging_fraction: LightGBM refuses bagging_fraction: 1.5",),
    ),
    Refused(
        "xgboost-negative-max-depth",
        _params(1, max_depth=-1),
        (
            "challengers.xgb.params.max_depth: XGBoost refuses max_depth: -1 (value -1 for "
            "Parameter max_depth should be greater equal to 0)",
        ),
    ),
    Refused(
        "xgboost-negative-eta",
        _params(1, eta=-0.1),
        ("challengers.xgb.params.eta: XGBoost refuses eta: -0.1", "learning_rate should be"),
    ),
    Refused(
        "xgboost-subsample-above-1",
        _params(1, subsample=1.5),
        ("challengers.xgb.params.subsample: XGBoost refuses subsample: 1.5", "bound [0,1]"),
    ),
    Refused(
        "xgboost-unknown-objective",
        _params(1, objective="binary:logit"),
        ("challengers.xgb.params.objective: XGBoost refuses objective: 'binary:logit'",),
    ),
    Refused(
        "lightgbm-conflicting-class-weights",
        lambda cfg: cfg["challengers"][0].update(
            imbalance="balanced", params={"is_unbalance": True}
        ),
        ("challengers.lgbm.params.is_unbalance:", "Cannot set is_unbalance and scale_pos_weight"),
    ),
    Refused(
        "lightgbm-monotone-constraints-of-another-length",
        _params(0, monotone_constraints=[1, 0]),
        (
            "challengers.lgbm.params.monotone_constraints: LightGBM refuses",
            "for a tree of 9 columns",
        ),
    ),
    Refused(
        "graph-tree",
        _challenger(
            {
                "name": "g",
                "kind": "graph",
                "graph": GRAPH,
                "model": {"kind": "xgboost", "params": {"max_depth": -3}},
            }
        ),
        ("challengers.g.model.params.max_depth: XGBoost refuses max_depth: -3",),
    ),
    Refused(
        "anomaly-hybrid-tree",
        _challenger(
            {
                "name": "a",
                "kind": "anomaly",
                "detector": "ecod",
                "hybrid": "lightgbm",
                "model": {"kind": "lightgbm", "params": {"min_data_in_leaf": -1}},
            }
        ),
        ("challengers.a.model.params.min_data_in_leaf: LightGBM refuses min_data_in_leaf: -1",),
    ),
    Refused(
        "retrained-champion",
        lambda cfg: cfg["champion"]["retrain"]["params"].update(learning_rate=0),
        ("champion.retrain.params.learning_rate: LightGBM refuses learning_rate: 0",),
    ),
    Refused(
        "tuned-range-reaching-a-refused-value",
        lambda cfg: cfg["challengers"][0].update(
            tune={"trials": 2, "space": {"num_leaves": {"low": 1, "high": 64, "int": True}}}
        ),
        (
            "challengers.lgbm.tune.space.num_leaves: the search would try num_leaves: 1, which "
            "LightGBM refuses (it needs num_leaves > 1); narrow it to values LightGBM accepts",
        ),
    ),
    Refused(
        "xgboost-tuned-range-above-1",
        lambda cfg: cfg["challengers"][1].update(
            tune={"trials": 2, "space": {"colsample_bytree": {"low": 0.5, "high": 1.5}}}
        ),
        ("challengers.xgb.tune.space.colsample_bytree: the search would try", "1.5, which XGB"),
    ),
    Refused(
        "default-search-space-against-a-fixed-parameter",
        lambda cfg: cfg["challengers"][0].update(params={"boosting": "goss"}, tune={"trials": 2}),
        (
            "challengers.lgbm.tune: the default search space tries bagging_fraction: 0.4, which "
            "LightGBM refuses with this tree's parameters (Cannot use bagging in GOSS); set "
            "bagging_fraction in the section",
        ),
    ),
    Refused(
        "anomaly-hybrid-tuned-range",
        _challenger(
            {
                "name": "a",
                "kind": "anomaly",
                "detector": "ecod",
                "hybrid": "lightgbm",
                "tune": {"trials": 2, "space": {"feature_fraction": {"low": 0.0, "high": 1.0}}},
            }
        ),
        ("challengers.a.tune.space.feature_fraction: the search would try feature_fraction: 0.0",),
    ),
]


@pytest.fixture
def no_rows_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the rows fails the test: the refusal must come first."""

    def read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the rows were read before the tree parameters were checked")

    loading = sys.modules["challengers.pipeline.prepare"]  # (the package's prepare() hides it)
    monkeypatch.setattr(loading, "load_whole", read)
    monkeypatch.setattr(loading, "load_windows", read)


def _config(tmp_path: Path, sim_parquet: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    import yaml

    cfg = sim_config(sim_parquet)
    edit(cfg)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.usefixtures("no_rows_read")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_refuses_before_reading_rows(
    case: Refused, tmp_path: Path, sim_parquet: Path
) -> None:
    path = _config(tmp_path, sim_parquet, case.edit)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    invoke(["check", path, "--tracking-uri", store]).error(2, *case.expect)


@pytest.fixture
def no_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Auditing the rows fails the test: a run checks the parameters while its rows load (the
    check imports the trees' libraries, which held the first row back 3 s on the demo) and
    refuses them once the rows are read, before the audit and any training."""

    def audit(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the rows were audited before the tree parameters were refused")

    monkeypatch.setattr(sys.modules["challengers.pipeline.run"], "audit_in_run", audit)


@pytest.mark.usefixtures("no_audit")
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[-4]], ids=lambda c: c.id)
def test_run_refuses_before_the_audit(case: Refused, tmp_path: Path, sim_parquet: Path) -> None:
    path = _config(tmp_path, sim_parquet, case.edit)
    out = tmp_path / "out"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    invoke(["run", path, "--output", out, "--tracking-uri", store, "-q"]).error(2, *case.expect)
    assert not (out / "comparison.json").exists()


def test_parameters_the_libraries_accept_pass(tmp_path: Path, sim_parquet: Path) -> None:
    """Values at the libraries' bounds, a per-feature list of the right length, a tuned search
    over the default space and a narrowed range: `check` passes."""

    def edit(cfg: dict[str, Any]) -> None:
        lgbm, xgb = cfg["challengers"]
        lgbm["params"].update(num_leaves=2, bagging_fraction=1.0, monotone_constraints=[0] * 9)
        lgbm["tune"] = {"trials": 2, "space": {"learning_rate": {"low": 0.01, "high": 0.3}}}
        xgb["params"].update(max_depth=0, subsample=1.0, eta=0.3, grow_policy="lossguide")
        xgb["tune"] = {"trials": 2}

    path = _config(tmp_path, sim_parquet, edit)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = invoke(["check", path, "--tracking-uri", store, "-q"])
    assert done.code == 0, done.stderr
