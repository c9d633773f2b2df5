"""Where a run's finished models are kept, and what the tool says to resume it.

Each finished model has its directory ``<output>/models/<name>/`` (see
:mod:`challengers.pipeline.checkpoint`); its ``checkpoint.json``, written last, says it is whole.
After an interrupt or a failure past training, the one-line message names the kept models and the
command that continues the run in the same tracking store.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from challengers.errors import ChallengeError, ConfigError, RunInterrupted
from challengers.interrupts import signal_name

CHECKPOINT = "checkpoint.json"
PREDICTIONS = "predictions.parquet"
ARRAYS = "arrays.npz"


def model_dir(out: Path, name: str) -> Path:
    return out / "models" / name


def require_resumable(output_dir: Path | None) -> Path:
    """--resume needs the directory of the interrupted run."""
    if output_dir is None:
        raise ConfigError("--resume needs --output DIR: the output directory of the run to resume")
    if not output_dir.is_dir():
        raise ConfigError(
            f"--resume: {output_dir} does not exist; give the --output directory of the "
            "interrupted run, or drop --resume to start a new run"
        )
    return output_dir


def finished_models(out: Path) -> list[str]:
    """The models of ``out`` whose checkpoint is complete (what --resume would reuse)."""
    return sorted(p.parent.name for p in (out / "models").glob(f"*/{CHECKPOINT}"))


def checkpoint_writers(out: Path) -> dict[str, str]:
    """Each finished model of ``out`` with the MLflow parent run that wrote its checkpoint ("":
    none named; an unreadable checkpoint is left out: the resumed run trains that model again)."""
    writers = {}
    for path in (out / "models").glob(f"*/{CHECKPOINT}"):
        try:
            run_id = json.loads(path.read_text(encoding="utf-8")).get("run_id")
        except (OSError, ValueError, AttributeError):
            continue
        writers[path.parent.name] = str(run_id or "")  # "": a checkpoint that names none
    return writers


def resume_command(
    out: Path, config_file: str | None, tracking_uri: str | None, replicating: str | None = None
) -> str:
    """The command that continues the run in ``out``, in the same tracking store: each argument
    quoted for the shell, so that it works pasted (a path with a space read as two arguments).
    ``replicating``: the run id a replication re-runs, which the command replicates again (a
    plain `challenge run --resume` finished it as a run of its own, compared with nothing)."""
    store = ["--tracking-uri", tracking_uri] if tracking_uri else []
    command = ["replicate", replicating] if replicating else ["run", config_file or "CONFIG"]
    return shlex.join(["challenge", *command, "--resume", "--output", str(out), *store])


def interrupted_error(
    exc: KeyboardInterrupt,
    out: Path,
    config_file: str | None,
    tracking_uri: str | None = None,
    *,
    logged: bool = True,
    replicating: str | None = None,
) -> RunInterrupted:
    """The one line after Ctrl-C/SIGTERM/SIGHUP: what became of the MLflow run (``logged``: it
    had started), what was kept, and the command that resumes (naming the store when it came from
    the command line or the environment: without it the resumed run would log to another store)."""
    kept = finished_models(out)
    run = "the MLflow run is marked KILLED" if logged else "no MLflow run was started"
    return RunInterrupted(
        f"interrupted ({signal_name(exc)}): {run}; "
        f"{len(kept)} finished model(s) kept in {out}/models ({', '.join(kept) or 'none'}); "
        f"resume with: {resume_command(out, config_file, tracking_uri, replicating)}"
    )


def with_resume_hint(
    exc: ChallengeError,
    out: Path,
    config_file: str | None,
    tracking_uri: str | None,
    replicating: str | None = None,
) -> ChallengeError:
    """A failure after models finished: the same error, saying which models are kept and how to
    resume once the cause is fixed (nothing trained is lost)."""
    kept = finished_models(out)
    if not kept:
        return exc
    hint = (
        f"; {len(kept)} finished model(s) kept in {out}/models ({', '.join(kept)}); after fixing "
        f"this, resume with: {resume_command(out, config_file, tracking_uri, replicating)}"
    )
    exc.args = (str(exc) + hint,)
    return exc
