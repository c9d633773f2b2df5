"""Representativeness (drift between the windows) and segment checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from challengers.audit import drift
from challengers.config import FindingsConfig
from tests.audit.frames import WINDOWS, audit, clean_frame, ids, thresholds

TEST = pl.col("TX_DATETIME").dt.date().is_between(WINDOWS.test_start, WINDOWS.test_end)
TRAIN = pl.col("TX_DATETIME").dt.date().is_between(WINDOWS.train_start, WINDOWS.train_end)


def test_shifted_feature_is_ranked_first(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(
        pl.when(TEST).then(pl.col("F2") + 0.5).otherwise(pl.col("F2")).alias("F2")
    )
    result = audit(frame, tmp_path)
    assert ids(result)["drift-feature-F2"] == "medium"
    # the run's diagnostics give the feature another PSI, on the rows evaluated: each says its rows
    (finding,) = [f for f in result.findings if f.id == "drift-feature-F2"]
    assert "on every row of each window as delivered, before any known-fraud" in finding.detail
    top = result.tables["feature_drift"][0]
    assert (top["feature"], top["rank"]) == ("F2", 1)
    assert top["psi"] > 0.25 and top["ks"] > 0.4 and top["ks_p_value"] < 1e-6
    assert all(r["psi"] < 0.1 for r in result.tables["feature_drift"][1:])


def test_moderate_shift_is_low(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(
        pl.when(TEST).then(pl.col("F1") + 0.45).otherwise(pl.col("F1")).alias("F1")
    )
    result = audit(frame, tmp_path)
    psi = next(r["psi"] for r in result.tables["feature_drift"] if r["feature"] == "F1")
    assert 0.1 <= psi < 0.25
    assert ids(result)["drift-feature-F1"] == "low"


def test_label_rate_shift(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    extra = pl.Series(rng.uniform(size=12_000) < 0.10)
    frame = clean_frame().with_columns(
        pl.when(TEST & extra).then(1).otherwise(pl.col("TX_FRAUD")).cast(pl.Int8).alias("TX_FRAUD")
    )
    result = audit(frame, tmp_path)
    assert ids(result)["drift-label-rate"] == "medium"
    shift = result.tables["label_rate_shift"][0]
    assert shift["ratio"] > 2 and shift["p_value"] < 1e-6


def test_segment_mix_shift(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(
        pl.when(TEST & (pl.int_range(pl.len()) % 5 != 0))
        .then(pl.lit("north"))
        .otherwise(pl.col("REGION"))
        .alias("REGION")
    )
    result = audit(frame, tmp_path)
    assert ids(result)["drift-segment-mix-REGION"] == "medium"
    assert result.tables["segment_mix"][0]["psi"] > 0.25


def test_segment_table_counts(tmp_path: Path) -> None:
    frame = clean_frame()
    result = audit(frame, tmp_path)
    rows = {r["value"]: r for r in result.tables["segments"]}
    for region in ("north", "south"):
        part = frame.filter(pl.col("REGION") == region)
        train, test = part.filter(TRAIN), part.filter(TEST)
        assert rows[region]["train_rows"] == train.height
        assert rows[region]["train_frauds"] == int(train["TX_FRAUD"].sum())
        assert rows[region]["test_rows"] == test.height
        assert rows[region]["test_frauds"] == int(test["TX_FRAUD"].sum())
        assert rows[region]["evaluable"]


def test_small_segment(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(
        pl.when(pl.int_range(pl.len()) % 200 == 0)
        .then(pl.lit("islands"))
        .otherwise(pl.col("REGION"))
        .alias("REGION")
    )
    result = audit(frame, tmp_path)
    finding = next(f for f in result.findings if f.id == "bias-small-segments-REGION")
    assert finding.severity == "low" and "islands" in finding.detail
    assert "north" not in finding.detail


def test_segment_thresholds_come_from_the_config(tmp_path: Path) -> None:
    strict = thresholds().model_copy(update={"min_segment_rows": 10_000})
    finding = next(
        f
        for f in audit(clean_frame(), tmp_path, findings=strict).findings
        if f.id == "bias-small-segments-REGION"
    )
    assert finding.title.startswith("2 segment(s)")


def test_segment_unseen_in_training(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(
        pl.when(TEST & (pl.int_range(pl.len()) % 3 == 0))
        .then(pl.lit("west"))
        .otherwise(pl.col("REGION"))
        .alias("REGION")
    )
    found = ids(audit(frame, tmp_path))
    assert found["bias-unseen-segments-REGION"] == "medium"


def test_a_feature_missing_in_the_training_window_only_is_a_drift_finding(tmp_path: Path) -> None:
    """A feed that starts after the training window: the models never saw the feature's values,
    the test rows all have one. The finding says the missing shares (KS has nothing to compare)."""
    frame = clean_frame().with_columns(
        pl.when(TRAIN).then(None).otherwise(pl.col("F2")).alias("F2")
    )
    result = audit(frame, tmp_path)
    assert ids(result)["drift-feature-F2"] == "medium"
    (finding,) = [f for f in result.findings if f.id == "drift-feature-F2"]
    assert "missing in 100.0% of the training rows and 0.0% of the test rows" in finding.detail
    assert "nan" not in finding.detail.lower()
    assert result.tables["feature_drift"][0]["feature"] == "F2"


def test_drift_figures_stay_on_their_side_of_the_thresholds() -> None:
    """A PSI of 0.2496, rated low, read 'PSI 0.25' beside 'thresholds 0.1 / 0.25'; a fraud rate
    2.004 times the training window's read '2.00x' beside 'flagged beyond 2.0x', and one over a
    training window without frauds 'infx'."""
    f = FindingsConfig()
    assert (f.psi_medium, f.psi_high) == (0.1, 0.25)
    assert f.shown_psi(0.2496, digits=2) == "0.2496"
    assert f.shown_psi(0.2496) == "0.2496"
    assert f.shown_psi(0.31, digits=2) == "0.31"
    assert drift._times(2.004, 2.0) == "is 2.004x the training window's"
    assert drift._times(math.inf, 2.0) == "is above zero, where the training window has no fraud"
