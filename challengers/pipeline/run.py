"""`challenge run`: config → data → audit → split → models → evaluation → diagnostics →
findings → outputs, MLflow and the report. The pipeline package is the only code that sees the
whole config."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

from challengers import interrupts
from challengers.allocator import map_large_blocks, release_freed_memory
from challengers.audit import AuditResult
from challengers.config import ExperimentConfig
from challengers.config.sections import RegisterConfig
from challengers.engine.rowhash import KERNELS
from challengers.errors import ChallengeError
from challengers.evaluation.evaluate import fraud_units
from challengers.evaluation.metrics import METRICS
from challengers.experiment_result import ExperimentResult
from challengers.files import environment_failure
from challengers.findings import FindingContext, derive_findings
from challengers.findings.context import leaking_inputs
from challengers.findings.diagnostics import with_evaluated_rates
from challengers.findings.recommendations import with_recommendations
from challengers.models import registry, trees
from challengers.models.lean_imports import show_sklearn_to_tree_libraries
from challengers.pipeline.auditing import audit_in_run
from challengers.pipeline.checkpoint import Checkpoints
from challengers.pipeline.evaluating import Evaluated, budget_of, evaluate
from challengers.pipeline.fitting import (
    Fitted,
    fit_challenger,
    fit_champion,
    fit_identity,
    fit_order,
    with_in_sample,
)
from challengers.pipeline.governance import add_governance
from challengers.pipeline.insample import InSampleSettings
from challengers.pipeline.memory import check_fits, need_of
from challengers.pipeline.outputs import (
    experiment_description,
    log_run,
    parent_tags,
    write_outputs,
    write_test_outputs,
)
from challengers.pipeline.preflight import check_inputs, check_names, claimed
from challengers.pipeline.prepare import (
    Prepared,
    RunOptions,
    default_output_dir,
    output_directory,
    prepare,
)
from challengers.pipeline.registering import registration
from challengers.pipeline.resume import interrupted_error, require_resumable, with_resume_hint
from challengers.pipeline.spill import Spiller
from challengers.progress import Progress, SilentProgress
from challengers.replication.agreement import ScoreAgreement, check_champion
from challengers.replication.environment import describe
from challengers.replication.records import write_replay_files
from challengers.results import SEVERITIES, DataSummary, Finding
from challengers.threads import in_background, workers
from challengers.tracking import Tracker, Warmup, check_reachable, resolve_uri


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
    if cfg.engine.kind == "spark":  # XGBoost's Spark estimator is a scikit-learn one
        show_sklearn_to_tree_libraries()
    map_large_blocks()  # each step's large arrays go back to the system when freed
    cfg = cfg.resolved()  # threads filled in: logged, and replayed with the same count
    uri = resolve_uri(options.tracking_uri, cfg.tracking.uri)
    check_names(cfg, options.output_dir)
    out = options.output_dir or default_output_dir(cfg)
    check_inputs(cfg, out, options.config_file)  # the outputs never replace or feed the inputs
    experiment = options.experiment or cfg.name
    check_reachable(uri, experiment=experiment)  # seconds, before any training
    if options.resume:
        require_resumable(options.output_dir)
    # while the data loads and is audited; the row hashes' kernels first (loading waits for them)
    first = [KERNELS] if cfg.engine.kind != "spark" else []
    warmup = Warmup(uri, _model_imports(cfg), first=first, later=PLOT_IMPORTS)
    # SIGTERM and SIGHUP too: runs end KILLED, finished models are kept
    claim = claimed(out, resume=options.resume, command=options.command)
    with output_directory(out), claim, interrupts.handled():
        return _start(cfg, options, progress, uri, out, config_dir, warmup)


# what the outputs import: the warm-up imports them once the models are fitted
PLOT_IMPORTS = ("matplotlib.figure", "matplotlib.backends.backend_agg")


def _model_imports(cfg: ExperimentConfig) -> list[str]:
    """What the models' steps import (seconds together): their libraries and MLflow flavours."""
    sections: list[tuple[str, Any]] = [(c.kind, c) for c in cfg.challengers]
    if cfg.champion.retrain is not None:  # first: the champion is trained first
        sections.insert(0, (cfg.champion.retrain.kind, cfg.champion.retrain))
    libraries: list[str] = []
    for kind, section in sections:
        with contextlib.suppress(Exception):  # a bad section is the plan's to report
            model = registry.create(kind, section, seed=cfg.seed, threads=cfg.threads)
            libraries += model.libraries()
    flavours = [f"mlflow.{name}" for name in libraries if name in trees.LIBRARIES]
    return list(dict.fromkeys([*libraries, *flavours]))


def _start(
    cfg: ExperimentConfig,
    options: RunOptions,
    progress: Progress,
    uri: str,
    out: Path,
    config_dir: Path | None,
    warmup: Warmup | None = None,
) -> ExperimentResult:
    local = cfg.engine.kind != "spark"
    # the environment's description (every installed package's metadata, git) in a thread while
    # the data loads: in the main thread it waited for the interpreter behind the warm-up's imports
    environment = in_background(describe, config_dir or Path.cwd())
    # a Spark session the run started stops with it; challengers train on it until then
    # large windows in a file's pages from when each is read, which the kernel can take back
    # and which each step lets go of, where they were the run's own memory through every step
    # (written in a thread while the audit ran instead, the wait only moved to the champion's
    # step: 100M rows, 2 runs)
    spill = Spiller(out, progress)
    with contextlib.closing(
        prepare(
            cfg,
            options,
            progress,
            keep_history=False,
            check_memory=local,
            keep=spill,
            params_first=False,
        )
    ) as prepared:
        release_freed_memory()  # what loading freed (on Spark: the windows' Arrow), before the audit
        if options.verify is not None:
            options.verify(prepared)
        if local:  # the rows loaded: what training adds, against what is left now
            # no local name for the split: one would hold the training frame through the whole
            # run, after the evaluation lets it go (Split.without_training)
            rows = (prepared.split.train.height, prepared.split.test.height)
            check_fits(need_of(prepared.plan, *rows))
        store = Checkpoints.open(
            out,
            config_hash=cfg.fingerprint(),
            data_fingerprint=prepared.fingerprint,
            resume=options.resume,
            champion=prepared.plan.champion.source,
        )
        audit = audit_in_run(cfg, prepared.plan, out, progress, prepared.engine)
        # a Ctrl-C a library swallowed while the rows loaded or the audit ran stops here
        interrupts.raise_if_swallowed()
        release_freed_memory()  # what loading and the audit freed, before training
        env = environment()
        replay = write_replay_files(
            out, prepared.data_print, options.config_text, options.config_file
        )
        if options.only:
            replay["only"] = ",".join(options.only)
        tracker = Tracker(uri)
        tags = {**parent_tags(cfg, prepared, env), **replay, **store.tags(), **options.tags}
        try:
            if warmup is not None:
                # the store opened (or its failure); the libraries go on importing while the
                # parent run starts, and are all imported before the first model trains
                warmup.wait_store()
            store.run_id = tracker.start(
                options.experiment or cfg.name, out.name, tags, experiment_description(cfg)
            )
            tracker.end_interrupted(store.resumed_runs())
            result = _run(
                cfg,
                prepared,
                tracker,
                out,
                progress,
                env,
                audit,
                store=store,
                resume=options.resume,
                register=registration(cfg, options.register),
                warmup=warmup,
            )
        except BaseException as exc:
            interrupt = interrupts.interrupt_behind(exc)  # also one a library turned into its error
            with interrupts.deferred(reraise=False), contextlib.suppress(Exception), _quietly():
                tracker.finish("FAILED" if interrupt is None else "KILLED")
            given = options.tracking_uri  # the resume line names a store given on the command line
            replicating = options.tags.get("replication_of")  # resumed by replicate, not run
            if interrupt is not None:
                logged = tracker.parent_id is not None  # the store may be what was cut short
                raise interrupted_error(
                    interrupt,
                    out,
                    options.config_file,
                    given,
                    logged=logged,
                    replicating=replicating,
                ) from None
            kept = (out, options.config_file, given, replicating)  # what resumes it, and how
            if isinstance(exc, ChallengeError):  # after training: say what is kept, how to resume
                raise with_resume_hint(exc, *kept)  # noqa: B904
            failure = environment_failure(exc)
            if failure is not None:
                raise with_resume_hint(failure, *kept) from exc
            raise
        tracker.finish("FINISHED")
        return result


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """No library warnings while a stopped run is marked: an interrupt that cut an import of
    MLflow's store in half has it imported again here, and SQLAlchemy then warns that each of
    its tables is declared twice (lines of noise around the one that says what was kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


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
    register: RegisterConfig | None = None,
    warmup: Warmup | None = None,
) -> ExperimentResult:
    store = store or Checkpoints(out, cfg.fingerprint(), prepared.fingerprint)
    # no import beside a fit: it took the fit's cores, and fit_seconds is what a validator
    # compares between models (the handbook split's LightGBM champion: 0.7-1.1 s where it trains
    # in 0.3-0.45 alone); the outputs' imports wait until the fits are done
    with warmup.paused() if warmup is not None else contextlib.nullcontext():
        fitted = _fit_all(cfg, prepared, out, progress, store, resume)
    audit = _after_training(audit, fitted)
    champion = fitted[0]
    agreement = check_champion(
        cfg.champion,
        champion.scores,
        prepared.split.test,
        cfg.evaluation.findings.score_tolerance,
    )
    write_test_outputs(cfg, prepared, fitted, out, audit)  # what evaluate's test frame lets go of
    evaluated = evaluate(cfg, prepared, fitted, progress)
    findings = _findings(cfg, prepared, evaluated, agreement, audit)
    result = _result(cfg, prepared, evaluated, findings, tracker, out, env, audit, agreement)
    add_governance(result, cfg, champion)
    interrupts.raise_if_swallowed()  # a run cut short writes no comparison.json
    with progress.stage("Writing outputs and logging to MLflow"):
        write_outputs(cfg, prepared, fitted, result, out)
        log_run(cfg, prepared, tracker, fitted, result, out, register)
    interrupts.raise_if_swallowed()  # the parent run KILLED, not FINISHED
    return result


def _fit_all(
    cfg: ExperimentConfig,
    prepared: Prepared,
    out: Path,
    progress: Progress,
    store: Checkpoints,
    resume: bool,
) -> list[Fitted]:
    """The champion, then every challenger: reused from a checkpoint or fitted and kept (with
    the in-sample numbers its checkpoint must keep: :func:`with_in_sample`)."""
    plan = prepared.plan
    threads = workers(cfg.threads)
    # this run's fits, which a later model may reuse as they are (an anomaly hybrid's twin);
    # not those restored from a checkpoint: a model read back from its file is not the fit
    fits: dict[Hashable, Fitted] = {}
    champion = store.reuse(plan.champion, prepared, progress)
    if champion is None:
        champion = store.keep(fit_champion(cfg, prepared, threads, progress), prepared)
        _note_fit(fits, champion, prepared)
    assert champion.scores is not None  # a champion that cannot score stops the run
    in_sample = InSampleSettings.of(cfg, budget_of(cfg, champion.scores))
    fitted: dict[str, Fitted] = {}
    for mp in fit_order(cfg, plan.spec, plan.challengers, threads):
        release_freed_memory()  # the previous model's inputs and temporaries, the pages it read
        done = store.reuse(mp, prepared, progress)
        if done is None:
            made = fit_challenger(
                cfg, prepared, mp, threads, progress, tuning=(out / "tuning", resume), fits=fits
            )
            _note_fit(fits, made, prepared)
            done = store.keep(with_in_sample(made, prepared, in_sample, progress), prepared)
        fitted[mp.name] = done
    release_freed_memory()
    return [champion, *(fitted[mp.name] for mp in plan.challengers)]


def _after_training(audit: AuditResult | None, fitted: list[Fitted]) -> AuditResult | None:
    """The audit, which ran before training, with the challengers that failed no longer named
    as the models that read a column (its tables, findings and audit.json): they have no
    scores and no part in the verdict."""
    failed = [f.plan.name for f in fitted if f.error is not None]
    if audit is None or not failed:
        return audit
    marked = audit.with_failed(failed)
    marked.write()
    return marked


def _note_fit(fits: dict[Hashable, Fitted], fitted: Fitted, prepared: Prepared) -> None:
    identity = fit_identity(fitted, prepared)
    if identity is not None:
        fits.setdefault(identity, fitted)


def _findings(
    cfg: ExperimentConfig,
    prepared: Prepared,
    evaluated: Evaluated,
    agreement: ScoreAgreement | None,
    audit: AuditResult | None,
) -> list[Finding]:
    """The run's findings and the audit's, most severe first."""
    metrics = cfg.evaluation.metric_specs
    summary = prepared.split.summary(prepared.plan.spec.target)
    findings = derive_findings(
        FindingContext(
            models=evaluated.models,
            higher_is_better={m.key: m.info.higher_is_better for m in metrics},
            alpha=cfg.evaluation.alpha,
            claimed=dict(cfg.champion.claimed),
            claim_tolerance=cfg.evaluation.findings.claim_tolerance,
            positives_test=summary["positives_test"],
            fraud_units=_fraud_units(evaluated),
            rows_test=summary["rows_test"],
            bootstrap=cfg.evaluation.bootstrap,
            gap_days=prepared.plan.windows.gap_days,
            label_delay_days=cfg.split.label_delay_days,
            score_agreement=agreement,
            thresholds=cfg.evaluation.findings,
            analyses=evaluated.analyses,
            metric_keys=tuple(m.key for m in metrics),
            primary=cfg.evaluation.primary_key,
            leaking=leaking_inputs(audit.findings if audit is not None else []),
        )
    )
    if audit is not None:
        audited = [with_evaluated_rates(f, summary) for f in audit.findings]
        findings = sorted([*findings, *audited], key=lambda f: SEVERITIES.index(f.severity))
    return with_recommendations(findings)


def _fraud_units(evaluated: Evaluated) -> int | None:
    """The resampling units holding a test fraud, when the run resampled (None: no test)."""
    unit = evaluated.resampling.get("unit")
    return None if unit is None else fraud_units(evaluated.rows, unit)


def _result(
    cfg: ExperimentConfig,
    prepared: Prepared,
    evaluated: Evaluated,
    findings: list[Finding],
    tracker: Tracker,
    out: Path,
    env: dict[str, str],
    audit: AuditResult | None,
    agreement: ScoreAgreement | None,
) -> ExperimentResult:
    metrics, analyses = cfg.evaluation.metric_specs, evaluated.analyses
    data = DataSummary(
        fingerprint=prepared.fingerprint,
        source=cfg.data.location,
        features=list(prepared.plan.spec.features),
        windows={
            "train": f"{cfg.split.train.start}..{cfg.split.train.end}",
            "test": f"{cfg.split.test.start}..{cfg.split.test.end}",
            "label_delay_days": str(cfg.split.label_delay_days),
        },
        **prepared.split.summary(prepared.plan.spec.target),
    )
    return ExperimentResult(
        run_id=tracker.parent_id,
        experiment=tracker.experiment or cfg.name,
        config_hash=cfg.fingerprint(),
        data=data,
        models=evaluated.models,
        findings=findings,
        metric_keys=[m.key for m in metrics],
        higher_is_better={m.key: METRICS[m.name].higher_is_better for m in metrics},
        alpha=cfg.evaluation.alpha,
        bootstrap=cfg.evaluation.bootstrap,
        operating_alert_rate=evaluated.budget.rate,
        output_dir=out,
        environment=env,
        claimed=dict(cfg.champion.claimed),
        champion_agreement=agreement.to_json() if agreement else None,
        champion_source=dict(prepared.plan.champion.source) or None,
        audit=audit,
        operating_point=analyses.operating_point,
        stability=analyses.stability,
        segments=analyses.segments,
        calibration=analyses.calibration,
        explanations=analyses.explanations,
        curves=analyses.curves,
        thresholds=cfg.evaluation.findings.model_dump(),
        primary=cfg.evaluation.primary_key,
        resampling=evaluated.resampling,
    )
