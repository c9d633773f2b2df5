"""What the YAML sections of the model kinds share: the strict pydantic base, the section every
challenger has (``name``, ``kind``, ``features``), a tree spec (``model:``), and tuning's ``tune:``.

Each kind declares its own section as its ``Params`` class (a subclass of :class:`ChallengerParams`);
``challengers.config`` builds the challenger union from the registered kinds. The rule that keeps
YAML, the model and MLflow equal: a section's keys other than ``name``, ``kind``, ``features`` and
``tune`` (how to search, not what the model is) are the kind's constructor arguments, hence its
``get_params()`` and its MLflow params, together with ``seed`` and ``threads`` from the top of the
config. :meth:`ChallengerParams.model_params` is that dictionary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, Literal, Protocol, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from challengers.errors import ConfigError, closest
from challengers.evaluation.metrics import parse_metric
from challengers.models.library_params import ACCEPTED, TITLES, parameter_of

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
# a model's name also names its logged MLflow model, which refuses '.' (and '/', ':', '%', quotes)
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
# every name the two tree libraries accept for the number of boosting rounds
ROUND_KEYS = ("num_boost_round", "n_estimators", "num_iterations", "num_round", "num_trees")
DEFAULT_ROUNDS = 100
MAX_ROUNDS = 1_000_000
# keys of a section that say which model it is, or how to search it, not how it is built
NOT_MODEL_KEYS = frozenset({"name", "kind", "features", "tune"})
Imbalance = Literal["none", "balanced", "sqrt"]
IMBALANCE = "imbalance"  # the class weighting's name in a search space (not a library parameter)


class Strict(BaseModel):
    """Every config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def model_name(value: str) -> str:
    """A champion's or challenger's name: it names the model's directory, its predictions column,
    its child run and its logged MLflow model. MLflow refuses a logged model named with a '.', and
    did so only when the run logged it, after every model had trained."""
    if not MODEL_NAME.fullmatch(value):
        why = (
            "MLflow refuses '.' in a logged model's name; use '-' or '_' instead"
            if "." in value
            else "it names the model's files, its child run and its logged MLflow model"
        )
        raise ValueError(
            f"a model's name is letters, digits, '_' and '-', starting with a letter or digit; "
            f"got {value!r}: {why}"
        )
    return value


def unique_names(value: list[Any] | None) -> list[Any] | None:
    """Lists of columns (or of windows) name each once."""
    if value is not None:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(map(str, repeated))} more than once; keep one")
    return value


class TreeSection(Protocol):
    """A section holding a tree's ``params`` and ``imbalance``: a tree kind's, or a ``model:``."""

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def imbalance(self) -> str: ...

    @property
    def model_fields_set(self) -> set[str]: ...


class ModelSection(Strict):
    """A section that builds a model: its keys, as the kind's constructor arguments."""

    def model_params(self) -> dict[str, Any]:
        """The keys that build the model (nested sections as plain dicts, their ``tune`` left out)."""
        out = {}
        for name in type(self).model_fields:
            if name not in NOT_MODEL_KEYS:
                value = self.__dict__[name]
                if isinstance(value, ModelSection):  # a nested spec: its kind builds the model
                    out[name] = value.model_dump(exclude={"tune"})
                else:
                    out[name] = self.model_dump(include={name})[name]
        return out

    def tuning(self) -> tuple[TuneConfig, TreeSection] | None:
        """The ``tune`` block of this section and the section holding the tree's ``params`` and
        ``imbalance`` it searches, or None when the model is not tuned."""
        return None


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
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices: [...] or low and high, not both")
            if not self.choices:
                raise ValueError("choices is empty; list the values to try, or give low and high")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices: [...])")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high are finite numbers, got {self.low} and {self.high}")
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
        try:
            return str(parse_metric(value))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("space")
    @classmethod
    def _no_rounds(cls, value: dict[str, SearchRange]) -> dict[str, SearchRange]:
        rounds = [k for k in value if k in ROUND_KEYS]
        if rounds:
            raise ValueError(
                f"'{rounds[0]}' cannot be searched: early stopping on the validation slice picks "
                "the rounds; set tune.max_rounds for the cap"
            )
        for name, r in value.items():
            check_search_values(name, r)
        return value


def check_search_values(name: str, r: SearchRange) -> None:
    """ValueError for a range of values the tree cannot take: the class weighting is one of its
    three (another trained as 'sqrt' while reported as itself; a range was a TypeError), an
    integer range has whole ends (2.5..3.5 drew 2)."""
    weights = get_args(Imbalance)
    if name == IMBALANCE:
        if r.choices is None:
            raise ValueError(
                f"{IMBALANCE}: give choices: [{', '.join(weights)}] (or some of them); the class "
                "weighting is not a number"
            )
        for value in r.choices:
            if value not in weights:
                raise ValueError(
                    f"{IMBALANCE}: {value!r} is not a class weighting; choose from "
                    f"{', '.join(weights)}"
                )
    if r.int and r.choices is None:
        for end in (r.low, r.high):
            if end is not None and not float(end).is_integer():
                raise ValueError(
                    f"{name}: an int range has whole ends, got {end}; write e.g. "
                    f"{{low: {math.ceil(r.low or 0)}, high: {math.floor(r.high or 0)}, int: true}}"
                )


def rounds_of(key: str, value: Any) -> int:
    """A round count as an int; ValueError naming the key, the value and the fix for anything
    else ("abc", .inf, -5, 2.5, true): the libraries would fail on it only after the data loaded."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value, whole = int(value), True
    if not whole or not 1 <= value <= MAX_ROUNDS:
        raise ValueError(
            f"{key} is {value!r}: the number of boosting rounds must be a whole number from 1 to "
            f"{MAX_ROUNDS:,}; write e.g. {key}: {DEFAULT_ROUNDS}"
        )
    return int(value)


def check_rounds(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the round counts of a tree's ``params`` (the config calls this when it loads)."""
    for key in ROUND_KEYS:
        if key in params:
            rounds_of(key, params[key])
    return params


def finite_params(params: dict[str, Any]) -> dict[str, Any]:
    """A tree's ``params`` hold no NaN or infinity (the config calls this when it loads): XGBoost
    trains with ``learning_rate: .nan`` and scores every row NaN, which failed the model after
    the data had loaded."""
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(
                f"{key} is {value}: a tree parameter is a finite number; give one, or remove "
                f"{key} for the library's default"
            )
    return params


def check_library_params(library: str | None, names: Iterable[str]) -> None:
    """ValueError naming every one of ``names`` that ``library`` ("lightgbm", "xgboost") does not
    accept, with the closest name it does: the library would ignore it and train with its default
    (:mod:`challengers.models.library_params`). The round counts are the tool's own keys."""
    accepted = ACCEPTED.get(library or "")
    if accepted is None:
        return
    names = list(names)
    unknown = [n for n in names if n not in accepted and n not in ROUND_KEYS]
    if unknown:
        named = ", ".join(f"'{n}'" + _near(n, accepted) for n in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(
            f"{TITLES[str(library)]} has no parameter{plural} {named}; it would ignore "
            f"{'them' if plural else 'it'} and train with its default{plural}"
        )
    _once_each(str(library), names)


def _once_each(library: str, names: list[str]) -> None:
    """ValueError for two names of one parameter (``gamma`` and ``min_split_loss``): the library
    trains with one of them, while the config, the report and MLflow show both."""
    seen: dict[str, str] = {}
    for name in names:
        # the round counts: the tool reads one of them (tree.split_rounds), whatever the library
        main = "the number of rounds" if name in ROUND_KEYS else parameter_of(library, name)
        if main in seen:
            raise ValueError(
                f"'{seen[main]}' and '{name}' are the same {TITLES[library]} parameter ({main}); "
                "name it once"
            )
        seen[main] = name


def _near(name: str, accepted: frozenset[str]) -> str:
    match = closest(name, accepted)
    return f" (did you mean '{match}'?)" if match else ""


def known_params(params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """A tree section's ``params`` validator: every name one its ``kind``'s library accepts
    (``kind`` comes before ``params`` in every such section, so it is validated already)."""
    check_library_params(info.data.get("kind"), params)
    return params


def known_space(tune: TuneConfig | None, info: ValidationInfo) -> TuneConfig | None:
    """A tree section's ``tune`` validator: the searched names are its library's parameters (or
    ``imbalance``, the tool's class weighting)."""
    if tune is not None:
        check_library_params(info.data.get("kind"), searched_params(tune))
    return tune


def searched_params(tune: TuneConfig) -> list[str]:
    """The library parameters ``tune.space`` names."""
    return [name for name in tune.space if name != IMBALANCE]


class ModelSpec(ModelSection):
    """A tree model: the champion's `retrain`, the graph kind's and the anomaly hybrid's `model`."""

    kind: Literal["lightgbm", "xgboost"]
    params: dict[str, Any] = {}
    tune: TuneConfig | None = None
    imbalance: Imbalance = "none"

    _rounds = field_validator("params")(check_rounds)
    _finite = field_validator("params")(finite_params)
    _known = field_validator("params")(known_params)
    _space = field_validator("tune")(known_space)

    def tuning(self) -> tuple[TuneConfig, TreeSection] | None:
        return None if self.tune is None else (self.tune, self)


class ChallengerParams(ModelSection):
    """What every challenger section has; a kind's ``Params`` adds its own keys and narrows
    ``kind`` to its name (``Literal["..."]``), which the config's union is discriminated on."""

    name: str
    kind: str
    features: list[str] | None = None

    _name = field_validator("name")(model_name)
    _lists = field_validator("features")(unique_names)
