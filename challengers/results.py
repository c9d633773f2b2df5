"""What a run produced, as plain data: read by the report, the CLI table and comparison.json."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from challengers.errors import EnvironmentFailure

if TYPE_CHECKING:
    from challengers.analysis.calibration import Calibration
    from challengers.analysis.curves import Curves
    from challengers.analysis.explain import Explanations
    from challengers.analysis.operating import OperatingPoint
    from challengers.analysis.segments import SegmentColumn
    from challengers.analysis.stability import Stability
    from challengers.audit import AuditResult

Severity = Literal["high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low", "info")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    area: str
    title: str
    detail: str
    metric: str | None = None  # the metric or statistic it is about
    models: tuple[str, ...] = ()  # the models it concerns
    effect: float | None = None  # its size, in the metric's units
    evidence: dict[str, Any] = field(default_factory=dict)  # the numbers behind it


@dataclass
class DeltaResult:
    value: float
    ci: tuple[float, float]
    p_value: float
    p_value_adjusted: float | None = None  # Holm across the run's challengers
    method: str | None = None  # test behind p_value: delong[-clustered:unit], bootstrap:unit


@dataclass
class TwinResult:
    """A model against its twin (the same model without its kind's added features), paired."""

    label: str
    metrics: dict[str, float] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    delta: dict[str, DeltaResult] = field(default_factory=dict)  # model minus twin


@dataclass
class ModelResult:
    name: str
    role: Literal["champion", "challenger"]
    kind: str
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    delta_vs_champion: dict[str, DeltaResult] = field(default_factory=dict)
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    twin: TwinResult | None = None
    tuning: dict[str, Any] = field(default_factory=dict)  # the Optuna study's summary, if tuned

    def flat_metrics(self) -> dict[str, float]:
        """The MLflow metric keys of DESIGN.md: value, interval, and the delta to the champion."""
        out: dict[str, float] = dict(self.metrics)
        for key, (lo, hi) in self.ci.items():
            out[f"{key}_ci_low"], out[f"{key}_ci_high"] = lo, hi
        for key, d in self.delta_vs_champion.items():
            out[f"delta_{key}"] = d.value
            out[f"delta_{key}_ci_low"], out[f"delta_{key}_ci_high"] = d.ci
            out[f"delta_{key}_p_value"] = d.p_value
            if d.p_value_adjusted is not None:
                out[f"delta_{key}_p_value_adjusted"] = d.p_value_adjusted
        if self.twin is not None:  # twin_<key>: the twin's value; delta_twin_<key>: model - twin
            for key, value in self.twin.metrics.items():
                out[f"twin_{key}"] = value
            for key, (lo, hi) in self.twin.ci.items():
                out[f"twin_{key}_ci_low"], out[f"twin_{key}_ci_high"] = lo, hi
            for key, d in self.twin.delta.items():
                out[f"delta_twin_{key}"] = d.value
                out[f"delta_twin_{key}_ci_low"], out[f"delta_twin_{key}_ci_high"] = d.ci
                out[f"delta_twin_{key}_p_value"] = d.p_value
        out["fit_seconds"] = self.fit_seconds
        out["predict_seconds"] = self.predict_seconds
        return out


@dataclass
class DataSummary:
    fingerprint: str
    rows_train: int
    rows_test: int
    positives_train: int
    positives_test: int
    excluded_known_fraud_rows: int = 0
    excluded_known_fraud_positives: int = 0
    source: str = ""
    features: list[str] = field(default_factory=list)
    windows: dict[str, str] = field(default_factory=dict)


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
    audit: AuditResult | None = None  # the data audit run before training
    operating_point: OperatingPoint | None = None
    stability: Stability | None = None
    segments: list[SegmentColumn] = field(default_factory=list)
    calibration: list[Calibration] = field(default_factory=list)
    explanations: Explanations | None = None
    curves: Curves | None = None
    plots: dict[str, str] = field(default_factory=dict)  # name -> path under output_dir
    thresholds: dict[str, float] = field(default_factory=dict)  # evaluation.findings

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
                "delta_vs_champion": {
                    k: {
                        "value": d.value,
                        "ci": list(d.ci),
                        "p_value": d.p_value,
                        "p_value_adjusted": d.p_value_adjusted,
                        "method": d.method,
                    }
                    for k, d in m.delta_vs_champion.items()
                },
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
                    "delta": {
                        k: {"value": d.value, "ci": list(d.ci), "p_value": d.p_value}
                        for k, d in m.twin.delta.items()
                    },
                }
            if m.tuning:
                entry["tuning"] = m.tuning
            models.append(entry)
        return _jsonable(
            {
                "run_id": self.run_id,
                "experiment": self.experiment,
                "config_hash": self.config_hash,
                "data": asdict(self.data),
                "evaluation": {
                    "metrics": self.metric_keys,
                    "alpha": self.alpha,
                    "bootstrap": self.bootstrap,
                    "operating_alert_rate": self.operating_alert_rate,
                },
                "models": models,
                "findings": [asdict(f) for f in self.findings],
                **self._analyses(),
                "environment": self.environment,
                "champion_agreement": self.champion_agreement,
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


def _jsonable(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EnvironmentFailure(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_json(path: Path, document: Any) -> None:
    write_atomic(path, json.dumps(_jsonable(document), indent=2, allow_nan=False) + "\n")
