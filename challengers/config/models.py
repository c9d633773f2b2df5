"""The champion and the challengers: one config class per kind, and their tuning searches."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from challengers.config.base import (
    NAME_PATTERN,
    Strict,
    metric_from_key,
    metric_from_value,
    resolve_path,
    unique_names,
)
from challengers.models.tree import ROUND_KEYS, check_rounds


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


class TuneConfig(Strict):
    """Optuna tuning of a kind's tree (see challengers/tuning/search.py)."""

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
        return str(metric_from_value(value))

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

    _rounds = field_validator("params")(check_rounds)


class ChallengerBase(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    features: list[str] | None = None

    _lists = field_validator("features")(unique_names)


class TreeChallengerConfig(ChallengerBase):
    kind: Literal["lightgbm", "xgboost"]
    params: dict[str, Any] = {}
    tune: TuneConfig | None = None
    imbalance: Imbalance = "none"

    _rounds = field_validator("params")(check_rounds)


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
        from challengers.features.detectors import canonical

        return canonical(value)

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from challengers.features.detectors import check_params

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

    _model = field_validator("model")(resolve_path)
    _lists = field_validator("features")(unique_names)

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
            metric_from_key(key)
        return value


def tuned_section(
    c: ChallengerConfig,
) -> tuple[TuneConfig, TreeChallengerConfig | ModelSpec | None] | None:
    """A challenger's ``tune`` block and the section holding its tree's params (``params``,
    ``imbalance``), or None when it is not tuned. Tree kinds carry both; the graph kind has them in
    ``model``; the anomaly hybrid has ``tune`` itself or in ``model``."""
    section = c if isinstance(c, TreeChallengerConfig) else getattr(c, "model", None)
    tune = getattr(c, "tune", None) or getattr(section, "tune", None)
    return None if tune is None else (tune, section)
