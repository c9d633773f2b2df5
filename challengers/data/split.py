"""Time-based train/test windows with the Fraud Detection Handbook's label delay and exclusion.

Protocol (Le Borgne et al., *Reproducible Machine Learning for Credit Card Fraud Detection*, ch. 5):
train on the days of the training window; test on the days of the test window; labels younger than
``label_delay_days`` are unknown at scoring time. With ``exclude_known_frauds``, each test day ``d``
drops the rows of entities already known fraudulent by then: a fraud in the training window or on any
day up to ``d - delay - 1``. Those entities would have been blocked in production, so scoring them
again only flatters every model.

Tuning applies the same protocol inside the training window (:func:`tuning_folds`): the last days of
training are the validation slice, the label delay is a gap before it, and the test window is never
seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl

from challengers.data.frames import DAY, INTERNAL
from challengers.errors import DataError


@dataclass(frozen=True)
class Windows:
    train_start: date
    train_end: date
    test_start: date
    test_end: date
    label_delay_days: int = 7
    exclude_known_frauds: bool = False
    history_days: int = 0  # rows loaded before training, for kinds with time-aware features

    @property
    def first_day(self) -> date:
        return self.train_start - timedelta(days=self.history_days)

    @property
    def last_day(self) -> date:
        return self.test_end

    @property
    def last_fraud_day_seen(self) -> date:
        """The last day whose frauds are known by the end of testing (the exclusion looks no
        further): the end of training, or the last test day less the label delay."""
        return max(self.train_end, self.test_end - timedelta(days=self.label_delay_days + 1))

    @property
    def gap_days(self) -> int:
        """Days between the end of training and the start of testing."""
        return (self.test_start - self.train_end).days - 1


INPUT_EXAMPLE_ROWS = 3  # training rows logged as each model's input example


@dataclass(frozen=True)
class Split:
    train: pl.DataFrame
    test: pl.DataFrame
    excluded_rows: int
    excluded_positives: int
    # the training window's rows and positives, kept when the rows are let go (without_training)
    # or were never brought here (they stayed on a distributed engine: ``train`` is empty)
    train_counts: tuple[int, int] | None = None
    # the training window's first rows with every column, when ``train`` does not hold them (the
    # rows stayed on a distributed engine): the input examples
    head: pl.DataFrame | None = None

    @property
    def examples(self) -> pl.DataFrame:
        """The training rows the models' input examples are taken from (the first ones)."""
        return self.head if self.head is not None else self.train

    def summary(self, target: str) -> dict[str, int]:
        rows, positives = self.training_counts(target)
        return {
            "rows_train": rows,
            "positives_train": positives,
            "rows_test": self.test.height,
            "positives_test": int(self.test.get_column(target).sum()),
            "excluded_known_fraud_rows": self.excluded_rows,
            "excluded_known_fraud_positives": self.excluded_positives,
        }

    def training_counts(self, target: str) -> tuple[int, int]:
        """The training window's rows and positives."""
        if self.train_counts is not None:
            return self.train_counts
        return self.train.height, int(self.train.get_column(target).sum())

    def with_training_columns(self, keep: set[str]) -> Split:
        """This split with the training frame's columns outside ``keep`` let go (the frame's other
        columns are shared, not copied)."""
        return replace(self, train=self.train.select(c for c in self.train.columns if c in keep))

    def without_training(self, target: str, keep: int) -> Split:
        """This split once a run is done with the training rows: their counts, and their first
        ``keep`` rows copied out (the models' input examples), so the window's columns are freed."""
        first = self.examples.head(keep)
        head = pl.from_dicts(first.to_dicts(), schema=first.schema)
        return replace(
            self,
            train=head,
            train_counts=self.training_counts(target),
            head=None,
        )


FIRST_FRAUD_DAY, KNOWN = f"{INTERNAL}first_fraud_day", f"{INTERNAL}known"


def split(frame: pl.DataFrame, windows: Windows, *, target: str, entity: str | None) -> Split:
    """Cut ``frame`` (with its ``_day`` column) into the training and test windows."""
    day = pl.col(DAY)
    train = frame.filter(day.is_between(windows.train_start, windows.train_end))
    test = frame.filter(day.is_between(windows.test_start, windows.test_end))
    if not windows.exclude_known_frauds:
        return Split(train, test, 0, 0)
    assert entity is not None, "exclude_known_frauds needs an entity column"
    known = first_known_fraud_day(frame.lazy(), windows, target=target, entity=entity)
    kept, dropped = exclude_known(test, known, windows, entity=entity)
    return Split(train, kept, dropped.height, int(dropped.get_column(target).sum()))


def exclude_known(
    test: pl.DataFrame, known: pl.DataFrame, windows: Windows, *, entity: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The test rows of entities not yet known fraudulent on their day, and the others."""
    day = pl.col(DAY)
    # the entity is known at day d when its first fraud is in training or on a day <= d - delay - 1
    visible_until = pl.max_horizontal(
        pl.lit(windows.train_end), day - timedelta(days=windows.label_delay_days + 1)
    )
    # the flag from the two columns it needs, not a joined copy of every column; the rows keep
    # their load order: polars does not promise it otherwise, and the bootstrap (without entity
    # blocks) and predictions.parquet depend on it
    flagged = (
        test.select(entity, DAY)
        .join(known, on=entity, how="left", maintain_order="left")
        .select((pl.col(FIRST_FRAUD_DAY) <= visible_until).fill_null(False).alias(KNOWN))
        .get_column(KNOWN)
    )
    return test.filter(~flagged), test.filter(flagged)


def first_known_fraud_day(
    rows: pl.LazyFrame, windows: Windows, *, target: str, entity: str
) -> pl.DataFrame:
    """Per entity, the first day (from the start of training) on which it had a fraud."""
    last_visible = windows.last_fraud_day_seen
    return (
        rows.filter(
            pl.col(DAY).is_between(windows.train_start, last_visible)
            & (pl.col(target) == 1)
            & pl.col(entity).is_not_null()
        )
        .group_by(entity)
        .agg(pl.col(DAY).min().alias(FIRST_FRAUD_DAY))
        .collect()
    )


# ---------------------------------------------------------------------------------------- tuning


@dataclass(frozen=True)
class ValidationWindow:
    """One tuning fold: fit on ``train_start..fit_end``, validate on ``valid_start..valid_end``.

    ``fit_end`` is ``valid_start - label_delay_days - 1``: later rows' labels are not yet known when
    the validation slice is scored, so they are left out of the fit, as the test protocol does.
    """

    train_start: date
    fit_end: date
    valid_start: date
    valid_end: date

    def __str__(self) -> str:
        return (
            f"fit {self.train_start}..{self.fit_end}, validate {self.valid_start}..{self.valid_end}"
        )


def validation_windows(
    train_start: date,
    train_end: date,
    label_delay_days: int,
    validation_days: int | None,
    folds: int = 1,
) -> list[ValidationWindow]:
    """Rolling-origin (prequential) folds inside the training window, oldest first.

    The newest fold validates on the last ``validation_days`` of training (default: a fifth of the
    window); each older fold ends where the next one starts. Raises ValueError when the window is too
    short for the folds, the gap and at least one day to fit on.
    """
    days = (train_end - train_start).days + 1
    size = validation_days or max(1, days // 5)
    needed = folds * size + label_delay_days + 1
    if needed > days:
        raise ValueError(
            f"the training window {train_start}..{train_end} ({days} days) is too short for "
            f"{folds} validation slice(s) of {size} days after a {label_delay_days}-day label-delay "
            f"gap (needs at least {needed} days); lower tune.validation_days or tune.folds, or "
            "widen split.train"
        )
    out = []
    for back in range(folds - 1, -1, -1):
        valid_end = train_end - timedelta(days=back * size)
        valid_start = valid_end - timedelta(days=size - 1)
        fit_end = valid_start - timedelta(days=label_delay_days + 1)
        out.append(ValidationWindow(train_start, fit_end, valid_start, valid_end))
    return out


def tuning_folds(
    train: pl.DataFrame,
    windows: Windows,
    *,
    validation_days: int | None,
    folds: int,
    target: str,
    entity: str | None,
) -> list[tuple[ValidationWindow, Split]]:
    """Cut the training rows into tuning folds: each a :class:`Split` of fit and validation rows,
    with the run's known-fraud exclusion applied to the validation slice as it is to the test."""
    out = []
    cuts = validation_windows(
        windows.train_start, windows.train_end, windows.label_delay_days, validation_days, folds
    )
    for cut in cuts:
        inner = Windows(
            train_start=cut.train_start,
            train_end=cut.fit_end,
            test_start=cut.valid_start,
            test_end=cut.valid_end,
            label_delay_days=windows.label_delay_days,
            exclude_known_frauds=windows.exclude_known_frauds,
        )
        part = split(train, inner, target=target, entity=entity)
        for label, frame in (("fit", part.train), ("validation", part.test)):
            positives = int(frame.get_column(target).sum()) if frame.height else 0
            if positives == 0 or positives == frame.height:
                raise DataError(
                    f"tuning fold ({cut}): the {label} rows ({frame.height}) have "
                    f"{positives} frauds; both classes are needed; widen tune.validation_days "
                    "or split.train"
                )
        out.append((cut, part))
    return out
