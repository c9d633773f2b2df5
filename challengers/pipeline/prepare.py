"""Loading and checking the data of a run: what `challenge check` does, and the first step of
`challenge run`."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from challengers.analysis.budget import budget_from_rate
from challengers.config import ExperimentConfig
from challengers.data import checks as data_checks
from challengers.data.checks import (
    check_test_rows,
    check_training_entity_counts,
    check_training_rows,
)
from challengers.data.frames import (
    DAY,
    DataSpec,
    check_finite,
    one_chunk_per_column,
    time_range,
)
from challengers.data.split import INPUT_EXAMPLE_ROWS, Split, Windows
from challengers.engine.base import Engine, WindowRows
from challengers.engine.rowhash import RowSums, load_kernels
from challengers.errors import ConfigError, DataError, EnvironmentFailure
from challengers.evaluation.evaluate import TestRows, resampling
from challengers.models import registry
from challengers.models.abilities import FitsOnSample, TrainsOnEngine
from challengers.models.champion import NativeModelChampion
from challengers.pipeline.loading import (
    Keep,
    Loaded,
    as_held,
    as_it_is,
    features_of,
    load_whole,
    load_windows,
    training_columns,
    window_rows,
    windows_alone,
)
from challengers.pipeline.memory import check_fits, need_of
from challengers.pipeline.plan import Plan, data_source, make_plan
from challengers.pipeline.preflight import check_names
from challengers.pipeline.tree_params import check_tree_params
from challengers.progress import Progress
from challengers.replication.fingerprint import DataFingerprint, Fingerprinter, from_sums
from challengers.threads import in_background, prompt_handover
from challengers.tracking import check_reachable, resolve_uri


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
    champion_source: Mapping[str, str] | None = None  # replicate: the MLflow champion's lineage
    register: bool | None = None  # --register; None: as tracking.register says; False: never
    command: str = "run"  # the command the user typed: what its refusals suggest (replicate)
    # the MLflow experiment logged to; None: the config's name. A replication logs beside the run
    # it replicates, in that run's experiment as named now (renamed, it went to a new one)
    experiment: str | None = None


@dataclass
class Prepared:
    """The data of a run, loaded, checked and split; what `challenge check` stops at."""

    plan: Plan
    split: Split
    fingerprint: str
    # every loaded row, lookback included: what production would know (None: not kept, as no model
    # of the run reads rows before its window; see prepare)
    history: pl.DataFrame | None
    data_print: DataFingerprint | None = None  # per-column/chunk digests, rows per window
    # a distributed engine stays open for the run: challengers train where the rows are
    engine: Engine | None = None
    engine_rows: WindowRows | None = None  # the split on the engine, the same rows as ``split``
    engine_history: Any = None  # every loaded row on the engine, as ``history`` (derived features)
    engine_tags: dict[str, str] = field(default_factory=dict)  # spark_version, spark_master
    # the windows' features stayed on the engine (features_stay_on_engine): the driver's frames
    # hold the named columns alone, and the training window's first rows (split.head)
    narrow: bool = False

    def close(self) -> None:
        """Release the engine (a Spark session the run started); the run's last step."""
        if self.engine is not None:
            self.engine.close()
            self.engine, self.engine_rows, self.engine_history = None, None, None


def prepare(
    cfg: ExperimentConfig,
    options: RunOptions,
    progress: Progress,
    *,
    keep_history: bool = True,
    check_memory: bool = False,
    keep: Keep = as_it_is,
    params_first: bool = True,
) -> Prepared:
    """Load, check, split and fingerprint the data. ``keep_history=False`` (a run): when no model
    reads rows before its window, the windows are loaded one by one and only the training and test
    rows are kept (``Prepared.history`` is None), instead of every loaded row besides them.
    ``check_memory``: an EnvironmentFailure before loading when the rows and the training clearly
    cannot fit in the memory left (pipeline/memory.py). ``keep``: given each held frame once it
    is final (a run moves large ones to disk: pipeline/spill.py). ``params_first``: the trees'
    parameters are checked by their libraries before any row is read (`challenge check`); else
    (a run) while the rows load, and refused once they are: :func:`_params_checking`."""
    if cfg.engine.kind == "spark":
        prepared = _prepare_on_spark(
            cfg, options, progress, keep_history=keep_history, params_first=params_first
        )
        return _kept(prepared, keep)
    plan = _plan(cfg, options, None)
    params_checked = _params_checking(cfg, plan, params_first)
    # the fingerprint's compiled kernels load while polars reads the first rows
    threading.Thread(target=load_kernels, name="challenge-kernels", daemon=True).start()
    champion_ready = _champion_loading(plan)
    # the main thread goes in and out of polars and the kernels, and came back each time to wait
    # behind the threads importing MLflow and the models' libraries
    with progress.stage("Loading data"), prompt_handover():
        lean = not keep_history and windows_alone(plan.windows)
        if check_memory:  # one line now, not an out-of-memory kill much later
            loaded_rows, train_rows, test_rows = window_rows(plan, lean)
            check_fits(need_of(plan, train_rows, test_rows, loaded_rows))
        if lean:  # each window given to keep as soon as it is read
            prepared = _prepared(cfg, plan, load_windows(plan, cfg.threads, keep), None, progress)
        else:
            prepared = _prepared(cfg, plan, load_whole(plan, None, cfg.threads), None, progress)
        champion_ready()
        params_checked()
    return prepared if lean else _kept(prepared, keep)


def _params_checking(cfg: ExperimentConfig, plan: Plan, first: bool) -> Callable[[], None]:
    """The libraries asked whether they accept the trees' parameters (pipeline/tree_params.py):
    now (``first``), or in a thread while the rows load; the function returned waits for that
    answer (a ConfigError). The check imports the trees' libraries: on the main thread before
    loading, it held the first row back (3.0 s on the demo, 2.0 CPU-s, where the run's warm-up
    imports them beside the loading anyway)."""
    if first:
        check_tree_params(plan, seed=cfg.seed, threads=cfg.threads)
        return lambda: None
    return in_background(
        partial(check_tree_params, plan, seed=cfg.seed, threads=cfg.threads),
        name="challenge-params",
    )


def _champion_loading(plan: Plan) -> Callable[[], None]:
    """A champion file's booster built in a thread while the data loads (importing its library
    takes a second or more: 1.3 s of the main thread before the first row was read, 100M rows);
    the function returned waits for it. The plan has read and checked the file: what is left to
    fail is the library's own reading, said (exit 2) before the audit and before MLflow hears
    of the run."""
    model = plan.champion.settings
    if not isinstance(model, NativeModelChampion):
        return lambda: None
    model.start_loading()
    return model.ready


def _kept(prepared: Prepared, keep: Keep) -> Prepared:
    """``prepared`` with its history and windows given to ``keep``, once they are all read."""
    if prepared.history is not None:
        prepared.history = keep("history", prepared.history)
    split = prepared.split
    prepared.split = replace(
        split, train=keep("training", split.train), test=keep("test", split.test)
    )
    return prepared


def _plan(cfg: ExperimentConfig, options: RunOptions, engine: Engine | None) -> Plan:
    plan = make_plan(
        cfg,
        only=options.only,
        allow_pickle=options.allow_pickle,
        tracking_uri=options.tracking_uri or cfg.tracking.uri,
        champion_source=options.champion_source,
        engine=engine,
    )
    return plan


def _prepare_on_spark(
    cfg: ExperimentConfig,
    options: RunOptions,
    progress: Progress,
    *,
    keep_history: bool = True,
    params_first: bool = True,
) -> Prepared:
    """:func:`prepare` on the Spark engine, which stays open for the run. Files are planned
    before Spark starts (a wrong column is said at once); a table is planned from its schema in
    the session's catalog. As locally, a run whose models read no rows before their window brings
    only the training and test rows to the driver (cut and the known frauds left out on Spark),
    not every loaded row."""
    engine: Engine | None = None
    try:
        if data_source(cfg).spark_only:  # planned from Spark's schema
            engine = start_spark(cfg)
        plan = _plan(cfg, options, engine)
        s = plan.spec
        params_checked = _params_checking(cfg, plan, params_first)
        champion_ready = _champion_loading(plan)
        with progress.stage("Loading data on Spark"):
            engine = engine or start_spark(cfg)
            rows = _load_on_spark(engine, cfg, plan)
            if _trains_on_engine(plan):  # more workers than the cluster runs: before training
                engine.workers(cfg.engine.num_workers)
            used = [c for c in plan.columns if c in rows.columns]
            sums = engine.row_sums(rows, used, chunk_by=DAY)
            split = engine.split(rows, plan.windows, target=s.target, entity=s.entity)
            # the windows are computed once (a read of the files and the known-fraud join) and
            # kept on the executors for every job of the run: bringing them here, scoring
            # each model's test and training rows, the sample, the references
            split = replace(split, train=engine.kept(split.train), test=engine.kept(split.test))
            lean = not keep_history and windows_alone(plan.windows)
            narrow = lean and features_stay_on_engine(plan)
            if lean:
                loaded = _windows_from_engine(engine, rows, split, plan, sums.rows, narrow)
            else:
                loaded = load_whole(plan, engine.to_polars(rows), cfg.threads)
            champion_ready()
            params_checked()
        prepared = _prepared(cfg, plan, loaded, sums, progress)
        if lean:  # as locally: the training frame lets go of the columns that only label tests
            prepared.split = prepared.split.with_training_columns(training_columns(plan))
        prepared.engine_rows, prepared.engine_history = split, rows
        prepared.narrow = narrow
        prepared.engine, prepared.engine_tags = engine, engine.tags()
        return prepared
    except BaseException:
        if engine is not None:
            engine.close()
        raise


def _windows_from_engine(
    engine: Engine,
    rows: Any,
    split: WindowRows,
    plan: Plan,
    loaded_rows: int,
    narrow: bool = False,
) -> Loaded:
    """The training and test rows of ``split`` on the driver, in file order, as
    :func:`~challengers.pipeline.loading.load_windows` holds them locally (``loaded_rows``: every
    loaded row, counted by the fingerprint's sums); the finiteness check sees every loaded row's
    infinities through the (normally no) rows that hold one. ``narrow``: without the features
    (:func:`features_stay_on_engine`): of the test rows every named column; of the training rows
    none (the in-sample diagnostics run on the engine: pipeline/insample.py), only their counts
    and first rows whole (the input examples)."""
    floats = [f for f in features_of(plan) if plan.schema[f].is_float()]
    infinite = engine.to_polars(engine.with_infinite(rows, floats))
    head, counts = None, None
    if narrow:
        test = _held(plan, engine.to_polars(engine.select(split.test, [*plan.named, DAY])))
        head = _held(plan, engine.head(split.train, INPUT_EXAMPLE_ROWS))
        negatives, positives = engine.class_counts(split.train, plan.spec.target)
        if plan.spec.entity is not None:  # the check the driver makes of rows it holds
            missing = engine.missing_counts(split.train, plan.spec.entity)
            check_training_entity_counts(plan.spec.entity, negatives + positives, *missing)
        train, counts = head.clear(), (negatives + positives, positives)
    else:
        train = _held(plan, engine.to_polars(split.train))
        test = _held(plan, engine.to_polars(split.test))
    # Spark's join for the known frauds put the entity column first: the file's order, as locally
    order = head.columns if head is not None else train.columns
    parts = Split(
        train.select(c for c in order if c in train.columns),
        test.select(c for c in order if c in test.columns),
        split.excluded_rows,
        split.excluded_positives,
        train_counts=counts,
        head=None if head is None else head.select(order),
    )
    printer = Fingerprinter(plan.columns, chunk_by=DAY)  # unused: the engine summed the rows
    return Loaded(parts, None, printer, [], [infinite], loaded_rows)


def _held(plan: Plan, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows brought to the driver, held as the local engine holds them (label text as categories,
    one chunk a column)."""
    return one_chunk_per_column(as_held(plan, rows.lazy()).collect())


def features_stay_on_engine(plan: Plan) -> bool:
    """Whether no model of the run reads the features of the windows' rows on the driver: the
    champion is a model file (scored on the executors) and every challenger trains on the
    engine's rows or on a sample drawn there, untuned (tuning searches on the driver's rows), and
    is scored there, reading no rows before its window. Then the driver needs of the training
    rows their counts and first rows (the in-sample diagnostics rank them on the engine, by
    :func:`ranked_by`), and of the test rows their named columns (``Plan.named``) and day; the
    diagnostics' feature drift and explanations get the rest from the engine."""
    if not isinstance(plan.champion.settings, NativeModelChampion) or plan.champion.extra_columns:
        return False
    for m in plan.challengers:
        kind = registry.kind_class(m.kind)
        if not issubclass(kind, (TrainsOnEngine, FitsOnSample)) or m.lookback_days:
            return False
        if m.settings.tuning() is not None:
            return False
    return True


def ranked_by(plan: Plan) -> list[str]:
    """The columns the in-sample diagnostics rank the training rows by (on the engine, beside
    each model's scores): label, amount, entity, day."""
    s = plan.spec
    return [c for c in (s.target, s.amount, s.entity, DAY) if c]


def _prepared(
    cfg: ExperimentConfig,
    plan: Plan,
    loaded: Loaded,
    sums: RowSums | None,
    progress: Progress,
) -> Prepared:
    """The loaded rows checked, split and fingerprinted (``sums``: summed by the engine)."""
    parts = loaded.split
    _check_windows(plan, parts)
    check_finite(loaded.checked, features_of(plan), "data.features")
    c = cfg.champion
    check_training_rows(parts.train, entity=plan.spec.entity)
    check_test_rows(
        parts.test,
        target=plan.spec.target,
        entity=plan.spec.entity,
        amount=plan.spec.amount if cfg.weighs_by_amount else None,
        score=c.score if c.score and c.production_score is None else None,
    )
    e = cfg.evaluation
    if e.bootstrap > 0:  # day blocks that do not hold are refused before any training
        rows = TestRows.from_frame(
            parts.test, target=plan.spec.target, amount=None, entity=plan.spec.entity
        )
        resampling(rows, e.resample, force=e.resample_force)
    # every loaded row counts (history and the gap feed features and the known-fraud exclusion)
    windows = {
        "loaded": loaded.rows,
        "train": parts.training_counts(plan.spec.target)[0],
        "test": parts.test.height,
        "excluded_known_fraud": parts.excluded_rows,
    }
    with progress.stage("Fingerprinting the data"):
        if sums is not None:  # summed on the executors, equal to the local sums of these rows
            data_print = from_sums(sums, windows)
        else:  # the sums do not depend on how the rows are cut into pieces
            data_print = loaded.fingerprint_rest().finish(windows)
    return Prepared(
        plan=plan,
        split=parts,
        fingerprint=data_print.digest,
        history=loaded.history,
        data_print=data_print,
    )


def _trains_on_engine(plan: Plan) -> bool:
    """Whether a challenger of the run trains on the engine's workers (XGBoost on Spark): only
    then must the cluster run its workers at once (a run resumed while a lost executor is being
    replaced, with no such challenger, goes on with the executors there are)."""
    return any(issubclass(registry.kind_class(m.kind), TrainsOnEngine) for m in plan.challengers)


def start_spark(cfg: ExperimentConfig) -> Engine:
    """The Spark engine of ``cfg``: the session that is active, or one it starts (and stops)."""
    from challengers.engine.spark import SparkEngine

    return SparkEngine.start(cfg.engine.master, dict(cfg.engine.conf))


def _load_on_spark(engine: Engine, cfg: ExperimentConfig, plan: Plan) -> Any:
    """The rows Spark read and checked. They are fingerprinted by Spark, then brought to the
    driver in file order: the steps after loading run here (the rows the local engine would have
    loaded, so the same numbers), except the challengers' training."""
    w = plan.windows
    return engine.load_days(
        data_source(cfg),
        columns=plan.columns,
        time=plan.spec.time,
        target=plan.spec.target,
        start=w.first_day,
        end=w.last_day,
        windows=w,
    )


def _check_windows(plan: Plan, parts: Split) -> None:
    w, target = plan.windows, plan.spec.target
    test = (parts.test.height, int(parts.test.get_column(target).sum()))
    for label, (rows, positives), start, end in (
        ("train", parts.training_counts(target), w.train_start, w.train_end),
        ("test", test, w.test_start, w.test_end),
    ):
        window = f"split.{label}: the window {start}..{end}"
        if label == "test":
            _check_left_out_known_frauds(plan, parts, window, rows, positives)
        if rows == 0:
            lo, hi = time_range(plan.lf, plan.spec.time)
            raise DataError(
                f"{window} has no rows; the data covers {lo}..{hi}; move the window inside it"
            )
        if positives == 0:
            raise DataError(
                f"{window} has {rows} rows but no frauds ({target} = 1); widen or move the window"
            )
        if positives == rows:
            raise DataError(
                f"split.{label}: every row of the window {start}..{end} is a fraud; the target "
                "column is probably wrong"
            )


def _check_left_out_known_frauds(
    plan: Plan, parts: Split, window: str, rows: int, positives: int
) -> None:
    """A test window that leaving out the rows of entities with a fraud known before their day
    emptied (of its rows, or of its frauds) is said to be so: the window is not at fault."""
    emptied = (rows == 0 and parts.excluded_rows > 0) or (
        positives == 0 and parts.excluded_positives > 0
    )
    if not emptied:
        return
    spec = plan.spec
    gone = (
        f"once the {parts.excluded_rows:,} rows of entities ({spec.entity}) with a fraud known "
        f"before their day are left out ({parts.excluded_positives:,} of them frauds; "
        "split.exclude_known_frauds)"
    )
    remains = "has no rows left" if rows == 0 else f"has {rows:,} rows but no frauds left"
    raise DataError(
        f"{window} {remains} {gone}; set split.exclude_known_frauds: false to score them, or "
        "check that data.entity names an account and not a shared id"
    )


def check_experiment(cfg: ExperimentConfig, options: RunOptions, progress: Progress) -> dict:
    """Validate the config, the data and the champion without training anything: everything a
    run would need from its environment (preflight.py) included."""
    check_names(cfg, options.output_dir)
    uri = resolve_uri(options.tracking_uri, cfg.tracking.uri)
    check_reachable(uri, experiment=cfg.name)  # a run would need it (and log to it)
    # nothing is trained: the engine closes once the notes have read the rows (a table's through it)
    with contextlib.closing(prepare(cfg, options, progress)) as prepared:
        summary = prepared.split.summary(prepared.plan.spec.target)
        return {
            **summary,
            "fingerprint": prepared.fingerprint,
            "features": len(prepared.plan.spec.features),
            "champion": prepared.plan.champion.kind,
            "challengers": [f"{m.name} ({m.kind})" for m in prepared.plan.challengers],
            "notes": [
                *prepared.plan.notes,
                *prepared_notes(prepared),
                *budget_notes(cfg, prepared),
            ],
        }


MIN_COUNTED = 10  # rows a budget's figure rests on, below which it says little


def budget_notes(cfg: ExperimentConfig, prepared: Prepared) -> list[str]:
    """Budgets the test window makes degenerate, said before a run: an alert rate or a false-
    positive rate that leaves a handful of rows (precision_at_alerts@1e-07 alerted 1 row and read
    1.0 for every model), a daily k above any day's entities (every entity alerted, and the
    figure their frauds over k: 1.7e-07 at k = 10^8)."""
    e = cfg.evaluation
    budgets = [(f"evaluation.metrics {m.key}", m.info.param, m.param) for m in e.metric_specs]
    if e.operating_point.alert_rate is not None:
        rate = e.operating_point.alert_rate
        budgets.append(("evaluation.operating_point.alert_rate", "alert_rate", rate))
    found = (
        _budget_note(where, kind, value, prepared.split.test, prepared.plan.spec)
        for where, kind, value in budgets
        if kind is not None and value is not None
    )
    return [note for note in found if note]


def _budget_note(where: str, kind: str, value: float, test: pl.DataFrame, spec: DataSpec) -> str:
    """What makes one budget degenerate on ``test``, or ""."""
    rows = test.height
    alerts = budget_from_rate(rows, value).alerts if kind == "alert_rate" else None
    if alerts is not None and alerts < MIN_COUNTED:
        return (
            f"{where}: {value:g} of the {rows:,} test rows is {alerts} alert(s); a figure on "
            f"fewer than {MIN_COUNTED} rows says little"
        )
    if kind == "fpr":
        genuine = rows - int(test.get_column(spec.target).sum())
        if value * genuine < MIN_COUNTED:
            return (
                f"{where}: {value:g} of the {genuine:,} genuine test rows allows "
                f"{value * genuine:.1f} false alert(s); a figure on fewer than {MIN_COUNTED} "
                "says little"
            )
    busiest = _busiest_day(test, spec.entity) if kind == "k" and spec.entity else None
    if busiest is not None and value > busiest:
        return (
            f"{where}: k = {value:g} is more than any test day's {busiest:,} entities: every "
            "entity is alerted each day, and the figure is their frauds over k"
        )
    return ""


def _busiest_day(test: pl.DataFrame, entity: str) -> int:
    """The most distinct entities any test day has."""
    most = test.group_by(DAY).agg(pl.col(entity).n_unique()).select(pl.col(entity).max())
    return int(most.item() or 0)


def default_output_dir(cfg: ExperimentConfig, kind: str = "") -> Path:
    return Path("runs") / f"{cfg.name}{kind}-{datetime.now():%Y%m%d-%H%M%S}"


@contextmanager
def output_directory(out: Path) -> Iterator[Path]:
    """Create ``out`` (checked writable) for a command; if the command fails before writing
    anything there, remove it again, so bad input leaves no empty run directory behind."""
    created = not out.exists()
    ensure_writable(out)
    try:
        yield out
    except BaseException:
        if created:
            with contextlib.suppress(OSError):  # not empty: checkpoints for --resume stay
                out.rmdir()
        raise


def ensure_writable(out: Path) -> None:
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


def prepared_notes(prepared: Prepared) -> list[str]:
    """Every note of `challenge check` about the loaded data."""
    plan, w = prepared.plan, prepared.plan.windows
    features = sorted({f for m in [plan.champion, *plan.challengers] for f in m.features})
    windows = [("train", w.train_start, w.train_end), ("test", w.test_start, w.test_end)]
    assert prepared.history is not None, "check prepares with keep_history"
    found = data_checks.notes(prepared.history, prepared.split.train, features, windows)
    untimed = data_checks.missing_times(plan.lf, plan.spec.time)
    unlabelled = data_checks.unlabelled_gap(prepared.history, plan.spec.target, w)
    readers: dict[str, list[str]] = {}
    for m in plan.challengers:
        for column in m.extra_columns:
            readers.setdefault(column, []).append(m.name)
    entities = data_checks.entity_notes(prepared.split.train, readers)
    return [*found, *entities, *(n for n in (untimed, unlabelled) if n), *_delay_note(w)]


def _delay_note(w: Windows) -> list[str]:
    """The run's finding on a test window that starts inside the label delay, said before it."""
    if w.gap_days >= w.label_delay_days:
        return []
    first = w.train_end + timedelta(days=w.label_delay_days + 1)
    return [
        f"split: {w.gap_days} day(s) between the training and test windows, but labels take "
        f"{w.label_delay_days}: production would not know the last training labels yet, so the "
        f"evaluation is optimistic (the run reports it); a test window from {first} has none"
    ]
