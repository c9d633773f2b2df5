"""Search spaces of the tuned trees: sensible defaults per library, overridable from the config.

A space maps a parameter name to a :class:`Dim`. Names are the library's own parameters (passed to
LightGBM/XGBoost as they are), except ``imbalance``, the tree's class-weighting constructor argument
(none / sqrt / balanced: the weight of a fraud relative to a genuine row). Boosting rounds are never
searched: early stopping on the validation slice picks them, up to ``tune.max_rounds``.

Rules, applied by :func:`search_space`:
- a parameter the config fixes (in the tree's ``params``, under any alias the library accepts, or an
  explicit ``imbalance``) is not searched;
- ``tune.space`` replaces a default range or adds a new parameter (it wins over a fixed value);
  a name it gives under an alias (``eta``) replaces the range of that parameter
  (``learning_rate``), and its searched value is given to an alias the config fixes too: the
  libraries read one name of the two (the main one), and the searched value was ignored, while
  reported as the best; naming one parameter twice in ``tune.space`` is refused;
- each default :class:`Dim` carries the library default, so the first trial of a study is the
  untuned model (with early stopping): the search can only improve on it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from challengers.config import SearchRange
from challengers.errors import ConfigError
from challengers.models.library_params import TITLES, aliases_of, parameter_of
from challengers.models.params import IMBALANCE, check_library_params, check_search_values


@dataclass(frozen=True)
class Dim:
    """One searched parameter: a float/int range (``log`` scale optional) or categorical
    ``choices``; ``default`` is the library's default, tried first (the library's other names of
    a parameter: :func:`~challengers.models.library_params.aliases_of`)."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    int: bool = False
    choices: tuple[Any, ...] | None = None
    default: Any = None

    def suggest(self, trial: Any, name: str) -> Any:
        """Draw a value from an ``optuna.Trial``."""
        if self.choices is not None:
            return trial.suggest_categorical(name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.int:
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)

    def contains(self, value: Any) -> bool:
        if value is None:
            return False
        if self.choices is not None:
            return value in self.choices
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high

    @classmethod
    def from_range(cls, r: SearchRange, *, default: Any = None) -> Dim:
        choices = tuple(r.choices) if r.choices is not None else None
        dim = cls(r.low, r.high, r.log, r.int, choices, None)
        return replace(dim, default=default) if dim.contains(default) else dim


def _f(low: float, high: float, default: float, *, log: bool = False) -> Dim:
    return Dim(low, high, log=log, default=default)


def _i(low: int, high: int, default: int, *, log: bool = False) -> Dim:
    return Dim(low, high, log=log, int=True, default=default)


_WEIGHTING = Dim(choices=("none", "sqrt", "balanced"), default="none")

# Ranges: the usual published ones for tabular GBDTs, widened a little for rare-event data. Tiny
# regularisation lower bounds stand in for 0 on a log scale.
DEFAULT_SPACES: dict[str, dict[str, Dim]] = {
    "lightgbm": {
        "num_leaves": _i(7, 255, 31, log=True),
        "learning_rate": _f(0.005, 0.3, 0.1, log=True),
        "min_data_in_leaf": _i(5, 500, 20, log=True),
        "lambda_l1": _f(1e-8, 10.0, 1e-8, log=True),
        "lambda_l2": _f(1e-8, 10.0, 1e-8, log=True),
        "feature_fraction": _f(0.4, 1.0, 1.0),
        "bagging_fraction": _f(0.4, 1.0, 1.0),
        IMBALANCE: _WEIGHTING,
    },
    "xgboost": {
        "max_depth": _i(2, 12, 6),
        "learning_rate": _f(0.005, 0.3, 0.3, log=True),
        "min_child_weight": _f(0.01, 100.0, 1.0, log=True),
        "reg_alpha": _f(1e-8, 10.0, 1e-8, log=True),
        "reg_lambda": _f(1e-3, 100.0, 1.0, log=True),
        "subsample": _f(0.4, 1.0, 1.0),
        "colsample_bytree": _f(0.4, 1.0, 1.0),
        IMBALANCE: _WEIGHTING,
    },
}

# Library parameters a searched one needs to take effect (LightGBM bags only with bagging_freq > 0).
COMPANIONS: dict[str, dict[str, dict[str, Any]]] = {
    "lightgbm": {"bagging_fraction": {"bagging_freq": 1}},
}


def search_space(
    kind: str, overrides: Mapping[str, SearchRange], fixed: Collection[str]
) -> dict[str, Dim]:
    """The space searched for a tree of ``kind``: defaults minus ``fixed`` names, plus overrides
    (one under an alias replaces its parameter's default). ConfigError for a space that names one
    parameter twice."""
    defaults = DEFAULT_SPACES.get(kind, {})
    try:  # the config's check, for a space built in code: one name each, the library's own
        check_library_params(kind, [name for name in overrides if name != IMBALANCE])
    except ValueError as exc:
        raise ConfigError(f"tune.space: {exc}") from None
    overridden = {parameter_of(kind, name) for name in overrides}
    space = {
        name: dim
        for name, dim in defaults.items()
        if not (aliases_of(kind, name) & set(fixed)) and name not in overridden
    }
    for name, r in overrides.items():
        _check_values(name, r)
        known = defaults.get(parameter_of(kind, name))
        space[name] = (
            Dim.from_range(r, default=known.default) if known is not None else Dim.from_range(r)
        )
    if not space:
        raise ConfigError(
            f"tune: nothing to search: every parameter of the default {TITLES.get(kind, kind)} "
            f"space ({', '.join(defaults)}) is set in params or imbalance; add a range under "
            "tune.space, or remove tune"
        )
    return space


def _check_values(name: str, r: SearchRange) -> None:
    """ConfigError for a range of values the tree cannot take (the config refuses them when it
    loads; a space built in code is checked here)."""
    try:
        check_search_values(name, r)
    except ValueError as exc:
        raise ConfigError(f"tune.space.{exc}") from None


def split_params(kind: str, values: Mapping[str, Any], fixed: Collection[str]) -> tuple[dict, Any]:
    """Searched values -> (library params with their companions, imbalance or None). A fixed
    alias of a searched parameter takes the searched value too: the library reads one of them."""
    params = {k: v for k, v in values.items() if k != IMBALANCE}
    for name, value in list(params.items()):
        params.update(dict.fromkeys(aliases_of(kind, name) & set(fixed), value))
    searched = {parameter_of(kind, k) for k in params}
    for name, extra in COMPANIONS.get(kind, {}).items():
        if name in searched:  # under any of its names (LightGBM bags with subsample too)
            params.update({k: v for k, v in extra.items() if k not in fixed})
    return params, values.get(IMBALANCE)


def baseline(space: Mapping[str, Dim]) -> dict[str, Any]:
    """The library defaults of the searched parameters: the untuned model, tried first."""
    return {name: dim.default for name, dim in space.items() if dim.default is not None}
