"""The row checks of the windows (challengers.data.checks): NaN is missing as null is, the training
window needs its entity ids as the test window does, and a fraud's amount may not be negative when a
metric weighs frauds by it (a genuine row's may: a refund)."""

from __future__ import annotations

import polars as pl
import pytest

from challengers.data.checks import check_test_rows, check_training_rows, missing_values
from challengers.errors import DataError

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
