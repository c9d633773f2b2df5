"""`engine: spark` in a run: rows loaded and fingerprinted by Spark are the local engine's rows, in the
same order, so everything after loading computes the same numbers; an unreachable master is one line
and exit 3."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from challengers.cli.main import app
from challengers.config import ExperimentConfig, load_config
from challengers.data.frames import DAY
from challengers.data.split import Split
from challengers.errors import DataError, EnvironmentFailure
from challengers.pipeline import RunOptions, prepare, run_experiment
from challengers.pipeline.fitting import fit_champion
from challengers.progress import SilentProgress
from tests.conftest import ROOT, SIM_TRAIN, sim_config
from tests.engine.test_spark_broadcasts import live_broadcasts
from tests.golden.compare import stable_comparison
from tests.test_golden import GOLDEN, _differences

runner = CliRunner()
# a detector's score as a LightGBM feature, with its twin: fitted on the sample, scored on Spark
ECOD_HYBRID = {
    "name": "ecod",
    "kind": "anomaly",
    "detector": "ecod",
    "hybrid": "lightgbm",
    "model": {"kind": "lightgbm", "params": {"n_estimators": 20}},
}


@pytest.mark.slow
def test_a_spark_loaded_run_prepares_the_local_rows_in_order(
    spark_engine: Any, sim_parquet: Path, write_config
) -> None:
    cfg = load_config(write_config(sim_config(sim_parquet)))
    local = prepare(cfg, RunOptions(), SilentProgress())
    spark_cfg = cfg.with_engine("spark", "local[2]")
    assert spark_cfg.fingerprint() == cfg.fingerprint()  # the same experiment: same config hash
    remote = prepare(spark_cfg, RunOptions(), SilentProgress())
    assert remote.history.equals(local.history)  # values, types and row order
    assert remote.fingerprint == local.fingerprint
    assert remote.data_print == local.data_print
    target = cfg.data.target
    assert remote.split.summary(target) == local.split.summary(target)
    assert (
        spark_engine.session.getActiveSession() is not None
    )  # a session it did not start lives on


@pytest.mark.slow
def test_a_lean_spark_run_holds_the_local_windows_and_scores_the_champion_file_there(
    spark_engine: Any, sim_parquet: Path, write_config, tmp_path: Path
) -> None:
    """A run whose models read nothing before their window (prepare without history): Spark
    cuts the windows and leaves out the known frauds, and the driver receives the training and
    test rows alone: the local lean load's frames, types, order and fingerprint. The champion's
    native file is broadcast and applied on the executors to the test and the training rows:
    the local scores bit for bit, and Spark jobs did the work, on the windows kept on the
    executors: the file is gone by then. (A tuned challenger searches on the driver's training
    rows: they come whole.)"""
    champion = {"name": "champ", "model": str(ROOT / "data" / "champion.json")}
    tuned = {"name": "lgbm", "kind": "lightgbm", "tune": {"trials": 2}}
    data = tmp_path / "data.parquet"
    shutil.copyfile(sim_parquet, data)
    raw = sim_config(data, champion=champion, challengers=[tuned])
    cfg = load_config(write_config(raw))
    local = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False)
    expected = fit_champion(cfg, local, 1, SilentProgress())
    spark_cfg = cfg.with_engine("spark", "local[2]")
    with contextlib.closing(
        prepare(spark_cfg, RunOptions(), SilentProgress(), keep_history=False)
    ) as remote:
        assert remote.history is None and local.history is None
        assert remote.split.train.equals(local.split.train)
        assert remote.split.test.equals(local.split.test)
        assert remote.split.train.columns == local.split.train.columns  # labels-only dropped
        counts = (local.split.excluded_rows, local.split.excluded_positives)
        assert (remote.split.excluded_rows, remote.split.excluded_positives) == counts
        assert counts[0] > 0
        assert remote.fingerprint == local.fingerprint
        assert remote.data_print == local.data_print
        windows = remote.engine_rows
        assert windows is not None and windows.train.is_cached and windows.test.is_cached
        data.unlink()  # the scoring jobs read the kept windows, not the file again
        context = spark_engine.session.sparkContext
        context.setJobGroup("champion-scores", "the champion scored in a test")
        try:
            actual = fit_champion(spark_cfg, remote, 1, SilentProgress())
        finally:
            context.setJobGroup("", "")
        assert context.statusTracker().getJobIdsForGroup("champion-scores")
    assert not windows.train.is_cached and not windows.test.is_cached  # released by close()
    assert actual.scores is not None and expected.scores is not None
    assert actual.scores.tobytes() == expected.scores.tobytes()
    assert actual.train_scores is not None and expected.train_scores is not None
    assert actual.train_scores.tobytes() == expected.train_scores.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("value", "said"),
    [
        (float("inf"), "1 infinite values; replace them with null or a finite value"),
        (-1e300, "1 values beyond float32's range (magnitude 3.4e38 or more), which the models"),
    ],
)
def test_an_infinity_between_the_windows_is_refused_on_spark_as_locally(
    spark_engine: Any, sim_parquet: Path, write_config, tmp_path: Path, value: float, said: str
) -> None:
    """The driver no longer receives the gap's rows: Spark finds their infinities, and the values
    a model's float32 matrix would hold as infinities."""
    frame = pl.read_parquet(sim_parquet)
    gap_day = pl.col("TX_DATETIME").dt.date() == date.fromisoformat(SIM_TRAIN["end"]) + timedelta(
        days=2
    )
    first = frame.with_row_index().filter(gap_day).get_column("index")[0]
    amounts = frame.get_column("TX_AMOUNT").to_list()
    amounts[first] = value
    planted = tmp_path / "planted.parquet"
    frame.with_columns(pl.Series("TX_AMOUNT", amounts)).write_parquet(planted)
    cfg = load_config(write_config(sim_config(planted)))
    messages = []
    for engine_cfg in (cfg, cfg.with_engine("spark", "local[2]")):
        with pytest.raises(DataError) as raised:
            prepare(engine_cfg, RunOptions(), SilentProgress(), keep_history=False)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"data.features: feature 'TX_AMOUNT' has {said}")


@pytest.mark.slow
def test_the_demo_on_spark_equals_the_checked_in_record(spark_engine: Any, tmp_path: Path) -> None:
    """Every number of the golden demo (metrics, intervals, p-values, findings) from a Spark run:
    the rows loaded and split by Spark; LightGBM fitted on the window's every row (fewer than
    engine.sample_rows) and scored on the executors; XGBoost trained by xgboost.spark on two
    workers, which on the demo grows the local trees. Only how they were trained is added. The
    training rows stay on Spark: the in-sample metrics (within 1e-9 of the record) and score
    references (bit for bit) of the three models come from the executors."""
    cfg = load_config(GOLDEN / "demo.yaml").with_engine("spark", "local[2]")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    seen: list[Any] = []
    options = RunOptions(
        output_dir=tmp_path / "out", tracking_uri=uri, verify=lambda p: seen.append(p.narrow)
    )
    result = run_experiment(cfg, options)
    actual = json.loads(json.dumps(stable_comparison(result.to_comparison())))
    trained = {m["name"]: m.pop("training") for m in actual["models"] if "training" in m}
    expected = stable_comparison(json.loads((GOLDEN / "demo-comparison.json").read_text()))
    # the training rows stayed on Spark (the champion file, a LightGBM on the sample, XGBoost on
    # the workers): every model's in-sample numbers came from there
    assert seen == [True]
    assert_same_in_sample(
        expected["stability"], actual["stability"], ["first-line-xgb", "lgbm", "xgb"]
    )
    differences = _differences(expected, actual)
    assert not differences, "\n".join(differences[:20])
    assert trained["xgb"].startswith("trained on the spark engine by 2 workers, on all")
    assert trained["lgbm"].startswith("fitted on the driver on all")


# one worker runs both tests of the narrow run (--dist loadgroup): its two runs are made once
NARROW_RUN = pytest.mark.xdist_group("spark-narrow-run")


@dataclass(frozen=True)
class NarrowRuns:
    """One config run on the local engine and on Spark with its features staying there (a
    narrow run): the champion's model file, a LightGBM and an ECOD hybrid with its twin."""

    cfg: ExperimentConfig
    folder: Path  # each engine's output in folder / engine, its MLflow store in folder / engine.db
    comparisons: dict[str, str]  # each engine's stable comparison, as JSON
    splits: dict[str, Split]  # what each run's driver held
    scored: list[int]  # how many scores each of Spark's scoring jobs brought to the driver
    shipped: set[Path]  # the broadcasts the Spark run left alive

    def comparison(self, engine: str) -> dict[str, Any]:
        """The run's comparison, a copy of its own for the test to change."""
        return json.loads(self.comparisons[engine])


@pytest.fixture(scope="module")
def narrow_runs(
    spark_engine: Any, sim_parquet: Path, tmp_path_factory: pytest.TempPathFactory
) -> NarrowRuns:
    champion = {"name": "champ", "model": str(ROOT / "data" / "champion.json")}
    challengers = [
        {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 30}},
        ECOD_HYBRID,
    ]
    raw = sim_config(sim_parquet, champion=champion, challengers=challengers)
    raw["evaluation"]["metrics"] += [  # every kind of metric the in-sample groups give
        "recall_at_fpr@0.01",
        "value_detection_at_alerts@0.01",
        "expected_cost",
        "brier",
        "ks",
    ]
    folder = tmp_path_factory.mktemp("narrow")
    (folder / "experiment.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = load_config(folder / "experiment.yaml")
    comparisons, splits = {}, {}
    before = live_broadcasts(spark_engine)
    with pytest.MonkeyPatch.context() as patched:
        scored = _scores_brought_to_the_driver(patched)
        for engine, master in (("local", None), ("spark", "local[2]")):
            options = RunOptions(
                output_dir=folder / engine,
                tracking_uri=f"sqlite:///{folder / engine}.db",
                verify=lambda prepared, engine=engine: splits.update({engine: prepared.split}),
            )
            result = run_experiment(cfg.with_engine(engine, master), options)
            comparisons[engine] = json.dumps(stable_comparison(result.to_comparison()))
    shipped = live_broadcasts(spark_engine) - before
    return NarrowRuns(cfg, folder, comparisons, splits, scored, shipped)


@pytest.mark.slow
@NARROW_RUN
def test_features_stay_on_spark_when_no_model_reads_them_on_the_driver(
    narrow_runs: NarrowRuns,
) -> None:
    """The champion is a model file (scored on the executors) and the challengers fit on samples
    drawn there (a LightGBM, and an ECOD hybrid with its LightGBM twin; every training row,
    fewer than engine.sample_rows) and are scored there: the driver receives of the training
    window its counts and first rows whole (input examples), never a training row's label or
    score, and of the test window its named columns. Each model's in-sample metrics come from
    per-group counts aggregated on the executors (within 1e-9 of the driver's), its training
    scores' and the features' PSI references and test bin counts from Spark's exact quantiles
    and aggregates (bit for bit), the explanations' sample of test rows from the same positions:
    the run's comparison (in-sample metrics, PSI, explanations' findings, twins, intervals,
    p-values) is the local run's. Nothing Spark broadcast outlives its jobs (the detector
    shipped whole for its in-sample numbers as soon as it is fitted included)."""
    assert narrow_runs.shipped == set()
    local, remote = narrow_runs.splits["local"], narrow_runs.splits["spark"]
    # no training row reached the driver: their counts and first rows came from Spark, and every
    # score brought here is a test row's (the in-sample numbers were computed on the executors)
    assert remote.train.height == 0 and local.train_counts is None
    target = narrow_runs.cfg.data.target
    assert remote.training_counts(target) == local.training_counts(target)
    scored = narrow_runs.scored
    assert scored and set(scored) == {local.test.height} != {local.train.height}
    named = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TX_AMOUNT", "TX_FRAUD", "REGION"]
    assert set(remote.test.columns) == {*named, "CARD_TYPE", DAY}  # no feature
    assert remote.test.equals(local.test.select(remote.test.columns))
    assert remote.head is not None and local.head is None
    first = local.train.head(remote.head.height)
    assert remote.examples.select(first.columns).equals(first)
    runs = {engine: narrow_runs.comparison(engine) for engine in ("local", "spark")}
    for m in runs["spark"]["models"]:
        m.pop("training", None)
    assert runs["local"]["stability"]["feature_psi"]  # the references were compared
    assert any(m.get("twin") for m in runs["local"]["models"])  # and the twin's scores
    stability = runs["local"]["stability"], runs["spark"]["stability"]
    assert_same_in_sample(*stability, ["champ", "lgbm", "ecod"])
    differences = _differences(runs["local"], runs["spark"])
    assert not differences, "\n".join(differences[:20])


@pytest.mark.slow
def test_a_model_spark_cannot_score_loses_only_its_in_sample_diagnostics(
    spark_engine: Any,
    sim_parquet: Path,
    write_config,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """In a narrow run the champion fits without bringing its training scores to the driver, and
    the in-sample diagnostics are computed on Spark per model: a model whose training window
    cannot be scored there (an input the rows lack; an anomaly challenger restored from a
    checkpoint that has no in-sample numbers, as an older one) loses only its own, with a
    warning; a restored model's kept numbers are used as they are. The model files shipped to
    score the training windows are destroyed after their jobs."""
    import numpy as np

    from challengers.analysis.budget import resolve_budget
    from challengers.analysis.stability import Reference
    from challengers.models.champion import NativeModelChampion
    from challengers.pipeline.evaluating import _analysis_input
    from challengers.pipeline.insample import InSample, InSampleSettings, training_window_on_engine
    from challengers.pipeline.restored import RestoredModel

    path = str(ROOT / "data" / "champion.json")
    lgbm = {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 30}}
    raw = sim_config(sim_parquet, champion={"name": "champ", "model": path}, challengers=[lgbm])
    cfg = load_config(write_config(raw)).with_engine("spark", "local[2]")
    with contextlib.closing(
        prepare(cfg, RunOptions(), SilentProgress(), keep_history=False)
    ) as prepared:
        assert prepared.narrow and prepared.split.train.height == 0
        champion = fit_champion(cfg, prepared, 1, SilentProgress())
        assert champion.scores is not None and champion.train_scores is None
        budget = resolve_budget(champion.scores, rate=cfg.evaluation.alert_rate)
        inputs = _analysis_input(cfg, prepared, [champion], budget)
        spec = prepared.plan.spec.with_features(("NOT_IN_THE_DATA",))
        broken = NativeModelChampion(_model_reading("NOT_IN_THE_DATA", tmp_path), None)
        broken.fit(prepared.split.examples, spec)
        assert champion.model is not None
        state = {  # a standalone detector's checkpoint: no native file
            "kind": "anomaly",
            "calibrated": False,
            "features": list(champion.model.features_),
            "fit_seconds": 1.0,
            "finished_at": "2026-12-04T00:00:00+00:00",
            "params": {"detector": "iforest"},
            "native_file": None,
        }
        restored = RestoredModel(state, Path("unused"))
        kept = InSample({"roc_auc": 0.75}, Reference(np.array([0.5]), np.array([0.4, 0.6, 0.0])))
        models = {"champ": champion.model, "broken": broken, "older": restored, "kept": restored}
        shipped = live_broadcasts(prepared.engine)
        with caplog.at_level("WARNING", logger="challengers.pipeline.insample"):
            window = training_window_on_engine(
                prepared, inputs, InSampleSettings.of(cfg, budget), models, {"kept": kept}
            )
        assert live_broadcasts(prepared.engine) - shipped == set()
    assert window is not None
    assert list(window.metrics) == list(window.scores) == ["champ", "kept"]
    assert set(window.metrics["champ"]) == {m.key for m in cfg.evaluation.metric_specs}
    assert window.metrics["kept"] == kept.metrics and window.scores["kept"] is kept.reference
    assert window.features  # the champion's inputs' references, from Spark too
    warned = [r.message for r in caplog.records]
    assert any("broken: no training-window scores" in m for m in warned)
    assert (
        "older: no training-window scores (anomaly is not scored on the spark engine); drift "
        "and gap diagnostics skip it" in warned
    )


def _model_reading(feature: str, folder: Path) -> str:
    """An XGBoost model file of one input named ``feature`` (the file's order is the one a
    champion is fed in: a list naming another column is refused)."""
    import numpy as np
    import xgboost as xgb

    x = np.random.default_rng(0).normal(size=(200, 1))
    booster = xgb.train(
        {"objective": "binary:logistic"},
        xgb.DMatrix(x, (x[:, 0] > 1).astype(int), feature_names=[feature]),
        3,
    )
    booster.save_model(folder / "one-input.json")
    return str(folder / "one-input.json")


@pytest.mark.slow
@NARROW_RUN
def test_a_resumed_narrow_run_gives_its_anomaly_challengers_the_same_in_sample_diagnostics(
    narrow_runs: NarrowRuns, tmp_path: Path
) -> None:
    """The narrow run's models, resumed on Spark: the ECOD hybrid, which the executors score by
    receiving it whole, had its in-sample numbers computed when it was fitted and kept in its
    checkpoint (no pickle is checkpointed: nothing could score it there again). Its checkpoint,
    as the others', was written as it was fitted: what a Ctrl-C before the diagnostics leaves
    (tests/reliability/test_interrupt_resume.py interrupts runs). `--resume` restores every
    model without training it (the champion and the LightGBM scored again from their native
    files) and gives the comparison of the uninterrupted run (the local engine's, which the
    narrow run equals: test_features_stay_on_spark_when_no_model_reads_them_on_the_driver):
    every model's in-sample metrics within 1e-9 and score references bit for bit (the restored
    detector had none before), every other number equal.

    One anomaly challenger is enough: a standalone detector (no booster) is shipped whole as the
    hybrid (whose booster reads its detector's score, not data columns) is, and its numbers take
    the same way to and from its checkpoint (test_only_detectors_are_shipped_whole)."""
    out = tmp_path / "resumed"
    shutil.copytree(narrow_runs.folder / "spark", out)
    models = out / "models"
    kept = {p.parent.name: p.read_text() for p in models.glob("*/checkpoint.json")}
    assert sorted(kept) == ["champ", "ecod", "lgbm"]
    with_numbers = [name for name, text in kept.items() if json.loads(text)["in_sample"]]
    assert with_numbers == ["ecod"]  # the others are scored again in the diagnostics
    narrow: list[bool] = []
    options = RunOptions(
        output_dir=out,
        tracking_uri=f"sqlite:///{tmp_path / 'resumed.db'}",
        resume=True,
        verify=lambda prepared: narrow.append(prepared.narrow),
    )
    resumed = run_experiment(narrow_runs.cfg.with_engine("spark", "local[2]"), options)
    assert narrow == [True]  # on Spark, the training rows stayed there
    for name, checkpoint in kept.items():  # restored, not trained again
        assert (models / name / "checkpoint.json").read_text() == checkpoint, name
    expected = narrow_runs.comparison("local")
    actual = json.loads(json.dumps(stable_comparison(resumed.to_comparison())))
    assert_same_in_sample(expected["stability"], actual["stability"], ["champ", "lgbm", "ecod"])
    for m in actual["models"]:
        m.pop("training", None)  # how Spark trained them: the one addition
    # the one loss: a model whose features are derived at fit time (the hybrid's detector score;
    # no detector is checkpointed, it would be a pickle) cannot be explained once restored, and
    # the resumed run says so instead of the findings its explanation gave
    assert resumed.explanations is not None
    unexplained = set(resumed.explanations.skipped)
    assert unexplained == {"ecod"}
    assert "restored from its checkpoint" in resumed.explanations.skipped["ecod"]
    expected["findings"] = [
        f
        for f in expected["findings"]
        if not (f["id"].startswith("explain-") and f["models"][0] in unexplained)
    ]
    differences = _differences(expected, actual)
    assert not differences, "\n".join(differences[:20])


def test_only_detectors_are_shipped_whole(sim_parquet: Path, write_config) -> None:
    """The models whose in-sample numbers a narrow run computes when they are fitted (a resumed
    run could not score them on the executors again): those the executors score by receiving
    them whole, a standalone detector (no booster) and a hybrid (its booster reads the
    detector's score); not the champion's file nor a LightGBM, scored from their native files."""
    from challengers.pipeline.distributed import shipped_whole
    from challengers.pipeline.fitting import fit_challenger

    champion = {"name": "champ", "model": str(ROOT / "data" / "champion.json")}
    challengers = [
        {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 5}},
        {"name": "iforest", "kind": "anomaly", "detector": "iforest", "sample_size": 500},
        {**ECOD_HYBRID, "sample_size": 500},
    ]
    raw = sim_config(sim_parquet, champion=champion, challengers=challengers)
    cfg = load_config(write_config(raw))
    prepared = prepare(cfg, RunOptions(), SilentProgress(), keep_history=False)
    models = {"champ": fit_champion(cfg, prepared, 1, SilentProgress()).model}
    for mp in prepared.plan.challengers:
        models[mp.name] = fit_challenger(cfg, prepared, mp, 1, SilentProgress()).model
    whole = {name: model is not None and shipped_whole(model) for name, model in models.items()}
    assert whole == {"champ": False, "lgbm": False, "iforest": True, "ecod": True}


def _scores_brought_to_the_driver(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many scores each of Spark's scoring jobs brought to the driver (a spy on the
    engine's two ways of bringing them: the real methods run)."""
    from challengers.engine.spark import SparkEngine

    brought: list[int] = []
    for name in ("scores_of", "scores_by"):
        method = getattr(SparkEngine, name)

        def spy(self: Any, *args: Any, _method: Any = method, **kwargs: Any) -> Any:
            scores = _method(self, *args, **kwargs)
            brought.append(len(scores))
            return scores

        monkeypatch.setattr(SparkEngine, name, spy)
    return brought


def assert_same_in_sample(expected: dict, actual: dict, models: list[str]) -> None:
    """Every model's in-sample metrics within 1e-9 (Spark's from per-group counts, the driver's
    from the rows: the same to rounding), and its training scores' PSI reference bit for bit
    (the test window's PSI against it, the same float)."""
    for name in models:
        want, got = expected["train_metrics"][name], actual["train_metrics"][name]
        assert want.keys() == got.keys() and len(want) > 1, name
        for key, value in want.items():
            if value is None:  # NaN in JSON: the Brier score of scores that are not probabilities
                assert got[key] is None, (name, key)
            else:
                assert got[key] is not None and abs(got[key] - value) <= 1e-9, (name, key, got)
        assert actual["score_psi"][name] == expected["score_psi"][name], name
        assert actual["score_psi_vs_train"][name] == expected["score_psi_vs_train"][name], name


def assert_unreachable_master_is_one_line(args: list[str]) -> None:
    """``challenge ARGS --master spark://127.0.0.1:1`` exits 3 with one line naming the master;
    in a process of its own: a Spark session already running in this one would be reused."""
    command = [str(Path(sys.executable).with_name("challenge")), *args]
    result = subprocess.run(
        [*command, "--master", "spark://127.0.0.1:1"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == EnvironmentFailure.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "cannot reach spark://127.0.0.1:1" in lines[-1] and "Spark master is up" in lines[-1]
    assert "Traceback" not in result.stderr


def test_an_unreachable_master_is_one_line_and_exit_3(sim_parquet: Path, write_config) -> None:
    assert_unreachable_master_is_one_line(["check", str(write_config(sim_config(sim_parquet)))])


def test_engine_options_are_checked(sim_parquet: Path, write_config) -> None:
    cfg = load_config(write_config(sim_config(sim_parquet)))
    assert cfg.engine.kind == "local"
    assert cfg.with_engine(None, "local[2]").engine.master == "local[2]"
    path = write_config(sim_config(sim_parquet))
    result = runner.invoke(app, ["check", str(path), "--engine", "local", "--master", "yarn"])
    assert result.exit_code == 2 and "--master needs --engine spark" in result.output
    # the training settings of a Spark run: refused on the local engine, kept by --master
    local = sim_config(sim_parquet, engine={"kind": "local", "num_workers": 2})
    result = runner.invoke(app, ["check", str(write_config(local))])
    assert result.exit_code == 2 and "engine.num_workers needs engine.kind: spark" in result.output
    spark = sim_config(sim_parquet, engine={"kind": "spark", "sample_rows": 5000})
    kept = load_config(write_config(spark)).with_engine(None, "local[2]").engine
    assert (kept.master, kept.sample_rows, kept.num_workers) == ("local[2]", 5000, None)


@pytest.mark.slow
def test_a_local_run_replicates_on_spark(
    spark_engine: Any, sim_parquet: Path, write_config, tmp_path: Path
) -> None:
    """`replicate --engine spark` re-runs a local run's record on Spark: the same fingerprint, so
    the data check passes, and the champion and a LightGBM challenger fitted on every training row
    (fewer than engine.sample_rows) give every logged value again; the note names both engines."""
    from challengers.pipeline.replicate import replicate_run

    config = sim_config(
        sim_parquet,
        challengers=[{"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 30}}],
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    options = RunOptions(output_dir=tmp_path / "local", tracking_uri=uri)
    logged = run_experiment(load_config(write_config(config)), options)
    assert logged.run_id is not None
    replication = replicate_run(
        logged.run_id,
        tolerance=1e-9,
        tracking_uri=uri,
        output_dir=tmp_path / "spark",
        engine="spark",
        master="local[2]",
    )
    assert "engine: the logged run used local, this replication spark" in replication.notes
    assert replication.checks and not replication.differing and not replication.status_changes
    assert {c.model for c in replication.checks} == {"champ", "lgbm"}
