"""Leakage checks: planted label copies, post-outcome fields, identifiers and known-fraud entities."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.audit import ModelInputs
from tests.audit.frames import FEATURES, WINDOWS, audit, clean_frame, ids, thresholds

RNG = np.random.default_rng(5)


def with_scenario(f: pl.DataFrame) -> pl.DataFrame:
    """A fraud-scenario column: 0 for genuine, 1..3 for fraud, a copy of the label."""
    scenario = pl.col("TX_FRAUD") * pl.Series(RNG.integers(1, 4, f.height))
    return f.with_columns(scenario.cast(pl.Int64).alias("TX_FRAUD_SCENARIO"))


def test_label_copy_used_as_feature_is_high(tmp_path: Path) -> None:
    features = (*FEATURES, "TX_FRAUD_SCENARIO")
    result = audit(with_scenario(clean_frame()), tmp_path, features=features)
    found = ids(result)
    assert found["leak-auc-TX_FRAUD_SCENARIO"] == "high"
    finding = next(f for f in result.findings if f.id == "leak-auc-TX_FRAUD_SCENARIO")
    assert "TX_FRAUD_SCENARIO" in finding.title and "1.000" in finding.title
    # the honest features are not leaks: F1 is informative (AUC about 0.8) but far from 0.95
    assert not any(
        f.id.startswith("leak-") and f.id.endswith(("-F1", "-F2", "-F3")) for f in result.findings
    )


def test_label_copy_left_out_of_features_is_only_info(tmp_path: Path) -> None:
    found = ids(audit(with_scenario(clean_frame()), tmp_path))
    assert found["leak-auc-TX_FRAUD_SCENARIO"] == "info"


def test_reversed_label_copy_is_caught_either_way(tmp_path: Path) -> None:
    frame = clean_frame().with_columns((1 - pl.col("TX_FRAUD")).cast(pl.Float64).alias("APPROVED"))
    result = audit(frame, tmp_path, features=(*FEATURES, "APPROVED"))
    assert ids(result)["leak-auc-APPROVED"] == "high"
    row = next(r for r in result.tables["column_auc"] if r["column"] == "APPROVED")
    assert row["auc"] == pytest.approx(1.0) and row["direction"] == "lower = fraud"


def test_non_monotone_code_is_caught_by_value(tmp_path: Path) -> None:
    """Status 2 = genuine, 1 or 3 = fraud: no ordering separates it, its values do."""
    code = pl.when(pl.col("TX_FRAUD") == 1).then(pl.Series(RNG.choice([1, 3], 12_000))).otherwise(2)
    frame = clean_frame().with_columns(code.cast(pl.Int32).alias("CASE_STATUS"))
    result = audit(frame, tmp_path, features=(*FEATURES, "CASE_STATUS"))
    row = next(r for r in result.tables["column_auc"] if r["column"] == "CASE_STATUS")
    assert row["method"] == "by value" and row["auc"] == pytest.approx(1.0)
    assert ids(result)["leak-auc-CASE_STATUS"] == "high"


def test_field_filled_only_after_fraud_is_caught_by_missingness(tmp_path: Path) -> None:
    chargeback = pl.when(pl.col("TX_FRAUD") == 1).then(pl.col("TX_AMOUNT"))
    frame = clean_frame().with_columns(chargeback.alias("CHARGEBACK_AMOUNT"))
    result = audit(frame, tmp_path, features=(*FEATURES, "CHARGEBACK_AMOUNT"))
    assert ids(result)["leak-missing-CHARGEBACK_AMOUNT"] == "high"


def test_timestamp_after_the_event(tmp_path: Path) -> None:
    closed = pl.col("TX_DATETIME") + pl.duration(days=RNG.integers(1, 30, 12_000))
    frame = clean_frame().with_columns(
        pl.when(pl.col("TX_FRAUD") == 1).then(closed).alias("CASE_CLOSED_AT")
    )
    found = ids(audit(frame, tmp_path))
    assert found["leak-after-event-CASE_CLOSED_AT"] == "medium"
    assert found["leak-missing-CASE_CLOSED_AT"] == "info"  # filled only for frauds, not used


def test_timestamp_before_the_event_is_fine(tmp_path: Path) -> None:
    opened = pl.col("TX_DATETIME") - timedelta(days=400)
    found = ids(audit(clean_frame().with_columns(opened.alias("ACCOUNT_OPENED_AT")), tmp_path))
    assert not any(k.startswith("leak-") for k in found)


@pytest.mark.parametrize(
    ("column", "values", "reason"),
    [
        ("ROW_KEY", lambda f: pl.Series(RNG.permutation(f.height)), "unique per row"),
        # polars' approx_n_unique read these 12,000 values as 11,137 (93%, under the 95% bar)
        ("ACCOUNT_REF", lambda f: pl.int_range(pl.len()) * 11 + 1_000, "unique per row"),
        ("DAY_NUMBER", lambda f: pl.col("TX_DATETIME").dt.ordinal_day(), "monotonic with time"),
        ("TERMINAL_ID", lambda f: pl.Series(RNG.integers(0, 2000, f.height)), "raw id code"),
    ],
)
def test_identifier_like_features(tmp_path: Path, column: str, values, reason: str) -> None:  # type: ignore[no-untyped-def]
    frame = clean_frame()
    column_values = values(frame)
    if isinstance(column_values, pl.Series):
        column_values = pl.lit(column_values)
    frame = frame.with_columns(column_values.cast(pl.Int64).alias(column))
    result = audit(frame, tmp_path, features=(*FEATURES, column))
    finding = next(f for f in result.findings if f.id == f"leak-identifier-{column}")
    assert finding.severity == "medium" and reason in finding.detail
    # not a feature: not a finding
    assert f"leak-identifier-{column}" not in ids(audit(frame, tmp_path))


def test_small_category_code_named_id_is_not_an_identifier(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(pl.col("F3").clip(0, 5).alias("CHANNEL_ID"))
    assert "leak-identifier-CHANNEL_ID" not in ids(
        audit(frame, tmp_path, features=(*FEATURES, "CHANNEL_ID"))
    )


def repeat_fraudsters(f: pl.DataFrame) -> pl.DataFrame:
    """Fraud concentrated on 10 customers that defraud in both windows."""
    rng = np.random.default_rng(9)
    bad = rng.uniform(size=f.height) < 0.05
    customer = np.where(bad, rng.integers(0, 10, f.height), rng.integers(10, 300, f.height))
    return f.with_columns(
        pl.Series("CUSTOMER_ID", customer), pl.Series("TX_FRAUD", bad.astype(np.int8))
    )


def test_known_fraud_entities_without_exclusion(tmp_path: Path) -> None:
    frame = repeat_fraudsters(clean_frame())
    no_exclusion = replace(WINDOWS, exclude_known_frauds=False)
    result = audit(frame, tmp_path, windows=no_exclusion)
    assert ids(result)["leak-known-fraud-entities-CUSTOMER_ID"] == "medium"
    row = result.tables["entities"][0]
    # truth: every test fraud is on one of the 10 fraudsters, all with frauds in training
    test = frame.filter(
        pl.col("TX_DATETIME").dt.date().is_between(WINDOWS.test_start, WINDOWS.test_end)
    )
    assert row["test_frauds"] == int(test["TX_FRAUD"].sum())
    assert row["test_frauds_on_known_fraud_entities"] == row["test_frauds"]
    assert row["test_entities"] == test["CUSTOMER_ID"].n_unique()
    # with the exclusion the numbers stay in the table, without a finding
    assert "leak-known-fraud-entities-CUSTOMER_ID" not in ids(audit(frame, tmp_path))


def test_known_fraud_count_follows_the_label_delay(tmp_path: Path) -> None:
    """Customer 7 defrauds from the first test day on: its frauds count as known only from the
    day its first fraud is older than the label delay (first day + delay + 1)."""
    day = pl.col("TX_DATETIME").dt.date()
    fraud = (pl.col("CUSTOMER_ID") == 7) & (day >= WINDOWS.test_start)
    frame = clean_frame().with_columns(fraud.cast(pl.Int8).alias("TX_FRAUD"))
    result = audit(frame, tmp_path, windows=replace(WINDOWS, exclude_known_frauds=False))
    row = result.tables["entities"][0]
    in_test = frame.filter(fraud & (day <= WINDOWS.test_end))
    visible = WINDOWS.test_start + timedelta(days=WINDOWS.label_delay_days + 1)
    assert row["test_frauds"] == in_test.height > 0
    assert row["test_frauds_on_known_fraud_entities"] == in_test.filter(day >= visible).height


def test_graph_entities_are_checked_too(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(pl.Series("TERMINAL_ID", RNG.integers(0, 50, 12_000)))
    from challengers.models import registry

    entities = ["CUSTOMER_ID", "TERMINAL_ID"]
    section = registry.kind_class("graph").Params.model_validate(
        {"name": "graph", "kind": "graph", "graph": {"entities": entities, "windows_days": [1]}}
    )
    models = [
        ModelInputs("graph", "graph", FEATURES, extra_columns=tuple(entities), settings=section)
    ]
    result = audit(frame, tmp_path, models=models)
    assert [r["entity"] for r in result.tables["entities"]] == ["CUSTOMER_ID", "TERMINAL_ID"]


def test_auc_threshold_comes_from_the_config(tmp_path: Path) -> None:
    """F1 alone reaches an AUC of about 0.8: silent at 0.95, a finding at 0.75."""
    assert "leak-auc-F1" not in ids(audit(clean_frame(), tmp_path))
    found = ids(audit(clean_frame(), tmp_path, findings=thresholds(leak_auc=0.75)))
    assert found["leak-auc-F1"] == "high"
