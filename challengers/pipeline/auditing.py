"""The data audit: alone (`challenge audit`) or at the start of every run."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from challengers.allocator import map_large_blocks
from challengers.audit import AuditResult
from challengers.audit.context import ModelInputs
from challengers.audit.runner import run_audit
from challengers.config import ExperimentConfig, FindingsConfig
from challengers.engine.base import Engine
from challengers.engine.spark_session import check_master
from challengers.errors import ChallengeError
from challengers.findings.recommendations import with_recommendations
from challengers.pipeline.plan import Plan, data_source, make_plan
from challengers.pipeline.preflight import check_inputs, claimed
from challengers.pipeline.prepare import (
    RunOptions,
    default_output_dir,
    output_directory,
    start_spark,
)
from challengers.progress import Progress
from challengers.results import Finding

log = logging.getLogger(__name__)


def audit_experiment(cfg: ExperimentConfig, options: RunOptions, progress: Progress) -> AuditResult:
    """`challenge audit`: the data audit alone; writes audit.json and its chart."""
    map_large_blocks()  # each check's large arrays go back to the system when freed
    out = options.output_dir or default_output_dir(cfg, "-audit")
    check_inputs(cfg, out, options.config_file, command="audit")
    # held before the data is read, as a run holds it: an audit never writes beside a run
    with (
        output_directory(out),
        claimed(out, audit=True),
        _audited_plan(cfg, options, progress) as (plan, engine),
    ):
        return _audit(cfg, plan, out, progress, engine=engine)


def _plan(cfg: ExperimentConfig, options: RunOptions, engine: Engine | None) -> Plan:
    return make_plan(
        cfg,
        allow_pickle=options.allow_pickle,
        tracking_uri=options.tracking_uri or cfg.tracking.uri,
        engine=engine,
    )


@contextlib.contextmanager
def _audited_plan(
    cfg: ExperimentConfig, options: RunOptions, progress: Progress
) -> Iterator[tuple[Plan, Engine | None]]:
    """The plan the audit queries, never every row at once: its aggregates stream, and the
    driver holds what they hold; and the Spark engine of a Spark audit, which lives until the
    audit ends. Its integrity queries run on the executors; its other checks query the plan's
    rows: files are scanned here (on either engine), and a table or a URI only Spark reads is
    queried through the session, each query bringing the columns it reads (``engine.lazy``)."""
    if cfg.engine.kind != "spark":
        yield _plan(cfg, options, None), None
        return
    check_master(cfg.engine.master)  # exit 3 before anything is read
    # files: planned before Spark starts, so a wrong column is said at once
    plan = None if data_source(cfg).spark_only else _plan(cfg, options, None)
    with contextlib.closing(start_spark(cfg)) as engine:
        yield plan or _plan(cfg, options, engine), engine


def audit_in_run(
    cfg: ExperimentConfig,
    plan: Plan,
    out: Path,
    progress: Progress,
    engine: Engine | None = None,
) -> AuditResult:
    """The audit at the start of a run: a bug in a check is reported, never loses the run. Its
    chart is left to the run's outputs, drawn with the other plots (runner.draw_chart).
    ``engine``: the run's engine when it holds the rows (Spark), where the integrity queries
    run."""
    try:
        return _audit(cfg, plan, out, progress, chart=False, engine=engine)
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


def _audit(
    cfg: ExperimentConfig,
    plan: Plan,
    out: Path,
    progress: Progress,
    *,
    chart: bool = True,
    engine: Engine | None = None,
) -> AuditResult:
    audited = audit_plan(
        plan,
        cfg.evaluation.findings,
        seed=cfg.seed,
        alpha=cfg.evaluation.alpha,
        out=out,
        progress=progress,
        chart=chart,
        engine=engine,
        rows=None if engine is None else engine.read(data_source(cfg)),
    )
    # audit.json's findings with what to do, as comparison.json's (the audit's layer is below
    # the recommendations': its findings were written with none)
    recommended = replace(audited, findings=with_recommendations(audited.findings))
    recommended.write()
    return recommended


def audit_plan(
    plan: Plan,
    thresholds: FindingsConfig,
    *,
    seed: int = 42,
    alpha: float = 0.05,
    out: Path | None = None,
    progress: Progress | None = None,
    chart: bool = True,
    engine: Engine | None = None,
    rows: Any = None,
) -> AuditResult:
    """Audit the data of a run's plan: every model's features, entities and windows.
    ``engine`` and its ``rows`` (every row of the plan's data): where the integrity queries
    run."""
    models = [
        ModelInputs(m.name, m.kind, m.features, m.extra_columns, m.settings, m.lookback_days)
        for m in [plan.champion, *plan.challengers]
    ]
    champion = plan.champion
    score = champion.extra_columns[0] if champion.kind == "score" else None
    return run_audit(
        plan.lf,
        plan.spec,
        plan.windows,
        models,
        thresholds,
        seed=seed,
        alpha=alpha,
        out=out,
        progress=progress,
        score_column=score,
        chart=chart,
        engine=engine,
        rows=rows,
    )
