"""A booster's running scores of its training rows stand in for predicting them again: they must
equal ``predict_score`` of those rows to the last bit, and be withheld whenever they would not
(early stopping, DART, a kind whose training rows are not the rows it was given)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from challengers.features import outliers
from challengers.models.anomaly import AnomalyChallenger
from challengers.models.base import BaseChallenger
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger
from tests.models.contract import ChallengerContract, easy_frame
from tests.models.test_graph import SPEC, entity_frame, small_graph

EXACT = [
    LightGBMChallenger({"n_estimators": 40}, seed=3, threads=2),
    LightGBMChallenger(
        {"n_estimators": 40, "bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.6},
        seed=3,
        threads=2,
    ),
    LightGBMChallenger({"n_estimators": 40, "data_sample_strategy": "goss"}, seed=3, threads=2),
    LightGBMChallenger({"n_estimators": 40}, imbalance="balanced", seed=3, threads=2),
    XGBoostChallenger({"n_estimators": 40}, seed=3, threads=2),
    XGBoostChallenger({"n_estimators": 40, "subsample": 0.7, "max_depth": 4}, seed=3, threads=2),
    XGBoostChallenger(
        {"n_estimators": 40, "grow_policy": "lossguide", "max_leaves": 15}, seed=3, threads=2
    ),
]


def _with_missing(frame: pl.DataFrame) -> pl.DataFrame:
    """Every 13th value of one feature missing: the booster's default direction is exercised."""
    column = frame.columns[0]
    missing = pl.int_range(pl.len()) % 13 == 0
    return frame.with_columns(pl.when(missing).then(None).otherwise(pl.col(column)).alias(column))


@pytest.mark.parametrize("model", EXACT, ids=lambda m: f"{m.kind}-{m.params}-{m.imbalance}")
def test_the_kept_scores_equal_predicting_the_training_rows_bit_for_bit(
    model: BaseChallenger,
) -> None:
    train = _with_missing(easy_frame(4000, seed=11))
    spec = ChallengerContract().make_spec()
    model.fit(train, spec, in_sample=True)
    # held in the library's own precision until handed over: XGBoost's float32 scores, not a
    # float64 copy made beside its training buffers (the fit's peak: 0.76 GB at 95M rows)
    held = {"lightgbm": np.float64, "xgboost": np.float32}[model.kind]
    assert model.in_sample_ is not None and model.in_sample_.dtype == held
    kept = model.take_in_sample_scores()
    assert kept is not None and kept.dtype == np.float64
    np.testing.assert_array_equal(kept, model.predict_score(train))
    assert model.take_in_sample_scores() is None  # handed over once, not kept with the model


def test_the_graph_kind_hands_over_its_inner_trees_scores() -> None:
    train, test = entity_frame(3000, 1), entity_frame(2000, 2)
    history = pl.concat([train, test])
    model = small_graph().fit(train, SPEC, history=history, in_sample=True)
    kept = model.take_in_sample_scores()
    assert kept is not None
    np.testing.assert_array_equal(kept, model.predict_score(train, history=history))


@pytest.mark.parametrize(
    "model",
    [
        LightGBMChallenger({"n_estimators": 20, "boosting": "dart"}, seed=3, threads=2),
        XGBoostChallenger({"n_estimators": 20, "booster": "dart"}, seed=3, threads=2),
    ],
    ids=["lightgbm-dart", "xgboost-dart"],
)
def test_dart_keeps_none_its_running_scores_are_not_the_models(model: BaseChallenger) -> None:
    model.fit(easy_frame(2000, seed=4), ChallengerContract().make_spec(), in_sample=True)
    assert model.take_in_sample_scores() is None


@pytest.mark.parametrize("cls", [LightGBMChallenger, XGBoostChallenger])
def test_early_stopping_keeps_none_and_none_is_kept_unasked(cls: type) -> None:
    spec = ChallengerContract().make_spec()
    train, valid = easy_frame(2000, seed=4), easy_frame(800, seed=5)
    stopped = cls({"n_estimators": 400}, seed=3, threads=2)
    stopped.fit(train, spec, valid=valid, in_sample=True)
    assert stopped.take_in_sample_scores() is None
    unasked = cls({"n_estimators": 20}, seed=3, threads=2).fit(train, spec)
    assert unasked.take_in_sample_scores() is None


def test_a_hybrid_hands_over_its_trees_scores_of_the_out_of_fold_inputs_it_trained_on() -> None:
    """A hybrid's tree trained on out-of-fold detector scores: its in-sample scores are the tree's
    of those inputs (the train/test gap of the model as trained), which ``training_score`` gives
    again from each row's time alone, in any row order; not the final detector's (fitted on a
    sample of these rows: a 1-NN detector scores the rows it saw 0)."""
    spec = ChallengerContract().make_spec()
    train = easy_frame(3000, seed=4)
    # three rows a time: ranks 999-1001 and 1998-2000 share a time across the cuts at ranks 1000
    # and 2000, which a rank split between two folds by their order in the frame
    train = train.with_columns(pl.col("t").dt.truncate("3m"))
    hybrid = AnomalyChallenger(
        detector="knn",
        params={"n_neighbors": 1},
        hybrid="lightgbm",
        model={"kind": "lightgbm", "params": {"n_estimators": 20}},
        threads=1,
    )
    hybrid.fit(train, spec, in_sample=True)
    kept = hybrid.take_in_sample_scores()
    assert kept is not None
    np.testing.assert_array_equal(kept, hybrid.training_score(train))
    reordered = train.reverse()
    np.testing.assert_array_equal(kept[::-1], hybrid.training_score(reordered))
    assert not np.array_equal(kept, hybrid.predict_score(train))
    # the folds by time: three blocks in time order, a time's rows in one fold
    fold = outliers.time_folds(train, "t", 3)
    by_time = pl.DataFrame({"t": train["t"], "fold": fold}).group_by("t").agg(pl.col("fold"))
    assert by_time["fold"].list.n_unique().max() == 1
    assert np.bincount(fold).tolist() == [999, 999, 1002]
    # the detector the tree's inputs came from never saw the row: a 1-NN distance is never 0
    inputs = hybrid.fold_detectors_, hybrid.fold_cuts_, train, hybrid.features_, "t"
    assert outliers.scores_by_fold(*inputs).min() > 0
    assert hybrid.detector_score(train).min() == 0.0


class _Unscorable(LightGBMChallenger):
    """Fits, but scoring its training window fails as ``error`` says."""

    error: Exception = ValueError("production scores were not logged then")

    def predict_score(self, frame: pl.DataFrame, *, history: object = None) -> np.ndarray:
        raise self.error


def test_a_model_that_cannot_score_its_training_window_loses_only_those_diagnostics() -> None:
    from types import SimpleNamespace

    from challengers.errors import EnvironmentFailure
    from challengers.pipeline.fitting import _score_training

    train = easy_frame(1000, seed=4)
    model = _Unscorable({"n_estimators": 5}, threads=1).fit(train, ChallengerContract().make_spec())
    prepared = SimpleNamespace(split=SimpleNamespace(train=train), history=None, narrow=False)
    plan = SimpleNamespace(name="unscorable")
    assert _score_training(plan, model, prepared, None) is None  # type: ignore[arg-type]
    model.error = EnvironmentFailure("engine: a Spark job failed: an executor was lost")
    with pytest.raises(EnvironmentFailure):  # the engine's failure stops the run
        _score_training(plan, model, prepared, None)  # type: ignore[arg-type]
