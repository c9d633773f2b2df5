"""Trees read and score the rows block by block, never as one float32 matrix of the window, and
that changes no number: the same LightGBM and XGBoost models as from ``to_matrix`` of the whole
frame, and the same scores to the last bit, however small the blocks."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.data.frames import DataSpec, labels, to_matrix
from challengers.models import base
from challengers.models import blocks as feeding
from challengers.models.blocks import FrameRows
from challengers.models.champion import NativeModelChampion
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger
from tests.models.contract import EASY_FEATURES, easy_frame

SPEC = DataSpec(target="y", time="t", features=EASY_FEATURES)
# LightGBM bins a sample of 2,000 of the 20,000 rows: which rows are drawn (from the seed) and
# which features min_data_in_leaf filters change the model; XGBoost's sketch of 16 bins prunes
# (and the quantile matrix must be binned with the params' max_bin, or XGBoost refuses to train)
LGB_PARAMS = {"n_estimators": 25, "bin_construct_sample_cnt": 2000, "min_data_in_leaf": 40}
XGB_PARAMS = {"n_estimators": 25, "max_depth": 4, "max_bin": 16}


def frame(rows: int, seed: int) -> pl.DataFrame:
    """The easy data with missing values in a float32 and a float64 feature."""
    data = easy_frame(rows, seed=seed)
    holes = np.random.default_rng(seed + 100).random(rows) < 0.05
    return data.with_columns(
        pl.when(pl.Series(holes)).then(None).otherwise(pl.col(name)).alias(name)
        for name in ("noise_a", "weak")
    )


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks far smaller than the frames (and not dividing them): many of each."""
    monkeypatch.setattr(feeding, "TRAIN_BLOCK", 3001)
    monkeypatch.setattr(base, "SCORE_BLOCK", 777)


def one_matrix_lightgbm(
    model: LightGBMChallenger, train: pl.DataFrame, valid: pl.DataFrame | None
) -> Any:
    """The fit before the blocks: LightGBM's dataset from the window's float32 matrix."""
    import lightgbm as lgb

    y = labels(train, "y")
    params, rounds = model._library_params(y)
    names = list(EASY_FEATURES)
    dtrain = lgb.Dataset(to_matrix(train, names), label=y, feature_name=names, params=params)
    valid_sets, callbacks = [], []
    if valid is not None:
        matrix, y_valid = to_matrix(valid, names), labels(valid, "y")
        valid_sets = [dtrain.create_valid(matrix, label=y_valid, params=params)]
        callbacks = [lgb.early_stopping(model.early_stopping_rounds, verbose=False)]
    return lgb.train(
        params, dtrain, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
    )


def one_matrix_xgboost(model: XGBoostChallenger, train: pl.DataFrame) -> Any:
    """The fit before the blocks: XGBoost's quantile matrix from the window's float32 matrix."""
    import xgboost as xgb

    y = labels(train, "y")
    params, rounds = model._library_params(y)
    names = list(EASY_FEATURES)
    matrix = to_matrix(train, names)
    dtrain = xgb.QuantileDMatrix(matrix, label=y, feature_names=names, nthread=2, max_bin=16)
    return xgb.train(params, dtrain, num_boost_round=rounds)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("with_valid", [False, True])
def test_lightgbm_from_blocks_is_the_one_matrix_model(with_valid: bool) -> None:
    train, valid, test = frame(20_000, 1), frame(4_000, 2), frame(5_000, 3)
    model = LightGBMChallenger(LGB_PARAMS, imbalance="sqrt", seed=7, threads=2)
    model.fit(train, SPEC, valid=valid if with_valid else None)
    reference = one_matrix_lightgbm(model, train, valid if with_valid else None)
    assert model.booster_.model_to_string() == reference.model_to_string()
    expected = reference.predict(to_matrix(test, EASY_FEATURES), num_threads=2)
    np.testing.assert_array_equal(model.predict_score(test), expected)


@pytest.mark.usefixtures("small_blocks")
def test_xgboost_from_blocks_is_the_one_matrix_model() -> None:
    """Seven blocks feed one sketch in row order: the same cuts, the same trees, bit for bit."""
    train, test = frame(20_000, 1), frame(5_000, 3)
    model = XGBoostChallenger(XGB_PARAMS, imbalance="sqrt", seed=7, threads=2).fit(train, SPEC)
    reference = one_matrix_xgboost(model, train)
    assert bytes(model.booster_.save_raw("json")) == bytes(reference.save_raw("json"))
    expected = reference.inplace_predict(to_matrix(test, EASY_FEATURES))
    assert model._predict(test, None).dtype == expected.dtype == np.float32  # as before
    np.testing.assert_array_equal(model.predict_score(test), expected)


def test_xgboost_sketch_of_blocks_has_the_one_matrix_cuts(monkeypatch: pytest.MonkeyPatch) -> None:
    import xgboost as xgb

    train = frame(20_000, 4)
    y, names = labels(train, "y"), list(EASY_FEATURES)
    monkeypatch.setattr(feeding, "TRAIN_BLOCK", 999)
    blocks = feeding.quantile_matrix(train, EASY_FEATURES, y, threads=2)
    assert blocks.num_row() == train.height and blocks.feature_names == names
    np.testing.assert_array_equal(blocks.get_label(), y)
    # 256 bins (the default) of 20,000 rows: the sketch prunes
    whole = xgb.QuantileDMatrix(to_matrix(train, names), label=y, nthread=2)
    for mine, theirs in zip(blocks.get_quantile_cut(), whole.get_quantile_cut(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("cls", [LightGBMChallenger, XGBoostChallenger])
@pytest.mark.parametrize("rows", [1, 7, 4999, 5000, 5001])
def test_scores_in_blocks_are_the_one_matrix_scores(cls: type, rows: int) -> None:
    train, test = frame(3_000, 5), frame(5_000, 6)
    model = cls({"n_estimators": 20}, seed=3, threads=2).fit(train, SPEC)
    lib = model.library
    whole = lib.predict(model.booster_, to_matrix(test, EASY_FEATURES), 2)

    def predict(x: np.ndarray) -> np.ndarray:
        return lib.predict(model.booster_, x, 2)

    scores = base.predict_in_blocks(test, EASY_FEATURES, predict, rows=rows)
    assert scores.dtype == whole.dtype and scores.shape == whole.shape
    np.testing.assert_array_equal(scores, whole)
    empty = base.predict_in_blocks(test.head(0), EASY_FEATURES, predict, rows=rows)
    assert empty.shape == (0,) and empty.dtype == whole.dtype


@pytest.mark.parametrize("cls", [LightGBMChallenger, XGBoostChallenger])
def test_native_champion_scores_in_blocks(
    cls: type, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = frame(3_000, 7), frame(4_000, 8)
    trained = cls({"n_estimators": 20}, seed=3, threads=2).fit(train, SPEC)
    champion = NativeModelChampion(str(trained.save(tmp_path))).fit(train, SPEC)
    whole = champion.predict_score(test)  # one block
    monkeypatch.setattr(base, "SCORE_BLOCK", 333)
    np.testing.assert_array_equal(champion.predict_score(test), whole)
    np.testing.assert_array_equal(whole, trained.predict_score(test))


def test_frame_rows_read_as_to_matrix() -> None:
    data = frame(1_000, 9)
    matrix = to_matrix(data, EASY_FEATURES)
    rows = FrameRows(data, EASY_FEATURES, batch_size=300)
    assert len(rows) == 1_000 and rows.batch_size == 300
    np.testing.assert_array_equal(rows[100:460], matrix[100:460])
    assert rows[100:460].dtype == np.float32
    np.testing.assert_array_equal(rows[990:2000], matrix[990:])
    np.testing.assert_array_equal(rows[[3, 700, 5]], matrix[[3, 700, 5]])
    for index in (0, 1, 500, 999, -1, 3):
        row = rows[index]
        assert row.dtype == np.float64  # LightGBM hands its sample to C++ as doubles
        np.testing.assert_array_equal(row, matrix[index].astype(np.float64))
    sampled = np.array([0, 2, 3, 64, 511, 999], dtype=np.int32)  # LGBM_SampleIndices' type
    assert rows.sample(sampled).dtype == np.float64
    np.testing.assert_array_equal(rows.sample(sampled), matrix[sampled].astype(np.float64))
