"""The Optuna study of a tuning: sqlite storage, resume, the budget, trial records and plots.

Optuna is imported only here and in :mod:`challengers.tuning.search`, lazily, so config validation and
``--help`` stay fast.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from challengers.config import TuneConfig
from challengers.figures import plots_wanted
from challengers.files import atomic_path
from challengers.progress import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, as logged to MLflow."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    params: dict[str, Any]
    rounds: int | None
    steps: list[tuple[int, float]]  # (rounds, validation metric) every eval_every rounds
    seconds: float
    error: str | None = None
    defaults: bool = False  # the library defaults, enqueued as the study's first trial


def optuna_module() -> Any:
    import optuna

    # optuna logs every trial, and a failed one (Ctrl-C included) with its traceback, on stderr;
    # failures are kept with the trials (the `error` attribute, a tag of its MLflow run) instead
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # a Ctrl-C while SQLAlchemy hands a connection back makes its pool log "Exception during
    # reset" with a traceback (then it re-raises the interrupt, which the run reports in one line)
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    return optuna


def open_study(
    path: Path,
    name: str,
    config: TuneConfig,
    *,
    maximize: bool,
    seed: int,
    resume: bool,
    fingerprint: str,
    first_trial: dict[str, Any],
    progress: Progress,
) -> tuple[Any, int]:
    """Create the study, or continue the stored one when ``resume`` and its ``fingerprint`` (the
    settings and data it was run with) match. Returns it and its finished trials so far."""
    optuna = optuna_module()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not resume:
        for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            stale.unlink(missing_ok=True)
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{path}", engine_kwargs={"creator": lambda: _connect(path)}
    )
    stored = _stored(storage, name)
    if stored is not None and stored[1] != fingerprint:
        progress.note(
            f"tuning '{name}': the stored study used other settings or data; starting over"
        )
        optuna.delete_study(study_name=name, storage=storage)
        stored = None
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize" if maximize else "minimize",
        load_if_exists=True,
        sampler=sampler(seed, config, 0 if stored is None else stored[0]),
        pruner=_pruner(config),
    )
    study.set_user_attr("fingerprint", fingerprint)
    study.set_user_attr("seed", seed)
    state = optuna.trial.TrialState
    _fail_running(study)  # a killed process leaves its trial RUNNING: lost, not pending
    # the library defaults first, also when the interrupt came during that first trial
    started = {state.COMPLETE, state.PRUNED, state.WAITING}
    if first_trial and not any(t.state in started for t in study.trials):
        study.enqueue_trial(first_trial)
    return study, finished(study)


def sampler(seed: int, config: TuneConfig, finished: int) -> Any:
    """The seeded TPE sampler that draws the trial after ``finished`` finished ones.

    :func:`optimize` gives each trial of a one-job search its own, seeded by the run's seed and
    the finished trials before it: TPE draws from the finished trials and its random state only,
    so a study interrupted and resumed draws what an uninterrupted one does (a failed trial, the
    one in flight at an interrupt included, is not among what TPE reads)."""
    import numpy as np

    optuna = optuna_module()
    drawn = int(np.random.SeedSequence([seed, finished]).generate_state(1)[0])
    return optuna.samplers.TPESampler(
        seed=drawn, n_startup_trials=max(3, min(10, config.trials // 3))
    )


def _connect(path: Path) -> sqlite3.Connection:
    """A sqlite connection in WAL mode without a sync per commit: a trial's writes survive the
    process being interrupted or killed (not a power cut), at a fraction of the cost."""
    connection = sqlite3.connect(path, timeout=60, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def finished(study: Any) -> int:
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)


def _stored(storage: Any, name: str) -> tuple[int, str] | None:
    """(trials, fingerprint) of the stored study of that name, or None."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    trials = len(storage.get_all_trials(study_id, deepcopy=False))
    return trials, str(storage.get_study_user_attrs(study_id).get("fingerprint", ""))


def _pruner(cfg: TuneConfig) -> Any:
    optuna = optuna_module()
    if not cfg.pruning:
        return optuna.pruners.NopPruner()
    # no verdict before a tenth of the round budget: slow learning rates start low
    warmup = max(cfg.eval_every, min(100, cfg.max_rounds // 10))
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)


def optimize(
    study: Any,
    objective: Callable[[Any], float],
    config: TuneConfig,
    *,
    label: str,
    progress: Progress,
) -> bool:
    """Run trials until ``config.trials`` have finished (this and earlier sessions) or the time
    budget (``timeout_s``, earlier sessions' trials included) is spent. A progress bar shows the
    best value so far. True when the time budget ended the search before its trials finished."""
    optuna = optuna_module()
    done = finished(study)
    remaining = config.trials - done
    budget = None if config.timeout_s is None else config.timeout_s - _spent(study)
    if remaining <= 0:
        return False
    if budget is not None and budget <= 0:
        return True
    with progress.stage(f"Tuning {label}", total=config.trials) as advance:
        advance(done, description=_describe(label, study))

        def on_trial(study: Any, trial: Any) -> None:
            counted = trial.state.name in ("COMPLETE", "PRUNED")
            advance(int(counted), description=_describe(label, study))

        def run(trials: int, timeout: float | None, jobs: int) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.optimize(
                    objective,
                    n_trials=trials,
                    timeout=timeout,
                    n_jobs=jobs,
                    catch=(Exception,),  # one bad parameter set is a failed trial, not a lost run
                    callbacks=[on_trial],
                )

        seed = int(study.user_attrs["seed"])
        started = time.monotonic()

        def left() -> float | None:
            return None if budget is None else budget - (time.monotonic() - started)

        # One trial at a time, each with its own seeded sampler. With n_jobs > 1 only a waiting
        # (enqueued) trial, the defaults: parallel workers each took it (sqlite has no row locks),
        # which lost a trial or failed the search ("Cannot tell a COMPLETE trial"); the rest run
        # in parallel, in a racy order, not replayable anyway.
        ran = 0
        try:
            while ran < remaining and (config.n_jobs == 1 or _waiting(study)):
                if (time_left := left()) is not None and time_left <= 0:
                    return True
                study.sampler = sampler(seed, config, finished(study))
                run(1, time_left, 1)
                ran += 1
            if ran < remaining and ((time_left := left()) is None or time_left > 0):
                run(remaining - ran, time_left, config.n_jobs)
        except KeyboardInterrupt:
            # a Ctrl-C between optuna creating a trial and entering it left the trial RUNNING
            # (now more often, with a study.optimize per trial): failed, the only trial lost
            _fail_running(study)
            raise
        time_left = left()
        return time_left is not None and time_left <= 0 and finished(study) < config.trials


def _fail_running(study: Any) -> None:
    """This run's trials still RUNNING told FAIL (the run holds the study: one process)."""
    state = optuna_module().trial.TrialState
    for t in study.trials:
        if t.state == state.RUNNING:
            study.tell(t.number, state=state.FAIL)


def _waiting(study: Any) -> bool:
    return any(t.state.name == "WAITING" for t in study.trials)


def _describe(label: str, study: Any) -> str:
    try:
        best = study.best_trial
    except ValueError:
        return f"Tuning {label}"
    return f"Tuning {label}: {finished(study)} trials, best {best.value:.4f} (trial {best.number})"


def _seconds(t: Any) -> float:
    if t.datetime_start is None or t.datetime_complete is None:
        return 0.0
    return float((t.datetime_complete - t.datetime_start).total_seconds())


def _spent(study: Any) -> float:
    """Seconds the study's trials have taken so far, interrupted sessions included."""
    return sum(_seconds(t) for t in study.trials)


def records(study: Any) -> list[TrialRecord]:
    """The finished and failed trials, in order."""
    out = []
    for t in study.trials:
        if t.state.name not in ("COMPLETE", "PRUNED", "FAIL"):
            continue
        rounds = t.user_attrs.get("rounds")
        out.append(
            TrialRecord(
                number=t.number,
                state=t.state.name,
                value=None if t.value is None else float(t.value),
                params=dict(t.params),
                rounds=None if rounds is None else int(rounds),
                steps=sorted((int(k), float(v)) for k, v in t.intermediate_values.items()),
                seconds=_seconds(t),
                error=t.user_attrs.get("error"),
                defaults="fixed_params" in t.system_attrs,  # what enqueue_trial leaves
            )
        )
    return out


def failure_reason(study: Any) -> str:
    errors = [t.user_attrs["error"] for t in study.trials if "error" in t.user_attrs]
    if errors:
        return f"the first failure: {errors[0]}"
    return "every trial was pruned or the time budget ran out; raise tune.trials or timeout_s"


def plots(study: Any, directory: Path, name: str) -> list[Path]:
    """The optimisation history and parameter importances as PNGs beside the study (none where
    the environment sets ``CHALLENGE_PLOTS=off``)."""
    if not plots_wanted():
        return []
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out = []
    for suffix, draw in (
        ("history", ovm.plot_optimization_history),
        ("importance", ovm.plot_param_importances),
    ):
        path = directory / f"{name}-{suffix}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figure = draw(study).get_figure(root=True)
            assert figure is not None
            with atomic_path(path) as tmp:
                figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
            plt.close(figure)
            out.append(path)
        except Exception as exc:  # e.g. importances need two finished trials
            log.info("no %s plot for %s: %s", suffix, name, exc)
    return out
