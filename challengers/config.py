"""The experiment config: frozen pydantic models of DESIGN.md's schema, and ``load_config``.

Unknown keys are errors that name the key, its file:line and the closest valid key. Paths are resolved
relative to the config file when it loads, so everything below works with absolute paths.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from challengers.errors import ConfigError, did_you_mean
from challengers.metrics import DEFAULT_METRICS, METRICS, MetricSpec, parse_metric

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve_path(value: str | None, info: ValidationInfo) -> str | None:
    """Paths in a config are relative to the config file; URIs are left alone."""
    if value is None or value.startswith(URI_SCHEMES):
        return value
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return str(path)


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


def _unique(value: list[str] | None) -> list[str] | None:
    """Column lists name each column once."""
    if value is not None:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once; keep one")
    return value


class DataConfig(Strict):
    path: str = Field(description="parquet or csv file, or a glob of them")
    target: str = Field(description="0/1 fraud label")
    time: str = Field(description="event timestamp")
    id: str | None = None
    amount: str | None = None
    entity: str | None = Field(None, description="card/customer id: entity metrics, exclusion")
    features: list[str] | None = None
    drop: list[str] = []
    segments: list[str] = []

    _path = field_validator("path")(_resolve_path)
    _lists = field_validator("features", "drop", "segments")(_unique)


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


class SearchRange(Strict):
    """An overridable range of a tuned parameter: ``low``..``high`` (``log``, ``int``), or
    ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    int: bool = False
    choices: list[str | float | bool] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SearchRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise ValueError("give either choices: [...] or low and high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices: [...])")
        if self.high < self.low:
            raise ValueError(f"high {self.high} is below low {self.low}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


ROUND_KEYS = ("num_boost_round", "n_estimators", "num_iterations", "num_round", "num_trees")


class TuneConfig(Strict):
    """Optuna tuning of a kind's tree (see challengers/tuning.py)."""

    trials: int = Field(20, ge=1, description="finished trials to reach, resumed runs included")
    timeout_s: float | None = Field(None, gt=0, description="wall-clock budget of the search")
    metric: str = "pr_auc"
    validation_days: int | None = Field(None, ge=1, description="default: a fifth of training")
    folds: int = Field(1, ge=1, le=10)
    space: dict[str, SearchRange] = {}
    n_jobs: int = Field(1, ge=1)
    pruning: bool = True
    max_rounds: int = Field(1000, ge=1, description="boosting rounds cap; early stopping picks")
    early_stopping_rounds: int = Field(50, ge=1)
    eval_every: int = Field(10, ge=1, description="rounds between validation evaluations")

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        return str(_parse_metric_value(value))

    @field_validator("space")
    @classmethod
    def _no_rounds(cls, value: dict[str, SearchRange]) -> dict[str, SearchRange]:
        rounds = [k for k in value if k in ROUND_KEYS]
        if rounds:
            raise ValueError(
                f"'{rounds[0]}' cannot be searched: early stopping on the validation slice picks "
                "the rounds; set tune.max_rounds for the cap"
            )
        return value


Imbalance = Literal["none", "balanced", "sqrt"]


class ModelSpec(Strict):
    """A tree model: the champion's `retrain`, the graph kind's `model`."""

    kind: Literal["lightgbm", "xgboost"]
    params: dict[str, Any] = {}
    tune: TuneConfig | None = None
    imbalance: Imbalance = "none"


class ChallengerBase(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    features: list[str] | None = None

    _lists = field_validator("features")(_unique)


class TreeChallengerConfig(ChallengerBase):
    kind: Literal["lightgbm", "xgboost"]
    params: dict[str, Any] = {}
    tune: TuneConfig | None = None
    imbalance: Imbalance = "none"


class GraphSettings(Strict):
    entities: list[str] = Field(min_length=2)
    windows_days: list[Annotated[int, Field(ge=1)]] = [1, 7, 30]
    structure: bool = True
    structure_every_days: int = Field(1, ge=1)  # snapshot cadence of the graph-structure features


class GraphChallengerConfig(ChallengerBase):
    kind: Literal["graph"]
    graph: GraphSettings
    model: ModelSpec = ModelSpec(kind="lightgbm")


class AnomalyChallengerConfig(ChallengerBase):
    """A PyOD detector, alone or as features of a tree (`hybrid`); see models/anomaly.py."""

    kind: Literal["anomaly"]
    detector: str
    params: dict[str, Any] = {}
    hybrid: Literal["lightgbm", "xgboost"] | None = None
    model: ModelSpec | None = None
    fit_on: Literal["all", "genuine"] = "all"
    sample_size: int | None = Field(None, ge=100, description="fit rows; default per detector")
    categorical: list[str] = Field([], description="integer-coded categories: frequency-encoded")
    scale: Literal["auto", "robust", "standard", "none"] = "auto"
    folds: int = Field(3, ge=2, le=20, description="time-ordered folds of the hybrid's scores")
    twin: bool = Field(True, description="hybrid: also train the tree without detector scores")
    tune: TuneConfig | None = None

    @field_validator("detector")
    @classmethod
    def _detector(cls, value: str) -> str:
        from challengers.models.detectors import canonical

        return canonical(value)

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from challengers.models.detectors import check_params

        detector = info.data.get("detector")
        return check_params(detector, value) if detector else value

    @model_validator(mode="after")
    def _hybrid(self) -> AnomalyChallengerConfig:
        if self.model is not None and self.hybrid is None:
            raise ValueError(
                f"model is the tree of a hybrid; add `hybrid: {self.model.kind}` or drop model"
            )
        if self.model is not None and self.model.kind != self.hybrid:
            raise ValueError(
                f"model.kind '{self.model.kind}' differs from hybrid '{self.hybrid}'; make them equal"
            )
        tuned = self.tune is not None or (self.model is not None and self.model.tune is not None)
        if tuned and self.hybrid is None:
            raise ValueError("tune searches a hybrid's tree; a detector alone has none: add hybrid")
        return self


ChallengerConfig = Annotated[
    TreeChallengerConfig | GraphChallengerConfig | AnomalyChallengerConfig,
    Field(discriminator="kind"),
]
KIND_CONFIGS: dict[str, type[ChallengerBase]] = {
    "lightgbm": TreeChallengerConfig,
    "xgboost": TreeChallengerConfig,
    "graph": GraphChallengerConfig,
    "anomaly": AnomalyChallengerConfig,
}
CHALLENGER_KINDS = tuple(KIND_CONFIGS)


class ChampionConfig(Strict):
    name: str = Field("champion", pattern=NAME_PATTERN)
    model: str | None = None
    score: str | None = None
    retrain: ModelSpec | None = None
    features: list[str] | None = None
    claimed: dict[str, float] = {}

    _model = field_validator("model")(_resolve_path)
    _lists = field_validator("features")(_unique)

    @model_validator(mode="after")
    def _sources(self) -> ChampionConfig:
        """model or retrain is what is evaluated; score alone is evaluated as is, and next to a
        model it is the production output the model is re-scored against."""
        if self.model is None and self.retrain is None and self.score is None:
            raise ValueError(
                "give champion.model (a model file or MLflow URI), champion.retrain (a spec) or "
                "champion.score (a score column); with model or retrain, score is the production "
                "output they are checked against"
            )
        if self.model is not None and self.retrain is not None:
            raise ValueError(
                "champion.model and champion.retrain are exclusive: evaluate the delivered model "
                "or retrain it from its spec, not both (run twice to compare them)"
            )
        return self

    @property
    def production_score(self) -> str | None:
        """The score column, when it is checked against a model rather than evaluated itself."""
        return self.score if (self.model or self.retrain) else None

    @field_validator("claimed")
    @classmethod
    def _claimed_keys(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            _parse_metric_key(key)
        return value


class CostConfig(Strict):
    false_positive: float = Field(5.0, ge=0)
    false_negative: float | Literal["amount"] = "amount"


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
    ignored_share: float = Field(0.01, ge=0, le=1, description="champion's share: ignored")
    leaned_share: float = Field(0.05, ge=0, le=1, description="challenger's share: leaned on")


class DiagnosticsConfig(Strict):
    """Sizes of the diagnostics; headline metrics are always exact on every test row."""

    explain_rows: int = Field(2000, ge=10, description="seeded sample for SHAP contributions")
    weekly_bootstrap: int = Field(200, ge=0, description="replicates per test week (bands)")
    psi_bins: int = Field(10, ge=2, le=100)
    reliability_bins: int = Field(10, ge=2, le=100)
    max_segment_values: int = Field(30, ge=2, description="larger segments shown; rest folded")


class EvaluationConfig(Strict):
    metrics: list[str] = list(DEFAULT_METRICS)
    cost: CostConfig = CostConfig()
    bootstrap: int = Field(1000, ge=0, le=100_000)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    # bootstrap unit: whole entities (default when data.entity is set), whole days, or rows
    resample: Literal["entity", "day", "row"] | None = None
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

    @property
    def metric_specs(self) -> list[MetricSpec]:
        return [parse_metric(m) for m in self.metrics]

    @property
    def alert_rate(self) -> float:
        """The operating point: configured, else the first alert-rate metric, else 0.5%."""
        if self.operating_point.alert_rate is not None:
            return self.operating_point.alert_rate
        for spec in self.metric_specs:
            if spec.info.param == "rate" and spec.name != "recall_at_fpr":
                assert spec.param is not None
                return spec.param
        return 0.005


class TrackingConfig(Strict):
    uri: str | None = None

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


class ExperimentConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    seed: int = Field(42, ge=0, le=2**63 - 1, description="seeds every model and the bootstrap")
    threads: int | None = Field(None, ge=1, description="threads per model; default: all cores")
    data: DataConfig
    split: SplitConfig
    champion: ChampionConfig
    challengers: list[ChallengerConfig] = []
    evaluation: EvaluationConfig = EvaluationConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> ExperimentConfig:
        names = [self.champion.name] + [c.name for c in self.challengers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        if self.split.exclude_known_frauds and not self.data.entity:
            raise ValueError("split.exclude_known_frauds needs data.entity (the card/customer id)")
        metric_names = {m.partition("@")[0] for m in self.evaluation.metrics}
        if "entity_precision_at" in metric_names and not self.data.entity:
            raise ValueError("metric entity_precision_at needs data.entity (the card/customer id)")
        if self.evaluation.resample == "entity" and not self.data.entity:
            raise ValueError("evaluation.resample 'entity' needs data.entity; or use day or row")
        if self.evaluation.resample == "row" and "entity_precision_at" in metric_names:
            raise ValueError(
                "entity_precision_at cannot be bootstrapped over single rows; "
                "set evaluation.resample to entity or day"
            )
        if "value_detection_at_alerts" in metric_names and not self.data.amount:
            raise ValueError("metric value_detection_at_alerts needs data.amount")
        _check_tuning(self)
        uses_amount_cost = self.evaluation.cost.false_negative == "amount"
        if "expected_cost" in metric_names and uses_amount_cost and not self.data.amount:
            raise ValueError(
                "evaluation.cost.false_negative is 'amount' but data.amount is not set; "
                "set data.amount or give a number"
            )
        return self

    @property
    def weighs_by_amount(self) -> bool:
        """Whether a metric reads data.amount (value detection, or the cost of a missed fraud)."""
        names = {m.partition("@")[0] for m in self.evaluation.metrics}
        amount_cost = "expected_cost" in names and self.evaluation.cost.false_negative == "amount"
        return "value_detection_at_alerts" in names or amount_cost

    @property
    def cost_false_negative(self) -> float | None:
        fn = self.evaluation.cost.false_negative
        return None if fn == "amount" else float(fn)

    def challenger(self, name: str) -> ChallengerConfig:
        for c in self.challengers:
            if c.name == name:
                return c
        raise ConfigError(
            f"no challenger named '{name}'{did_you_mean(name, [c.name for c in self.challengers])}"
        )

    def resolved(self) -> ExperimentConfig:
        """This config with the machine-dependent defaults filled in (threads = all cores), so
        the resolved config a run logs replays on another machine with the same thread count."""
        if self.threads is not None:
            return self
        import os

        return self.model_copy(update={"threads": os.cpu_count() or 1})

    def fingerprint(self) -> str:
        """A hash of the resolved config: equal configs give equal hashes."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def tuned_section(
    c: ChallengerConfig,
) -> tuple[TuneConfig, TreeChallengerConfig | ModelSpec | None] | None:
    """A challenger's ``tune`` block and the section holding its tree's params (``params``,
    ``imbalance``), or None when it is not tuned. Tree kinds carry both; the graph kind has them in
    ``model``; the anomaly hybrid has ``tune`` itself or in ``model``."""
    section = c if isinstance(c, TreeChallengerConfig) else getattr(c, "model", None)
    tune = getattr(c, "tune", None) or getattr(section, "tune", None)
    return None if tune is None else (tune, section)


def _check_tuning(cfg: ExperimentConfig) -> None:
    """Tuning needs room for its validation slices and label-delay gap inside the training window."""
    from challengers.split import validation_windows

    if cfg.champion.retrain is not None and cfg.champion.retrain.tune is not None:
        raise ValueError(
            "champion.retrain.tune: the champion replicates the documented spec and is not tuned; "
            "remove tune, or add a tuned challenger of the same kind"
        )
    s = cfg.split
    for c in cfg.challengers:
        tuned = tuned_section(c)
        if tuned is None:
            continue
        tune = tuned[0]
        try:
            validation_windows(
                s.train.start, s.train.end, s.label_delay_days, tune.validation_days, tune.folds
            )
        except ValueError as exc:
            raise ValueError(f"challenger '{c.name}' tune: {exc}") from None


def _parse_metric_value(value: str) -> MetricSpec:
    try:
        return parse_metric(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _parse_metric_key(key: str) -> MetricSpec:
    """A metric key (``recall_at_fpr_0.01``) back to its spec."""
    for name in sorted(METRICS, key=len, reverse=True):
        if key == name:
            return _parse_metric_value(name)
        if key.startswith(name + "_"):
            return _parse_metric_value(f"{name}@{key[len(name) + 1 :]}")
    raise ValueError(f"'{key}' is not a metric key{did_you_mean(key, list(METRICS))}")


# ---------------------------------------------------------------------------------------- loading


def load_config(path: str | Path) -> ExperimentConfig:
    """Read, validate and resolve an experiment config. Raises ConfigError with file:line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found; check the path")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give the YAML config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the "
            "config as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror or exc}") from exc
    return parse_config(text, source=path)


def parse_config(text: str, source: Path) -> ExperimentConfig:
    """Validate YAML text as an experiment config; ``source`` names it in errors and anchors paths."""
    raw, lines = _read_yaml(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: the config must be a YAML mapping (key: value lines)")
    try:
        return ExperimentConfig.model_validate(
            raw, context={"base_dir": str(source.resolve().parent)}
        )
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, source, lines)) from None


MAX_VALUES = 100_000  # a config is a page of settings: more values is an alias bomb or a mistake


def _read_yaml(text: str, source: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    try:
        return _read_yaml_safely(text, source)
    except RecursionError:
        raise ConfigError(
            f"{source}: the YAML is nested too deeply to be a config; check its brackets"
        ) from None


def _read_yaml_safely(text: str, source: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}, source) > MAX_VALUES:
            raise ConfigError(
                f"{source}: the YAML expands to more than {MAX_VALUES:,} values (through "
                "anchors and aliases); a config is much smaller: remove the repeated aliases"
            )
        raw = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"{source}{line}: YAML syntax error: {problem}; check indentation and quoting"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines, source)
    return raw, lines


def _expanded_size(node: yaml.Node, memo: dict[int, int], source: Path) -> int:
    """How many values the document holds once every alias is expanded (each node counted once
    per reference, computed once per node)."""
    if memo.get(id(node)) == -1:
        raise ConfigError(
            f"{source}:{node.start_mark.line + 1}: a YAML alias refers to a value that contains "
            "it; remove the loop"
        )
    if id(node) not in memo:
        memo[id(node)] = -1  # in progress: meeting it again below is a loop
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        memo[id(node)] = 1 + sum(_expanded_size(child, memo, source) for child in children)
    return memo[id(node)]


def _index_lines(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    source: Path,
    visited: set[int] | None = None,
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    visited = set() if visited is None else visited
    if id(node) in visited:  # an alias: its lines were indexed where the anchor is
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: key '{key}' appears twice; keep one"
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), lines, source, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines, source, visited)


def _format_validation(
    exc: ValidationError, source: Path, lines: dict[tuple[Any, ...], int]
) -> str:
    """One line per problem: file:line: field.path: what; how to fix."""
    out = []
    for err in exc.errors():
        loc = _strip_union_tag(err["loc"])
        line = _line_for(loc, lines)
        where = f"{source}:{line}" if line else str(source)
        field = _dotted(loc)
        problem = _explain(err, tuple(err["loc"]))
        out.append(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")
    return "\n".join(dict.fromkeys(out))


def _is_union_tag(loc: tuple[Any, ...], i: int) -> bool:
    """pydantic inserts the discriminator value after a challenger's index: challengers.0.graph.x"""
    return i == 2 and loc[0] == "challengers" and isinstance(loc[1], int) and loc[2] in KIND_CONFIGS


def _strip_union_tag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(p for i, p in enumerate(loc) if not _is_union_tag(loc, i))


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(err: Any, loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        valid = _valid_keys(loc[:-1])
        hint = did_you_mean(key, valid)
        listing = f"; valid keys here: {', '.join(valid)}" if valid and not hint else ""
        return f"unknown key '{key}'{hint}{listing}"
    if kind == "missing":
        return "required key is missing; add it"
    if kind == "union_tag_invalid":
        tag = str(err.get("ctx", {}).get("tag", "?"))
        return (
            f"unknown challenger kind '{tag}'{did_you_mean(tag, list(CHALLENGER_KINDS))} "
            f"(valid kinds: {', '.join(CHALLENGER_KINDS)})"
        )
    if kind == "union_tag_not_found":
        return f"each challenger needs 'kind': one of {', '.join(CHALLENGER_KINDS)}"
    message = str(err.get("msg", "invalid value"))
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    if kind.startswith(("date_", "datetime_")):
        message += "; write dates as YYYY-MM-DD"
    value = err.get("input")
    if kind not in ("value_error", "assertion_error") and not isinstance(value, dict | list):
        message += f" (got {value!r})"
    return message


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the config section at ``loc`` (a pydantic error location, tags included)."""
    model: Any = ExperimentConfig
    for i, part in enumerate(loc):
        if _is_union_tag(loc, i):
            model = KIND_CONFIGS[part]
            continue
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _section_model(field.annotation) if field is not None else None
        if model is None:
            return []
    return list(model.model_fields)


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``X | None`` or ``list[X]``."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None
