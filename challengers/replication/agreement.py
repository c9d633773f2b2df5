"""Champion replication: does the delivered model produce the scores production logged?

When the champion comes as a model (a file, an MLflow model, or a retrain spec) *and* the data holds
the production score column, the model is re-scored on the test rows and compared with the
production scores row by row. A delivered model file that does not reproduce them is not what runs
in production, and every other figure of the validation would be about the wrong model: a high
finding. A retrained champion is not expected to match exactly, so its agreement is information.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from challengers.config import ChampionConfig
from challengers.results import Finding


@dataclass(frozen=True)
class ScoreAgreement:
    """Re-scored champion vs the production score column, on the rows where both exist."""

    column: str
    source: Literal["model", "retrain"]
    rows: int  # rows compared
    missing: int  # rows without a production score (not compared)
    max_abs_diff: float
    rows_differ: int  # |rescored - production| > tolerance
    spearman: float
    tolerance: float

    @property
    def share_differ(self) -> float:
        return self.rows_differ / self.rows if self.rows else math.nan

    @property
    def matches(self) -> bool:
        return self.rows > 0 and self.rows_differ == 0

    def metrics(self) -> dict[str, float]:
        """Parent-run metrics: the agreement as numbers MLflow can compare across runs."""
        return {
            "champion_score_max_abs_diff": self.max_abs_diff,
            "champion_score_share_differ": self.share_differ,
            "champion_score_spearman": self.spearman,
        }

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "share_differ": self.share_differ, "matches": self.matches}


def score_agreement(
    rescored: np.ndarray,
    production: pl.Series,
    *,
    tolerance: float,
    source: Literal["model", "retrain"] = "model",
) -> ScoreAgreement:
    """Compare the model's scores with the production scores of the same rows."""
    if len(rescored) != production.len():
        raise ValueError(f"{len(rescored)} re-scored rows for {production.len()} production rows")
    frame = pl.DataFrame(
        {"rescored": np.asarray(rescored, dtype=np.float64), "production": production}
    ).with_columns(pl.col("production").cast(pl.Float64))
    present = frame.filter(pl.col("production").is_not_null() & pl.col("production").is_not_nan())
    diff = (pl.col("rescored") - pl.col("production")).abs()
    stats = present.select(
        diff.max().alias("max"),
        (diff > tolerance).sum().alias("differ"),
        pl.corr("rescored", "production", method="spearman").alias("spearman"),
    ).row(0, named=True)
    return ScoreAgreement(
        column=production.name,
        source=source,
        rows=present.height,
        missing=frame.height - present.height,
        max_abs_diff=_float(stats["max"]),
        rows_differ=int(stats["differ"] or 0),
        spearman=_float(stats["spearman"]),
        tolerance=tolerance,
    )


def check_champion(
    champion: ChampionConfig, scores: np.ndarray | None, test: pl.DataFrame, tolerance: float
) -> ScoreAgreement | None:
    """The agreement of a model champion with its production score column, when both are given."""
    column = champion.production_score
    if column is None or scores is None:
        return None
    source: Literal["model", "retrain"] = "model" if champion.model else "retrain"
    return score_agreement(scores, test.get_column(column), tolerance=tolerance, source=source)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def agreement_findings(agreement: ScoreAgreement | None, champion: str) -> list[Finding]:
    """A high finding when a delivered model does not reproduce production; else information."""
    if agreement is None:
        return []
    a = agreement
    evidence = (
        f"On {a.rows:,} test rows, the re-scored champion and production column '{a.column}' differ "
        f"by up to {a.max_abs_diff:.3g}; {a.rows_differ:,} rows ({100 * a.share_differ:.2f}%) "
        f"differ by more than {a.tolerance:g}; Spearman rank correlation {a.spearman:.4f}."
    )
    if a.missing:
        evidence += f" {a.missing:,} rows have no production score and were not compared."
    if a.source == "retrain":
        return [
            Finding(
                id="champion-retrain-agreement",
                severity="info",
                area="replication",
                title=f"Retrained champion '{champion}' vs production scores",
                detail=evidence + " A retrained model is not expected to match production exactly.",
            )
        ]
    if a.matches:
        return [
            Finding(
                id="champion-scores-reproduced",
                severity="info",
                area="replication",
                title=f"Champion '{champion}' model reproduces the production scores",
                detail=evidence,
            )
        ]
    return [
        Finding(
            id="champion-scores-mismatch",
            severity="high",
            area="replication",
            title=f"Champion '{champion}' model does not reproduce the production scores",
            detail=evidence + " The artifact is not what runs in production: the delivered model, "
            "its feature pipeline or the score extract differ. Every figure of this validation is "
            "about the delivered artifact; ask the first line for the model that produced the "
            "scores (or set evaluation.findings.score_tolerance if the scores were rounded).",
        )
    ]
