"""Catalogue of bad champion models, and the pickle rule: nothing is ever unpickled (with or without
--allow-pickle), whatever the file is called and wherever it comes from (a file, an MLflow model)."""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
import yaml

from tests.conftest import sim_config
from tests.reliability.conftest import invoke, run_process

FEATURES = ["TX_AMOUNT", "TX_HOUR"]


def _lightgbm(path: Path) -> Path:
    x = np.random.default_rng(0).random((300, 2))
    data = lgb.Dataset(x, label=(x[:, 0] > 0.5).astype(int), feature_name=FEATURES)
    lgb.train({"verbosity": -1, "num_threads": 1}, data, 3).save_model(str(path))
    return path


def _xgboost(path: Path) -> Path:
    x = np.random.default_rng(0).random((300, 2))
    data = xgb.DMatrix(x, label=(x[:, 0] > 0.5).astype(int), feature_names=FEATURES)
    xgb.train({"nthread": 1}, data, 3).save_model(str(path))
    return path


class Planted:
    """A pickle that, if ever unpickled, creates a marker file: proof that it was not."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _planted_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(Planted(marker), protocol=4))
    return path


def _copy_as(make: Callable[[Path], Path], source: str, name: str) -> Callable[[Path], Path]:
    def build(directory: Path) -> Path:
        source_path = make(directory / source)
        target = directory / name
        target.write_bytes(source_path.read_bytes())
        return target

    return build


def _text(name: str, content: str) -> Callable[[Path], Path]:
    def build(directory: Path) -> Path:
        (directory / name).write_text(content)
        return directory / name

    return build


def _multiclass(library: str, classes: int) -> Callable[[Path], Path]:
    """A multiclass model over the data's columns: check must refuse it, not the run later. Of
    two classes too: it gives two scores a row, which only the run's scoring found ("34446
    scores for 17223 rows")."""

    def build(directory: Path) -> Path:
        x = np.random.default_rng(0).random((300, 2))
        y = (x[:, 0] * classes).astype(int)
        if library == "lightgbm":
            params = {"objective": "multiclass", "num_class": classes, "verbosity": -1}
            train = lgb.Dataset(x, label=y, feature_name=FEATURES)
            lgb.train({**params, "num_threads": 1}, train, 3).save_model(directory / "m.txt")
            return directory / "m.txt"
        matrix = xgb.DMatrix(x, label=y, feature_names=FEATURES)
        params = {"objective": "multi:softprob", "num_class": classes, "nthread": 1}
        xgb.train(params, matrix, 3).save_model(directory / "m.json")
        return directory / "m.json"

    return build


def _xgboost_multi_target(directory: Path) -> Path:
    """Two binary targets in one model: two scores a row, though num_class says binary."""
    x = np.random.default_rng(0).random((300, 2))
    y = np.c_[x[:, 0] > 0.5, x[:, 1] > 0.5].astype(int)
    params = {"tree_method": "hist", "multi_strategy": "one_output_per_tree", "nthread": 1}
    matrix = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    xgb.train({**params, "objective": "binary:logistic"}, matrix, 3).save_model(
        directory / "m.json"
    )
    return directory / "m.json"


def _lightgbm_tree_that_loops(directory: Path) -> Path:
    """A tree whose right_child line is cut to "0": LightGBM read it and its prediction then
    looped forever (found by fuzzing champion files: the run hung at 100% of both cores)."""
    model = _lightgbm(directory / "source.txt").read_text()
    start = model.index("right_child=")
    end = model.index("\n", start)
    (directory / "champion.txt").write_text(model[:start] + "right_child=0" + model[end:])
    return directory / "champion.txt"


def _xgboost_tree_that_loops(directory: Path) -> Path:
    """A root that is its own left child: XGBoost read the file and its prediction then looped
    forever (found by fuzzing champion files)."""
    model = json.loads(_xgboost(directory / "source.json").read_text())
    model["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = 0
    (directory / "champion.json").write_text(json.dumps(model))
    return directory / "champion.json"


BINARY = {"lightgbm": ("multiclass", "binary"), "xgboost": ("multi:softprob", "binary:logistic")}

MODELS = [
    *(
        (
            f"{library}-multiclass-{classes}",
            _multiclass(library, classes),
            (
                "champion.model:",
                f"predicts {classes} classes ({BINARY[library][0]}); the champion must be a "
                "binary fraud model (one score per row)",
                f"export the binary model ({BINARY[library][1]})",
            ),
        )
        for library in ("lightgbm", "xgboost")
        for classes in (3, 2)
    ),
    (
        "xgboost-multi-target",
        _xgboost_multi_target,
        ("champion.model:", "gives 2 scores a row (binary:logistic)", "export the binary model"),
    ),
    (
        "lightgbm-corrupt",
        _text("champion.txt", "tree\nversion=v4\nnum_class=1\ngarbage\n"),
        ("champion.model:", "champion.txt is not a readable LightGBM model", "save_model()"),
    ),
    (
        "lightgbm-tree-that-loops",
        _lightgbm_tree_that_loops,
        ("champion.model:", "is not a readable LightGBM model: tree 0: right_child has 1 of"),
    ),
    (
        "xgboost-tree-that-loops",
        _xgboost_tree_that_loops,
        ("champion.model:", "is not a readable XGBoost model: tree 0: node 0's child 0"),
    ),
    (
        "xgboost-corrupt",
        _text("champion.json", '{"learner": {"attributes": '),
        ("champion.model:", "champion.json is not a readable XGBoost model", "save_model"),
    ),
    (
        "lightgbm-model-named-json",
        _copy_as(_lightgbm, "source.txt", "champion.json"),
        ("champion.json holds a LightGBM text model, not an XGBoost model; name it .txt",),
    ),
    (
        "xgboost-model-named-txt",
        _copy_as(_xgboost, "source.json", "champion.txt"),
        ("champion.txt holds JSON (an XGBoost model?), not a LightGBM text model",),
    ),
    (
        "unknown-model-format",
        _text("champion.onnx", "onnx"),
        ("cannot tell the library of", "champion.onnx", "use .txt (LightGBM) or .json/.ubj"),
    ),
    (
        "empty-model-file",
        _text("champion.json", ""),
        ("champion.model:", "champion.json is empty; export the model again"),
    ),
    (
        "model-path-is-a-directory",
        lambda d: d,
        ("champion.model: cannot read",),
    ),
]


def _check(tmp_path: Path, champion: dict[str, Any], *extra: str) -> Any:
    cfg = sim_config(tmp_path / "data.parquet")
    cfg["champion"] = {"name": "champ", **champion}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return invoke(["check", path, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", "-q", *extra])


@pytest.fixture
def data(tmp_path: Path, sim_parquet: Path) -> Path:
    (tmp_path / "data.parquet").symlink_to(sim_parquet)
    return tmp_path / "data.parquet"


@pytest.mark.parametrize(("build", "expect"), [m[1:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_bad_model_file(
    build: Callable[[Path], Path], expect: tuple[str, ...], tmp_path: Path, data: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    model = build(models)
    _check(tmp_path, {"model": str(model)}).error(2, *expect)


def _xgboost_unnamed(path: Path) -> Path:
    """An XGBoost model trained on a bare matrix: it stores no feature names."""
    x = np.random.default_rng(0).random((300, 2))
    xgb.train({"nthread": 1}, xgb.DMatrix(x, label=(x[:, 0] > 0.5).astype(int)), 3).save_model(
        str(path)
    )
    return path


# champion.features against the file's own names (TX_AMOUNT, TX_HOUR), or its count when it has
# none: a list naming other columns (or in another order, fed by position) made another model of it
FEATURE_LISTS = [
    (
        "lightgbm-one-left-out",
        _lightgbm,
        "champion.txt",
        ["TX_AMOUNT"],
        (
            "trained on 2 features and champion.features lists 1: the file's 'TX_HOUR' is not listed",
        ),
    ),
    *(
        (
            f"{name}-another-column",
            make,
            file,
            ["TX_AMOUNT", "IS_ONLINE"],
            (
                "champion.model:",
                "'IS_ONLINE' is not one of the file's",
                "in any order: the file's order is used",
            ),
        )
        for name, make, file in (
            ("lightgbm", _lightgbm, "champion.txt"),
            ("xgboost", _xgboost, "champion.json"),
        )
    ),
    (
        "xgboost-misspelt",
        _xgboost,
        "champion.json",
        ["TX_HUOR", "TX_AMOUNT"],
        ("'TX_HUOR' (closest: 'TX_HOUR') is not one of the file's",),
    ),
    *(
        (
            f"xgboost-unnamed-{len(listed)}-for-2",
            _xgboost_unnamed,
            "champion.json",
            listed,
            (
                "champion.model:",
                f"reads 2 features and stores no names, but champion.features lists {len(listed)}",
            ),
        )
        for listed in (["TX_AMOUNT"], ["TX_AMOUNT", "TX_HOUR", "IS_ONLINE"])
    ),
]


@pytest.mark.parametrize(
    ("make", "file", "listed", "expect"),
    [c[1:] for c in FEATURE_LISTS],
    ids=[c[0] for c in FEATURE_LISTS],
)
def test_features_that_are_not_the_models(
    make: Callable[[Path], Path],
    file: str,
    listed: list[str],
    expect: tuple[str, ...],
    tmp_path: Path,
    data: Path,
) -> None:
    """Refused by check, before the run: the XGBoost file without names and a list of another
    length failed only when the run scored it ("n_features_data == n_features_model")."""
    model = make(tmp_path / file)
    _check(tmp_path, {"model": str(model), "features": listed}).error(2, *expect)


@pytest.mark.parametrize("make", [_lightgbm, _xgboost, _xgboost_unnamed], ids=lambda m: m.__name__)
def test_the_models_features_in_another_order_pass_check(
    make: Callable[[Path], Path], tmp_path: Path, data: Path
) -> None:
    """The control of the refusals above (what the order changes: tests/models/test_champion.py)."""
    model = make(tmp_path / ("champion.txt" if make is _lightgbm else "champion.json"))
    outcome = _check(tmp_path, {"model": str(model), "features": ["TX_HOUR", "TX_AMOUNT"]})
    assert outcome.code == 0, outcome.stderr


def test_native_error_output_stays_off_the_terminal(tmp_path: Path, sim_parquet: Path) -> None:
    """LightGBM prints its own '[LightGBM] [Fatal] ...' on stderr before raising; the user sees
    the tool's one line only (a real process: the native write goes to file descriptor 2). The
    header has what the tool's own check of the trees reads (max_feature_idx), so LightGBM is the
    one that refuses the file."""
    model = _text("champion.txt", "tree\nversion=v4\nnum_class=1\nmax_feature_idx=1\ngarbage\n")(
        tmp_path
    )
    cfg = sim_config(sim_parquet)
    cfg["champion"] = {"name": "champ", "model": str(model)}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    outcome = run_process(["check", path, "--tracking-uri", "sqlite:///m.db", "-q"], cwd=tmp_path)
    outcome.error(2, "is not a readable LightGBM model")
    # --debug shows everything, the library's own line included
    debug = run_process(
        ["--debug", "check", path, "--tracking-uri", "sqlite:///m.db", "-q"], cwd=tmp_path
    )
    assert "[LightGBM] [Fatal]" in debug.stderr and "Traceback" in debug.stderr


def test_a_lightgbm_file_with_a_line_lost_is_one_line_not_an_abort(
    tmp_path: Path, sim_parquet: Path
) -> None:
    """A text model whose first tree lost a line: the header's tree_sizes then point LightGBM's
    parallel reading of the trees off the next tree, and LightGBM's error inside that loop ended
    the process (SIGABRT, nothing on screen). Found by fuzzing champion files. A real process:
    an abort would take a test worker with it."""
    model = _lightgbm(tmp_path / "source.txt").read_text()
    first = model.index("leaf_value=")
    damaged = model[:first] + model[model.index("\n", first) + 1 :]  # tree 0's leaf values gone
    (tmp_path / "champion.txt").write_text(damaged)
    cfg = sim_config(sim_parquet)
    cfg["champion"] = {"name": "champ", "model": str(tmp_path / "champion.txt")}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    outcome = run_process(["check", path, "--tracking-uri", "sqlite:///m.db", "-q"], cwd=tmp_path)
    outcome.error(2, "champion.txt is not a readable LightGBM model", "leaf_value")


@pytest.mark.parametrize("name", ["champion.pkl", "champion.joblib", "champion.json"])
@pytest.mark.parametrize("allow", [False, True])
def test_a_pickle_is_never_unpickled(tmp_path: Path, data: Path, name: str, allow: bool) -> None:
    marker = tmp_path / "PICKLE-WAS-LOADED"
    model = _planted_pickle(tmp_path / name, marker)
    outcome = _check(tmp_path, {"model": str(model)}, *(["--allow-pickle"] if allow else []))
    line = outcome.error(2, "is a pickle, which runs code when loaded and is not supported")
    assert "--allow-pickle" not in line  # no flag loads one: the line suggests none
    assert not marker.exists()


def _mlflow_model(store: str, flavors: dict[str, Any], files: dict[str, bytes]) -> str:
    """A run holding an MLflow model directory with the given MLmodel flavours; its runs:/ URI."""
    import tempfile

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    experiment = client.create_experiment("first-line")
    run = client.create_run(experiment)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors}))
        for name, content in files.items():
            (directory / name).write_bytes(content)
        client.log_artifacts(run.info.run_id, str(directory), artifact_path="model")
    client.set_terminated(run.info.run_id)
    return f"runs:/{run.info.run_id}/model"


SKLEARN = {
    "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.pkl"},
    "sklearn": {"pickled_model": "model.pkl", "serialization_format": "cloudpickle"},
}
LGBM_SKLEARN_API = {
    "lightgbm": {"data": "model.pkl", "model_class": "lightgbm.sklearn.LGBMClassifier"}
}


@pytest.mark.parametrize(
    "flavors", [SKLEARN, LGBM_SKLEARN_API], ids=["sklearn", "lgbm-sklearn-api"]
)
@pytest.mark.parametrize("allow", [False, True])
def test_mlflow_models_that_are_pickles_are_refused(
    tmp_path: Path, data: Path, store: str, flavors: dict[str, Any], allow: bool
) -> None:
    marker = tmp_path / "PICKLE-WAS-LOADED"
    payload = pickle.dumps(Planted(marker), protocol=4)
    uri = _mlflow_model(store, flavors, {"model.pkl": payload})
    extra = ["--allow-pickle"] if allow else []
    cfg_args = ["--tracking-uri", store, *extra]
    cfg = sim_config(data)
    cfg["champion"] = {"name": "champ", "model": uri}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    outcome = invoke(["check", path, "-q", *cfg_args])
    line = outcome.error(2, f"champion.model: {uri} has flavours", "only native LightGBM/XGBoost")
    assert "pickled flavours are not supported" in line and "--allow-pickle" not in line
    assert not marker.exists()


def test_a_native_mlflow_booster_is_accepted(tmp_path: Path, data: Path, store: str) -> None:
    """The control of the refusals above: a booster logged with the lightgbm flavour loads."""
    booster = lgb.Booster(model_file=str(_lightgbm(tmp_path / "champion.txt")))
    flavors = {"lightgbm": {"data": "model.lgb", "model_class": "lightgbm.basic.Booster"}}
    uri = _mlflow_model(store, flavors, {"model.lgb": booster.model_to_string().encode()})
    cfg = sim_config(data)
    cfg["champion"] = {"name": "champ", "model": uri}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    outcome = invoke(["check", path, "-q", "--tracking-uri", store])
    assert outcome.code == 0, outcome.stderr


@pytest.mark.parametrize(
    ("uri", "expect"),
    [
        ("models:/no-such-model/1", "Model Version (name=no-such-model, version=1) not found"),
        ("runs:/0123456789abcdef0123456789abcdef/model", "Run with id=0123456789abcdef"),
    ],
    ids=["registered-model", "run"],
)
def test_mlflow_uri_that_does_not_exist(
    tmp_path: Path, data: Path, store: str, uri: str, expect: str
) -> None:
    cfg = sim_config(data)
    cfg["champion"] = {"name": "champ", "model": uri}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    outcome = invoke(["check", path, "-q", "--tracking-uri", store])
    outcome.error(2, f"champion.model: cannot fetch {uri}", expect, "check the model name")


def test_a_registered_champion_whose_files_are_gone_says_where(
    tmp_path: Path, data: Path, store: str, sim_frame: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version exists, its files were deleted on disk: MLflow said "No such artifact: ''"
    and the line to check the model's name or version, which were right."""
    import shutil

    from mlflow import MlflowClient

    from tests.tracking.roundtrip import REGISTERED, log_champion

    monkeypatch.chdir(tmp_path)  # the logged model's files: ./mlruns, as MLflow puts them
    version = log_champion(store, sim_frame, rounds=5)
    client = MlflowClient(tracking_uri=store)
    source = str(client.get_model_version(REGISTERED, version).source)
    location = str(client.get_logged_model(source.removeprefix("models:/")).artifact_location)
    shutil.rmtree(location.removeprefix("file://"))
    cfg = sim_config(data)
    cfg["champion"] = {"name": "champ", "model": f"models:/{REGISTERED}@champion"}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    outcome = invoke(["check", path, "-q", "--tracking-uri", store])
    assert outcome.error(2) == (
        f"error: champion.model: models:/{REGISTERED}@champion: the model is registered, but its "
        f"files are missing at {location} (moved or deleted); put them back there, or register "
        "the model again"
    )


def test_champion_retrain_that_fails(tmp_path: Path, data: Path, store: str) -> None:
    """A first-line spec the library rejects: exit 2 naming the parameter to fix, with the
    library's reason, once the rows are read and before the audit (pipeline/tree_params.py; the
    champion's fit raised it after the audit before), LightGBM's own '[Fatal]' line kept off the
    terminal."""
    cfg = sim_config(data)
    cfg["champion"]["retrain"]["params"] = {"num_leaves": -5, "n_estimators": 3}
    cfg["challengers"] = []
    cfg["evaluation"]["bootstrap"] = 0
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    outcome = invoke(["run", path, "-q", "--tracking-uri", store, "--output", tmp_path / "out"])
    outcome.error(
        2,
        "champion.retrain.params.num_leaves: LightGBM refuses num_leaves: -5",
        "(it needs num_leaves > 1)",
    )
    assert "[Fatal]" not in outcome.stdout + outcome.stderr


def test_a_file_only_the_library_refuses_stops_the_run_before_the_audit(
    tmp_path: Path, data: Path, store: str
) -> None:
    """The plan reads and checks a champion file without its library, whose booster is built
    while the data loads: a file only XGBoost refuses (a number where its reader wants text)
    still ends the run with the one line and exit 2, before MLflow is told of a run."""
    from mlflow.tracking import MlflowClient

    model = json.loads(_xgboost(tmp_path / "source.json").read_text())
    model["learner"]["learner_model_param"]["num_feature"] = 2
    (tmp_path / "champion.json").write_text(json.dumps(model))
    cfg = sim_config(data)
    cfg["champion"] = {"name": "champ", "model": str(tmp_path / "champion.json")}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    outcome = invoke(["run", path, "-q", "--tracking-uri", store, "--output", out])
    outcome.error(2, "champion.json is not a readable XGBoost model: Invalid cast")
    client = MlflowClient(tracking_uri=store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments)


def test_xgboost_errors_read_without_their_time_and_source_file(tmp_path: Path, data: Path) -> None:
    """XGBoost starts its messages with the time and its own source file ("[05:24:20]
    /workspace/include/xgboost/json.h:88: Invalid cast, ..."): the line keeps the message."""
    model = json.loads(_xgboost(tmp_path / "source.json").read_text())
    model["learner"]["learner_model_param"]["num_feature"] = 2  # a number where text belongs
    (tmp_path / "champion.json").write_text(json.dumps(model))
    line = _check(tmp_path, {"model": str(tmp_path / "champion.json")}).error(
        2, "is not a readable XGBoost model: Invalid cast"
    )
    assert "/workspace" not in line and not re.search(r"\[\d\d:\d\d:\d\d\]", line)
