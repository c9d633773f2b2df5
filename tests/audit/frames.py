"""A clean, stationary transaction table for audit tests, and helpers to audit a mutated copy.

Clean means: every check of the audit stays silent on it (asserted by a test). Each planted problem
is a small function over this frame, so that exactly one thing is wrong at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from challengers.audit import AuditResult, ModelInputs, run_audit
from challengers.config import AuditThresholds, FindingsConfig
from challengers.data.frames import DataSpec
from challengers.data.split import Windows

START = datetime(2024, 1, 1)
DAYS = 40
WINDOWS = Windows(
    train_start=date(2024, 1, 11),
    train_end=date(2024, 1, 20),
    test_start=date(2024, 1, 28),
    test_end=date(2024, 2, 6),
    label_delay_days=7,
    exclude_known_frauds=True,
)
FEATURES = ("TX_AMOUNT", "F1", "F2", "F3")
NOW = datetime(2025, 1, 1)


def clean_frame(rows: int = 12_000, seed: int = 0) -> pl.DataFrame:
    """Independent rows, 5% fraud, one informative feature (F1), no trend over time."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, DAYS * 86_400, rows))
    fraud = (rng.uniform(size=rows) < 0.05).astype(np.int8)
    return pl.DataFrame(
        {
            "TRANSACTION_ID": np.arange(rows, dtype=np.int64),
            "TX_DATETIME": [START + timedelta(seconds=float(s)) for s in seconds],
            "CUSTOMER_ID": rng.integers(0, 300, rows),
            "TX_AMOUNT": np.round(rng.lognormal(3.5, 0.8, rows), 2),
            "F1": rng.normal(size=rows) + 1.2 * fraud,
            "F2": rng.uniform(size=rows),
            "F3": rng.poisson(3, rows).astype(np.int32),
            "REGION": rng.choice(["north", "south"], rows),
            "TX_FRAUD": fraud,
        }
    ).with_columns(pl.col("TX_DATETIME").dt.cast_time_unit("us"))


def spec(features: Sequence[str] = FEATURES, **changes: Any) -> DataSpec:
    base = DataSpec(
        target="TX_FRAUD",
        time="TX_DATETIME",
        features=tuple(features),
        id="TRANSACTION_ID",
        amount="TX_AMOUNT",
        entity="CUSTOMER_ID",
        segments=("REGION",),
    )
    return DataSpec(**{**base.__dict__, **changes})


def thresholds(**audit: Any) -> FindingsConfig:
    """Segment sizes fit the small frame; audit thresholds at their defaults unless given."""
    return FindingsConfig(
        min_segment_rows=100, min_segment_positives=5, audit=AuditThresholds(**audit)
    )


def audit(
    frame: pl.DataFrame,
    tmp_path: Path,
    *,
    features: Sequence[str] = FEATURES,
    models: Sequence[ModelInputs] | None = None,
    windows: Windows = WINDOWS,
    findings: FindingsConfig | None = None,
    out: Path | None = None,
    **spec_changes: Any,
) -> AuditResult:
    """Write ``frame`` to parquet and audit it lazily, as the CLI would."""
    path = tmp_path / "data.parquet"
    frame.write_parquet(path)
    models = models or [ModelInputs("champ", "lightgbm", tuple(features))]
    return run_audit(
        pl.scan_parquet(path),
        spec(features, **spec_changes),
        windows,
        models,
        findings or thresholds(),
        seed=3,
        out=out,
        now=NOW,
    )


def ids(result: AuditResult) -> dict[str, str]:
    """Finding id -> severity."""
    return {f.id: f.severity for f in result.findings}


def in_window(frame: pl.DataFrame, start: date, end: date) -> pl.Expr:
    return pl.col("TX_DATETIME").dt.date().is_between(start, end)


def luhn_complete(prefix: str) -> str:
    """A 16-digit number starting with ``prefix`` (15 digits) plus its Luhn check digit."""
    digits = [int(c) for c in prefix]
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit will sit to the right
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return prefix + str((10 - total % 10) % 10)


FIRST = ["Olivia", "James", "Sophie", "Pieter", "Fatima", "Carlos"]
LAST = ["Vandenberg", "Okonkwo", "Lindqvist", "Moreau", "Haddad", "Quispe"]


def personal_columns(rows: int, seed: int = 0) -> pl.DataFrame:
    """Columns holding planted personal data, every value distinctive enough to grep for."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(FIRST), rows)
    last = rng.integers(0, len(LAST), rows)
    digits = rng.integers(0, 10, (rows, 11))
    cards = [luhn_complete("4539" + "".join(map(str, d))) for d in digits]
    return pl.DataFrame(
        {
            "EMAIL": [
                f"{FIRST[a].lower()}.{LAST[b].lower()}{i}@example.org"
                for i, (a, b) in enumerate(zip(first, last, strict=True))
            ],
            "PHONE": [
                f"+32 470 {i // 10_000:02d} {i // 100 % 100:02d} {i % 100:02d}" for i in range(rows)
            ],
            "CARD_PAN": [f"{c[:4]} {c[4:8]} {c[8:12]} {c[12:]}" for c in cards],
            "PAYOUT_IBAN": [
                f"BE{71 + i % 20} 0961 {i % 10_000:04d} {(i * 7) % 10_000:04d}" for i in range(rows)
            ],
            "MEMO": [
                f"chargeback call with {FIRST[a]} {LAST[b]} about order {i}"
                for i, (a, b) in enumerate(zip(first, last, strict=True))
            ],
        }
    )
