"""The champion, and the challengers: one section per registered kind, each kind's own ``Params``.

``ChallengerConfig`` is the union of the registered kinds' sections, discriminated on ``kind``;
``KIND_CONFIGS`` maps each kind to its section. Both follow the registry
(``challengers.models.registry``), a kind registered later included.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema

from challengers.config.base import (
    Strict,
    metric_from_key,
    metric_from_value,
    resolve_path,
    unique_names,
)
from challengers.models import registry
from challengers.models.params import (
    ChallengerParams,
    ModelSpec,
    SearchRange,
    TuneConfig,
    model_name,
)

__all__ = [
    "KIND_CONFIGS",
    "ChallengerConfig",
    "ChampionConfig",
    "ModelSpec",  # the kinds' shared sections, re-exported
    "SearchRange",
    "TuneConfig",
]

KIND_CONFIGS: dict[str, type[ChallengerParams]] = {}  # kind -> its section, as registered


def _follow_registry() -> None:
    KIND_CONFIGS.clear()
    KIND_CONFIGS.update({kind: cls.Params for kind, cls in registry.KINDS.items()})


_follow_registry()
registry.on_change(_follow_registry)


class _RegisteredKinds:
    """pydantic: a challenger section is validated as the ``Params`` of the kind it names; the
    schema is built from the registry each time the models holding it are (re)built."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        union: Any = Union[tuple(KIND_CONFIGS.values())]  # noqa: UP007 (built at run time)
        return handler.generate_schema(Annotated[union, Field(discriminator="kind")])


if TYPE_CHECKING:
    ChallengerConfig = ChallengerParams
else:
    ChallengerConfig = Annotated[ChallengerParams, _RegisteredKinds]


class ChampionConfig(Strict):
    name: str = "champion"
    model: str | None = None
    score: str | None = None
    retrain: ModelSpec | None = None
    features: list[str] | None = None
    claimed: dict[str, float] = {}

    _name = field_validator("name")(model_name)
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
        """Each claim under its metric's key as the run logs it: a documented
        ``precision_at_alerts_0.020`` (or ``@0.02``) is the evaluated ``precision_at_alerts_0.02``,
        which it would otherwise never be compared with."""
        canonical: dict[str, float] = {}
        for key, claim in value.items():
            spec = metric_from_value(key) if "@" in key else metric_from_key(key)
            if spec.key in canonical:
                raise ValueError(f"{key}: claimed twice (as {spec.key}); keep one")
            canonical[spec.key] = claim
            metric = spec.info
            if not math.isfinite(claim):
                raise ValueError(
                    f"{key}: the claimed figure is {claim}; write the documented number"
                )
            if metric.unit_range and not 0.0 <= claim <= 1.0:
                percent = f"; a percentage is written as a fraction ({claim:g}% is {claim / 100:g})"
                raise ValueError(
                    f"{key}: {claim:g} is outside 0..1, where {metric.name} lies"
                    + (percent if 10.0 <= claim <= 100.0 else "")
                )
        return canonical
