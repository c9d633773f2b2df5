"""The row checks of the windows (challengers.data.checks): NaN is missing as null is, the training
window needs its entity ids as the test window does, and a fraud's amount may not be negative when a
metric weighs frauds by it (a genuine row's may: a refund). Missing labels are said with the part
of the loaded days they are in."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from challengers.data.checks import (
    check_labels,
    check_test_rows,
    check_training_rows,
    labels_needed,
    missing_labels,
    missing_values,
    unlabelled_gap,
)
from challengers.data.frames import DAY
from challengers.errors import DataError
from tests.conftest import SIM_WINDOWS

NAN = float("nan")


def rows(**columns: list[object]) -> pl.DataFrame:
    """Four rows, the last a fraud, with ``columns`` beside the label."""
    return pl.DataFrame({"y": [0, 0, 0, 1], **columns}, strict=False)


def check(frame: pl.DataFrame, *, entity: str | None = None, amount: str | None = None) -> None:
    check_test_rows(frame, target="y", entity=entity, amount=amount, score=None)


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([1.0, None, 3.0], pl.Float64, (1, "null")),
        ([1.0, NAN, NAN], pl.Float64, (2, "NaN")),
        ([None, NAN, 3.0], pl.Float32, (2, "null or NaN")),
        ([1, None, 3], pl.Int64, (1, "null")),
        (["a", None, "c"], pl.String, (1, "null")),
        ([1.0, 2.0, 3.0], pl.Float64, (0, "null")),
    ],
)
def test_missing_values_count_nan_as_null(
    values: list[object], dtype: pl.DataType, expected: tuple[int, str]
) -> None:
    assert missing_values(pl.Series("c", values, dtype=dtype)) == expected


def test_a_nan_entity_on_a_test_row_is_refused_as_a_null_one_is() -> None:
    with pytest.raises(DataError, match=r"'e' is NaN in 1 of the 4 test rows.*unset data.entity"):
        check(rows(e=[1.0, NAN, 2.0, 3.0]), entity="e")
    with pytest.raises(DataError, match=r"'e' is null in 1 of the 4 test rows"):
        check(rows(e=[1, None, 2, 3]), entity="e")
    check(rows(e=[1.0, 2.0, 2.0, 3.0]), entity="e")  # float ids are ids


def test_the_training_windows_entity_is_checked_when_its_rows_are_here() -> None:
    with pytest.raises(DataError, match=r"'e' is null in 1 of the 4 rows of the training window"):
        check_training_rows(rows(e=[1, 2, None, 3]), entity="e")
    with pytest.raises(DataError, match=r"'e' is NaN in 2 of the 4 rows of the training window"):
        check_training_rows(rows(e=[NAN, 2.0, NAN, 3.0]), entity="e")
    check_training_rows(rows(e=[1, 2, 2, 3]), entity="e")
    check_training_rows(rows(e=[1, None, 2, 3]), entity=None)  # no data.entity: nothing to check
    # a run whose training rows stay on the engine holds none of them here
    check_training_rows(rows(e=[1, None, 2, 3]).clear(), entity="e")


def test_a_nan_amount_is_missing_when_a_metric_weighs_by_it() -> None:
    with pytest.raises(DataError, match=r"'a' is NaN in 1 of the 4 test rows.*drop those metrics"):
        check(rows(a=[5.0, NAN, 1.0, 9.0]), amount="a")
    check(rows(a=[5.0, NAN, 1.0, 9.0]))  # no metric weighs by it (amount=None): a feature's NaN


def test_negative_amounts_are_refused_on_frauds_only() -> None:
    with pytest.raises(
        DataError, match=r"'a' is negative on 1 of the 1 frauds of the 4 test rows.*absolute"
    ):
        check(rows(a=[5.0, 2.0, 1.0, -9.0]), amount="a")
    check(rows(a=[-5.0, 2.0, -1.0, 9.0]), amount="a")  # refunds on genuine rows
    check(rows(a=[5.0, 2.0, 1.0, 0.0]), amount="a")  # a zero-amount fraud weighs nothing
    check(rows(a=[5.0, 2.0, 1.0, -9.0]))  # no metric weighs by amount


WINDOWS = SIM_WINDOWS


def test_missing_labels_are_placed_in_the_part_of_the_loaded_days_they_are_in() -> None:
    """'3964 null values' said neither where nor what to fill: now the part, its first day, why
    the part needs its labels (the gap's: known during the test window, where the known-fraud
    exclusion reads them) and how to fill them."""
    gap = {date(2024, 2, 23): 40, date(2024, 2, 21): 2}
    line = missing_labels("y", gap, WINDOWS)
    assert line == (
        "data.target: column 'y' has 42 null labels in the gap between the training and test "
        "windows (2024-02-21..2024-02-27; the first on 2024-02-21); they are unknown when the "
        "models are trained, but production knows a day's labels 8 days later, during the test "
        "window, where the known-fraud exclusion reads them (read as 0, they would keep "
        "fraudsters production had already caught in the test rows): fill them with the labels "
        "as known now (0 where no fraud was reported)"
    )
    both = missing_labels("y", {**gap, date(2024, 3, 2): 1, date(2024, 2, 1): 1_500}, WINDOWS)
    assert both.startswith(
        "data.target: column 'y' has 1,543 null labels (1,500 in the training window "
        "(2024-01-31..2024-02-20; the first on 2024-02-01), 42 in the gap between the training "
        "and test windows (2024-02-21..2024-02-27; the first on 2024-02-21), 1 in the test window "
        "(2024-02-28..2024-03-10; the first on 2024-03-02)); the models learn from them: fill"
    )


def test_the_gaps_labels_are_said_to_be_read_by_what_reads_them() -> None:
    graph = replace(WINDOWS, history_days=37)
    history = missing_labels("y", {date(2024, 1, 2): 3}, graph)
    assert (
        "3 null labels in the days before the training window that the graph features read "
        in history
    )
    assert "(2023-12-25..2024-01-30; the first on 2024-01-02)" in history
    gap = {date(2024, 2, 25): 1}
    assert "where the known-fraud exclusion and the graph features read them" in missing_labels(
        "y", gap, graph
    )
    anywhere = missing_labels("y", gap, None)  # an engine's load of any days
    assert anywhere.startswith("data.target: column 'y' has 1 null label (the first on 2024-02-25)")


def test_the_gaps_labels_may_be_missing_where_nothing_reads_them() -> None:
    """No known-fraud exclusion and no graph features: the gap's labels are read by nothing, and
    may be missing (a delivery's latest labels); `challenge check` notes them. The other parts'
    labels are needed as ever, and said without the gap's."""
    unread = replace(WINDOWS, exclude_known_frauds=False)
    frame = pl.DataFrame(
        {"y": [0, None, 1, None], DAY: [date(2024, 2, d) for d in (20, 21, 22, 27)]}
    )
    check_labels(frame.get_column("y"), "y", unread, frame.lazy())
    assert unlabelled_gap(frame, "y", unread) == (
        "data.target: the gap between the training and test windows (2024-02-21..2024-02-27) "
        "has 2 rows without a label; this configuration reads none of them (no known-fraud "
        "exclusion, no graph features); fill them before turning on split.exclude_known_frauds "
        "or adding a graph challenger"
    )
    assert unlabelled_gap(frame.drop_nulls(), "y", unread) is None
    for read in (WINDOWS, replace(unread, history_days=37)):  # the exclusion, a graph's history
        assert labels_needed({date(2024, 2, 21): 1}, read) == {date(2024, 2, 21): 1}
        with pytest.raises(DataError, match=r"has 2 null labels in the gap "):
            check_labels(frame.get_column("y"), "y", read, frame.lazy())
    trained = frame.with_columns(pl.when(pl.col("y") == 0).then(None).otherwise("y").alias("y"))
    with pytest.raises(DataError) as refused:  # a training day's: said alone
        check_labels(trained.get_column("y"), "y", unread, trained.lazy())
    assert str(refused.value).startswith(
        "data.target: column 'y' has 1 null label in the training window (2024-01-31..2024-02-20;"
        " the first on 2024-02-20); the models learn from them"
    )
    assert labels_needed({date(2024, 2, 21): 1}, None) == {date(2024, 2, 21): 1}  # any day


def test_labels_are_read_by_day_only_when_some_are_missing() -> None:
    frame = pl.DataFrame(
        {"y": [0, None, 1, None], DAY: [date(2024, 2, d) for d in (20, 21, 22, 21)]}
    )
    with pytest.raises(DataError, match=r"has 2 null labels in the gap .*the first on 2024-02-21"):
        check_labels(frame.get_column("y"), "y", WINDOWS, frame.lazy())
    complete = frame.drop_nulls()
    unread = pl.LazyFrame({"y": ["not", "read"]})  # a wrong query: never run when none is missing
    check_labels(complete.get_column("y"), "y", WINDOWS, unread)
    with pytest.raises(DataError, match="values other than 0/1"):
        check_labels(pl.Series("y", [0, 2]), "y", WINDOWS, unread)


def test_entity_notes_say_an_entity_missing_everywhere_or_with_fractional_values() -> None:
    """A graph entity missing on every training row gave only null features, and an amount named
    as a device made each row its own node: both passed `challenge check` without a word."""
    from challengers.data.checks import entity_notes

    train = pl.DataFrame(
        {
            "DEVICE_ID": pl.Series([None, None, None], dtype=pl.Int64),
            "TX_AMOUNT": [12.5, 3.0, float("nan")],
            "TERMINAL_ID": [1.0, 2.0, None],  # whole floats: ids stored as floats
            "CUSTOMER_ID": [7, 8, 9],
        }
    )
    readers = {c: ["g"] for c in ("DEVICE_ID", "TX_AMOUNT", "TERMINAL_ID", "CUSTOMER_ID")}
    readers["DEVICE_ID"] = ["g", "h"]
    notes = entity_notes(train, readers)
    assert notes == [
        "entity 'DEVICE_ID' (read by 'g', 'h') is missing on every training row: its features "
        "are all null; is it the right column?",
        "entity 'TX_AMOUNT' (read by 'g') has fractional values on 1 of 3 training rows "
        "(e.g. 12.5): each distinct value is one entity; is it an id?",
    ]
