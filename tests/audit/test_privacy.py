"""Privacy: personal data is found by content, named by column only, and never shown."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from challengers.audit.privacy import _matches, luhn_valid
from tests.audit.frames import FEATURES, audit, clean_frame, ids, luhn_complete, personal_columns

KNOWN_CARDS = [
    "4539578763621486",
    "4111111111111111",
    "5500005555555559",
    "378282246310005"[:15] + "0",
]


def test_luhn_on_known_numbers() -> None:
    values = pl.Series(
        ["4539578763621486", "4111111111111111", "5500005555555559", "4111111111111112", "12345"]
    )
    assert pl.select(luhn_valid(pl.lit(values))).to_series().to_list() == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert luhn_complete("411111111111111") == "4111111111111111"


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["anna.smith@bank.example.com", "x_y+z@mail.co.uk", "j@d.io"], "e-mail addresses"),
        (
            ["+32 470 12 34 56", "+44 20 7946 0958", "(555) 123-4567", "0470 12 34 56"],
            "phone numbers",
        ),
        (
            ["4539 5787 6362 1486", "card 4111-1111-1111-1111 used", "5500005555555559"],
            "card numbers",
        ),
        (["BE71 0961 2345 6769", "DE89370400440532013000", "FR1420041010050500013M02606"], "IBANs"),
        (
            ["called Mrs. Jansen today", "Maria Rossi disputes it", "paid by John Smith"],
            "personal names",
        ),
    ],
)
def test_patterns_find_personal_values(values: list[str], kind: str) -> None:
    assert _matches(pl.Series(values))[kind] == len(values)


def test_patterns_leave_ordinary_values_alone() -> None:
    rng = np.random.default_rng(0)
    ordinary = [
        *(str(x) for x in rng.integers(10**15, 10**16, 300)),  # 16-digit ids: a tenth pass Luhn
        "05-01-2024", "2024-01-05 10:00:00", "north", "Grocery Store", "MCC 5411", "ORDER-99812",
        "12.50", "Main Street Market",
    ]  # fmt: skip
    found = _matches(pl.Series(ordinary))
    assert {k: v for k, v in found.items() if k != "values" and v} == {}


def test_planted_columns_are_found_and_named_only(tmp_path: Path) -> None:
    frame = pl.concat([clean_frame(), personal_columns(12_000)], how="horizontal")
    result = audit(frame, tmp_path, out=tmp_path / "out")
    found = ids(result)
    for column in ("EMAIL", "PHONE", "CARD_PAN", "PAYOUT_IBAN", "MEMO"):
        assert found[f"privacy-{column}"] == "medium"
    kinds = {r["column"]: r["kinds"] for r in result.tables["personal_data"]}
    assert kinds["CARD_PAN"] == ["card numbers"]
    assert kinds["MEMO"] == ["personal names"]
    assert "e-mail addresses" in kinds["EMAIL"]
    assert set(result.summary["sensitive_columns"]) == set(kinds)
    text = (tmp_path / "out" / "audit.json").read_text()
    values = personal_columns(12_000)
    for column in values.columns:
        assert not any(v in text for v in values[column].head(500).to_list()), column
    assert not [f for f in result.findings if f.area == "privacy" and f.id[8:] not in kinds]


def test_card_numbers_as_a_model_feature_are_high(tmp_path: Path) -> None:
    pans = personal_columns(12_000)["CARD_PAN"].str.replace_all(" ", "").cast(pl.Int64)
    frame = clean_frame().with_columns(pans.alias("PAN"))
    result = audit(frame, tmp_path, features=(*FEATURES, "PAN"), out=tmp_path / "out")
    assert ids(result)["privacy-PAN"] == "high"
    document = json.loads((tmp_path / "out" / "audit.json").read_text())
    text = json.dumps(document)
    assert not any(str(v) in text for v in pans.head(1000).to_list())


def test_column_named_like_personal_data_is_low(tmp_path: Path) -> None:
    frame = clean_frame().with_columns(pl.lit("redacted").alias("HOLDER_NAME"))
    assert ids(audit(frame, tmp_path))["privacy-name-HOLDER_NAME"] == "low"


def test_segment_holding_personal_data_is_listed_by_rank(tmp_path: Path) -> None:
    emails = personal_columns(12_000)["EMAIL"].str.replace(r"\d+@", "@")  # 36 distinct addresses
    frame = clean_frame().with_columns(emails.alias("REGION"))
    result = audit(frame, tmp_path)
    assert ids(result)["privacy-REGION"] == "medium"
    assert all(r["value"].startswith("value #") for r in result.tables["segments"])
    assert not any("@" in f.detail for f in result.findings)
