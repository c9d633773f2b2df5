"""Replication: re-run a logged run from its MLflow record alone and compare every metric.

``replicate_run`` reads the run's resolved config (every default filled in, ``threads`` included),
checks that the data still has the logged fingerprint (a mismatch is a DataError naming the rows,
columns and values that differ, raised before any training), re-runs it as a new run tagged
``replication_of``, and compares every logged metric of every model (values, intervals, deltas,
p-values; not timings) with the re-computed one. ``replicate_config`` runs a config twice.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from challengers.config import ExperimentConfig, load_config, parse_config
from challengers.errors import ConfigError, DataError, scrub
from challengers.experiment_result import ExperimentResult
from challengers.pipeline.prepare import Prepared, RunOptions, default_output_dir
from challengers.pipeline.resume import checkpoint_writers, resume_command
from challengers.pipeline.run import run_experiment
from challengers.progress import Progress
from challengers.replication.environment import describe, differences
from challengers.replication.fingerprint import ALGORITHM, compare_fingerprints
from challengers.replication.records import (
    CONFIG_ARTIFACT,
    FINGERPRINT_ARTIFACT,
    RESOLVED_ARTIFACT,
    TIMING_KEYS,
    RunRecord,
    load_record,
)
from challengers.tracking import annotate_run, has_artifacts, resolve_uri, resumed_by, run_tags
from challengers.tuning.records import validation_metrics

Status = Literal["identical", "within_tolerance", "differs"]


@dataclass(frozen=True)
class MetricCheck:
    """One logged value next to its re-computed value."""

    model: str
    key: str
    logged: float  # NaN: not logged (MLflow drops NaN) or undefined
    now: float
    headline: bool  # a headline metric (not an interval, delta or p-value)

    @property
    def diff(self) -> float:
        if math.isnan(self.logged) and math.isnan(self.now):
            return 0.0
        if math.isnan(self.logged) or math.isnan(self.now):
            return math.inf
        return abs(self.now - self.logged)

    def within(self, tolerance: float) -> bool:
        """|now - logged| <= tolerance x max(1, |logged|): absolute near 0, relative for costs."""
        scale = max(1.0, abs(self.logged)) if math.isfinite(self.logged) else 1.0
        return self.diff <= tolerance * scale


@dataclass
class Replication:
    """The outcome of replicating ``original`` as ``replication``."""

    original: str
    replication: str | None
    tolerance: float
    checks: list[MetricCheck]
    status_changes: list[str] = field(default_factory=list)  # models that failed only once
    environment: list[str] = field(default_factory=list)  # environment differences
    notes: list[str] = field(default_factory=list)
    output_dir: Path | None = None

    @property
    def differing(self) -> list[MetricCheck]:
        return [c for c in self.checks if not c.within(self.tolerance)]

    @property
    def unexplained(self) -> str | None:
        """What may cause values that differ where the data (its fingerprint) and every
        environment tag are the logged ones: what neither records."""
        if not self.differing or self.environment:
            return None
        return (
            "the data's rows and values and the recorded environment are the logged ones; the "
            "fingerprint does not see the rows' order: a file rewritten in another order trains "
            "other trees (the histograms, ties and the alert budget's tie-break follow it)"
        )

    @property
    def max_diff(self) -> float:
        return max((c.diff for c in self.checks), default=0.0)

    @property
    def status(self) -> Status:
        if self.differing or self.status_changes:
            return "differs"
        return "identical" if self.max_diff == 0.0 else "within_tolerance"

    @property
    def ok(self) -> bool:
        return self.status != "differs"


# ------------------------------------------------------------------------------- the config


def rebuild_config(record: RunRecord) -> tuple[ExperimentConfig, list[str]]:
    """The run's exact config: the logged resolved config, cross-checked with the config text.

    The resolved config holds every default as it was when the run was made (a later release may
    change defaults), so it is what replays; the text as written, parsed at its original place,
    must give the same config under this release, or the difference is noted.
    """
    rid = record.run_id
    notes: list[str] = []
    text_cfg = None
    if record.config_text is not None and record.config_file is not None:
        text_cfg = parse_config(record.config_text, source=Path(record.config_file))
        threads = record.run.tags.get("threads")
        if text_cfg.threads is None and threads and threads.isdigit():
            text_cfg = text_cfg.model_copy(update={"threads": int(threads)})
    if record.config_resolved is not None:
        cfg = parse_config(record.config_resolved, source=Path(f"run-{rid}") / RESOLVED_ARTIFACT)
        if text_cfg is not None and text_cfg.fingerprint() != cfg.fingerprint():
            notes.append(
                "the config as written gives a different config under this release (defaults "
                "changed?); replaying the logged resolved config"
            )
    elif text_cfg is not None:
        cfg = text_cfg
        notes.append(
            f"{RESOLVED_ARTIFACT} was deleted from the run's artifacts ({FINGERPRINT_ARTIFACT}, "
            f"logged with it, is there): replaying the config as written ({CONFIG_ARTIFACT}) "
            "with this release's defaults"
            if _configs_were_logged(record)
            else "no resolved config logged: replaying the config as written"
        )
    else:
        raise ConfigError(no_config(record))
    if record.config_hash and cfg.fingerprint() != record.config_hash:
        notes.append(  # the tag can be edited in the store: both causes said, not one
            f"config hash {cfg.fingerprint()} differs from the logged {record.config_hash} "
            "(the run's tag config_hash): the config schema changed since the run, or the tag "
            "was edited"
        )
    return cfg, notes


def no_config(record: RunRecord, uri: str | None = None, given_uri: str | None = None) -> str:
    """Why a run has no config to replay, and what to do instead: a run that did not finish
    logged none yet (its artifacts are logged at its end), a finished one whose artifacts are
    not where the store keeps them (``uri``: the store, to look) was moved, and only else was it
    made by an older release. ``given_uri``: the --tracking-uri the resume command names."""
    rid, status = record.run_id, record.run.status
    if status != "FINISHED":
        why = ": still running, or its process was killed" if status == "RUNNING" else ""
        return (
            f"run {rid} did not finish (status {status}{why}): it logged no config to replay; "
            f"{_instead(record, uri, given_uri)}"
        )
    where = scrub(record.run.artifact_uri) or "the store's artifact location"
    if uri is not None and not has_artifacts(uri, rid):
        return (
            f"run {rid} has no logged config: its artifacts are missing at {where} (moved or "
            "deleted); put them back there, or re-run it with `challenge run`"
        )
    if _configs_were_logged(record):
        return (
            f"run {rid} has no logged config: {RESOLVED_ARTIFACT} and {CONFIG_ARTIFACT} were "
            f"deleted from its artifacts at {where} ({FINGERPRINT_ARTIFACT}, logged with them, is "
            "there); put them back there, or re-run it with `challenge run`"
        )
    return (
        f"run {rid} has no logged config ({RESOLVED_ARTIFACT}); it was made by a release of "
        "challenge that did not record one: re-run it with `challenge run`"
    )


def _configs_were_logged(record: RunRecord) -> bool:
    """Whether the run logged its configs: every release that logs the data's fingerprint.json
    logs them with it, so a run that has it and not them had them deleted (they were said to
    be 'made by a release of challenge that did not record one')."""
    return record.fingerprint is not None or record.fingerprint_lost.startswith("is unreadable")


def _instead(record: RunRecord, uri: str | None, given_uri: str | None) -> str:
    """The run that resumed an unfinished run, which has the record; else the command that
    resumes it, where its output directory still is; else the command that runs its config."""
    later = resumed_by(uri, record.run_id) if uri is not None else []
    if later:
        return f"run {later[-1]} resumed it: replicate that one"
    out = record.run.tags.get("output_dir")
    if out and Path(out).is_dir():
        replicating = record.run.tags.get("replication_of")  # an interrupted replication
        command = resume_command(Path(out), record.config_file, given_uri, replicating)
        return f"resume it with: {command}"
    return f"re-run it with: {shlex.join(['challenge', 'run', record.config_file or 'CONFIG'])}"


# --------------------------------------------------------------------------------- the data


def data_check(record: RunRecord, data_path: str, notes: list[str]) -> Callable[[Prepared], None]:
    """A check run after loading: the data must have the logged fingerprint."""

    def verify(prepared: Prepared) -> None:
        logged, now = record.fingerprint, prepared.data_print
        if logged is None and record.fingerprint_lost:
            _check_digest_only(record, prepared, data_path, notes)
            return
        if logged is None or now is None or logged.algorithm != ALGORITHM:
            # an older run: its digest was computed another way and cannot be compared
            notes.append(
                f"run {record.run_id} logged no fingerprint this release can check: the data "
                "was not verified"
            )
            return
        diff = compare_fingerprints(logged, now)
        if diff.same:
            return
        lines = diff.lines(len(logged.columns))
        raise DataError(
            "\n".join(
                [
                    _mismatch_head(record, prepared, data_path),
                    *(f"  {line}" for line in lines),
                    "  nothing was re-run: restore the data the run used, or evaluate this data "
                    "with `challenge run` / `challenge replicate --config`",
                ]
            )
        )

    return verify


def _check_digest_only(
    record: RunRecord, prepared: Prepared, data_path: str, notes: list[str]
) -> None:
    """The run's fingerprint.json is gone from its artifacts or cut short on disk, but its
    ``data_fingerprint`` tag holds the digest: the data must still have it. Without this, a
    changed file was replicated with a note that the data 'was not verified', and the
    replication could say 'identical'."""
    lost = f"the run's {FINGERPRINT_ARTIFACT} {record.fingerprint_lost}"
    if prepared.fingerprint == record.data_fingerprint:
        notes.append(f"{lost}: the data was checked against its data_fingerprint tag, the same")
        return
    raise DataError(
        "\n".join(
            [
                _mismatch_head(record, prepared, data_path),
                f"  which rows and columns differ cannot be said: {lost} (or the run was made "
                "by a release that fingerprinted the data otherwise)",
                "  nothing was re-run: restore the data the run used (and the run's "
                f"{FINGERPRINT_ARTIFACT}, to see what differs), or evaluate this data with "
                "`challenge run`",
            ]
        )
    )


def _mismatch_head(record: RunRecord, prepared: Prepared, data_path: str) -> str:
    logged = (record.data_fingerprint or "?")[:12]
    return (
        f"data fingerprint mismatch: {data_path} is not the data run {record.run_id} used "
        f"(fingerprint {logged} logged, {prepared.fingerprint[:12]} now)"
    )


# ------------------------------------------------------------------------------- comparing


def compare_results(
    record: RunRecord, result: ExperimentResult, tolerance: float
) -> tuple[list[MetricCheck], list[str]]:
    """Every logged value of every model next to the re-computed one; status changes apart."""
    headline = set(record.metric_keys)
    now_models = {m.name: m for m in result.models}
    checks: list[MetricCheck] = []
    changes: list[str] = []
    for logged in record.models:
        current = now_models.get(logged.name)
        if current is None:
            changes.append(f"{logged.name}: in the logged run, not in the replication")
            continue
        if logged.status != current.status:
            changes.append(f"{logged.name}: {logged.status} logged, {current.status} now")
        now = {
            k: v
            for k, v in current.flat_metrics().items()
            if k not in TIMING_KEYS and current.status == "ok"
        }
        if current.tuning and current.status == "ok":  # logged beside them (outputs.py)
            now.update(validation_metrics(current.tuning))
        was = logged.comparable()
        for key in dict.fromkeys([*was, *now]):
            checks.append(
                MetricCheck(
                    logged.name,
                    key,
                    was.get(key, math.nan),
                    float(now.get(key, math.nan)),
                    key in headline,
                )
            )
    extra = sorted(set(now_models) - {m.name for m in record.models})
    changes += [f"{name}: in the replication, not in the logged run" for name in extra]
    return checks, changes


# -------------------------------------------------------------------------------- commands


def replicate_run(
    run_id: str,
    *,
    tolerance: float = 1e-6,
    tracking_uri: str | None = None,
    output_dir: Path | None = None,
    progress: Progress | None = None,
    engine: str | None = None,
    master: str | None = None,
    resume: bool = False,
) -> Replication:
    """Re-run logged run ``run_id`` from its record and compare; logs the replication as a run.
    ``engine``/``master`` override the logged engine (the fingerprint is the same on either).
    ``resume``: continue the interrupted replication in ``output_dir`` (its finished models)."""
    uri = resolve_uri(tracking_uri)
    record = load_record(uri, run_id)
    if record.config_resolved is None and record.config_text is None:
        raise ConfigError(no_config(record, uri, tracking_uri))
    cfg, notes = rebuild_config(record)
    cfg = cfg.with_engine(engine, master)
    logged_engine = record.run.tags.get("engine", "local")
    if "spark" in (logged_engine, cfg.engine.kind):
        notes.append(
            f"engine: the logged run used {logged_engine}, this replication {cfg.engine.kind}"
        )
    if resume and output_dir is not None:
        _require_replication_checkpoints(uri, output_dir, record.run_id)
    _require_data_there(record, cfg)
    config_dir = Path(record.config_file).parent if record.config_file else Path.cwd()
    environment = differences(record.run.tags, describe(config_dir))
    verified: list[bool] = []  # the data was checked against the logged fingerprint
    only = _logged_only(record, cfg, notes)
    champion = next((m for m in record.models if m.role == "champion"), None)
    options = RunOptions(
        output_dir=output_dir or _replication_dir(cfg),
        only=only,
        tracking_uri=uri,
        config_text=record.config_text,
        config_file=record.config_file,
        tags={"replication_of": record.run_id},
        verify=_marking(data_check(record, cfg.data.location, notes), verified),
        # an MLflow champion: the version the run used, never what an alias names today
        champion_source=champion.source if champion else None,
        register=False,  # a replication checks; it registers nothing
        command="replicate",
        resume=resume,
        experiment=record.run.experiment or None,  # the run's, renamed since or not
    )
    try:
        result = run_experiment(
            cfg, options, progress, config_dir=config_dir if config_dir.exists() else None
        )
    except DataError as exc:
        if verified:  # the data has the logged fingerprint: not a change of the data
            raise
        raise DataError(f"{exc}\n  {_data_changed(record, cfg.data.location)}") from exc
    checks, changes = compare_results(record, result, tolerance)
    replication = Replication(
        original=record.run_id,
        replication=result.run_id,
        tolerance=tolerance,
        checks=checks,
        status_changes=changes,
        environment=environment,
        notes=[*record.notes, *notes],
        output_dir=result.output_dir,
    )
    if result.run_id:
        annotate_run(
            uri,
            result.run_id,
            {"replication_status": replication.status, "replication_tolerance": str(tolerance)},
            {"replication_max_abs_diff": replication.max_diff},
        )
    return replication


def _logged_only(record: RunRecord, cfg: ExperimentConfig, notes: list[str]) -> tuple[str, ...]:
    """The challengers the run trained (`run --only`): its tag ``only``; where that tag was
    removed, the challengers it logged, when they are fewer than the config's (every challenger
    of a run is logged, a failed one too). Without it, the replication trained the others and
    said each was 'in the replication, not in the logged run' (exit 1)."""
    if "only" in record.run.tags:
        return tuple(filter(None, record.run.tags["only"].split(",")))
    logged = {m.name for m in record.models if m.role == "challenger"}
    names = [c.name for c in cfg.challengers]
    if not logged or not logged < set(names):
        return ()
    only = tuple(n for n in names if n in logged)
    notes.append(
        f"the run has no tag only (removed since it was logged?), and logged {len(only)} of the "
        f"config's {len(names)} challengers: replicating {', '.join(only)} (as --only)"
    )
    return only


def _require_data_there(record: RunRecord, cfg: ExperimentConfig) -> None:
    """The data file the run read must still be at its path: 'file not found ...; check
    data.path in the config' told the validator to edit a config that replicate reads from the
    store. Globs, directories of parts and URIs are left to the loading."""
    path = cfg.data.path
    if path is None or "://" in path or any(c in path for c in "*?[") or Path(path).exists():
        return
    raise DataError(
        f"data.path: {path} is not there; run {record.run_id} read its data from it (moved or "
        "deleted since?): nothing was re-run: put the data the run used back at that path, or "
        "evaluate other data with `challenge run`"
    )


def _marking(verify: Callable[[Prepared], None], done: list[bool]) -> Callable[[Prepared], None]:
    """``verify``, noting in ``done`` that it ran."""

    def marked(prepared: Prepared) -> None:
        done.append(True)
        verify(prepared)

    return marked


def _data_changed(record: RunRecord, location: str) -> str:
    """The line added to a data error raised while the data was loaded, before its fingerprint
    could be checked: the logged run loaded the same config's data without it, so the data
    changed since (the error alone read as a mistake in a config the validator never wrote)."""
    return (
        f"run {record.run_id} loaded {location} with this config without this error: the data "
        "changed since; nothing was re-run: restore the data the run used, or evaluate this "
        "data with `challenge run`"
    )


def _require_replication_checkpoints(uri: str, out: Path, run_id: str) -> None:
    """``--resume`` of a replication reuses only models an interrupted replication of ``run_id``
    trained: the logged run's own (its --output given by mistake) would be compared with
    themselves, identical by construction, a replication that re-ran nothing."""
    for model, writer in sorted(checkpoint_writers(out).items()):
        tags = run_tags(uri, writer) if writer else None
        if tags is not None and tags.get("replication_of") == run_id:
            continue
        if writer == run_id:
            whom = "the logged run itself"
        elif tags is not None:
            whom = f"run {writer}, not a replication of {run_id}"
        else:
            whom = f"run {writer or '(not named)'}, which this store does not have"
        raise ConfigError(
            f"--resume: {out}/models/{model} was trained by {whom}: reused, the replication "
            "would compare models with themselves; give the --output of the interrupted "
            "replication, or drop --resume"
        )


def replicate_config(
    config: Path,
    *,
    tolerance: float = 1e-6,
    tracking_uri: str | None = None,
    output_dir: Path | None = None,
    progress: Progress | None = None,
    engine: str | None = None,
    master: str | None = None,
) -> Replication:
    """Run ``config``, then replicate that run from its record: same config, data, seed twice."""
    cfg = load_config(config).with_engine(engine, master)
    out = output_dir / "run" if output_dir else default_output_dir(cfg)
    first = run_experiment(
        cfg,
        RunOptions(
            output_dir=out,
            tracking_uri=tracking_uri,
            config_text=config.read_text(encoding="utf-8"),
            config_file=str(config.resolve()),
            command="replicate",
        ),
        progress,
        config_dir=config.resolve().parent,
    )
    if first.run_id is None:
        raise ConfigError("the first run was not logged; cannot replicate it")
    return replicate_run(
        first.run_id,
        tolerance=tolerance,
        tracking_uri=resolve_uri(tracking_uri, cfg.tracking.uri),
        output_dir=output_dir / "replication"
        if output_dir
        else out.with_name(f"{out.name}-replication"),
        progress=progress,
    )


def _replication_dir(cfg: ExperimentConfig) -> Path:
    return Path("runs") / f"{cfg.name}-replication-{datetime.now():%Y%m%d-%H%M%S}"
