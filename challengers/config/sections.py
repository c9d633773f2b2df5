"""The config's sections other than the models: data, split, evaluation, tracking, engine."""

from __future__ import annotations

import warnings
from datetime import date
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from challengers.config.base import Strict, resolve_data_path, unique_names
from challengers.errors import ConfigError
from challengers.evaluation.metrics import DEFAULT_METRICS, MetricSpec, parse_metric
from challengers.results import beside


class Window(Strict):
    """An inclusive range of calendar days."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}; swap them")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$"  # [catalog.][db.]table


class DataConfig(Strict):
    path: str | None = Field(
        None,
        description="parquet or csv file, or a glob of them; with engine spark, also a URI "
        "Spark reads (hdfs://, s3a://, ...)",
    )
    table: str | None = Field(
        None, pattern=TABLE_NAME, description="a table of the Spark session's catalog (db.name)"
    )
    source: str | None = Field(None, description="where the data comes from (said when missing)")
    target: str = Field(description="0/1 fraud label")
    time: str = Field(description="event timestamp")
    id: str | None = None
    amount: str | None = None
    entity: str | None = Field(None, description="card/customer id: entity metrics, exclusion")
    features: list[str] | None = None
    drop: list[str] = []
    segments: list[str] = []
    scenario: str | None = Field(
        None, description="fraud scenario or type per row (0/null: genuine); never a feature"
    )
    scenario_names: dict[int | str, str] = Field({}, description="scenario value -> its name")

    _path = field_validator("path")(resolve_data_path)
    _lists = field_validator("features", "drop", "segments")(unique_names)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.path is not None and self.table is not None:
            raise ValueError(
                "give data.path (files) or data.table (a Spark catalog table), not both"
            )
        if self.path is None and self.table is None:
            raise ValueError(
                "data needs path (a parquet or csv file, or a glob) or table (a table of the "
                "Spark catalog, with engine.kind: spark)"
            )
        return self

    @property
    def location(self) -> str:
        """Where the rows are read from, as messages and the report name it."""
        return self.path if self.path is not None else f"table {self.table}"


class SplitConfig(Strict):
    train: Window
    test: Window
    label_delay_days: int = Field(7, ge=0, le=365)
    exclude_known_frauds: bool = False

    @model_validator(mode="after")
    def _no_overlap(self) -> SplitConfig:
        if self.test.start <= self.train.end:
            raise ValueError(
                f"test window starts {self.test.start}, not after the training window ends "
                f"{self.train.end}; out-of-time evaluation needs test.start > train.end"
            )
        return self


class CostConfig(Strict):
    false_positive: float = Field(5.0, ge=0)
    false_negative: float | Literal["amount"] = "amount"

    @field_validator("false_negative", mode="before")
    @classmethod
    def _cost_or_amount(cls, value: object) -> object:
        """One message for both readings (a number, or the word 'amount')."""
        if isinstance(value, str) and value != "amount":
            try:
                float(value)
            except ValueError:
                raise ValueError(
                    f"give a cost per missed fraud (a number) or 'amount' (the fraud's own "
                    f"amount, data.amount), got {value!r}"
                ) from None
        return value


class OperatingPoint(Strict):
    """The alert budget used for cost and operating-point comparisons: a share of the test rows, or
    the champion's production score threshold (its alert count then sets every model's budget)."""

    alert_rate: float | None = Field(None, gt=0, le=1)
    threshold: float | None = None

    @model_validator(mode="after")
    def _one_budget(self) -> OperatingPoint:
        if self.alert_rate is not None and self.threshold is not None:
            raise ValueError("give alert_rate or threshold, not both")
        return self


class AuditThresholds(Strict):
    """Thresholds and sample sizes of the data audit (`challenge audit`, the start of every run)."""

    leak_auc: float = Field(0.95, gt=0.5, le=1)  # one column alone separates the classes
    null_rate: float = Field(0.5, gt=0, le=1)  # a feature missing more often than this
    id_unique_ratio: float = Field(0.95, gt=0, le=1)  # distinct values per row: an identifier
    id_time_corr: float = Field(0.98, gt=0, le=1)  # |Spearman| with time: a clock, not a feature
    max_levels: int = Field(50, ge=2)  # columns with at most this many values are categorical
    label_rate_ratio: float = Field(1.5, gt=1)  # test vs train fraud rate, either way
    known_fraud_share: float = Field(0.05, ge=0, le=1)  # test frauds on known-fraudulent entities
    min_day_share: float = Field(0.2, ge=0, le=1)  # a day with fewer rows than this x the median
    pii_min_matches: int = Field(3, ge=1)  # sampled values that must look personal
    sample_rows: int = Field(200_000, ge=1000)  # per window: AUC, drift, monotonicity
    pii_sample_rows: int = Field(20_000, ge=100)
    recipe_sample_rows: int = Field(20_000, ge=100)  # rows recomputed by feature recipes


class FindingsConfig(Strict):
    """Thresholds that turn numbers into findings."""

    psi_medium: float = Field(0.1, gt=0)
    psi_high: float = Field(0.25, gt=0)
    disparity_ratio: float = Field(0.8, gt=0, le=1)
    min_segment_rows: int = Field(1000, ge=1)
    min_segment_positives: int = Field(20, ge=1)
    claim_tolerance: float = Field(0.0, ge=0)
    score_tolerance: float = Field(
        1e-6, ge=0, description="re-scored champion vs production score: per-row tolerance"
    )
    audit: AuditThresholds = AuditThresholds()
    effect_high: float = Field(0.10, ge=0, description="relative recall gain at the budget: high")
    effect_medium: float = Field(0.03, ge=0, description="relative recall gain: medium")
    overfit_gap: float = Field(0.1, gt=0, description="train minus test ROC AUC")
    calibration_ratio: float = Field(1.25, gt=1, description="mean score / fraud rate beyond")
    coarse_scores: int = Field(
        20, ge=1, description="distinct test scores at most: the model bands rather than ranks"
    )
    ignored_share: float = Field(0.01, ge=0, le=1, description="champion's share: ignored")
    leaned_share: float = Field(0.05, ge=0, le=1, description="challenger's share: leaned on")

    def shown_psi(self, value: float, digits: int = 3) -> str:
        """A PSI with enough decimals to stay on its side of the thresholds: a 0.2496, rated
        below ``psi_high``, read "0.25" beside "thresholds 0.1 / 0.25" (the audit's texts and the
        findings' alike)."""
        return beside(value, self.psi_medium, self.psi_high, digits=digits)


class DiagnosticsConfig(Strict):
    """Sizes of the diagnostics; headline metrics are always exact on every test row."""

    explain_rows: int = Field(2000, ge=10, description="seeded sample for SHAP contributions")
    weekly_bootstrap: int = Field(200, ge=0, description="replicates per test week (bands)")
    psi_bins: int = Field(10, ge=2, le=100)
    reliability_bins: int = Field(10, ge=2, le=100)
    max_segment_values: int = Field(30, ge=2, description="larger segments shown; rest folded")


class EvaluationConfig(Strict):
    metrics: list[str] = list(DEFAULT_METRICS)
    # decides "beats"/"worse than" (Holm across challengers); the others are secondary (Holm over
    # challengers x metrics). Default: the first metric.
    primary: str | None = None
    cost: CostConfig = CostConfig()
    bootstrap: int = Field(1000, ge=0, le=100_000)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    # bootstrap unit: whole entities (default when data.entity is set), whole days, or rows
    resample: Literal["entity", "day", "row"] | None = None
    # day blocks are refused with fewer than 20 test days or entities spanning days; true overrides
    resample_force: bool = False
    operating_point: OperatingPoint = OperatingPoint()
    findings: FindingsConfig = FindingsConfig()
    diagnostics: DiagnosticsConfig = DiagnosticsConfig()

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[str]) -> list[str]:
        specs, problems = [], []
        for v in value:
            try:
                specs.append(parse_metric(v))
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError(" | ".join(problems))
        keys = [s.key for s in specs]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"metric listed twice: {', '.join(dupes)}")
        if not specs:
            raise ValueError("list at least one metric, e.g. [roc_auc, pr_auc]")
        return [str(s) for s in specs]

    @model_validator(mode="after")
    def _primary_is_a_metric(self) -> EvaluationConfig:
        if self.primary is None:
            return self
        keys = [s.key for s in self.metric_specs]
        try:
            key = parse_metric(self.primary).key
        except ConfigError as exc:
            raise ValueError(f"primary: {exc}") from None
        if key not in keys:
            raise ValueError(
                f"primary '{self.primary}' is not among evaluation.metrics; "
                f"use one of: {', '.join(self.metrics)}"
            )
        return self

    @property
    def metric_specs(self) -> list[MetricSpec]:
        return [parse_metric(m) for m in self.metrics]

    @property
    def primary_key(self) -> str:
        """The key of the metric that decides the verdict: ``primary``, else the first metric."""
        return parse_metric(self.primary or self.metrics[0]).key

    @property
    def alert_rate(self) -> float:
        """The operating point: configured, else the first alert-rate metric, else 0.5%."""
        if self.operating_point.alert_rate is not None:
            return self.operating_point.alert_rate
        for spec in self.metric_specs:
            if spec.info.param == "alert_rate":
                assert spec.param is not None
                return spec.param
        return 0.005


class GovernanceConfig(Strict):
    """The model's identity in the model inventory, shown at the head of the report; every field
    is optional and shown as "not stated" when absent."""

    model_id: str | int | None = Field(None, description="id in the model inventory")
    model_name: str | None = None
    model_version: str | int | float | None = None
    owner: str | None = Field(None, description="first-line owner of the model")
    validator: str | None = Field(None, description="who validates (second line)")
    purpose: str | None = None
    intended_use: str | None = None
    tier: str | int | None = Field(None, description="materiality / risk tier")
    data_date: date | None = Field(None, description="date of the data (extract or cut-off)")

    def fields(self) -> dict[str, str | None]:
        """Label -> value (None when not stated), in the report's order."""
        return {
            "Model id (inventory)": _text(self.model_id),
            "Model name": self.model_name,
            "Model version": _text(self.model_version),
            "Owner (first line)": self.owner,
            "Validator": self.validator,
            "Purpose": self.purpose,
            "Intended use": self.intended_use,
            "Materiality tier": _text(self.tier),
            "Date of the data": _text(self.data_date),
        }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class RegisterConfig(Strict):
    """Register the challengers' models in the MLflow registry under ``name`` (one version
    each) and set ``alias`` on the version of the challenger the findings name best."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    alias: str = "challenger"

    @field_validator("alias")
    @classmethod
    def _registry_alias(cls, value: str) -> str:
        """An alias the registry takes (`challenge promote --alias` follows the same rule), and
        never the champion's: promotion is a person's decision, never a run's."""
        from challengers.tracking.registry import alias_problem  # only where a config registers

        problem = alias_problem(value)
        if problem:
            raise ValueError(problem)
        if value.lower() == "champion":
            raise ValueError(
                "'champion' is set by a person, never by a run; after reviewing the run use "
                "`challenge promote RUN_ID MODEL --alias champion`"
            )
        return value


# the YAML key is `register`; pydantic warns that it shadows ABCMeta.register on the class (the
# instance attribute is the field, which is all the config reads)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class TrackingConfig(Strict):
        uri: str | None = None
        register: RegisterConfig | None = None

        @field_validator("uri")
        @classmethod
        def _no_secrets(cls, value: str | None) -> str | None:
            """A config is copied into the outputs and MLflow: credentials never belong in it."""
            from urllib.parse import urlparse

            if value is not None and (urlparse(value).password or urlparse(value).username):
                raise ValueError(
                    "the URI holds credentials; remove them and set MLFLOW_TRACKING_USERNAME and "
                    "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the environment"
                )
            return value


class EngineConfig(Strict):
    """Where the steps that touch rows run: ``local`` (polars on this machine, the default) or
    ``spark`` (a Spark session: ``master`` such as local[2], spark://host:7077, yarn, k8s://...;
    omitted inside spark-submit, which sets it). ``conf`` entries go to the session as given."""

    kind: Literal["local", "spark"] = "local"
    master: str | None = None
    conf: dict[str, str | int | float | bool] = {}
    # XGBoost challengers train on the executors (xgboost.spark): its num_workers, the number of
    # Spark tasks that train together; None: the session's default parallelism
    num_workers: int | None = Field(None, ge=1)
    # other challengers fit on the driver, on a seeded sample of at most this many training rows
    # that keeps the fraud rate (every row when the window holds fewer)
    sample_rows: int = Field(1_000_000, ge=1000)

    @model_validator(mode="after")
    def _spark_only(self) -> EngineConfig:
        # set to other than the default: a local run's resolved config (every default written
        # out) reads back, as a replication of it does
        spark_only = [
            name
            for name in ("conf", "master", "num_workers", "sample_rows")
            if name in self.model_fields_set
            and getattr(self, name) != type(self).model_fields[name].get_default()
        ]
        if self.kind == "local" and spark_only:
            raise ValueError(
                f"engine.{spark_only[0]} needs engine.kind: spark (the local engine "
                "trains every model on every row)"
            )
        return self
