"""What every finding rule reads: the run's results, thresholds and diagnostics."""

from __future__ import annotations

from collections.abc import Callable
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
    rows_test: int = 0
    bootstrap: int | None = None  # the run's replicates (None: not said)
    gap_days: int = 0
    label_delay_days: int = 0
    score_agreement: ScoreAgreement | None = None  # re-scored champion vs production scores
    thresholds: FindingsConfig = field(default_factory=FindingsConfig)
    analyses: Analyses | None = None
    metric_keys: tuple[str, ...] = ()  # in config order
    primary: str | None = None  # decides the verdict; default: the first of metric_keys

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


Rule = Callable[[FindingContext], list[Finding]]
