"""Tuning folds respect time: validation at the end of training, the label delay as a gap, never the
test window; and the config rejects tuning that cannot fit in the training window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from challengers.config import ExperimentConfig, SearchRange, TuneConfig, load_config
from challengers.data.frames import DAY
from challengers.data.split import ValidationWindow, tuning_folds, validation_windows
from challengers.errors import ConfigError
from challengers.pipeline import Prepared, RunOptions, prepare
from challengers.progress import SilentProgress
from tests.conftest import sim_config


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_default_validation_is_the_last_fifth_after_the_delay_gap() -> None:
    (fold,) = validation_windows(d("2024-01-01"), d("2024-01-30"), 7, None, 1)
    assert fold == ValidationWindow(
        d("2024-01-01"), d("2024-01-17"), d("2024-01-25"), d("2024-01-30")
    )


def test_rolling_folds_are_consecutive_and_oldest_first() -> None:
    folds = validation_windows(d("2024-01-01"), d("2024-01-30"), 7, 5, 3)
    assert [(f.valid_start, f.valid_end) for f in folds] == [
        (d("2024-01-16"), d("2024-01-20")),
        (d("2024-01-21"), d("2024-01-25")),
        (d("2024-01-26"), d("2024-01-30")),
    ]
    for f in folds:
        assert f.fit_end == f.valid_start - timedelta(days=8)  # 7 unlabelled days in between
        assert f.train_start == d("2024-01-01")


def test_a_window_too_short_says_how_many_days_it_needs() -> None:
    with pytest.raises(ValueError, match=r"\(10 days\).*needs at least 12 days"):
        validation_windows(d("2024-01-01"), d("2024-01-10"), 7, 2, 2)


@pytest.fixture(scope="module")
def prepared(sim_parquet: Path) -> Prepared:
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    return prepare(cfg, RunOptions(), SilentProgress())


def test_folds_hold_only_rows_whose_labels_are_known(prepared: Prepared) -> None:
    w = prepared.plan.windows
    folds = tuning_folds(
        prepared.split.train, w, validation_days=3, folds=2, target="TX_FRAUD", entity="CUSTOMER_ID"
    )
    assert len(folds) == 2
    for cut, part in folds:
        fit_days, valid_days = part.train.get_column(DAY), part.test.get_column(DAY)
        assert fit_days.min() == w.train_start and fit_days.max() == cut.fit_end
        assert valid_days.min() == cut.valid_start and valid_days.max() == cut.valid_end
        assert valid_days.max() <= w.train_end < w.test_start  # never the test window
        # exact row count: every training row of the fit days, none of the gap
        expected = prepared.split.train.filter(pl.col(DAY) <= cut.fit_end).height
        assert part.train.height == expected


def test_validation_drops_customers_already_known_as_fraudsters(prepared: Prepared) -> None:
    """The run's known-fraud exclusion applies to the validation slice as it does to the test."""
    train = prepared.split.train
    w = prepared.plan.windows
    ((cut, part),) = tuning_folds(
        train, w, validation_days=None, folds=1, target="TX_FRAUD", entity="CUSTOMER_ID"
    )
    first_fraud = (
        train.filter(pl.col("TX_FRAUD") == 1)
        .group_by("CUSTOMER_ID")
        .agg(pl.col(DAY).min().alias("first"))
    )
    valid = train.filter(pl.col(DAY).is_between(cut.valid_start, cut.valid_end))
    flagged = valid.join(first_fraud, on="CUSTOMER_ID", how="left").filter(
        pl.col("first") <= pl.max_horizontal(pl.lit(cut.fit_end), pl.col(DAY) - timedelta(days=8))
    )
    assert flagged.height > 0  # the planted compromised customers make this non-trivial
    assert part.test.height == valid.height - flagged.height
    assert part.excluded_rows == flagged.height


def _tuned_config(sim_parquet: Path, tune: dict, **extra: object) -> dict:
    return sim_config(
        sim_parquet, challengers=[{"name": "lgbm", "kind": "lightgbm", "tune": tune}], **extra
    )


def test_config_rejects_tuning_that_does_not_fit(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    path = write_config(_tuned_config(sim_parquet, {"validation_days": 10, "folds": 2}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "challenger 'lgbm' tune:" in text and "needs at least 28 days" in text
    assert "experiment.yaml:" in text  # file:line


def test_config_rejects_tuning_the_champion(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    champion = {"name": "champ", "retrain": {"kind": "lightgbm", "tune": {"trials": 3}}}
    path = write_config(sim_config(sim_parquet, champion=champion))
    with pytest.raises(ConfigError, match="champion replicates the documented spec"):
        load_config(path)


def test_config_rejects_tuning_a_detector_without_a_tree(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    detector = {"name": "iforest", "kind": "anomaly", "detector": "iforest", "tune": {"trials": 3}}
    path = write_config(sim_config(sim_parquet, challengers=[detector]))
    with pytest.raises(ConfigError, match="a detector alone has none: add hybrid"):
        load_config(path)


def test_search_ranges_validate() -> None:
    assert SearchRange(choices=["none", "balanced"]).choices == ["none", "balanced"]
    with pytest.raises(ValueError, match="low > 0"):
        SearchRange(low=0, high=1, log=True)
    with pytest.raises(ValueError, match="not both"):
        SearchRange(low=0, high=1, choices=[1])
    with pytest.raises(ValueError, match="choices is empty; list the values to try"):
        SearchRange(choices=[])
    with pytest.raises(ValueError, match="early stopping"):
        TuneConfig(space={"n_estimators": SearchRange(low=10, high=100)})
