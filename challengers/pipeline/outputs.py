"""What a run leaves behind: model results, predictions, saved models, the resolved config, the
report and comparison.json, and the MLflow parent and child runs."""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec

import numpy as np
import polars as pl
import yaml

from challengers.audit import AuditResult
from challengers.audit.runner import draw_chart, list_chart
from challengers.config import ExperimentConfig
from challengers.config.sections import RegisterConfig
from challengers.data.frames import DAY
from challengers.data.split import INPUT_EXAMPLE_ROWS
from challengers.errors import EnvironmentFailure
from challengers.evaluation.evaluate import ModelEvaluation
from challengers.experiment_result import ExperimentResult
from challengers.figures import plots_wanted
from challengers.files import (
    environment_failure,
    write_atomic,
    write_json,
    write_parquet_atomic,
)
from challengers.models import trees
from challengers.pipeline.fitting import Fitted
from challengers.pipeline.plan import DAY_COLUMN, ROW, SCORE_PREFIX
from challengers.pipeline.prepare import Prepared
from challengers.pipeline.registering import best_challenger
from challengers.pipeline.resume import CHECKPOINT
from challengers.replication.records import CONFIG_ARTIFACT, FINGERPRINT_ARTIFACT
from challengers.report import start_report
from challengers.report.apart import draw_apart
from challengers.results import ModelResult
from challengers.tracking import DatasetRef, ModelRun, Tracker, flatten_params, listed
from challengers.tracking.registry import register_models


def model_result(f: Fitted, evaluation: object) -> ModelResult:
    result = ModelResult(
        name=f.plan.name,
        role="champion" if f.plan.role == "champion" else "challenger",
        kind=f.plan.kind,
        status="ok" if f.scores is not None else "failed",
        error=f.error,
        fit_seconds=f.fit_seconds,
        predict_seconds=f.predict_seconds,
        training=f.training,
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


def write_test_outputs(
    cfg: ExperimentConfig,
    prepared: Prepared,
    fitted: list[Fitted],
    out: Path,
    audit: AuditResult | None,
) -> None:
    """``predictions.parquet`` and each scored model's ``scores_sample.csv``: what the outputs
    read of the test rows, written once every model has scored, before the evaluation. The
    held test frame then lets go of the rows' keys and entities (:func:`evaluate`: 16 bytes a
    test row through the evaluation's and the diagnostics' peaks), and a run stopped later
    keeps every model's scores."""
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
    where = out / "predictions.parquet"
    try:
        write_parquet_atomic(predictions, where)
    except OSError as exc:
        failure = environment_failure(exc) or EnvironmentFailure(f"cannot write {where}: {exc}")
        raise failure from exc
    del predictions
    spec, personal = prepared.plan.spec, personal_columns(audit)
    keep = [c for c in (spec.entity, spec.target) if c and c not in personal]
    at = np.arange(test.height)
    if test.height > SCORES_SAMPLE_ROWS:  # the rows DataFrame.sample(n, seed) takes
        at = at[pl.Series(at).sample(SCORES_SAMPLE_ROWS, seed=cfg.seed).to_numpy()]
    rows = test.select(keep)[at]
    for f in fitted:
        if f.scores is not None:
            sample = rows.with_columns(pl.Series("score", f.scores[at]))
            directory = out / "models" / f.plan.name
            directory.mkdir(parents=True, exist_ok=True)
            write_atomic(directory / "scores_sample.csv", spreadsheet_safe(sample).write_csv())


def write_outputs(
    cfg: ExperimentConfig,
    prepared: Prepared,
    fitted: list[Fitted],
    result: ExperimentResult,
    out: Path,
) -> None:
    """The saved models and the resolved config (the test rows' outputs are written before the
    evaluation: :func:`write_test_outputs`)."""
    for f in fitted:
        directory = out / "models" / f.plan.name
        if f.model is not None and f.model.is_fitted and not (directory / CHECKPOINT).exists():
            directory.mkdir(parents=True, exist_ok=True)  # (checkpointed models are saved)
            with contextlib.suppress(NotImplementedError):  # kinds without a native format
                f.model.save(directory)
    write_atomic(
        out / "config.resolved.yaml",
        yaml.safe_dump(resolved_config(cfg), sort_keys=False),
    )


def resolved_config(cfg: ExperimentConfig) -> dict[str, Any]:
    """The config with every default written out, as `challenge replicate` replays it, except a
    tuned tree's ``imbalance`` the config left unset: set, it is fixed and not searched
    (``tuning.search.fixed_params``), and every replay of a tuned run searched a smaller space
    than the run did, and differed."""
    dump = cfg.model_dump(mode="json")
    for c, written in zip(cfg.challengers, dump["challengers"], strict=True):
        tuned = c.tuning()
        if tuned is None or "imbalance" in tuned[1].model_fields_set:
            continue
        # the section holding the tree's params: the challenger's own, or its model:
        section = written if tuned[1] is c else written.get("model")
        if isinstance(section, dict):
            section.pop("imbalance", None)
    return dump


P = ParamSpec("P")

SCORES_SAMPLE_ROWS = 5_000  # test rows whose scores each child run keeps (seeded)

# what a spreadsheet reads as the start of a formula in a cell (OWASP's CSV injection list)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each text value that a spreadsheet would run as a formula (an entity id
    '=HYPERLINK(...)' from the delivered data, opened in Excel by the validator) prefixed with a
    quote, which shows it as text; numbers and other values as they are."""
    texts = [c for c, t in frame.schema.items() if t in (pl.String, pl.Categorical)]
    return frame.with_columns(
        pl.when(_formula_like(pl.col(c).cast(pl.String)))
        .then(pl.lit("'") + pl.col(c).cast(pl.String))
        .otherwise(pl.col(c).cast(pl.String))
        .alias(c)
        for c in texts
    )


def _formula_like(text: pl.Expr) -> pl.Expr:
    return pl.any_horizontal(text.str.starts_with(start) for start in FORMULA_STARTS).fill_null(
        False
    )


def _with_gc_frozen(log: Callable[P, None]) -> Callable[P, None]:
    """``log`` with the objects that exist when it starts (the libraries' modules and the run's
    records, over a million) left out of the cyclic garbage collector's passes: drawing and
    logging make objects fast enough for it to run its full pass, which scanned all of them
    (0.5-1 s) and found next to nothing. They are collected as usual again afterwards."""

    @functools.wraps(log)
    def frozen(*args: P.args, **kwargs: P.kwargs) -> None:
        gc.freeze()
        try:
            log(*args, **kwargs)
        finally:
            gc.unfreeze()

    return frozen


@_with_gc_frozen
def log_run(
    cfg: ExperimentConfig,
    prepared: Prepared,
    tracker: Tracker,
    fitted: list[Fitted],
    result: ExperimentResult,
    out: Path,
    register: RegisterConfig | None = None,
) -> None:
    """The report, the models' plots and the MLflow runs (the collector kept off the objects
    made before them)."""
    summary = prepared.split.summary(prepared.plan.spec.target)
    datasets = _datasets(cfg, prepared)
    by_name = {f.plan.name: f for f in fitted}
    personal = personal_columns(result.audit)
    hyperparameters: dict[str, None] = {}
    from challengers.report.model_plots import write_model_plots

    audit = result.audit

    def audit_chart() -> None:
        if audit is not None:
            draw_chart(audit, prepared.plan.windows)

    def model_plots() -> None:
        for f in fitted:
            if f.scores is not None:
                write_model_plots(result, f.plan.name, out / "models" / f.plan.name / "plots")

    # the audit's chart and the models' own plots in child processes while this one draws the
    # report's (plots/, report.md, report.html); then the browser prints report.pdf (seconds,
    # most of them its start) while the models' runs are logged. No child where no plot is
    # drawn (CHALLENGE_PLOTS=off).
    if audit is not None:
        list_chart(audit)
    drawn = plots_wanted()
    with (
        draw_apart(audit_chart if drawn else None) as chart,
        draw_apart(model_plots if drawn else None) as drawing,
        start_report(result, out, figures=chart.wait) as report,
    ):
        drawing.wait()
        for m in result.models:
            run = _model_run(cfg, prepared, by_name[m.name], m, result, out, personal)
            m.run_id = tracker.log_model_run(run, datasets)
            hyperparameters.update(dict.fromkeys(flatten_params(run.params)))
        registered = _register(register, tracker, result)
        view = tracker.share_view(
            [
                p
                for p in hyperparameters
                if p not in ("features", "seed", "threads", "path") and not p.startswith("source.")
            ],
            result.metric_keys,
        )
        reports = report.finish()
    write_json(out / "comparison.json", result.to_comparison())
    tracker.log_parent(
        params=_parent_params(cfg),
        metrics={
            **{k: float(v) for k, v in summary.items()},
            **_agreement_metrics(result.champion_agreement),
        },
        tags={
            "findings_high": str(sum(f.severity == "high" for f in result.findings)),
            **registered,
            **({"mlflow_view": view} if view else {}),
        },
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


def _datasets(cfg: ExperimentConfig, prepared: Prepared) -> list[DatasetRef]:
    """The training and test windows as MLflow dataset inputs, with the data's digest and schema."""
    schema = prepared.plan.schema
    return [
        DatasetRef(
            cfg.data.path or f"spark-table://{cfg.data.table}",
            f"{cfg.name}-{context}",
            prepared.fingerprint[:16],
            context,
            schema={c: str(schema[c]) for c in prepared.plan.columns if c in schema},
        )
        for context in ("train", "test")
    ]


def _parent_params(cfg: ExperimentConfig) -> dict[str, object]:
    """The experiment's own settings, as the parent run's params."""
    return {
        "seed": cfg.seed,
        "train": f"{cfg.split.train.start}..{cfg.split.train.end}",
        "test": f"{cfg.split.test.start}..{cfg.split.test.end}",
        "label_delay_days": cfg.split.label_delay_days,
        "exclude_known_frauds": cfg.split.exclude_known_frauds,
        "metrics": ",".join(cfg.evaluation.metrics),
        "bootstrap": cfg.evaluation.bootstrap,
        "champion": cfg.champion.name,
        "threads": cfg.threads,
    }


def _register(
    register: RegisterConfig | None, tracker: Tracker, result: ExperimentResult
) -> dict[str, str]:
    """Register the challengers' logged models; the parent-run tags that say what was done."""
    if register is None or tracker.parent_id is None:
        return {}
    ids = {
        m.name: tracker.model_ids[m.name] for m in result.challengers if m.name in tracker.model_ids
    }
    best = best_challenger(result.findings)
    versions = register_models(
        tracker.uri, register.name, ids, run_id=tracker.parent_id, alias=register.alias, best=best
    )
    tags = {f"registered.{model}": f"{register.name}/{v}" for model, v in versions.items()}
    if best in versions:
        tags["registered.alias"] = (
            f"{register.name}@{register.alias} -> {best} (version {versions[best]})"
        )
    return tags


def _model_run(
    cfg: ExperimentConfig,
    prepared: Prepared,
    f: Fitted,
    m: ModelResult,
    result: ExperimentResult,
    out: Path,
    personal: set[str],
) -> ModelRun:
    """A model's child run: params, metrics, its own plots and scores sample, the model."""
    tuned = f.tuning
    files = _model_files(f, out / "models" / m.name)
    source = f.plan.source  # an MLflow champion: where it came from, not the local cache path
    params = {**m.params, **({"path": source["source.uri"]} if source else {}), **source}
    return ModelRun(
        name=m.name,
        role=m.role,
        kind=m.kind,
        status=m.status,
        params={
            **params,
            "features": listed(m.features, "comparison.json lists them all"),
            **(tuned.mlflow_params() if tuned else {}),
        },
        metrics={
            **(m.flat_metrics() if m.status == "ok" else {}),
            **(tuned.mlflow_metrics() if tuned else {}),
        },
        tags={
            **source,
            **({"error": m.error} if m.error else {}),
            **({"training": m.training} if m.training else {}),
        },
        artifacts=[*(tuned.artifacts if tuned else []), *files],
        children=tuned.nested_runs() if tuned else [],
        **_native_model(f),
        inputs={c: str(prepared.plan.schema.get(c, pl.Float64)) for c in m.features},
        example=_input_example(prepared, m.features, personal),
    )


def _model_files(f: Fitted, directory: Path) -> list[Path]:
    """The model's own plots (``plots/``, drawn by :func:`log_run`) and the seeded sample of its
    test scores with the label and entity (``scores_sample.csv``, written by
    :func:`write_test_outputs`); nothing for a model that did not score."""
    if f.scores is None:
        return []
    return [directory / "plots", directory / "scores_sample.csv"]


def _input_example(
    prepared: Prepared, features: list[str], personal: set[str]
) -> list[dict[str, object]]:
    """A few training rows of the model's inputs, as its input example; none when an input is
    derived (not in the data) or holds personal data."""
    train = prepared.split.examples
    if not features or any(c not in train.columns or c in personal for c in features):
        return []
    return train.select(features).head(INPUT_EXAMPLE_ROWS).to_dicts()


def personal_columns(audit: AuditResult | None) -> set[str]:
    """Columns the data audit (an AuditResult, or None) found holding personal data: never
    copied into MLflow."""
    rows = audit.tables.get("personal_data", []) if audit else []
    return {str(r["column"]) for r in rows if "column" in r}


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
    tags = {
        "config_hash": cfg.fingerprint(),
        "data_fingerprint": prepared.fingerprint,
        "role": "experiment",
        "threads": str(cfg.threads),
        "engine": cfg.engine.kind,  # where the rows were loaded and fingerprinted
        **({"spark_master": cfg.engine.master} if cfg.engine.master else {}),
        **prepared.engine_tags,  # spark_version, and the master the session runs on
        **{k: v for k, v in env.items() if k not in ("executable", "git_commit")},
    }
    commit = env.get("git_commit")
    if commit:  # MLflow's own tag (its UI shows it); "+dirty": the working tree was modified
        tags["mlflow.source.git.commit"] = commit.removesuffix("+dirty")
        tags["git_dirty"] = str(commit.endswith("+dirty")).lower()
    return tags


def experiment_description(cfg: ExperimentConfig) -> str:
    """The experiment's note in MLflow: the config's ``description``, else what it validates."""
    if cfg.description:
        return cfg.description
    names = ", ".join(c.name for c in cfg.challengers) or "no challenger"
    return (
        f"{cfg.name}: independent validation of the champion '{cfg.champion.name}' "
        f"against {names} (challenge run)"
    )


def _agreement_metrics(agreement: Mapping[str, object] | None) -> dict[str, float]:
    """The champion's re-scoring agreement as parent-run metrics (finite values only)."""
    out = {}
    for key in ("max_abs_diff", "share_differ", "spearman"):
        value = (agreement or {}).get(key)
        if isinstance(value, int | float) and np.isfinite(value):
            out[f"champion_score_{key}"] = float(value)
    return out
