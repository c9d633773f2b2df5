"""Checks of the split data that need rows, not just the schema: what the evaluation needs on every
test row (errors), and what a validator should know before training (notes for `challenge check`).

Decisions (README, "Reliability"):
- missing feature values (null or NaN) are allowed: the tree kinds route them natively and the
  anomaly kind imputes them; infinities are refused (data.check_finite);
- a constant (or always-missing) feature is not an error: it carries no information, so
  `challenge check` notes it and the data audit of every run reports it as a finding;
- the test rows must have a label (data.check_target), an entity id when data.entity is set (entity
  metrics and the entity bootstrap group by it), an amount when a metric weighs by it, and a finite
  production score when the champion is a score column.
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
    entity: str | None,
    amount: str | None,
    score: str | None,
) -> None:
    """Raise DataError when a column the evaluation reads is missing on some test rows."""
    rows = f"{test.height:,} test rows"
    if entity is not None:
        nulls = test.get_column(entity).null_count()
        if nulls:
            raise DataError(
                f"data.entity: column '{entity}' is null in {nulls:,} of the {rows}; entity "
                "metrics and the entity bootstrap need an id on every row: fill the gaps (e.g. "
                "with the transaction id) or unset data.entity"
            )
    if amount is not None:
        nulls = test.get_column(amount).null_count()
        if nulls:
            raise DataError(
                f"data.amount: column '{amount}' is null in {nulls:,} of the {rows}, and a metric "
                "weighs by amount (value_detection_at_alerts, or expected_cost with "
                "false_negative: amount); fill the amounts or drop those metrics"
            )
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
