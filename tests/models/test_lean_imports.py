"""A `challenge` process imports LightGBM and XGBoost without scikit-learn (models/lean_imports.py)
and its analyses without ``scipy.stats`` (analysis/distributions.py): the same models and numbers,
1-1.5 CPU-s of imports less a run. Checked in fresh interpreters (this one has both: tests build
files with the libraries' estimator classes and compare with scikit-learn)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
import yaml
from scipy import stats

from challengers.analysis import distributions as d
from tests.conftest import sim_config

TRAIN_AND_PREDICT = """
import numpy as np, lightgbm as lgb, xgboost as xgb
rng = np.random.default_rng(3)
X = rng.normal(size=(2000, 5)).astype(np.float32)
y = (X[:, 0] + rng.normal(size=2000) > 1.2).astype(np.int8)
lgbm = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 1},
                 lgb.Dataset(X, y), 20)
boost = xgb.train({"objective": "binary:logistic", "nthread": 1, "seed": 1},
                  xgb.DMatrix(X, y), 20)
scores = [lgbm.predict(X[:50]).tolist(), boost.predict(xgb.DMatrix(X[:50])).tolist()]
"""

CHILD = """
import json, sys
from challengers.models.lean_imports import (
    hide_sklearn_from_tree_libraries, show_sklearn_to_tree_libraries)
hide_sklearn_from_tree_libraries()
if sys.argv[1] == "shown":
    show_sklearn_to_tree_libraries()
import lightgbm.compat, xgboost.compat, mlflow.lightgbm, mlflow.xgboost
seen = {"sklearn": "sklearn" in sys.modules, "scipy.stats": "scipy.stats" in sys.modules,
        "lightgbm": lightgbm.compat.SKLEARN_INSTALLED, "xgboost": xgboost.compat.SKLEARN_INSTALLED}
exec(sys.argv[2])
import sklearn.base  # still importable by everything else (PyOD)
print(json.dumps({"seen": seen, "scores": scores}))
"""


def _child(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, TRAIN_AND_PREDICT],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_tree_libraries_hidden_from_sklearn_train_the_same_models() -> None:
    hidden = _child("hidden")
    assert hidden["seen"] == {
        "sklearn": False,
        "scipy.stats": False,
        "lightgbm": False,
        "xgboost": False,
    }
    here: dict = {}
    exec(TRAIN_AND_PREDICT, {"np": np, "lgb": lgb, "xgb": xgb}, here)  # sklearn imported here
    assert hidden["scores"] == json.loads(json.dumps(here["scores"]))  # the same bits


def test_shown_again_the_libraries_have_their_estimators() -> None:
    """The Spark engine's XGBoost estimator is a scikit-learn one: shown again before import."""
    assert _child("shown")["seen"] == {
        "sklearn": True,
        "scipy.stats": True,
        "lightgbm": True,
        "xgboost": True,
    }


@pytest.mark.parametrize("x", [-40.0, -3.0, -0.5, 0.0, 0.7, 2.5, 8.0, 38.5])
def test_normal_and_chi_square_equal_scipy_stats(x: float) -> None:
    assert d.normal_sf(x) == stats.norm.sf(x)
    assert d.chi2_sf(abs(x), 1) == stats.chi2.sf(abs(x), 1)
    p = 1 / (1 + np.exp(-x / 4))  # probabilities across (0, 1)
    assert d.normal_quantile(p) == stats.norm.ppf(p)


@pytest.mark.parametrize("df", [1, 3, 12, 250])
def test_student_t_equals_scipy_stats(df: int) -> None:
    for x in (-6.0, -1.3, 0.0, 0.4, 2.1, 30.0):
        assert d.t_sf(x, df) == stats.t.sf(x, df)
    for p in (0.001, 0.025, 0.5, 0.975, 0.9999):
        assert d.t_quantile(p, df) == stats.t.ppf(p, df)


def test_sign_test_equals_scipy_binomtest() -> None:
    for n in range(1, 41):
        for k in range(n + 1):
            assert d.sign_test_p(k, n) == pytest.approx(
                stats.binomtest(k, n, 0.5).pvalue, rel=1e-14
            )
    with pytest.raises(ValueError, match="outside"):
        d.sign_test_p(5, 4)


PROBE = """
import atexit, json, sys
from challengers.models import lean_imports
def said():
    shown = lean_imports._FINDER not in sys.meta_path
    listed = [m for m in ("sklearn", "scipy.stats", "lightgbm", "xgboost") if m in sys.modules]
    print("MODULES", json.dumps({"listed": listed, "shown": shown}), file=sys.stderr)
atexit.register(said)
sys.argv[0] = "challenge"
from challengers.cli.main import main
main()
"""


def _probe(args: list[str], cwd: Path) -> tuple[int, dict]:
    """The command in a fresh interpreter (as the `challenge` script runs it): its exit code, the
    modules it imported and whether scikit-learn was shown to the tree libraries at its end."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "CHALLENGE_PLOTS": "off", "CHALLENGE_PDF": "off"},
        timeout=300,
    )
    line = next((x for x in done.stderr.splitlines() if x.startswith("MODULES ")), None)
    assert line is not None, done.stderr[-2000:]
    return done.returncode, json.loads(line.removeprefix("MODULES "))


def test_a_run_imports_neither_sklearn_nor_scipy_stats(tmp_path: Path, sim_parquet: Path) -> None:
    """The real command, end to end (no segments: Fisher's test is SciPy's statistics')."""
    cfg = sim_config(sim_parquet)
    del cfg["data"]["segments"]
    cfg["evaluation"]["bootstrap"] = 0
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", str(path), "-q", "--output", str(tmp_path / "out"), "--tracking-uri", store]
    code, seen = _probe(args, tmp_path)
    assert code == 0
    assert seen == {"listed": ["lightgbm", "xgboost"], "shown": False}
    assert (tmp_path / "out" / "comparison.json").exists()


def test_a_spark_run_shows_sklearn_to_the_tree_libraries(tmp_path: Path, sim_parquet: Path) -> None:
    """XGBoost's Spark estimator needs scikit-learn: a run on the Spark engine shows it again
    before anything imports the libraries (first thing: here the store is unreachable, which
    ends the run before its Spark session or any import starts: exit 3)."""
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(sim_config(sim_parquet)))
    args = ["run", str(path), "--engine", "spark", "--tracking-uri", "http://127.0.0.1:1"]
    code, seen = _probe(args, tmp_path)
    assert code == 3
    assert seen == {"listed": [], "shown": True}
