"""What every finding rule reads: the run's results, thresholds and diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from challengers.config import FindingsConfig
from challengers.replication.agreement import ScoreAgreement
from challengers.results import Finding, ModelResult

if TYPE_CHECKING:
    from challengers.analysis.operating import ModelAtBudget
    from challengers.analysis.suite import Analyses


@dataclass(frozen=True)
class FindingContext:
    models: list[ModelResult]
    higher_is_better: dict[str, bool]
    alpha: float
    claimed: dict[str, float] = field(default_factory=dict)
    claim_tolerance: float = 0.0
    positives_test: int = 0
    # the resampling units (entities, days) holding a test fraud; None: the frauds themselves
    fraud_units: int | None = None
    rows_test: int = 0
    bootstrap: int | None = None  # the run's replicates (None: not said)
    gap_days: int = 0
    label_delay_days: int = 0
    score_agreement: ScoreAgreement | None = None  # re-scored champion vs production scores
    thresholds: FindingsConfig = field(default_factory=FindingsConfig)
    analyses: Analyses | None = None
    metric_keys: tuple[str, ...] = ()  # in config order
    primary: str | None = None  # decides the verdict; default: the first of metric_keys
    # model -> the inputs it reads that the data audit found leaking (a high leakage finding):
    # its comparison with the champion is no evidence about the champion
    leaking: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def leaking_columns(self) -> set[str]:
        """Every input a high leakage finding named, whichever model reads it."""
        return {c for columns in self.leaking.values() for c in columns}

    @property
    def independent_frauds(self) -> int:
        """The test frauds as a paired test sees them: the units holding one, when fewer."""
        if self.fraud_units is None:
            return self.positives_test
        return min(self.positives_test, self.fraud_units)

    @property
    def primary_key(self) -> str | None:
        return self.primary or (self.metric_keys[0] if self.metric_keys else None)

    @property
    def champion(self) -> ModelResult:
        return next(m for m in self.models if m.role == "champion")

    def at_budget(self, model: str) -> ModelAtBudget | None:
        """A model at the operating point, when the diagnostics ran."""
        if self.analyses is None:
            return None
        return next((m for m in self.analyses.operating_point.models if m.model == model), None)


def leaking_inputs(audit_findings: Sequence[Finding]) -> dict[str, tuple[str, ...]]:
    """Model -> the inputs it reads that a high leakage finding of the audit names."""
    found: dict[str, dict[str, None]] = {}
    for f in audit_findings:
        column = f.evidence.get("column")
        if f.area == "leakage" and f.severity == "high" and column is not None:
            for model in f.models:
                found.setdefault(model, {})[column] = None
    return {model: tuple(columns) for model, columns in found.items()}


Rule = Callable[[FindingContext], list[Finding]]
