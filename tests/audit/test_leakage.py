"""Leakage checks: planted label copies, post-outcome fields, identifiers and known-fraud entities."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.audit import AuditResult, ModelInputs
from tests.audit.frames import FEATURES, WINDOWS, audit, clean_frame, ids, in_window, thresholds
from tests.conftest import SIM_FEATURES

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


# ------------------------------------------------------------------ leaks that are not monotone
# A rank AUC reads about 0.5 on these: frauds sit between genuine values. Each is scored by the
# fraud rate of its value or bin, out of fold (challengers.audit.separation).


def window_truth(frame: pl.DataFrame, column: str, fraud_like: pl.Expr) -> float:
    """The best AUC the column can give on the training window (all of it is the audit's sample
    here): 1 - (share of genuine rows with a fraud-like value) / 2."""
    rows = frame.filter(in_window(frame, WINDOWS.train_start, WINDOWS.train_end))
    genuine = rows.filter(pl.col("TX_FRAUD") == 0)
    return 1 - genuine.select(fraud_like.mean()).item() / 2


def column_row(result: AuditResult, column: str) -> dict[str, Any]:
    return next(r for r in result.tables["column_auc"] if r["column"] == column)


def test_float_code_with_fraud_values_between_genuine_ones(tmp_path: Path) -> None:
    """The probe's RESP_RATE: 9 float levels, frauds at 0.3 and 0.7 only."""
    rng = np.random.default_rng(21)
    n = 12_000
    fraud = rng.choice([0.3, 0.7], n)
    genuine = rng.choice([0.1, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9], n)
    code = pl.when(pl.col("TX_FRAUD") == 1).then(pl.Series(fraud)).otherwise(pl.Series(genuine))
    frame = clean_frame().with_columns(code.alias("RESP_RATE"))
    result = audit(frame, tmp_path, features=(*FEATURES, "RESP_RATE"))
    row = column_row(result, "RESP_RATE")
    assert row["method"] == "by value, out of fold" and row["auc"] == pytest.approx(1.0)
    assert ids(result)["leak-auc-RESP_RATE"] == "high"
    assert ids(audit(frame, tmp_path))["leak-auc-RESP_RATE"] == "info"  # present, not read


def test_integer_code_of_many_values_with_a_few_fraud_values(tmp_path: Path) -> None:
    """The probe's 200-value code: frauds take only 5 values, genuine rows any of the 200."""
    rng = np.random.default_rng(22)
    n, bad = 12_000, [41, 97, 133, 150, 171]
    code = pl.when(pl.col("TX_FRAUD") == 1).then(pl.Series(rng.choice(bad, n)))
    frame = clean_frame().with_columns(
        code.otherwise(pl.Series(rng.integers(0, 200, n))).cast(pl.Int32).alias("MERCHANT_CODE")
    )
    result = audit(frame, tmp_path, features=(*FEATURES, "MERCHANT_CODE"))
    row = column_row(result, "MERCHANT_CODE")
    truth = window_truth(frame, "MERCHANT_CODE", pl.col("MERCHANT_CODE").is_in(bad))
    assert truth == pytest.approx(0.9875, abs=0.005)  # 5 of 200 values: 2.5% of genuine rows
    assert row["method"] == "by value, out of fold"
    assert row["auc"] == pytest.approx(truth, abs=0.01)
    assert ids(result)["leak-auc-MERCHANT_CODE"] == "high"


def band(frame: pl.DataFrame, low: float, high: float, seed: int) -> pl.DataFrame:
    """Frauds have the value in [low, high], genuine rows anywhere in 0..1."""
    rng = np.random.default_rng(seed)
    n = frame.height
    value = pl.when(pl.col("TX_FRAUD") == 1).then(pl.Series(rng.uniform(low, high, n)))
    return frame.with_columns(value.otherwise(pl.Series(rng.uniform(0, 1, n))).alias("BAND"))


def test_continuous_column_with_frauds_in_a_narrow_band(tmp_path: Path) -> None:
    """Frauds in 0.47-0.53: 6% of genuine rows share the band, the column alone reaches 0.97."""
    frame = band(clean_frame(), 0.47, 0.53, seed=23)
    result = audit(frame, tmp_path, features=(*FEATURES, "BAND"))
    row = column_row(result, "BAND")
    truth = window_truth(frame, "BAND", pl.col("BAND").is_between(0.47, 0.53))
    assert row["method"] == "binned, out of fold" and row["auc"] == pytest.approx(truth, abs=0.01)
    assert ids(result)["leak-auc-BAND"] == "high"


@pytest.mark.parametrize("seed", [24, 25, 26])
def test_binned_figure_is_the_bands_true_separation(tmp_path: Path, seed: int) -> None:
    """The probe's band, 0.45-0.55, is shared by 10% of genuine rows: alone it separates at
    1 - 0.10 / 2 = 0.95, the threshold itself, so whether it is a finding is the noise of the
    sample's draw (over seeds 24-30 it read 0.943 to 0.960 against truths of 0.951-0.954, 3 of 7
    at or above 0.95). The measure reads that truth, not the rank AUC's 0.5."""
    frame = band(clean_frame(), 0.45, 0.55, seed=seed)
    row = column_row(audit(frame, tmp_path, features=(*FEATURES, "BAND")), "BAND")
    truth = window_truth(frame, "BAND", pl.col("BAND").is_between(0.45, 0.55))
    assert row["method"] == "binned, out of fold"
    assert row["auc"] == pytest.approx(truth, abs=0.015)


def test_noise_code_of_many_values_reads_no_separation(tmp_path: Path) -> None:
    """500 values drawn at random: scored on the rows that fit it, a per-value rate separates
    these 150 frauds well (in sample); out of fold it reads chance, as it should."""
    from challengers.audit.measures import grouped_auc

    rng = np.random.default_rng(27)
    frame = clean_frame().with_columns(pl.Series("NOISE_CODE", rng.integers(0, 500, 12_000)))
    row = column_row(audit(frame, tmp_path, features=(*FEATURES, "NOISE_CODE")), "NOISE_CODE")
    window = frame.filter(in_window(frame, WINDOWS.train_start, WINDOWS.train_end))
    assert grouped_auc(window, "NOISE_CODE", "TX_FRAUD") > 0.75  # what fitting in sample reads
    assert row["auc"] < 0.6


def test_ids_and_entities_keep_the_rank_auc(tmp_path: Path) -> None:
    """Their values name rows and accounts: frauds clustering on accounts is the entity checks'
    subject, not a copy of the label (the simulator's ring devices read 0.96 by value)."""
    result = audit(clean_frame(), tmp_path)
    for column in ("TRANSACTION_ID", "CUSTOMER_ID"):
        assert column_row(result, column)["method"] == "rank"


SIM_HONEST = SIM_FEATURES


def test_simulators_honest_features_raise_no_leak(tmp_path: Path, sim_frame: pl.DataFrame) -> None:
    """The first-line features of the simulator, each scored every way that applies: informative
    (amount rule, amount against the customer's average) but far from the 0.95 of a leak."""
    result = audit(sim_frame, tmp_path, features=SIM_HONEST)
    leaks = {k for k in ids(result) if k.startswith(("leak-auc-", "leak-missing-"))}
    assert leaks == {"leak-auc-TX_FRAUD_SCENARIO"}  # the planted label copy, not read
    for column in SIM_HONEST:
        assert column_row(result, column)["auc"] < 0.8, column
    for column in ("TX_AMOUNT", "AMOUNT_TO_AVG_30D", "CUSTOMER_AVG_AMOUNT_30D"):
        assert _binned(sim_frame, column) < 0.8, column


def _binned(frame: pl.DataFrame, column: str) -> float:
    """The binned out-of-fold AUC itself, whichever measure the table kept."""
    from challengers.audit import separation

    rows = frame.filter(in_window(frame, WINDOWS.train_start, WINDOWS.train_end))
    x, y = rows[column].to_numpy(), rows["TX_FRAUD"].to_numpy() == 1
    codes, k = separation.bin_codes(x, separation.bins_for(int(y.sum())))
    return separation.out_of_fold_auc(codes, k, y, separation.folds(y, seed=3))


def test_a_value_most_rows_hold_is_a_bin_of_its_own() -> None:
    """99.7% zeros: every quantile edge is 0, and plain bins would put the zeros with the frauds
    above them. Frauds on either side of 0 (a signed refund filled once a case is worked; no
    rank sees it) separate when 0 is a bin of its own."""
    from challengers.audit import separation

    rng = np.random.default_rng(28)
    y = rng.uniform(size=20_000) < 0.003
    x = np.where(y, rng.choice([-1.0, 1.0], y.size) * rng.uniform(1, 100, y.size), 0.0)
    codes, k = separation.bin_codes(x, 200)
    assert set(codes[x == 0]).isdisjoint(codes[x != 0])
    auc = separation.out_of_fold_auc(codes, k, y, separation.folds(y, seed=1))
    assert auc == pytest.approx(1.0)
