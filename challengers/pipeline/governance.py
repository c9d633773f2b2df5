"""The governance parts of a run's result: the inventory block, the champion described, the
conclusion with its rating rules, the monitoring plan."""

from __future__ import annotations

from typing import Any

from challengers.config import ExperimentConfig
from challengers.experiment_result import ExperimentResult
from challengers.findings.conclusion import conclude
from challengers.findings.monitoring import monitoring_plan
from challengers.models.trees import LIBRARIES, library_of
from challengers.pipeline.fitting import Fitted
from challengers.results import ChampionCard


def add_governance(result: ExperimentResult, cfg: ExperimentConfig, champion: Fitted) -> None:
    """Fill the governance fields of ``result`` (its findings must be final)."""
    result.governance = cfg.governance.fields()
    result.conclusion = conclude(result.findings, result.champion.name)
    result.champion_card = champion_card(cfg, champion)
    if result.stability is not None and result.operating_point is not None:
        d = result.data
        result.monitoring = monitoring_plan(
            result.stability,
            result.operating_point,
            result.findings,
            cfg.evaluation.findings,
            champion=result.champion.name,
            champion_inputs=result.champion.features,
            primary=result.primary_key,
            primary_higher_is_better=result.higher_is_better.get(result.primary_key, True),
            label_delay_days=cfg.split.label_delay_days,
            fraud_rates=(
                d.positives_train / max(1, d.rows_train),
                d.positives_test / max(1, d.rows_test),
            ),
        )


def champion_card(cfg: ExperimentConfig, champion: Fitted) -> ChampionCard:
    """Where the champion comes from, its method and hyperparameters, its inputs and window."""
    c = cfg.champion
    window = "not known (the model was delivered trained; its documentation should state it)"
    if c.retrain is not None:
        source = f"retrained here from the documented spec ({c.retrain.kind})"
        library = _title(c.retrain.kind)
        params = dict(c.retrain.params)
        window = f"{cfg.split.train.start}..{cfg.split.train.end} (retrained here)"
        origin = "the documented spec (champion.retrain.params); library defaults otherwise"
    elif c.model is not None:
        source = f"model {'from the MLflow registry' if ':/' in c.model else 'file'} `{c.model}`"
        library, params, origin = native_hyperparameters(
            champion.model.native_model() if champion.model else None
        )
    else:
        source, library, params = f"production scores in column `{c.score}`", "unknown", {}
        origin = "not available: only the scores were delivered"
    if c.score and (c.model or c.retrain):
        source += f", checked against the production scores in `{c.score}`"
    return ChampionCard(
        name=c.name,
        source=source,
        method=champion.plan.kind,
        library=library,
        hyperparameters=params,
        hyperparameters_from=origin,
        features=list(champion.plan.features),
        training_window=window,
    )


def native_hyperparameters(booster: Any) -> tuple[str, dict[str, Any], str]:
    """(library, hyperparameters, where they come from) of a native booster."""
    tree_library = library_of(booster)
    if tree_library is None:
        return "unknown", {}, "not readable from the model"
    return (tree_library.title, *tree_library.hyperparameters(booster))


def _title(kind: str) -> str:
    """How people write a tree library's name ("LightGBM"); other kinds as they are."""
    return LIBRARIES[kind].title if kind in LIBRARIES else kind
