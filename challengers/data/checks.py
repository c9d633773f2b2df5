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
  fraud as money saved (value detection of -1,025%); a genuine row's may (a refund);
- every loaded row needs its label (:func:`missing_labels` says where they are missing), the gap
  between the windows' too when something reads them: a gap day's labels are unknown when the
  models are trained but known during the test window, where the known-fraud exclusion and the
  graph features read them. Read as "not fraud", the simulated data's unknown gap labels kept
  127 rows and 30 frauds of already-caught fraudsters in the test window (54 -> 84 frauds): the
  figures flattered. When neither reads them (:func:`unread_gap`), the gap's labels may be
  missing (a delivery's latest labels not final yet): its rows are in neither window, and
  `challenge check` notes them (:func:`unlabelled_gap`); the data audit rates days and windows
  on their labelled rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import polars as pl

from challengers.data.frames import DAY, check_target
from challengers.data.split import Windows
from challengers.errors import DataError


def check_labels(
    labels: pl.Series, target: str, windows: Windows | None, rows: pl.LazyFrame
) -> None:
    """The loaded rows' ``labels`` must be 0/1 (:func:`check_target`); missing ones are said
    with the windows' days they are on, which ``rows`` (a query of the loaded rows with their
    day) gives: read only then. Those of a gap nothing reads (:func:`unread_gap`) may be
    missing."""
    if labels.null_count():
        needed = labels_needed(null_days(rows, target), windows)
        if needed:
            raise DataError(missing_labels(target, needed, windows))
        labels = labels.drop_nulls()
    check_target(labels.to_frame(), target)


def null_days(rows: pl.LazyFrame, target: str) -> dict[date, int]:
    """The rows without a label, by day."""
    missing = rows.filter(pl.col(target).is_null()).group_by(DAY).len().collect()
    return dict(missing.iter_rows())


def gap_readers(w: Windows) -> list[str]:
    """What reads the labels of the gap between the training and test windows: the known-fraud
    exclusion (an entity's fraud is known ``label_delay_days + 1`` days later, during the test
    window) and the graph features (each entity's past frauds; any kind reading rows before
    its window: ``history_days``)."""
    return [
        *(["the known-fraud exclusion"] if w.exclude_known_frauds else []),
        *(["the graph features"] if w.history_days else []),
    ]


def unread_gap(w: Windows | None) -> tuple[date, date] | None:
    """The first and last day of the gap between the windows when nothing reads its labels
    (:func:`gap_readers`), else None (no gap, or a reader; no windows: any day is read)."""
    if w is None or gap_readers(w) or w.gap_days <= 0:
        return None
    return w.train_end + timedelta(days=1), w.test_start - timedelta(days=1)


def labels_needed(days: Mapping[date, int], windows: Windows | None) -> dict[date, int]:
    """Of ``days`` (rows without a label, by day), those whose labels something reads: every
    one but the days of a gap nothing reads."""
    gap = unread_gap(windows)
    return {d: n for d, n in days.items() if gap is None or not gap[0] <= d <= gap[1]}


def unlabelled_gap(frame: pl.DataFrame, target: str, windows: Windows) -> str | None:
    """The note of `challenge check` on loaded rows (``frame``, with their day) whose label is
    missing: only in a gap nothing reads, or they would have been refused."""
    gap = unread_gap(windows)
    missing = frame.get_column(target).null_count() if gap is not None else 0
    if not missing:
        return None
    assert gap is not None
    return (
        f"data.target: the gap between the training and test windows ({gap[0]}..{gap[1]}) has "
        f"{missing:,} row{'s' * (missing != 1)} without a label; this configuration reads none "
        "of them (no known-fraud exclusion, no graph features); fill them before turning on "
        "split.exclude_known_frauds or adding a graph challenger"
    )


def missing_labels(target: str, days: Mapping[date, int], windows: Windows | None) -> str:
    """The one line for labels missing on ``days`` (rows by day, those whose labels are needed:
    :func:`labels_needed`): in which parts of the loaded days they are (the days before training
    the graph features read, the training window, the gap, the test window) from which day, why
    the first such part needs them, how to fill them."""
    total = sum(days.values())
    missing = f"data.target: column '{target}' has {total:,} null label{'s' * (total != 1)}"
    located = [] if windows is None else _located(days, windows)
    if not located:  # no windows to place them in (an engine's load of any days)
        return f"{missing} (the first on {min(days)}); labels must be 0 or 1: {FILL}"
    if len(located) == 1:
        where = f"in {located[0][1]}"
    else:
        where = "(" + ", ".join(f"{n:,} in {place}" for _, place, n in located) + ")"
    return f"{missing} {where}; {located[0][0]}: {FILL}"


FILL = "fill them with the labels as known now (0 where no fraud was reported)"


def _located(days: Mapping[date, int], w: Windows) -> list[tuple[str, str, int]]:
    """``(why the part needs its labels, the part and its first day missing one, how many)``
    for each part of the loaded days with labels missing, in time order."""
    one = timedelta(days=1)
    parts = [
        (
            "the days before the training window that the graph features read",
            (w.first_day, w.train_start - one),
            "the graph features count each entity's past frauds from them",
        ),
        ("the training window", (w.train_start, w.train_end), "the models learn from them"),
        (
            "the gap between the training and test windows",
            (w.train_end + one, w.test_start - one),
            _gap_needs(w),
        ),
        (
            "the test window",
            (w.test_start, w.test_end),
            "each test row is scored against its label",
        ),
    ]
    out = []
    for name, (start, end), why in parts:
        inside = {d: n for d, n in days.items() if start <= d <= end}
        if inside:
            place = f"{name} ({start}..{end}; the first on {min(inside)})"
            out.append((why, place, sum(inside.values())))
    return out


def _gap_needs(w: Windows) -> str:
    """Why the gap's labels are needed, though unknown when the models are trained: production
    knows each day's labels ``label_delay_days + 1`` days later, during the test window, where
    the known-fraud exclusion and the graph features read them. An unknown label read as "not
    fraud" would keep in the test window the rows of fraudsters production had already caught
    (module docstring: 54 -> 84 test frauds on the simulated data)."""
    known = (
        "they are unknown when the models are trained, but production knows a day's labels "
        f"{w.label_delay_days + 1} days later, during the test window"
    )
    readers = gap_readers(w)
    if not readers:  # labels_needed leaves such days out
        return known
    caught = (
        " (read as 0, they would keep fraudsters production had already caught in the test rows)"
        if w.exclude_known_frauds
        else ""
    )
    verb = "reads" if len(readers) == 1 else "read"
    return f"{known}, where {' and '.join(readers)} {verb} them{caught}"


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
    without rows (a run whose training rows stay on the engine) is checked by the engine's counts
    instead: :func:`check_training_entity_counts`."""
    if entity is not None and train.height:
        check_training_entity_counts(entity, train.height, *nulls_and_nans(train[entity]))


def check_training_entity_counts(entity: str, rows: int, nulls: int, nans: int) -> None:
    """:func:`check_training_rows` from the counts of the window's ``rows`` whose entity is null
    or NaN, counted where the rows are (a Spark run's training rows stay on its executors)."""
    rows_text = f"{rows:,} rows of the training window"
    why = "the in-sample metrics and known frauds group by it"
    _refuse_missing_entity(entity, nulls, nans, rows_text, why)


def _check_entity(frame: pl.DataFrame, entity: str, rows: str, why: str) -> None:
    _refuse_missing_entity(entity, *nulls_and_nans(frame.get_column(entity)), rows, why)


def _refuse_missing_entity(entity: str, nulls: int, nans: int, rows: str, why: str) -> None:
    if nulls or nans:
        raise DataError(
            f"data.entity: column '{entity}' is {_missing_kind(nulls, nans)} in "
            f"{nulls + nans:,} of the {rows}; {why} and need an id on every row: fill the gaps "
            "(e.g. with the transaction id) or unset data.entity"
        )


def missing_values(column: pl.Series) -> tuple[int, str]:
    """How many values are missing, null or NaN (a float column's NaN is no value either: as an
    entity it pooled every such row into one customer), and which of the two they are."""
    nulls, nans = nulls_and_nans(column)
    return nulls + nans, _missing_kind(nulls, nans)


def nulls_and_nans(column: pl.Series) -> tuple[int, int]:
    """The values of ``column`` that are null, and those that are NaN (a float column's)."""
    return column.null_count(), int(column.is_nan().sum()) if column.dtype.is_float() else 0


def _missing_kind(nulls: int, nans: int) -> str:
    return "null or NaN" if nulls and nans else "NaN" if nans else "null"


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


def entity_notes(train: pl.DataFrame, readers: Mapping[str, Sequence[str]]) -> list[str]:
    """Notes for `challenge check` on the entity columns models read besides their features (a
    graph's ``graph.entities``: ``readers`` maps each column to the models): one missing on every
    training row gives those models only null features of it, and a float one with fractional
    values makes each distinct value an entity (an amount named as a device: every row its own
    node). Both passed without a word."""
    out = []
    for column, models in readers.items():
        if column not in train.columns or train.height == 0:
            continue
        values = train.get_column(column)
        who = ", ".join(f"'{m}'" for m in models)
        missing, _ = missing_values(values)
        if missing == train.height:
            out.append(
                f"entity '{column}' (read by {who}) is missing on every training row: its "
                "features are all null; is it the right column?"
            )
        elif values.dtype.is_float():
            present = values.drop_nulls().drop_nans()
            fractional = int((present != present.floor()).sum())
            if fractional:
                example = present.filter(present != present.floor())[0]
                out.append(
                    f"entity '{column}' (read by {who}) has fractional values on {fractional:,} "
                    f"of {train.height:,} training rows (e.g. {example}): each distinct value is "
                    "one entity; is it an id?"
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
