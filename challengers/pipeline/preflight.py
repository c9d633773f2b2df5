"""What `run` needs from its environment, checked by `check` and by `run` before the first model
trains, and the claim a run lays on its output directory.

The rule: a run that starts is not stopped by its environment after training. Names must fit the
file system (NAME_MAX for every file the run writes under a name from the config); the output
directory is one run's alone (a lock; an existing run directory is refused without ``--resume``,
files a run would replace that no run wrote are refused with it) and holds none of the files the
run reads (:func:`check_inputs`). The tracking store (writable, lock creatable) is checked by
``tracking.check_reachable``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
from collections.abc import Iterator
from pathlib import Path

from challengers.config import ExperimentConfig
from challengers.config.base import SCHEME, URI_SCHEMES
from challengers.data.frames import is_pattern
from challengers.errors import ConfigError, EnvironmentFailure
from challengers.pipeline.resume import CHECKPOINT

LOCK = ".challenge.lock"
# what a run writes into its output directory: any of them marks a run directory
RUN_FILES = ("comparison.json", "predictions.parquet", "models", "config.yaml", "report.md")
# the longest file name a run builds from a name: "<experiment>-replication-YYYYmmdd-HHMMSS" for
# the experiment; "<model>-importance.png" and their atomic-write temporaries for a model
NAME_MARGIN = {"name": 32, "model": 32}


def name_max(path: Path) -> int:
    """The longest file name (bytes) the file system under ``path`` takes (255 when unknown)."""
    existing = next((p for p in [path, *path.parents] if _exists(p)), Path.cwd())
    try:
        return os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a component too long, for one
        return False


def check_names(cfg: ExperimentConfig, out: Path | None) -> None:
    """Every name of the config fits the file system once the run adds its suffixes; refused
    here, before the data loads, rather than after training when the files are written."""
    limit = name_max(out or Path.cwd())
    names = [
        ("name", cfg.name, NAME_MARGIN["name"]),
        ("champion.name", cfg.champion.name, NAME_MARGIN["model"]),
        *(
            (f"challengers[{i}].name", c.name, NAME_MARGIN["model"])
            for i, c in enumerate(cfg.challengers)
        ),
    ]
    for where, name, margin in names:
        size = len(name.encode())
        if size + margin > limit:
            raise ConfigError(
                f"{where}: '{name[:20]}...' is {size} bytes; file names on this file system "
                f"hold at most {limit} and the run adds up to {margin} to it; shorten it to at "
                f"most {limit - margin}"
            )
    if out is not None:
        long = next((p for p in out.parts if len(p.encode()) > limit), None)
        if long is not None:
            raise ConfigError(
                f"--output: the path component '{long[:20]}...' is {len(long.encode())} bytes; "
                f"file names on this file system hold at most {limit}; shorten it"
            )


def check_inputs(
    cfg: ExperimentConfig, out: Path, config_file: str | None = None, *, command: str = "run"
) -> None:
    """Refuse an output directory that holds a file the command reads, or that the data's glob
    reaches: the outputs would replace the input (a data file named predictions.parquet, the
    config as config.yaml), change what it fingerprints (a champion model directory), or be read
    back as data by every later command (``data.path: dir/*.parquet`` with ``--output dir``).
    Said before anything is read or written; paths are compared once resolved (symlinks)."""
    root = _real(out)
    for where, path in _inputs(cfg, config_file):
        if where == "data.path" and is_pattern(path):
            if _glob_reaches(path, root):
                raise ConfigError(
                    f"--output {out}: data.path '{path}' matches files there, so the "
                    f"{command}'s outputs would be read back as data; choose an output directory "
                    "the pattern does not reach"
                )
        elif _overlap(_real(Path(path)), root):
            inside = _real(Path(path)) in root.parents  # a champion model's directory
            raise ConfigError(
                f"--output {out} {'is inside' if inside else 'holds'} {where} ({path}), which "
                f"the {command} reads: its outputs must not replace or mix with its inputs; "
                "choose an output directory that holds none of them"
            )


def _inputs(cfg: ExperimentConfig, config_file: str | None) -> list[tuple[str, str]]:
    """The local files a command reads, each with where the config names it (a URI is not a
    file here: Spark's or MLflow's)."""
    found: list[tuple[str, str]] = []
    if cfg.data.path is not None and not SCHEME.match(cfg.data.path):
        found.append(("data.path", cfg.data.path))
    model = cfg.champion.model
    if model is not None and not model.startswith(URI_SCHEMES):
        found.append(("champion.model", model))
    if config_file is not None:
        found.append(("the config file", config_file))
    return found


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _overlap(path: Path, root: Path) -> bool:
    """``path`` is ``root``, inside it, or (a directory, as a champion model can be) holds it."""
    return path == root or root in path.parents or path in root.parents


def _glob_reaches(pattern: str, root: Path) -> bool:
    """Whether the glob ``pattern`` matches a file in ``root`` (or below), or could match one
    written there later: an existing match is checked as resolved, the pattern component by
    component below its fixed directory (``**`` at any depth, as polars reads it)."""
    if any(_overlap(_real(Path(f)), root) for f in glob.glob(pattern, recursive=True)):
        return True
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = _real(Path(*parts[:fixed]) if fixed else Path())
    if not (base == root or base in root.parents):
        return False
    return _below(parts[fixed:], root.relative_to(base).parts)


def _below(pattern: tuple[str, ...], directory: tuple[str, ...]) -> bool:
    """Whether a path below ``directory`` (its components) could match ``pattern`` (its
    components): the directory's components match the pattern's first ones, and some are left
    to name what is below it."""
    if not directory:
        return bool(pattern)
    if not pattern:
        return False
    head, rest = pattern[0], pattern[1:]
    if head == "**":  # no directory, or one more
        return _below(rest, directory) or _below(pattern, directory[1:])
    return fnmatch.fnmatchcase(directory[0], head) and _below(rest, directory[1:])


@contextlib.contextmanager
def claimed(
    out: Path, *, resume: bool = False, audit: bool = False, command: str = "run"
) -> Iterator[None]:
    """Hold ``out`` for this run: a second run (or audit) into it at the same time is refused (an
    exclusive lock, released when the process ends however it ends), and so is a new run into
    the directory of an earlier one (its comparison, report and models would be replaced in
    silence) unless it is ``--resume``d. ``audit``: `challenge audit`, which refuses the
    directory of any run (it would replace the run's audit.json) and leaves no lock behind.
    ``command``: the command the user typed, whose options a refusal suggests (`challenge
    replicate` has no --resume)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the run-directory check still holds
        fcntl = None  # type: ignore[assignment]
    lock_path = out / LOCK
    created = not lock_path.exists()
    try:  # unbuffered: a full disk cannot fail a later flush of the holder's pid
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise EnvironmentFailure(
            f"--output {out}: cannot create the run's lock file ({exc.strerror}); choose a "
            "writable location"
        ) from exc
    started = False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                raise ConfigError(
                    f"--output {out}: another run is writing there now "
                    f"({holder or 'another process'}); wait for it to finish or choose another "
                    "directory"
                ) from None
        ours = _holds_run(out, had_lock=not created)
        _check_earlier(out, ours=ours, resume=resume, audit=audit, command=command)
        with contextlib.suppress(OSError):  # who holds it, for the refusal; a full disk
            os.ftruncate(fd, 0)  # fails later, where the run writes, with its own message
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        started = True
        yield
    finally:
        os.close(fd)  # releases the lock
        # a run keeps its lock once it has written: the mark of a run of this tool (_holds_run)
        written = started and not audit and any((out / n).exists() for n in RUN_FILES)
        if created and not written:
            with contextlib.suppress(OSError):  # refused early, or an audit: leave no trace
                lock_path.unlink()


def _holds_run(out: Path, *, had_lock: bool) -> bool:
    """Whether ``out`` holds a run of this tool: the lock a run keeps once it has written there
    (``had_lock``: it was there before this command), or a model's checkpoint. Files named as a
    run's outputs are not enough: a user's data file may be called predictions.parquet."""
    return had_lock or any((out / "models").glob(f"*/{CHECKPOINT}"))


def _check_earlier(
    out: Path, *, ours: bool, resume: bool, audit: bool, command: str = "run"
) -> None:
    """Refuse what the command would replace in ``out`` (``ours``: a run of this tool is there).
    ``--resume`` is suggested only where there is a run to continue, and only to `challenge run`
    (``command``), which has it; files a run writes that no run wrote are refused with or
    without it (a resume would replace them as its own)."""
    found = [n for n in RUN_FILES if (out / n).exists()]
    if not found:
        return
    if audit:
        if ours:
            raise ConfigError(
                f"--output {out} holds a run ({found[0]}); the audit would replace its "
                "audit.json: choose another directory for the audit"
            )
        return  # the audit writes none of those files
    if not ours:
        raise ConfigError(
            f"--output {out} holds {found[0]}, which a run writes, but no run of challenge (no "
            f"{LOCK} or model checkpoint there): it would be replaced; choose a new directory"
        )
    if not resume:
        instead = (
            "or add --resume to continue that run"
            if command == "run"
            else "or leave out --output for a new one"
        )
        raise ConfigError(
            f"--output {out} holds an earlier run ({found[0]}); choose a new directory, {instead}"
        )
