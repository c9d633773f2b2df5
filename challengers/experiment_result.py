"""What a run produced, as plain data: read by the report, the CLI table and comparison.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from challengers.files import jsonable
from challengers.results import ChampionCard, DataSummary, DeltaResult, Finding, ModelResult

if TYPE_CHECKING:
    from challengers.analysis.calibration import Calibration
    from challengers.analysis.curves import Curves
    from challengers.analysis.explain import Explanations
    from challengers.analysis.operating import OperatingPoint
    from challengers.analysis.segments import SegmentColumn
    from challengers.analysis.stability import Stability
    from challengers.audit import AuditResult
    from challengers.findings.conclusion import Conclusion
    from challengers.findings.monitoring import MonitorItem


@dataclass
class ExperimentResult:
    run_id: str | None
    experiment: str
    config_hash: str
    data: DataSummary
    models: list[ModelResult]
    findings: list[Finding]
    metric_keys: list[str]
    higher_is_better: dict[str, bool]
    alpha: float
    bootstrap: int
    operating_alert_rate: float
    output_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    claimed: dict[str, float] = field(default_factory=dict)
    champion_agreement: dict[str, Any] | None = None  # re-scored champion vs production scores
    champion_source: dict[str, str] | None = None  # an MLflow champion's lineage (source.*)
    audit: AuditResult | None = None  # the data audit run before training
    operating_point: OperatingPoint | None = None
    stability: Stability | None = None
    segments: list[SegmentColumn] = field(default_factory=list)
    calibration: list[Calibration] = field(default_factory=list)
    explanations: Explanations | None = None
    curves: Curves | None = None
    plots: dict[str, str] = field(default_factory=dict)  # name -> path under output_dir
    thresholds: dict[str, float] = field(default_factory=dict)  # evaluation.findings
    primary: str | None = None  # the metric that decides the verdict (None: the first metric)
    resampling: dict[str, str] = field(default_factory=dict)  # {unit, reason} of the bootstrap
    governance: dict[str, str | None] = field(default_factory=dict)  # label -> value or None
    conclusion: Conclusion | None = None  # the rating and the rules that set it
    champion_card: ChampionCard | None = None
    monitoring: list[MonitorItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the terminal: e.g. why no report.pdf

    @property
    def primary_key(self) -> str:
        return self.primary or self.metric_keys[0]

    @property
    def champion(self) -> ModelResult:
        return next(m for m in self.models if m.role == "champion")

    @property
    def challengers(self) -> list[ModelResult]:
        return [m for m in self.models if m.role == "challenger"]

    @property
    def failed(self) -> list[ModelResult]:
        return [m for m in self.models if m.status == "failed"]

    def to_comparison(self) -> dict[str, Any]:
        """The comparison.json document of DESIGN.md."""
        models = []
        for m in self.models:
            entry: dict[str, Any] = {
                "name": m.name,
                "role": m.role,
                "kind": m.kind,
                "status": m.status,
                "metrics": m.metrics,
                "ci": {k: list(v) for k, v in m.ci.items()},
                "delta_vs_champion": _deltas(m.delta_vs_champion),
                "fit_seconds": round(m.fit_seconds, 4),
                "predict_seconds": round(m.predict_seconds, 4),
                "params": m.params,
                "features": m.features,
                "run_id": m.run_id,
            }
            if m.error is not None:
                entry["error"] = m.error
            if m.twin is not None:
                entry["twin"] = {
                    "label": m.twin.label,
                    "metrics": m.twin.metrics,
                    "ci": {k: list(v) for k, v in m.twin.ci.items()},
                    "delta": _deltas(m.twin.delta),
                }
            if m.tuning:
                entry["tuning"] = m.tuning
            if m.training:
                entry["training"] = m.training
            models.append(entry)
        return jsonable(
            {
                "run_id": self.run_id,
                "experiment": self.experiment,
                "config_hash": self.config_hash,
                "data": asdict(self.data),
                "evaluation": {
                    "metrics": self.metric_keys,
                    "primary": self.primary_key,
                    "resample": self.resampling,
                    "alpha": self.alpha,
                    "bootstrap": self.bootstrap,
                    "operating_alert_rate": self.operating_alert_rate,
                },
                "models": models,
                "findings": [asdict(f) for f in self.findings],
                **self._analyses(),
                "environment": self.environment,
                "champion_agreement": self.champion_agreement,
                "champion_source": self.champion_source,
                "governance": self.governance,
                "conclusion": None if self.conclusion is None else asdict(self.conclusion),
                "champion": None if self.champion_card is None else asdict(self.champion_card),
                "monitoring": [asdict(m) for m in self.monitoring],
            }
        )

    def _analyses(self) -> dict[str, Any]:
        """The diagnostics, as plain data (null when a run did not compute them)."""

        def plain(value: Any) -> Any:
            return None if value is None else asdict(value)

        return {
            "operating_point": plain(self.operating_point),
            "stability": plain(self.stability),
            "segments": [asdict(s) for s in self.segments],
            "calibration": [asdict(c) for c in self.calibration],
            "explanations": plain(self.explanations),
            "curves": plain(self.curves),
            "plots": self.plots,
        }


def _deltas(deltas: dict[str, DeltaResult]) -> dict[str, dict[str, Any]]:
    """Deltas as comparison.json holds them: every field of the one delta record."""
    return {key: {**asdict(d), "ci": list(d.ci)} for key, d in deltas.items()}
