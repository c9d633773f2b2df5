"""What a run leaves behind: model results, predictions, saved models, the resolved config, the
report and comparison.json, and the MLflow parent and child runs."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from challengers.config import ExperimentConfig
from challengers.data.frames import DAY
from challengers.errors import EnvironmentFailure
from challengers.evaluation.evaluate import ModelEvaluation
from challengers.experiment_result import ExperimentResult
from challengers.files import write_atomic, write_json, write_parquet_atomic
from challengers.models import trees
from challengers.pipeline.checkpoint import CHECKPOINT
from challengers.pipeline.fitting import Fitted
from challengers.pipeline.plan import DAY_COLUMN, ROW, SCORE_PREFIX
from challengers.pipeline.prepare import Prepared
from challengers.replication.records import CONFIG_ARTIFACT, FINGERPRINT_ARTIFACT
from challengers.report import write_report
from challengers.results import ModelResult
from challengers.tracking import DatasetRef, ModelRun, Tracker


def model_result(f: Fitted, evaluation: object) -> ModelResult:
    result = ModelResult(
        name=f.plan.name,
        role="champion" if f.plan.role == "champion" else "challenger",
        kind=f.plan.kind,
        status="ok" if f.scores is not None else "failed",
        error=f.error,
        fit_seconds=f.fit_seconds,
        predict_seconds=f.predict_seconds,
        # kinds that derive features (graph) report every input the model was fitted on
        features=list(f.model.features_ if f.model and f.model.is_fitted else f.plan.features),
    )
    if f.tuning is not None:
        result.tuning = f.tuning.summary()
    if f.model is not None:
        result.params = _jsonable_params(f.model.get_params())
        result.importance = f.model.feature_importance() if f.model.is_fitted else {}
    if isinstance(evaluation, ModelEvaluation):
        result.metrics = evaluation.metrics
        result.ci = evaluation.ci
        result.delta_vs_champion = dict(evaluation.delta)
    return result


def _jsonable_params(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if (
            isinstance(v, str | int | float | bool)
            or v is None
            or isinstance(v, dict | list | tuple)
        ):
            out[k] = v
        else:
            out[k] = str(v)
    return out


def write_outputs(
    cfg: ExperimentConfig,
    prepared: Prepared,
    fitted: list[Fitted],
    result: ExperimentResult,
    out: Path,
) -> None:
    test = prepared.split.test
    key = prepared.plan.spec.id
    columns = [pl.col(key)] if key else [pl.int_range(pl.len()).alias(ROW)]
    predictions = test.select(
        [*columns, pl.col(DAY).alias(DAY_COLUMN), pl.col(prepared.plan.spec.target)]
    )
    for f in fitted:
        if f.scores is not None:  # own columns: a model named like a data column replaces nothing
            predictions = predictions.with_columns(
                pl.Series(f"{SCORE_PREFIX}{f.plan.name}", f.scores)
            )
        directory = out / "models" / f.plan.name
        if f.model is not None and f.model.is_fitted and not (directory / CHECKPOINT).exists():
            directory.mkdir(parents=True, exist_ok=True)  # (checkpointed models are saved)
            with contextlib.suppress(NotImplementedError):  # kinds without a native format
                f.model.save(directory)
    try:
        write_parquet_atomic(predictions, out / "predictions.parquet")
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write {out / 'predictions.parquet'}: {exc}") from exc
    write_atomic(
        out / "config.resolved.yaml",
        yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
    )


def log_run(
    cfg: ExperimentConfig,
    prepared: Prepared,
    tracker: Tracker,
    fitted: list[Fitted],
    result: ExperimentResult,
    out: Path,
) -> None:
    summary = prepared.split.summary(prepared.plan.spec.target)
    datasets = [
        DatasetRef(cfg.data.path, f"{cfg.name}-{context}", prepared.fingerprint[:16], context)
        for context in ("train", "test")
    ]
    by_name = {f.plan.name: f for f in fitted}
    for m in result.models:
        f = by_name[m.name]
        tuned = f.tuning
        run = ModelRun(
            name=m.name,
            role=m.role,
            kind=m.kind,
            status=m.status,
            params={
                **m.params,
                "features": ",".join(m.features),
                **(tuned.mlflow_params() if tuned else {}),
            },
            metrics={
                **(m.flat_metrics() if m.status == "ok" else {}),
                **(tuned.mlflow_metrics() if tuned else {}),
            },
            tags={"error": m.error} if m.error else {},
            artifacts=tuned.artifacts if tuned else [],
            children=tuned.nested_runs() if tuned else [],
            **_native_model(f),
        )
        m.run_id = tracker.log_model_run(run, datasets)
    reports = write_report(result, out)  # plots/, report.md, report.html
    write_json(out / "comparison.json", result.to_comparison())
    tracker.log_parent(
        params={
            "seed": cfg.seed,
            "train": f"{cfg.split.train.start}..{cfg.split.train.end}",
            "test": f"{cfg.split.test.start}..{cfg.split.test.end}",
            "label_delay_days": cfg.split.label_delay_days,
            "exclude_known_frauds": cfg.split.exclude_known_frauds,
            "metrics": ",".join(cfg.evaluation.metrics),
            "bootstrap": cfg.evaluation.bootstrap,
            "champion": cfg.champion.name,
            "threads": cfg.threads,
        },
        metrics={
            **{k: float(v) for k, v in summary.items()},
            **_agreement_metrics(result.champion_agreement),
        },
        tags={"findings_high": str(sum(f.severity == "high" for f in result.findings))},
        artifacts=[
            out / "comparison.json",
            *reports,
            out / "config.resolved.yaml",
            out / CONFIG_ARTIFACT,
            out / FINGERPRINT_ARTIFACT,
            *(result.audit.files() if result.audit else []),
        ],
        datasets=datasets,
    )


def _native_model(f: Fitted) -> dict[str, Any]:
    """The ModelRun fields logging a fitted booster with its library's MLflow flavour."""
    booster = f.model.native_model() if f.model is not None and f.model.is_fitted else None
    lib = trees.library_of(booster)
    if lib is None:
        return {}
    return {
        "native_model": booster,
        "flavor": lib.flavor,
        "flavor_options": dict(lib.flavor_options),
        "requirements": [lib.requirement()],
    }


def parent_tags(cfg: ExperimentConfig, prepared: Prepared, env: dict[str, str]) -> dict[str, str]:
    return {
        "config_hash": cfg.fingerprint(),
        "data_fingerprint": prepared.fingerprint,
        "role": "experiment",
        "threads": str(cfg.threads),
        "engine": cfg.engine.kind,  # where the rows were loaded and fingerprinted
        **({"spark_master": cfg.engine.master} if cfg.engine.master else {}),
        **{k: v for k, v in env.items() if k != "executable"},
    }


def _agreement_metrics(agreement: Mapping[str, object] | None) -> dict[str, float]:
    """The champion's re-scoring agreement as parent-run metrics (finite values only)."""
    out = {}
    for key in ("max_abs_diff", "share_differ", "spearman"):
        value = (agreement or {}).get(key)
        if isinstance(value, int | float) and np.isfinite(value):
            out[f"champion_score_{key}"] = float(value)
    return out
