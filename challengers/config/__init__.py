"""The experiment config: frozen pydantic models of DESIGN.md's schema, and ``load_config``.

Unknown keys are errors that name the key, its file:line and the closest valid key. Paths are resolved
relative to the config file when it loads, so everything below works with absolute paths.

``base`` holds what the sections share, ``sections`` the data, split, evaluation and tracking
sections, ``models`` the champion and one class per challenger kind, ``experiment`` the whole and
its cross-section checks, ``loading`` the safe YAML reader and the error messages.
"""

from challengers.config.base import Strict
from challengers.config.experiment import ExperimentConfig
from challengers.config.loading import MAX_VALUES, load_config, parse_config
from challengers.config.models import (
    KIND_CONFIGS,
    ChallengerConfig,
    ChampionConfig,
    ModelSpec,
    SearchRange,
    TuneConfig,
)
from challengers.config.sections import (
    AuditThresholds,
    CostConfig,
    DataConfig,
    DiagnosticsConfig,
    EngineConfig,
    EvaluationConfig,
    FindingsConfig,
    GovernanceConfig,
    OperatingPoint,
    SplitConfig,
    TrackingConfig,
    Window,
)

__all__ = [
    "KIND_CONFIGS",
    "MAX_VALUES",
    "AuditThresholds",
    "ChallengerConfig",
    "ChampionConfig",
    "CostConfig",
    "DataConfig",
    "DiagnosticsConfig",
    "EngineConfig",
    "EvaluationConfig",
    "ExperimentConfig",
    "FindingsConfig",
    "GovernanceConfig",
    "ModelSpec",
    "OperatingPoint",
    "SearchRange",
    "SplitConfig",
    "Strict",
    "TrackingConfig",
    "TuneConfig",
    "Window",
    "load_config",
    "parse_config",
]
