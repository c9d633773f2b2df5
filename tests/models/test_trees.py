"""The tree-library registry: one place per library for its flavour, native file, predict with the
best iteration, save, load and SHAP contributions; what is saved scores as what was fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from challengers.data.frames import to_matrix
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger
from challengers.models.trees import (
    LIBRARIES,
    library,
    library_for_file,
    library_of,
    without_tree_sizes,
)
from challengers.pipeline.checkpoint import _save_native, _state
from challengers.pipeline.fitting import Fitted
from challengers.pipeline.plan import ModelPlan
from challengers.pipeline.restored import RestoredModel
from tests.models.contract import EASY_FEATURES, ChallengerContract, easy_frame


@pytest.mark.parametrize("cls", [LightGBMChallenger, XGBoostChallenger])
def test_restored_checkpoint_scores_equal_the_early_stopped_model(
    cls: type, tmp_path: Path
) -> None:
    """Early stopping keeps a best iteration below the rounds trained: the restored booster must
    predict with it, as the fitted challenger does."""
    spec = ChallengerContract().make_spec()
    model = cls({"n_estimators": 400, "learning_rate": 0.3}, seed=1, threads=1)
    model.fit(easy_frame(3000, seed=1), spec, valid=easy_frame(1500, seed=2))
    test = easy_frame(1000, seed=3)
    scores = model.predict_score(test)
    plan = ModelPlan("m", "challenger", model.kind, EASY_FEATURES)
    native = _save_native(model, tmp_path)
    state = _state(Fitted(plan=plan, model=model, scores=scores), model, native)
    restored = RestoredModel(state, tmp_path)
    np.testing.assert_array_equal(restored.predict_score(test), scores)


@pytest.mark.parametrize("name", sorted(LIBRARIES))
def test_each_library_saves_loads_and_explains_what_it_fitted(name: str, tmp_path: Path) -> None:
    """Through the registry alone: the saved file is recognised by its suffix, loads with its
    feature names, scores as the fitted model, and its SHAP contributions add up to the margin."""
    lib = library(name)
    cls = {"lightgbm": LightGBMChallenger, "xgboost": XGBoostChallenger}[name]
    spec = ChallengerContract().make_spec()
    model = cls({"n_estimators": 400, "learning_rate": 0.3}, seed=1, threads=1)
    model.fit(easy_frame(3000, seed=1), spec, valid=easy_frame(1500, seed=2))
    path = model.save(tmp_path)
    assert path.name == lib.native_file and library_for_file(path.suffix) is lib
    booster = lib.load(path)
    assert library_of(booster) is lib and library_of(model.native_model()) is lib
    assert lib.feature_names(booster) == list(EASY_FEATURES)
    test = easy_frame(500, seed=3)
    x = to_matrix(test, EASY_FEATURES)
    np.testing.assert_array_equal(lib.predict(booster, x, 1), model.predict_score(test))
    contributions = lib.contributions(booster, x, EASY_FEATURES)
    assert contributions.shape == (500, len(EASY_FEATURES) + 1)
    margin = lib.raw_margin(booster, x, EASY_FEATURES)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, rtol=1e-5, atol=1e-5)
    probability = 1 / (1 + np.exp(-margin))  # the margin of the best iteration, not every round
    np.testing.assert_allclose(probability, model.predict_score(test), rtol=1e-5, atol=1e-6)
    assert lib.requirement().startswith(f"{lib.package}==")
    assert lib.classes(booster) == 2


def test_a_champion_file_predicts_with_its_best_iteration(tmp_path: Path) -> None:
    """A first-line XGBoost model saved after early stopping is scored as its library's own
    scikit-learn wrapper would: up to the best iteration."""
    from challengers.models.champion import load_model_file

    spec = ChallengerContract().make_spec()
    model = XGBoostChallenger({"n_estimators": 400, "learning_rate": 0.3}, seed=1, threads=1)
    model.fit(easy_frame(3000, seed=1), spec, valid=easy_frame(1500, seed=2))
    assert int(model.booster_.attr("best_iteration")) + 1 < model.booster_.num_boosted_rounds()
    test = easy_frame(500, seed=3)
    champion = load_model_file(str(model.save(tmp_path)), features=None, schema=test.schema)
    champion.fit(test, spec)
    np.testing.assert_array_equal(champion.predict_score(test), model.predict_score(test))


def test_a_linear_xgboost_champion_scores_as_its_weights_say(tmp_path: Path) -> None:
    """A ``booster: gblinear`` champion (XGBoost scores it from a DMatrix only; its in-place
    prediction refuses a linear booster): each score is the logistic of the weights' sum, its
    bias and the base score's margin, computed here from the file's own JSON."""
    import json

    import xgboost as xgb

    from challengers.models.champion import load_model_file

    frame = easy_frame(3000, seed=1)
    x = to_matrix(frame, EASY_FEATURES)
    matrix = xgb.DMatrix(x, label=frame["y"].to_numpy(), feature_names=list(EASY_FEATURES))
    params = {"booster": "gblinear", "objective": "binary:logistic", "nthread": 1}
    xgb.train(params, matrix, 30).save_model(tmp_path / "linear.json")
    test = easy_frame(500, seed=3)
    champion = load_model_file(str(tmp_path / "linear.json"), features=None, schema=test.schema)
    champion.fit(test, ChallengerContract().make_spec())

    learner = json.loads((tmp_path / "linear.json").read_text())["learner"]
    weights = np.array(learner["gradient_booster"]["model"]["weights"], dtype=np.float64)
    base = float(learner["learner_model_param"]["base_score"].strip("[]"))
    margin = to_matrix(test, EASY_FEATURES) @ weights[:-1] + weights[-1] + np.log(base / (1 - base))
    np.testing.assert_allclose(champion.predict_score(test), 1 / (1 + np.exp(-margin)), rtol=1e-5)


def test_other_objects_belong_to_no_library() -> None:
    assert library_of(object()) is None
    assert library_for_file(".pkl") is None


def test_a_lightgbm_file_loads_as_lightgbm_reads_it_without_its_tree_offsets(
    tmp_path: Path,
) -> None:
    """`LightGBMLibrary.load` drops the header's tree_sizes (LightGBM's offsets for reading the
    trees in parallel, where a damaged file ends the process): the booster is the one LightGBM
    itself loads, text for text and score for score, and no tree line is touched."""
    import lightgbm as lgb

    x = easy_frame(2000, seed=4).select(EASY_FEATURES).to_numpy()
    label = (x[:, 0] > np.median(x[:, 0])).astype(int)
    params = {"verbosity": -1, "num_threads": 1, "num_leaves": 7}
    lgb.train(params, lgb.Dataset(x, label=label), 40).save_model(tmp_path / "m.txt")
    text = (tmp_path / "m.txt").read_text()
    assert text.count("tree_sizes=") == 1

    ours, theirs = (
        LIBRARIES["lightgbm"].load(tmp_path / "m.txt"),
        lgb.Booster(model_file=tmp_path / "m.txt"),
    )
    assert ours.model_to_string() == theirs.model_to_string()
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))

    kept = without_tree_sizes(text)
    assert "tree_sizes=" not in kept
    assert kept.splitlines() == [
        line for line in text.splitlines() if not line.startswith("tree_sizes=")
    ]


def _saved_model(library_name: str, classes: int, named: bool, path: Path) -> Path:
    """A booster trained by the library itself on 3 features, saved to ``path``."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 3))
    y = (x[:, 0] > 0).astype(int) + (classes > 2) * (x[:, 1] > 0.5).astype(int)
    names = ["amount", "count_7d", "risk_30d"] if named else None
    if library_name == "lightgbm":
        import lightgbm as lgb

        params: dict = {"objective": "binary", "verbosity": -1, "num_threads": 1}
        if classes > 2:
            params = {**params, "objective": "multiclass", "num_class": classes}
        data = lgb.Dataset(x, y, feature_name=names or "auto")
        lgb.train(params, data, 5).save_model(path)
    else:
        import xgboost as xgb

        params = {"objective": "binary:logistic", "nthread": 1, "max_depth": 2}
        if classes > 2:
            params = {**params, "objective": "multi:softprob", "num_class": classes}
        xgb.train(params, xgb.DMatrix(x, label=y, feature_names=names), 5).save_model(path)
    return path


FILES = [
    ("lightgbm", "model.txt", 2, True),
    ("lightgbm", "model.txt", 3, True),
    ("lightgbm", "model.txt", 2, False),  # LightGBM names them Column_0, ...
    ("xgboost", "model.json", 2, True),
    ("xgboost", "model.json", 3, True),
    ("xgboost", "model.json", 2, False),  # XGBoost stores none
    ("xgboost", "model.ubj", 2, True),
    ("xgboost", "model.ubj", 3, False),
]


@pytest.mark.parametrize(("name", "file", "classes", "named"), FILES)
def test_a_files_facts_read_without_the_library_are_what_the_library_reads(
    name: str, file: str, classes: int, named: bool, tmp_path: Path
) -> None:
    """The plan checks a champion file's feature names and classes from the file alone (its
    library's booster is built in a thread while the data loads): they must be the booster's."""
    lib = library(name)
    path = _saved_model(name, classes, named, tmp_path / file)
    facts = lib.facts(lib.read(path))
    booster = lib.load(path)
    assert facts == lib.facts_of(booster)
    assert facts.classes == classes
    assert len(facts.features) == (3 if named or name == "lightgbm" else 0)


def test_a_champion_file_is_opened_without_its_library_and_loaded_in_a_thread(
    tmp_path: Path,
) -> None:
    """Opening a champion file (the plan) imports neither library; start_loading builds the
    booster in a thread of its own, and the champion then scores as the file's booster does.
    A fresh interpreter: the test process has imported both libraries long ago."""
    import subprocess
    import sys
    import textwrap

    path = _saved_model("xgboost", 2, True, tmp_path / "champion.json")
    code = textwrap.dedent(f"""
        import sys, threading
        import numpy as np, polars as pl
        from challengers.models.champion import load_model_file
        names = ["amount", "count_7d", "risk_30d"]
        schema = pl.Schema({{n: pl.Float64 for n in names}})
        champion = load_model_file({str(path)!r}, features=None, schema=schema)
        assert "xgboost" not in sys.modules, "opening the file imported XGBoost"
        assert champion.features == names and champion.classes() == 2
        imported_in = []
        real_build = champion._build
        def build(content):
            imported_in.append(threading.current_thread().name)
            return real_build(content)
        champion._build = build
        champion.start_loading()
        champion.ready()
        assert imported_in == ["challenge-champion"], imported_in
        x = np.random.default_rng(1).normal(size=(50, 3))
        import xgboost as xgb
        reference = xgb.Booster(model_file={str(path)!r}).inplace_predict(x)
        np.testing.assert_array_equal(champion.booster_.inplace_predict(x), reference)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
