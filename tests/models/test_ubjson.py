"""The UBJSON reader for XGBoost's .ubj files: the document XGBoost's own JSON gives for every
booster it writes; each UBJSON form from bytes written by hand; damaged input a ValueError naming
the byte, quickly (never a long loop, a huge allocation or a crash)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from challengers.models.ubjson import MAX_DEPTH, read_ubjson
from tests.models.test_xgboost_json import VALID, valid_booster


def _same(ours: Any, xgboost: Any, where: str = "") -> None:
    """Equal documents; floats as float32 (XGBoost's JSON prints a float32's shortest decimal)."""
    if isinstance(xgboost, dict):
        assert set(ours) == set(xgboost), where
        for key in xgboost:
            _same(ours[key], xgboost[key], f"{where}/{key}")
    elif isinstance(xgboost, list):
        assert len(ours) == len(xgboost), where
        for i, (a, b) in enumerate(zip(ours, xgboost, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(xgboost, float):
        assert np.float32(ours) == np.float32(xgboost), where
    else:
        assert type(ours) is type(xgboost) and ours == xgboost, where


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_booster_reads_as_xgboost_s_own_json(name: str, tmp_path: Path) -> None:
    booster = valid_booster(name)[0]
    booster.save_model(tmp_path / "m.ubj")
    ours = read_ubjson((tmp_path / "m.ubj").read_bytes())
    _same(ours, json.loads(booster.save_raw(raw_format="json")))


def _int64(value: int) -> bytes:
    return b"L" + struct.pack(">q", value)


KNOWN: list[tuple[str, bytes, Any]] = [
    ("numbers", b"[i\xffU\xffI\x01\x00l\x00\x00\x00\x02d\x3f\x80\x00\x00]", [-1, 255, 256, 2, 1.0]),
    ("float64", b"D" + struct.pack(">d", 0.1), 0.1),
    ("constants", b"[ZTF]", [None, True, False]),
    ("string and char", b"[SU\x03abcCx]", ["abc", "x"]),
    ("utf-8 string", b"SU\x02\xc3\xa9", "é"),
    ("bytes not utf-8", b"SU\x02a\xff", "a\ufffd"),  # XGBoost reads them too
    ("object", b"{U\x01ai\x01U\x01b{}}", {"a": 1, "b": {}}),
    ("counted array", b"[#U\x02i\x01SU\x01z", [1, "z"]),
    ("typed array", b"[$l#U\x02\x00\x00\x00\x07\xff\xff\xff\xff", [7, -1]),
    ("typed floats", b"[$d#" + _int64(2) + struct.pack(">ff", 0.5, -2.0), [0.5, -2.0]),
    ("typed object", b"{$i#U\x02U\x01x\x05U\x01y\x06", {"x": 5, "y": 6}),
    ("empty typed", b"[$D#U\x00", []),
]


@pytest.mark.parametrize(("data", "value"), [k[1:] for k in KNOWN], ids=[k[0] for k in KNOWN])
def test_each_form_reads_as_written(data: bytes, value: Any) -> None:
    assert read_ubjson(data) == value


DAMAGED: list[tuple[str, bytes, str]] = [
    ("truncated number", b"l\x00\x00", "past its end"),
    ("truncated object", b"{U\x01ai\x01", "past its end"),
    ("unclosed array", b"[i\x01", "past its end"),
    ("unknown type", b"[q]", "unknown type 'q' at byte 1"),
    ("float length", b"Sd\x00\x00\x00\x01", "a length of type 'd'"),
    ("unprintable type", b"[\xff]", "unknown type 0xff at byte 1"),
    ("negative length", b"Si\xff", "past its end"),
    ("huge typed count", b"[$d#" + _int64(2**62), "elements at byte"),
    ("huge count of nothing", b"[$Z#" + _int64(2**40), "elements at byte"),
    ("negative count", b"[#i\xfe", "elements at byte"),
    ("typed without count", b"[$i\x01", "a typed container without a count"),
    ("bytes after", b"i\x01i\x02", "2 bytes after the document"),
    ("too deep", b"[" * (MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} deep"),
]


@pytest.mark.parametrize(("data", "message"), [d[1:] for d in DAMAGED], ids=[d[0] for d in DAMAGED])
def test_damaged_input_is_a_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_ubjson(data)
