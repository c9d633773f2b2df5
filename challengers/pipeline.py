"""The one place that sees the whole config: config → data → split → models → evaluation →
comparison → findings → tracking and report."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from challengers import data_checks, interrupts, registry
from challengers.agreement import check_champion
from challengers.analysis.operating import Budget, resolve_budget
from challengers.analysis.suite import AnalysisInput, Settings, analyse
from challengers.audit import AuditResult
from challengers.audit.runner import audit_plan
from challengers.checkpoint import (
    CHECKPOINT,
    Checkpoints,
    interrupted_error,
    require_resumable,
)
from challengers.config import ExperimentConfig
from challengers.data import DAY, check_finite, check_target, time_range
from challengers.data_checks import check_test_rows
from challengers.environment import describe
from challengers.errors import (
    ChallengeError,
    ConfigError,
    DataError,
    EnvironmentFailure,
    ModelError,
)
from challengers.evaluate import ModelEvaluation, TestRows, evaluate_models
from challengers.findings import FindingContext, derive_findings
from challengers.fingerprint import DataFingerprint, fingerprint_frame
from challengers.metrics import METRICS, Cost
from challengers.models.base import BaseChallenger
from challengers.models.champion import ScoreColumnChampion
from challengers.plan import ModelPlan, Plan, make_plan
from challengers.progress import Progress, SilentProgress
from challengers.records import CONFIG_ARTIFACT, FINGERPRINT_ARTIFACT, write_replay_files
from challengers.report import write_report
from challengers.resources import environment_failure, write_parquet_atomic
from challengers.results import (
    SEVERITIES,
    DataSummary,
    DeltaResult,
    ExperimentResult,
    Finding,
    ModelResult,
    write_atomic,
    write_json,
)
from challengers.split import Split, split
from challengers.tracking import DatasetRef, ModelRun, Tracker, check_reachable, resolve_uri
from challengers.tuning import TuneResult
from challengers.twins import TwinScores, compare_with_twin, score_twin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    output_dir: Path | None = None
    only: tuple[str, ...] = ()
    resume: bool = False
    allow_pickle: bool = False
    tracking_uri: str | None = None
    config_text: str | None = None  # the YAML as written, logged so the run replays from MLflow
    config_file: str | None = None  # where it was: its directory anchors the relative paths
    tags: Mapping[str, str] = field(default_factory=dict)  # extra parent-run tags
    verify: Callable[[Prepared], None] | None = None  # after loading, before training (replicate)


@dataclass
class Prepared:
    """The data of a run, loaded, checked and split; what `challenge check` stops at."""

    plan: Plan
    split: Split
    fingerprint: str
    history: pl.DataFrame  # every loaded row, lookback included: what production would know
    data_print: DataFingerprint | None = None  # per-column/chunk digests, rows per window


@dataclass
class Fitted:
    plan: ModelPlan
    model: BaseChallenger | None = None
    scores: np.ndarray | None = None
    train_scores: np.ndarray | None = None  # in-sample: drift (PSI) and the train/test gap
    error: str | None = None
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)
    twin: TwinScores | None = None  # the model without its kind's added features (twins.py)
    tuning: TuneResult | None = None


def prepare(cfg: ExperimentConfig, options: RunOptions, progress: Progress) -> Prepared:
    plan = make_plan(
        cfg,
        only=options.only,
        allow_pickle=options.allow_pickle,
        tracking_uri=options.tracking_uri or cfg.tracking.uri,
    )
    with progress.stage("Loading data"):
        w = plan.windows
        frame = _load(plan)
    parts = split(frame, w, target=plan.spec.target, entity=plan.spec.entity)
    _check_windows(plan, parts)
    feature_columns = sorted({f for m in [plan.champion, *plan.challengers] for f in m.features})
    check_finite(frame, feature_columns, "data.features")
    c = cfg.champion
    check_test_rows(
        parts.test,
        entity=plan.spec.entity,
        amount=plan.spec.amount if cfg.weighs_by_amount else None,
        score=c.score if c.score and c.production_score is None else None,
    )
    used = [c for c in plan.columns if c in frame.columns]
    # every loaded row counts (history and the gap feed features and the known-fraud exclusion)
    windows = {
        "loaded": frame.height,
        "train": parts.train.height,
        "test": parts.test.height,
        "excluded_known_fraud": parts.excluded_rows,
    }
    with progress.stage("Fingerprinting the data"):
        data_print = fingerprint_frame(frame, used, windows=windows, threads=cfg.threads)
    return Prepared(
        plan=plan, split=parts, fingerprint=data_print.digest, history=frame, data_print=data_print
    )


def _load(plan: Plan) -> pl.DataFrame:
    from challengers.data import load_days

    w = plan.windows
    frame = load_days(
        plan.lf, columns=plan.columns, time=plan.spec.time, start=w.first_day, end=w.last_day
    )
    check_target(frame, plan.spec.target)
    return frame


def _check_windows(plan: Plan, parts: Split) -> None:
    w, target = plan.windows, plan.spec.target
    for label, frame, start, end in (
        ("train", parts.train, w.train_start, w.train_end),
        ("test", parts.test, w.test_start, w.test_end),
    ):
        if frame.height == 0:
            lo, hi = time_range(plan.lf, plan.spec.time)
            raise DataError(
                f"split.{label}: the window {start}..{end} has no rows; the data covers "
                f"{lo}..{hi}; move the window inside it"
            )
        positives = int(frame.get_column(target).sum())
        if positives == 0:
            raise DataError(
                f"split.{label}: the window {start}..{end} has {frame.height} rows but no "
                f"frauds ({target} = 1); widen or move the window"
            )
        if positives == frame.height:
            raise DataError(
                f"split.{label}: every row of the window {start}..{end} is a fraud; the target "
                "column is probably wrong"
            )


def check_experiment(cfg: ExperimentConfig, options: RunOptions, progress: Progress) -> dict:
    """Validate the config, the data and the champion without training anything."""
    check_reachable(resolve_uri(options.tracking_uri, cfg.tracking.uri))  # a run would need it
    prepared = prepare(cfg, options, progress)
    summary = prepared.split.summary(prepared.plan.spec.target)
    return {
        **summary,
        "fingerprint": prepared.fingerprint,
        "features": len(prepared.plan.spec.features),
        "champion": prepared.plan.champion.kind,
        "challengers": [f"{m.name} ({m.kind})" for m in prepared.plan.challengers],
        "notes": [*prepared.plan.notes, *data_checks.prepared_notes(prepared)],
    }


def default_output_dir(cfg: ExperimentConfig, kind: str = "") -> Path:
    return Path("runs") / f"{cfg.name}{kind}-{datetime.now():%Y%m%d-%H%M%S}"


def audit_experiment(cfg: ExperimentConfig, options: RunOptions, progress: Progress) -> AuditResult:
    """`challenge audit`: the data audit alone; writes audit.json and its chart."""
    plan = make_plan(
        cfg,
        allow_pickle=options.allow_pickle,
        tracking_uri=options.tracking_uri or cfg.tracking.uri,
    )
    out = options.output_dir or default_output_dir(cfg, "-audit")
    _ensure_writable(out)
    return _audit(cfg, plan, out, progress)


def _audit_in_run(cfg: ExperimentConfig, plan: Plan, out: Path, progress: Progress) -> AuditResult:
    """The audit at the start of a run: a bug in a check is reported, never loses the run."""
    try:
        return _audit(cfg, plan, out, progress)
    except (ChallengeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the message may quote data values: only its type is shown
        log.debug("audit failed:\n%s", traceback.format_exc())
        progress.note(f"data audit failed ({type(exc).__name__}); the run goes on")
        failed = Finding(
            "audit-failed",
            "medium",
            "integrity",
            "The data audit did not complete",
            f"{type(exc).__name__}; run `challenge audit` with --debug to see why.",
        )
        return AuditResult(findings=[failed], tables={}, summary={})


def _audit(cfg: ExperimentConfig, plan: Plan, out: Path, progress: Progress) -> AuditResult:
    return audit_plan(
        plan,
        cfg.evaluation.findings,
        seed=cfg.seed,
        alpha=cfg.evaluation.alpha,
        out=out,
        progress=progress,
    )


def run_experiment(
    cfg: ExperimentConfig,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    *,
    config_dir: Path | None = None,
) -> ExperimentResult:
    """Run the whole job; raise ChallengeError subclasses for bad input or a broken environment."""
    options = options or RunOptions()
    progress = progress or SilentProgress()
    cfg = cfg.resolved()  # threads filled in: logged, and replayed with the same count
    uri = resolve_uri(options.tracking_uri, cfg.tracking.uri)
    check_reachable(uri)  # seconds, before any training
    if options.resume:
        require_resumable(options.output_dir)
    out = options.output_dir or default_output_dir(cfg)
    _ensure_writable(out)
    with interrupts.handled():  # SIGTERM too: runs end KILLED, finished models are kept
        return _start(cfg, options, progress, uri, out, config_dir)


def _start(
    cfg: ExperimentConfig,
    options: RunOptions,
    progress: Progress,
    uri: str,
    out: Path,
    config_dir: Path | None,
) -> ExperimentResult:
    prepared = prepare(cfg, options, progress)
    if options.verify is not None:
        options.verify(prepared)
    store = Checkpoints.open(
        out,
        config_hash=cfg.fingerprint(),
        data_fingerprint=prepared.fingerprint,
        resume=options.resume,
    )
    audit = _audit_in_run(cfg, prepared.plan, out, progress)
    env = describe(config_dir or Path.cwd())
    replay = write_replay_files(out, prepared.data_print, options.config_text, options.config_file)
    if options.only:
        replay["only"] = ",".join(options.only)
    tracker = Tracker(uri)
    tags = {**_parent_tags(cfg, prepared, env), **replay, **store.tags(), **options.tags}
    try:
        store.run_id = tracker.start(cfg.name, out.name, tags)
        result = _run(
            cfg, prepared, tracker, out, progress, env, audit, store=store, resume=options.resume
        )
    except BaseException as exc:
        with interrupts.deferred(reraise=False), contextlib.suppress(Exception):
            tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        if isinstance(exc, KeyboardInterrupt):
            raise interrupted_error(exc, out, options.config_file) from None
        failure = None if isinstance(exc, ChallengeError) else environment_failure(exc)
        if failure is not None:
            raise failure from exc
        raise
    tracker.finish("FINISHED")
    return result


def _run(
    cfg: ExperimentConfig,
    prepared: Prepared,
    tracker: Tracker,
    out: Path,
    progress: Progress,
    env: dict[str, str],
    audit: AuditResult | None = None,
    *,
    store: Checkpoints | None = None,
    resume: bool = False,
) -> ExperimentResult:
    plan, parts = prepared.plan, prepared.split
    threads = cfg.threads or os.cpu_count() or 1
    store = store or Checkpoints(out, cfg.fingerprint(), prepared.fingerprint)
    champion = store.reuse(plan.champion, prepared, progress) or store.keep(
        _fit_champion(cfg, prepared, threads, progress), prepared
    )
    agreement = check_champion(
        cfg.champion, champion.scores, parts.test, cfg.evaluation.findings.score_tolerance
    )
    fitted = [champion]
    for mp in plan.challengers:
        fitted.append(
            store.reuse(mp, prepared, progress)
            or store.keep(
                _fit_challenger(
                    cfg, prepared, mp, threads, progress, tuning=(out / "tuning", resume)
                ),
                prepared,
            )
        )
    ok = [f for f in fitted if f.scores is not None]
    metrics = cfg.evaluation.metric_specs
    cost = Cost(cfg.evaluation.cost.false_positive, cfg.cost_false_negative)
    rows = TestRows.from_frame(
        parts.test, target=plan.spec.target, amount=plan.spec.amount, entity=plan.spec.entity
    )
    assert champion.scores is not None  # a champion that cannot score stops the run
    budget = resolve_budget(
        champion.scores,
        rate=cfg.evaluation.alert_rate,
        threshold=cfg.evaluation.operating_point.threshold,
    )
    with progress.stage(f"Evaluating ({cfg.evaluation.bootstrap} bootstrap replicates)"):
        evaluations = evaluate_models(
            rows,
            {f.plan.name: f.scores for f in ok if f.scores is not None},
            {f.plan.name: bool(f.model and f.model.calibrated) for f in ok},
            champion=champion.plan.name,
            metrics=metrics,
            cost=cost,
            operating_rate=budget.rate,
            bootstrap=cfg.evaluation.bootstrap,
            alpha=cfg.evaluation.alpha,
            seed=cfg.seed,
            resample=cfg.evaluation.resample,
            threads=cfg.threads,
        )
    with progress.stage("Diagnostics: operating point, stability, segments, explanations"):
        analyses = analyse(_analysis_input(cfg, prepared, ok, budget, evaluations))
    models = [_model_result(f, evaluations.get(f.plan.name)) for f in fitted]
    for f, m in zip(fitted, models, strict=True):
        if f.twin is not None and f.scores is not None:
            with progress.stage(f"Comparing {f.plan.name} with its twin"):
                m.twin = compare_with_twin(
                    rows,
                    f.scores,
                    f.twin,
                    calibrated=bool(f.model and f.model.calibrated),
                    metrics=metrics,
                    cost=cost,
                    operating_rate=cfg.evaluation.alert_rate,
                    bootstrap=cfg.evaluation.bootstrap,
                    alpha=cfg.evaluation.alpha,
                    seed=cfg.seed,
                )
    summary = parts.summary(plan.spec.target)
    data = DataSummary(
        fingerprint=prepared.fingerprint,
        source=cfg.data.path,
        features=list(plan.spec.features),
        windows={
            "train": f"{cfg.split.train.start}..{cfg.split.train.end}",
            "test": f"{cfg.split.test.start}..{cfg.split.test.end}",
            "label_delay_days": str(cfg.split.label_delay_days),
        },
        **summary,
    )
    findings = derive_findings(
        FindingContext(
            models=models,
            higher_is_better={m.key: m.info.higher_is_better for m in metrics},
            alpha=cfg.evaluation.alpha,
            claimed=dict(cfg.champion.claimed),
            claim_tolerance=cfg.evaluation.findings.claim_tolerance,
            positives_test=summary["positives_test"],
            gap_days=plan.windows.gap_days,
            label_delay_days=cfg.split.label_delay_days,
            score_agreement=agreement,
            thresholds=cfg.evaluation.findings,
            analyses=analyses,
            metric_keys=tuple(m.key for m in metrics),
        )
    )
    if audit is not None:
        findings = sorted([*findings, *audit.findings], key=lambda f: SEVERITIES.index(f.severity))
    result = ExperimentResult(
        run_id=tracker.parent_id,
        experiment=cfg.name,
        config_hash=cfg.fingerprint(),
        data=data,
        models=models,
        findings=findings,
        metric_keys=[m.key for m in metrics],
        higher_is_better={m.key: METRICS[m.name].higher_is_better for m in metrics},
        alpha=cfg.evaluation.alpha,
        bootstrap=cfg.evaluation.bootstrap,
        operating_alert_rate=budget.rate,
        output_dir=out,
        environment=env,
        claimed=dict(cfg.champion.claimed),
        champion_agreement=agreement.to_json() if agreement else None,
        audit=audit,
        operating_point=analyses.operating_point,
        stability=analyses.stability,
        segments=analyses.segments,
        calibration=analyses.calibration,
        explanations=analyses.explanations,
        curves=analyses.curves,
        thresholds=cfg.evaluation.findings.model_dump(),
    )
    with progress.stage("Writing outputs and logging to MLflow"):
        _write_outputs(cfg, prepared, fitted, result, out)
        _log(cfg, prepared, tracker, fitted, result, out)
    return result


def _analysis_input(
    cfg: ExperimentConfig,
    prepared: Prepared,
    ok: list[Fitted],
    budget: Budget,
    evaluations: dict[str, ModelEvaluation],
) -> AnalysisInput:
    """The diagnostics' plain inputs: frames, scores, fitted models, sizes and thresholds."""
    plan, e = prepared.plan, cfg.evaluation
    d, t = e.diagnostics, e.findings
    return AnalysisInput(
        train=prepared.split.train,
        test=prepared.split.test,
        spec=plan.spec,
        scores={f.plan.name: f.scores for f in ok if f.scores is not None},
        train_scores={f.plan.name: f.train_scores for f in ok if f.train_scores is not None},
        calibrated={f.plan.name: bool(f.model and f.model.calibrated) for f in ok},
        models={f.plan.name: f.model for f in ok if f.model is not None},
        champion=plan.champion.name,
        champion_inputs=plan.champion.features,
        metrics=e.metric_specs,
        cost=Cost(e.cost.false_positive, cfg.cost_false_negative),
        budget=budget,
        train_end=cfg.split.train.end,
        test_start=cfg.split.test.start,
        test_end=cfg.split.test.end,
        bootstrap=e.bootstrap,
        alpha=e.alpha,
        seed=cfg.seed,
        settings=Settings(
            **d.model_dump(),
            **t.model_dump(include=set(Settings.__dataclass_fields__) - set(d.model_dump())),
        ),
        history=prepared.history,
        cost_deltas={  # reused for the savings interval when the run has expected_cost
            n: ev.delta["expected_cost"]
            for n, ev in evaluations.items()
            if "expected_cost" in ev.delta
        },
    )


def _fit_champion(
    cfg: ExperimentConfig, prepared: Prepared, threads: int, progress: Progress
) -> Fitted:
    mp = prepared.plan.champion
    c = cfg.champion
    if c.score and c.production_score is None:
        model: BaseChallenger = ScoreColumnChampion(c.score)
    elif c.retrain:
        model = registry.create(c.retrain.kind, c.retrain, seed=cfg.seed, threads=threads)
    else:
        model = mp.settings  # a loaded NativeModelChampion
    with progress.stage(f"Champion {mp.name} ({mp.kind})"):
        try:
            return _fit_and_score(mp, model, prepared)
        except ChallengeError:
            raise
        except Exception as exc:
            section = "champion.retrain.params" if c.retrain else "champion.model"
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ModelError(
                f"champion '{mp.name}' could not be {'trained' if c.retrain else 'scored'}: "
                f"{type(exc).__name__}: {first}; check {section}"
            ) from exc


def _fit_challenger(
    cfg: ExperimentConfig,
    prepared: Prepared,
    mp: ModelPlan,
    threads: int,
    progress: Progress,
    *,
    tuning: tuple[Path, bool] | None = None,  # the study directory, and whether to resume
) -> Fitted:
    try:
        model = registry.create(mp.kind, mp.settings, seed=cfg.seed, threads=threads)
        tuned = _tune(cfg, prepared, mp, model, progress, tuning) if tuning else None
        with progress.stage(f"Challenger {mp.name} ({mp.kind})"):
            fitted = _fit_and_score(mp, tuned.model if tuned else model, prepared)
        fitted.tuning = tuned
        return fitted
    except (KeyboardInterrupt, EnvironmentFailure):
        raise
    except Exception as exc:  # one challenger failing never loses the others
        log.debug("challenger %s failed:\n%s", mp.name, traceback.format_exc())
        message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        progress.note(f"challenger '{mp.name}' failed: {message}")
        return Fitted(plan=mp, error=message)


def _tune(
    cfg: ExperimentConfig,
    prepared: Prepared,
    mp: ModelPlan,
    model: BaseChallenger,
    progress: Progress,
    tuning: tuple[Path, bool],
) -> TuneResult | None:
    """Tune the challenger when its config has ``tune:`` (its own progress stage)."""
    from challengers.config import tuned_section
    from challengers.tuning import TuneTask, fixed_params, tune

    section = tuned_section(mp.settings)
    if section is None:
        return None
    directory, resume = tuning
    task = TuneTask(
        name=mp.name,
        config=section[0],
        fixed=fixed_params(section[1]),
        train=prepared.split.train,
        spec=prepared.plan.spec.with_features(mp.features),
        windows=prepared.plan.windows,
        directory=directory,
        history=prepared.history,
        cost=Cost(cfg.evaluation.cost.false_positive, cfg.cost_false_negative),
        operating_rate=cfg.evaluation.alert_rate,
        seed=cfg.seed,
        resume=resume,
        data_fingerprint=prepared.fingerprint,
    )
    return tune(model, task, progress)


def _fit_and_score(mp: ModelPlan, model: BaseChallenger, prepared: Prepared) -> Fitted:
    spec = prepared.plan.spec.with_features(mp.features)
    parts, history = prepared.split, prepared.history
    model.fit(parts.train, spec, history=history)
    started = time.perf_counter()
    scores = model.predict_score(parts.test, history=history)
    predict_seconds = time.perf_counter() - started
    if not np.all(np.isfinite(scores)):
        bad = int(np.count_nonzero(~np.isfinite(scores)))
        raise ValueError(f"{bad} scores are NaN or infinite")
    train_scores = _score_training(mp, model, prepared)
    return Fitted(
        plan=mp,
        model=model,
        scores=scores,
        train_scores=train_scores,
        fit_seconds=getattr(model, "fit_seconds_", 0.0),
        predict_seconds=predict_seconds,
        twin=score_twin(model, parts.test, history),
    )


def _score_training(mp: ModelPlan, model: BaseChallenger, prepared: Prepared) -> np.ndarray | None:
    """In-sample scores, for drift and the train/test gap. A model that cannot score its training
    window (e.g. production scores not logged then) loses only those diagnostics."""
    try:
        scores = model.predict_score(prepared.split.train, history=prepared.history)
    except Exception as exc:
        log.warning(
            "%s: no training-window scores (%s); drift and gap diagnostics skip it", mp.name, exc
        )
        return None
    return scores if np.all(np.isfinite(scores)) else None


def _model_result(f: Fitted, evaluation: object) -> ModelResult:
    from challengers.evaluate import ModelEvaluation

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
        result.delta_vs_champion = {
            k: DeltaResult(d.value, d.ci, d.p_value, d.p_value_adjusted, d.method)
            for k, d in evaluation.delta.items()
        }
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


def _ensure_writable(out: Path) -> None:
    blocker = next((p for p in [out, *out.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ConfigError(
            f"--output {out}: {blocker} is a file, not a directory; choose a directory path"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentFailure(
            f"--output {out}: cannot create the output directory ({exc.strerror}); choose a "
            "writable location"
        ) from exc
    if not os.access(out, os.W_OK):
        raise EnvironmentFailure(f"--output {out}: directory is not writable")


def _write_outputs(
    cfg: ExperimentConfig,
    prepared: Prepared,
    fitted: list[Fitted],
    result: ExperimentResult,
    out: Path,
) -> None:
    test = prepared.split.test
    key = prepared.plan.spec.id
    columns = [pl.col(key)] if key else [pl.int_range(pl.len()).alias("row")]
    predictions = test.select([*columns, pl.col(DAY), pl.col(prepared.plan.spec.target)])
    for f in fitted:
        if f.scores is not None:
            predictions = predictions.with_columns(pl.Series(f.plan.name, f.scores))
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


def _log(
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
            flavor=getattr(f.model, "flavor", None) if f.model is not None else None,
            native_model=f.model.native_model()
            if f.model is not None and f.model.is_fitted
            else None,
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


def _parent_tags(cfg: ExperimentConfig, prepared: Prepared, env: dict[str, str]) -> dict[str, str]:
    return {
        "config_hash": cfg.fingerprint(),
        "data_fingerprint": prepared.fingerprint,
        "role": "experiment",
        "threads": str(cfg.threads),
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
