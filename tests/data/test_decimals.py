"""A Decimal is a number (challengers.data.frames.number_types): whole ones of up to 18 digits are
read as Int64, every other as Float64, lazily, so nothing after loading meets a Decimal; an id
must be one that is read exactly."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from challengers.data.frames import check_whole_ids, number_types, read_as_numbers
from challengers.errors import DataError


def test_whole_decimals_that_fit_are_integers_and_the_others_floats() -> None:
    schema = pl.Schema(
        {
            "id": pl.Decimal(18, 0),
            "wide": pl.Decimal(19, 0),
            "cents": pl.Decimal(12, 2),
            "rate": pl.Decimal(5, 4),
            "count": pl.Int32(),
            "amount": pl.Float32(),
            "name": pl.String(),
        }
    )
    assert number_types(schema) == {
        "id": pl.Int64,
        "wide": pl.Float64,
        "cents": pl.Float64,
        "rate": pl.Float64,
    }


def test_the_cast_is_lazy_and_the_reader_still_filters_and_projects(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "t": [datetime(2024, 1, d) for d in (1, 2, 3)],
            "id": [Decimal("12"), Decimal("9" * 18), None],
            "amount": [Decimal("1.25"), Decimal("-3.10"), None],
            "other": [Decimal("1.5")] * 3,
        },
        schema={
            "t": pl.Datetime("us"),
            "id": pl.Decimal(18, 0),
            "amount": pl.Decimal(12, 2),
            "other": pl.Decimal(4, 1),
        },
    )
    path = tmp_path / "rows.parquet"
    frame.write_parquet(path)
    lf = pl.scan_parquet(path)
    read = read_as_numbers(lf, lf.collect_schema())
    query = read.filter(pl.col("t") >= datetime(2024, 1, 2)).select("id", "amount")
    plan = query.explain()
    assert "SELECTION" in plan and "PROJECT 3/4 COLUMNS" in plan  # pushed into the reader
    assert query.collect().to_dict(as_series=False) == {
        "id": [int("9" * 18), None],
        "amount": [-3.1, None],
    }
    plain = lf.select("t")
    assert read_as_numbers(plain, plain.collect_schema()) is plain  # no Decimal: no step added


@pytest.mark.parametrize(
    ("dtype", "refused"),
    [
        (pl.Decimal(18, 0), None),
        (pl.Decimal(12, 2), "is Decimal(12, 2), an id with decimals"),
        (pl.Decimal(38, 0), "is Decimal(38, 0): ids of up to 38 digits may not fit"),
    ],
)
def test_an_id_is_a_decimal_read_exactly_or_refused(
    dtype: pl.DataType, refused: str | None
) -> None:
    schema = pl.Schema({"CUSTOMER_ID": dtype, "TX_AMOUNT": pl.Decimal(12, 2)})
    ids = [("CUSTOMER_ID", "data.entity")]
    if refused is None:
        check_whole_ids(schema, ids)  # the amount's decimals are no id's
        return
    with pytest.raises(DataError, match=r"^data\.entity: column 'CUSTOMER_ID' ") as caught:
        check_whole_ids(schema, ids)
    assert refused in str(caught.value)
