"""The governance parts of a run's result: the inventory block, the champion described, the
conclusion with its rating rules, the monitoring plan."""

from __future__ import annotations

import json
from typing import Any

from challengers.config import ExperimentConfig
from challengers.experiment_result import ExperimentResult
from challengers.findings.conclusion import conclude
from challengers.findings.monitoring import monitoring_plan
from challengers.pipeline.fitting import Fitted
from challengers.results import ChampionCard

LIBRARY = {"lightgbm": "LightGBM", "xgboost": "XGBoost"}


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
            primary=result.primary_key,
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
        library = LIBRARY.get(c.retrain.kind, c.retrain.kind)
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
    kind = type(booster).__module__.split(".")[0]
    if kind == "xgboost":
        config = json.loads(booster.save_config())["learner"]
        depth = max(
            (_depth(json.loads(t)) for t in booster.get_dump(dump_format="json")), default=0
        )
        params = {
            "objective": config["objective"]["name"],
            "booster": config["learner_train_param"].get("booster"),
            "boosted_rounds": booster.num_boosted_rounds(),
            "max_tree_depth_observed": depth,
            "features": booster.num_features(),
        }
        return (
            "XGBoost",
            params,
            (
                "the model file; XGBoost does not store training hyperparameters such as the "
                "learning rate: ask the first line for them"
            ),
        )
    if kind == "lightgbm":
        text = booster.model_to_string()
        section = text.partition("parameters:")[2].partition("end of parameters")[0]
        params = {
            k.strip("[ "): v.strip("] ")
            for k, _, v in (line.partition(":") for line in section.splitlines() if ":" in line)
        }
        params["boosted_rounds"] = booster.num_trees()
        return "LightGBM", params, "the model file's parameters section"
    return "unknown", {}, "not readable from the model"


def _depth(node: dict[str, Any]) -> int:
    children = node.get("children") or []
    return 1 + max((_depth(c) for c in children), default=-1) if children else 0
