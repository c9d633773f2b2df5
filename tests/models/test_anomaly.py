"""The anomaly kind: the shared contract (standalone and hybrid), score orientation on a planted
cluster, PyOD equivalence of the inductive scorers, encoding, sampling, out-of-fold scores and the
config checks."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from challengers.data.frames import DataSpec
from challengers.features import outliers
from challengers.models.anomaly import AnomalyChallenger, AnomalyParams
from challengers.models.base import BaseChallenger
from tests.models.contract import ChallengerContract, auc

# ------------------------------------------------------------------------------------ contract


class TestIForestContract(ChallengerContract):
    """Standalone detectors learn no labels. On the contract's easy data fraud sits at one tail of
    ``signal``; a detector flags both tails of every feature, so it ranks frauds well above chance
    (AUC about 0.70 measured) but cannot reach the supervised floor of 0.85. The floor below still
    fails a detector whose scores are flipped (AUC about 0.3) or random (0.5)."""

    kind = "anomaly"
    quality_floor: ClassVar[float] = 0.62

    def make_model(self, seed: int = 0) -> BaseChallenger:
        return AnomalyChallenger("iforest", {"n_estimators": 50}, seed=seed, threads=1)


class TestECODContract(TestIForestContract):
    def make_model(self, seed: int = 0) -> BaseChallenger:
        return AnomalyChallenger("ecod", {}, seed=seed, threads=1)


class TestKNNContract(TestIForestContract):
    def make_model(self, seed: int = 0) -> BaseChallenger:
        return AnomalyChallenger("knn", {"n_neighbors": 10}, sample_size=1500, seed=seed, threads=1)


class TestLightGBMHybridContract(ChallengerContract):
    """A hybrid is a supervised tree: the default floor applies."""

    kind = "anomaly"

    def make_model(self, seed: int = 0) -> BaseChallenger:
        return AnomalyChallenger(
            "hbos",
            {},
            hybrid="lightgbm",
            model={"kind": "lightgbm", "params": {"n_estimators": 60}, "imbalance": "none"},
            seed=seed,
            threads=1,
        )


class TestXGBoostHybridContract(ChallengerContract):
    kind = "anomaly"

    def make_model(self, seed: int = 0) -> BaseChallenger:
        return AnomalyChallenger(
            "copod",
            {},
            hybrid="xgboost",
            model={"kind": "xgboost", "params": {"n_estimators": 60}, "imbalance": "none"},
            fit_on="genuine",
            seed=seed,
            threads=1,
        )


# --------------------------------------------------------------------- planted anomaly cluster

CLUSTER_FEATURES = ("a", "b", "c", "d", "mcc")


def cluster_frame(bulk: int, cluster: int, seed: int) -> pl.DataFrame:
    """Bulk rows around the origin (one integer-coded category with common levels) and a tight
    cluster far out on three features with a rare category: the planted anomalies, label 1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(bulk + cluster, 4))
    x[bulk:, :3] = rng.normal(4.0, 0.3, size=(cluster, 3))
    mcc = np.where(np.arange(bulk + cluster) < bulk, rng.integers(0, 5, bulk + cluster), 99)
    x[rng.random(x.shape) < 0.02] = np.nan  # a few missing values everywhere
    y = (np.arange(bulk + cluster) >= bulk).astype(np.int8)
    order = rng.permutation(bulk + cluster)
    return pl.DataFrame(
        {
            **{f: x[order, i] for i, f in enumerate(CLUSTER_FEATURES[:4])},
            "mcc": mcc[order].astype(np.int16),
            "y": y[order],
            "t": pl.datetime_range(
                pl.datetime(2024, 1, 1),
                pl.datetime(2024, 1, 1) + pl.duration(minutes=bulk + cluster - 1),
                "1m",
                eager=True,
            ),
        }
    )


CLUSTER_SPEC = DataSpec(target="y", time="t", features=CLUSTER_FEATURES)
SIX = ("iforest", "ecod", "copod", "hbos", "lof", "knn")


@pytest.mark.parametrize("detector", SIX)
def test_each_detector_ranks_a_planted_cluster_above_the_bulk(detector: str) -> None:
    """Score orientation: higher = more outlying. The cluster is labelled fraud in training, so
    with fit_on: genuine the detector never sees it and must rank it on top in the test window."""
    train, test = cluster_frame(2000, 30, seed=1), cluster_frame(2000, 30, seed=2)
    model = AnomalyChallenger(
        detector, fit_on="genuine", categorical=["mcc"], sample_size=1500, threads=1
    )
    scores = model.fit(train, CLUSTER_SPEC).predict_score(test)
    assert auc(test.get_column("y").to_numpy(), scores) > 0.9


def test_fit_on_genuine_keeps_frauds_out_of_the_fit_sample() -> None:
    """A tight fraud cluster in the fit sample masks itself for a 5-NN detector; fitted on genuine
    rows only, the cluster stands out. Proves the label filter is applied."""
    train, test = cluster_frame(2000, 60, seed=3), cluster_frame(2000, 60, seed=4)
    y = test.get_column("y").to_numpy()
    all_rows = AnomalyChallenger("knn", fit_on="all", threads=1).fit(train, CLUSTER_SPEC)
    genuine = AnomalyChallenger("knn", fit_on="genuine", threads=1).fit(train, CLUSTER_SPEC)
    assert genuine.detector_.fit_rows == 2000 and all_rows.detector_.fit_rows == 2060
    assert auc(y, genuine.predict_score(test)) > 0.95 > auc(y, all_rows.predict_score(test))


# ------------------------------------------------------------ scorers agree with PyOD's own


def skewed(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    columns = [rng.lognormal(size=rows), -rng.exponential(size=rows), rng.gamma(2.0, size=rows)]
    return np.column_stack(columns).astype(np.float32)


@pytest.mark.parametrize("method", ["ecod", "copod"])
def test_ecdf_scorer_equals_pyod_scoring_each_row_alone(method: str) -> None:
    """PyOD re-estimates the CDFs on training + batch; scored one row at a time, that is our
    inductive score exactly. Scored as a batch, PyOD's scores depend on the batch."""
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD

    fit, rows = skewed(400, 0), skewed(25, 1)
    pyod = (ECOD if method == "ecod" else COPOD)().fit(fit)
    alone = np.array([pyod.decision_function(rows[i : i + 1])[0] for i in range(len(rows))])
    ours = outliers.EcdfScorer(fit, method).decision_function(rows)
    np.testing.assert_allclose(ours, alone, rtol=1e-12, atol=1e-12)
    assert np.abs(pyod.decision_function(rows) - alone).max() > 0.01


@pytest.mark.parametrize("bins", [10, "auto"])
def test_vectorised_hbos_equals_pyod(bins: int | str) -> None:
    from pyod.models.hbos import HBOS

    fit, rows = skewed(500, 2), skewed(300, 3) * 1.5  # some rows beyond the fitted bins
    detector = HBOS(n_bins=bins).fit(fit)
    np.testing.assert_array_equal(
        outliers.hbos_scores(detector, rows), detector.decision_function(rows)
    )


@pytest.mark.parametrize("detector", ["ecod", "iforest", "hbos"])
def test_scores_do_not_depend_on_the_chunking_or_the_threads(
    detector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = cluster_frame(1000, 10, seed=5), cluster_frame(700, 10, seed=6)
    model = AnomalyChallenger(detector, threads=1).fit(train, CLUSTER_SPEC)
    whole = model.predict_score(test)
    monkeypatch.setattr(outliers, "CHUNK_ROWS", 64)
    np.testing.assert_array_equal(model.predict_score(test), whole)
    model.threads = 3  # 11 chunks scored three at a time, written to their own slices
    np.testing.assert_array_equal(model.predict_score(test), whole)


# ------------------------------------------------------------------------ encoding, sampling


def test_encoding_learns_shares_medians_and_scale_on_the_fit_sample() -> None:
    fit = np.array([[1, 10], [1, np.nan], [2, 30], [np.nan, 50]], dtype=np.float32)
    enc = outliers.Encoding.fit(fit, [True, False], "none")
    other = np.array([[1, np.nan], [7, 20], [np.nan, 0]], dtype=np.float32)
    np.testing.assert_allclose(enc.apply(other), [[0.5, 30], [0.0, 20], [0.25, 0]])
    robust = outliers.Encoding.fit(fit, [True, False], "robust")
    # the numeric column after filling is 10, 30, 30, 50: median 30, IQR 35 - 25 = 10
    z = robust.apply(fit)
    assert np.median(z[:, 1]) == pytest.approx(0.0)
    assert np.percentile(z[:, 1], 75) - np.percentile(z[:, 1], 25) == pytest.approx(1.0)
    assert not np.isnan(z).any()


def test_sample_is_bounded_seeded_and_sorted() -> None:
    eligible = np.arange(0, 10_000, 3)
    a = outliers.sample_rows(eligible, 500, np.random.default_rng(1))
    b = outliers.sample_rows(eligible, 500, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.size == 500 and np.all(np.diff(a) > 0) and np.isin(a, eligible).all()
    assert outliers.sample_rows(eligible, 10**6, np.random.default_rng(1)).size == eligible.size


def test_too_little_data_is_a_clear_error() -> None:
    frame = cluster_frame(30, 0, seed=7)
    with pytest.raises(ValueError, match="only 30 rows to fit on"):
        AnomalyChallenger("iforest", threads=1).fit(frame, CLUSTER_SPEC)


@pytest.mark.parametrize("detector", SIX)
def test_contamination_changes_no_score(detector: str) -> None:
    """``contamination`` sets only PyOD's 0/1 threshold, which nothing reads: the scores are the
    same at 0.01 and 0.3 but for a constant (iforest's offset), so every metric and the alert
    budget (``evaluation.operating_point``) are too."""
    frame = cluster_frame(1_500, 20, seed=5)
    scores = [
        AnomalyChallenger(detector, {"contamination": c}, threads=1)
        .fit(frame, CLUSTER_SPEC)
        .predict_score(frame)
        for c in (0.01, 0.3)
    ]
    shift = scores[1] - scores[0]
    np.testing.assert_allclose(shift, shift[0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.argsort(scores[0]), np.argsort(scores[1]))


@pytest.mark.parametrize("method", ["ecod", "copod"])
def test_a_constant_feature_adds_nothing_and_warns_nothing(method: Any) -> None:
    """A constant fit column has no tail: rows at its value score as without the column, and
    scipy's skew is not asked of it (it printed "catastrophic cancellation ... results may be
    unreliable" on the run's terminal for every fit of a data set with one constant feature)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2_000, 4)).astype(np.float32)
    x[:, 1] = rng.exponential(size=2_000)
    with_constant = np.insert(x, 2, np.float32(7.0), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scorer = outliers.EcdfScorer(with_constant, method)
    plain = outliers.EcdfScorer(x, method)
    rows = rng.standard_normal((500, 4)).astype(np.float32)
    np.testing.assert_allclose(
        scorer.decision_function(np.insert(rows, 2, np.float32(7.0), axis=1)),
        plain.decision_function(rows),
        rtol=1e-12,
    )


@pytest.mark.parametrize("detector", ["lof", "knn"])
def test_more_neighbours_than_fit_rows_is_a_clear_error(detector: str) -> None:
    """scikit-learn's LOF fitted on 150 rows with n_neighbors 200 used 149 and only warned, while
    the run logged n_neighbors 200: the validator was told a model that was not fitted."""
    frame = cluster_frame(150, 0, seed=7)
    model = AnomalyChallenger(detector, {"n_neighbors": 200}, threads=1)
    with pytest.raises(ValueError, match="n_neighbors is 200, but only 150 rows to fit on"):
        model.fit(frame, CLUSTER_SPEC)


# -------------------------------------------------------------------- out-of-fold hybrid scores


def test_time_folds_are_consecutive_equal_blocks() -> None:
    frame = cluster_frame(990, 10, seed=8).sample(fraction=1.0, shuffle=True, seed=1)
    fold = outliers.time_folds(frame, "t", 4)
    in_time = fold[np.argsort(frame.get_column("t").to_numpy(), kind="stable")]
    assert np.all(np.diff(in_time) >= 0)
    assert np.bincount(fold).tolist() == [250, 250, 250, 250]


def test_out_of_fold_scores_never_come_from_a_detector_fitted_on_the_row() -> None:
    """A 1-NN detector gives a row it was fitted on a distance of 0: out of fold, none is 0."""
    frame = cluster_frame(1200, 0, seed=9).fill_nan(0.0)
    fold = outliers.time_folds(frame, "t", 3)
    settings: dict[str, Any] = {
        "detector": "knn",
        "params": {"n_neighbors": 1},
        "categorical": [False] * 5,
        "scale": "none",
        "threads": 1,
    }
    kw: dict[str, Any] = {"fold": fold, "eligible": np.ones(frame.height, bool), "seed": 0}
    oof, _ = outliers.out_of_fold_scores(
        frame, CLUSTER_FEATURES[:4], sample_size=10**6, **kw, **settings
    )
    assert oof.min() > 0
    fitted = outliers.fit_detector(
        outliers.to_matrix(frame, CLUSTER_FEATURES[:4]), seed=0, **settings
    )
    assert outliers.score_frame(fitted, frame, CLUSTER_FEATURES[:4]).max() == 0.0


def test_hybrid_twin_is_the_same_tree_without_the_score() -> None:
    train = cluster_frame(1500, 40, seed=10)
    model = AnomalyChallenger("ecod", hybrid="lightgbm", model={"params": {"n_estimators": 20}})
    model.fit(train, CLUSTER_SPEC)
    assert model.tree_ is not None and model.twin_ is not None
    assert model.tree_.features_ == (*CLUSTER_FEATURES, "anomaly_ecod")
    assert model.twin_.features_ == CLUSTER_FEATURES
    assert model.twin_.get_params() == {**model.tree_.get_params()}
    assert "anomaly_ecod" in model.feature_importance()
    assert model.twin_label == "lightgbm without anomaly_ecod"
    without = AnomalyChallenger("ecod", hybrid="lightgbm", twin=False, threads=1)
    assert without.fit(train, CLUSTER_SPEC).twin_ is None


# ----------------------------------------------------------------------------- configuration


def anomaly_config(**kw: Any) -> AnomalyParams:
    return AnomalyParams.model_validate({"name": "a", "kind": "anomaly", **kw})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"detector": "iforst"}, "unknown detector 'iforst'; did you mean 'iforest'?; valid"),
        ({"detector": "cof"}, "detector 'cof' cannot be used: it scores each batch against itself"),
        ({"detector": "iforest", "params": {"n_estimator": 5}}, "did you mean 'n_estimators'?"),
        ({"detector": "iforest", "params": {"n_estimators": 0}}, "n_estimators: Input"),
        ({"detector": "hbos", "params": {"n_bins": "many"}}, "n_bins: "),
        ({"detector": "knn", "params": {"method": "max"}}, "method: Input"),
        (
            {"detector": "lof", "params": {"n_jobs": 4}},
            "do not set 'n_jobs': it is set by the run's `threads`",
        ),
        ({"detector": "pca", "params": {"random_state": 1}}, "set by the run's `seed`"),
        ({"detector": "ecod", "model": {"kind": "xgboost"}}, "add `hybrid: xgboost`"),
        (
            {"detector": "ecod", "hybrid": "lightgbm", "model": {"kind": "xgboost"}},
            "model.kind 'xgboost' differs from hybrid 'lightgbm'",
        ),
    ],
)
def test_bad_anomaly_configs_fail_at_load(given: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message.replace("?", r"\?").replace("(", r"\(")):
        anomaly_config(**given)


def test_detector_given_by_class_name_is_canonical() -> None:
    assert anomaly_config(detector="IForest").detector == "iforest"
    assert anomaly_config(detector="AutoEncoder").detector == "auto_encoder"


def test_registry_of_detectors_matches_the_installed_pyod() -> None:
    """Every PyOD module with a detector is either usable here or refused with a reason; every
    importable entry names a real BaseDetector; the core parameter models match the signatures."""
    import pkgutil

    import pyod.models
    from pyod.models.base import BaseDetector

    from challengers.features import detectors as d

    helpers = {"base", "base_dl", "gaal_base", "sklearn_base", "thresholds", "combination"}
    helpers |= {"so_gaal_new", "embedding", "audio_ae", "_pyg_utils", "_ts_utils"}
    modules = {m.name for m in pkgutil.iter_modules(pyod.models.__path__)}
    not_tabular = {m for m in modules if m.startswith(("pyg_", "ts_"))}
    listed = {i.module for i in d.DETECTORS.values()} | set(d.UNSUITABLE)
    assert modules - helpers - not_tabular == listed
    for info in d.DETECTORS.values():
        try:
            cls = outliers.detector_class(info)
        except ImportError as exc:
            assert info.requires and info.requires in str(exc)
            continue
        assert issubclass(cls, BaseDetector)
        if info.name in d.CORE_PARAMS:
            names = set(outliers.constructor_parameters(cls))
            assert set(d.CORE_PARAMS[info.name].model_fields) <= names, info.name


def test_pyod_warns_nothing_for_the_core_detectors() -> None:
    train = cluster_frame(600, 5, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        for detector in SIX:
            AnomalyChallenger(detector, threads=1).fit(train, CLUSTER_SPEC)
