"""The records every layer shares: findings, a delta to the champion, one model's results, the data
summary. The whole run's result (:class:`challengers.experiment_result.ExperimentResult`) builds on
them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
    recommendation: str = ""  # what the first line should do (findings/recommendations.py)


@dataclass
class DeltaResult:
    """A model minus its reference (the champion, or its twin) on one metric.

    ``method`` names the method behind both the interval and ``p_value``: ``delong`` (rows
    independent), ``delong-clustered:<unit>`` (clustered by entity or day) or ``bootstrap:<unit>``
    (the paired bootstrap over entities, days or rows). ``primary``: the metric that decides the
    verdict, Holm-adjusted across the models compared; a secondary metric (``primary`` False) is
    Holm-adjusted over the model x secondary-metric family.
    """

    value: float
    ci: tuple[float, float]
    p_value: float
    p_value_adjusted: float | None = None
    method: str | None = None
    primary: bool = False


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
    training: str | None = None  # how a distributed engine trained it (sample, workers)

    @property
    def delivered(self) -> bool:
        """A champion the first line handed over as scores or a model file: not trained by the
        run, so its training rows are not known here (a retrained champion's kind is its
        library's)."""
        return self.role == "champion" and (self.kind == "score" or self.kind.endswith("-file"))

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
                if d.p_value_adjusted is not None:
                    out[f"delta_twin_{key}_p_value_adjusted"] = d.p_value_adjusted
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
class ChampionCard:
    """The champion described for the report: source, method, hyperparameters, inputs, window."""

    name: str
    source: str
    method: str  # the kind: xgboost-file, lightgbm-file, score, lightgbm (retrained)...
    library: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hyperparameters_from: str = ""
    features: list[str] = field(default_factory=list)
    training_window: str = ""


def beside(value: float, *limits: float, digits: int = 2) -> str:
    """``value`` with enough decimals to stay on its side of each of ``limits``: a ratio of
    0.7984 read "0.80" beside "ratio outside [0.80, 1.25]" (and a segment's 0.796 "0.80 ▼" under
    "below 0.8 are marked ▼"); up to six decimals."""
    while digits < 6 and any(_crosses(value, limit, digits) for limit in limits):
        digits += 1
    return f"{value:.{digits}f}"


def _crosses(value: float, limit: float, digits: int) -> bool:
    shown = round(value, digits)
    return value != limit and (shown == limit or (shown < limit) != (value < limit))
