"""The handbook split protocol on a planted case and on the handbook data."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from challengers.data.frames import DAY, load_days, scan
from challengers.data.split import Windows, split


def _frame(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    """(day, entity, fraud) rows."""
    return pl.DataFrame(
        {
            DAY: [date.fromisoformat(d) for d, _, _ in rows],
            "e": [e for _, e, _ in rows],
            "y": [y for _, _, y in rows],
        }
    )


WINDOWS = Windows(date(2024, 1, 1), date(2024, 1, 7), date(2024, 1, 15), date(2024, 1, 18), 7, True)


def test_known_frauds_are_excluded_day_by_day() -> None:
    frame = _frame(
        [
            ("2024-01-03", 1, 1),  # fraud in training: entity 1 is known from the first test day
            ("2024-01-08", 2, 1),  # fraud on d-7 of 2024-01-15: known from 2024-01-16 (d - 8)
            ("2024-01-10", 3, 1),  # known from 2024-01-18
            ("2024-01-15", 1, 0),
            ("2024-01-15", 2, 0),
            ("2024-01-16", 2, 1),
            ("2024-01-17", 3, 0),
            ("2024-01-18", 3, 1),
            ("2024-01-18", 4, 0),
        ]
    )
    parts = split(frame, WINDOWS, target="y", entity="e")
    kept = sorted(
        zip(parts.test[DAY].cast(pl.String).to_list(), parts.test["e"].to_list(), strict=True)
    )
    assert kept == [("2024-01-15", 2), ("2024-01-17", 3), ("2024-01-18", 4)]
    assert (parts.excluded_rows, parts.excluded_positives) == (3, 2)
    assert parts.train.height == 1


def test_a_split_done_with_its_training_rows_keeps_their_counts_and_a_copy_of_a_few() -> None:
    frame = _frame([(f"2024-01-0{d}", e, int(e == 3)) for d in range(1, 8) for e in range(5)])
    parts = split(frame, WINDOWS, target="y", entity="e")
    slim = parts.without_training("y", keep=3)
    assert slim.summary("y") == parts.summary("y") and parts.summary("y")["positives_train"] == 7
    assert slim.train.equals(parts.train.head(3)) and slim.train.schema == parts.train.schema
    # copied out, not a slice: the window's buffers are not kept alive by the three rows
    assert not np.shares_memory(slim.train["e"].to_numpy(), parts.train["e"].to_numpy())
    assert slim.without_training("y", keep=1).summary("y") == parts.summary("y")


def test_without_exclusion_every_test_row_stays() -> None:
    frame = _frame([("2024-01-03", 1, 1), ("2024-01-15", 1, 0), ("2024-01-16", 1, 1)])
    parts = split(
        frame, Windows(*list(WINDOWS.__dict__.values())[:5], False), target="y", entity="e"
    )  # type: ignore[arg-type]
    assert parts.test.height == 2 and parts.excluded_rows == 0


def test_handbook_protocol_gives_the_published_test_set(handbook_path: Path) -> None:
    w = Windows(date(2018, 7, 25), date(2018, 7, 31), date(2018, 8, 8), date(2018, 8, 14), 7, True)
    frame = load_days(
        scan(str(handbook_path)),
        columns=["TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD"],
        time="TX_DATETIME",
        start=w.first_day,
        end=w.last_day,
    )
    parts = split(frame, w, target="TX_FRAUD", entity="CUSTOMER_ID")
    assert parts.summary("TX_FRAUD")["rows_test"] == 58_264
    assert parts.summary("TX_FRAUD")["positives_test"] == 385
    assert parts.train["TX_DATETIME"].min() >= datetime(2018, 7, 25)
