"""Checks of the split data that need rows, not just the schema: what the evaluation needs on every
test row (errors), and what a validator should know before training (notes for `challenge check`).

Decisions (README, "Reliability"):
- missing feature values (null or NaN) are allowed: the tree kinds route them natively and the
  anomaly kind imputes them; infinities are refused (data.check_finite);
- a constant (or always-missing) feature is not an error: it carries no information, so
  `challenge check` notes it and the data audit of every run reports it as a finding;
- the test rows must have a label (data.check_target), an entity id when data.entity is set (entity
  metrics and the entity bootstrap group by it), an amount when a metric weighs by it, and a finite
  production score when the champion is a score column;
- the training rows must have an entity id too (the in-sample metrics group by it, and the
  known-fraud exclusion reads the window's fraudsters); rows before the training window need none;
- NaN is missing, as null: a NaN entity is no customer (grouped, every NaN row was one customer),
  a NaN amount no amount;
- when a metric weighs by amount, a fraud's amount may not be negative: it would count a missed
  fraud as money saved (value detection of -1,025%); a genuine row's may (a refund).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from challengers.data.frames import DAY
from challengers.errors import DataError


def check_test_rows(
    test: pl.DataFrame,
    *,
    target: str,
    entity: str | None,
    amount: str | None,
    score: str | None,
) -> None:
    """Raise DataError when a column the evaluation reads is missing on some test rows, or when
    the amounts a metric weighs frauds by (``amount``: set only then) are negative on a fraud."""
    rows = f"{test.height:,} test rows"
    if entity is not None:
        _check_entity(test, entity, rows, "entity metrics and the entity bootstrap group by it")
    if amount is not None:
        missing, what = missing_values(test.get_column(amount))
        if missing:
            raise DataError(
                f"data.amount: column '{amount}' is {what} in {missing:,} of the {rows}, and a "
                "metric weighs by amount (value_detection_at_alerts, or expected_cost with "
                "false_negative: amount); fill the amounts or drop those metrics"
            )
        _check_fraud_amounts(test, target, amount, rows)
    if score is not None:
        column = test.get_column(score)
        floats = column.dtype.is_float()
        nulls = column.null_count() + (int(column.is_nan().sum()) if floats else 0)
        infinite = int(column.is_infinite().sum()) if floats else 0
        if nulls or infinite:
            what = f"{nulls:,} missing" if nulls else f"{infinite:,} infinite"
            raise DataError(
                f"champion.score: column '{score}' has {what} scores in the {rows}; every test "
                "row needs the production score"
            )


def check_training_rows(train: pl.DataFrame, *, entity: str | None) -> None:
    """Raise DataError when the entity is missing on some rows of the training window: the
    in-sample metrics code the window's entities (a null one became a garbage code that crashed
    the process in compiled code), and the known-fraud exclusion reads its fraudsters. ``train``
    without rows (a run whose training rows stay on the engine) is not checked here."""
    if entity is not None and train.height:
        rows = f"{train.height:,} rows of the training window"
        _check_entity(train, entity, rows, "the in-sample metrics and known frauds group by it")


def _check_entity(frame: pl.DataFrame, entity: str, rows: str, why: str) -> None:
    missing, what = missing_values(frame.get_column(entity))
    if missing:
        raise DataError(
            f"data.entity: column '{entity}' is {what} in {missing:,} of the {rows}; {why} and "
            "need an id on every row: fill the gaps (e.g. with the transaction id) or unset "
            "data.entity"
        )


def missing_values(column: pl.Series) -> tuple[int, str]:
    """How many values are missing, null or NaN (a float column's NaN is no value either: as an
    entity it pooled every such row into one customer), and which of the two they are."""
    nulls = column.null_count()
    nans = int(column.is_nan().sum()) if column.dtype.is_float() else 0
    what = "null or NaN" if nulls and nans else "NaN" if nans else "null"
    return nulls + nans, what


def _check_fraud_amounts(test: pl.DataFrame, target: str, amount: str, rows: str) -> None:
    """A negative amount on a fraud makes a weighted metric reward missing it (the share of fraud
    amount caught read -1,025%, a missed fraud lowered the cost); on a genuine row it is a refund,
    which no metric weighs."""
    fraud = test.get_column(target) == 1
    negative = int((fraud & (test.get_column(amount) < 0)).sum())
    if negative:
        raise DataError(
            f"data.amount: column '{amount}' is negative on {negative:,} of the "
            f"{int(fraud.sum()):,} frauds of the {rows}, and a metric weighs frauds by amount "
            "(a missed one would count as a gain); use absolute amounts or drop "
            "value_detection_at_alerts and expected_cost's false_negative: amount"
        )


def notes(
    frame: pl.DataFrame,
    train: pl.DataFrame,
    features: Sequence[str],
    windows: Sequence[tuple[str, date, date]],
) -> list[str]:
    """Warnings for `challenge check`: constant features, window days without rows."""
    out = []
    constant = _constant(train, features)
    if constant:
        out.append(
            f"constant in the training window (no information; the audit reports it): "
            f"{', '.join(constant[:10])}{' ...' if len(constant) > 10 else ''}"
        )
    days = set(frame.get_column(DAY).unique().to_list()) if frame.height else set()
    for label, start, end in windows:
        wanted = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        empty = [d for d in wanted if d not in days]
        if empty:
            out.append(
                f"split.{label}: {len(empty)} of its {len(wanted)} days have no rows "
                f"(first {empty[0]}); is the window inside the data?"
            )
    return out


def _constant(train: pl.DataFrame, features: Sequence[str]) -> list[str]:
    if not features or train.height == 0:
        return []
    counts = train.select(pl.col(f).drop_nulls().n_unique() for f in features).row(0)
    return [f for f, n in zip(features, counts, strict=True) if n <= 1]


def missing_times(lf: pl.LazyFrame, time: str) -> str | None:
    """A note when some rows have no timestamp (they belong to no window)."""
    nulls = lf.select(pl.col(time).null_count()).collect().item()
    if nulls:
        return f"data.time: {nulls:,} rows have no timestamp; they belong to no window"
    return None
