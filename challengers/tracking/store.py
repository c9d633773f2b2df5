"""Which store, whether it is reachable and usable, and opening it once per process."""

from __future__ import annotations

import base64
import contextlib
import functools
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shlex
import sqlite3
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

from challengers.errors import ConfigError, EnvironmentFailure, first_line, scrub
from challengers.tracking.template import copy_template, forget_template, keep_template

DEFAULT_URI = "sqlite:///mlflow.db"


def resolve_uri(cli_uri: str | None = None, config_uri: str | None = None) -> str:
    """The store: --tracking-uri > tracking.uri > MLFLOW_TRACKING_URI > ./mlflow.db.

    Credentials come from the environment only (MLFLOW_TRACKING_USERNAME/PASSWORD or
    MLFLOW_TRACKING_TOKEN): a URI holding them on the command line would sit in the shell history
    and the process list, so it is refused (the config refuses them when it loads).
    """
    if cli_uri and _has_credentials(cli_uri):
        raise ConfigError(
            f"--tracking-uri {scrub(cli_uri)}: the URI holds credentials; remove them and set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    return cli_uri or config_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _has_credentials(uri: str) -> bool:
    parsed = urlparse(uri)
    return bool(parsed.username or parsed.password)


def _without_credentials(uri: str, mark: str = "") -> str:
    parsed = urlparse(uri)
    if parsed.password or parsed.username:
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
        return parsed._replace(netloc=f"{mark}{host}{port}").geturl()
    return uri


def check_reachable(uri: str, timeout_s: float = 5.0, *, experiment: str | None = None) -> None:
    """Raise EnvironmentFailure when the store cannot be used; cheap, no MLflow import.
    ``experiment``: the experiment a run logs to, which must not be deleted in the store (MLflow
    refuses to log to it, and the run failed only when it started logging, after the data was
    loaded and audited); checked where the store is read without MLflow: a local sqlite file, a
    tracking server."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        url = _without_credentials(uri).rstrip("/") + "/version"  # the probe needs no login
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                if response.status >= 400:
                    raise EnvironmentFailure(
                        f"tracking store {scrub(uri)} answered HTTP {response.status}; "
                        "check the server or the URI"
                    )
                body = response.read(64).decode("utf-8", "replace").strip()
            if not re.fullmatch(r"\d+\.\d+[\w.+-]*", body):  # any web server answers 200
                raise EnvironmentFailure(
                    f"tracking store {scrub(uri)} answers, but not as an MLflow tracking server "
                    f"(GET /version gave {body[:30]!r}); check the host and port"
                )
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EnvironmentFailure(
                f"tracking store {scrub(uri)} is unreachable ({reason}); start the server, fix "
                "tracking.uri / --tracking-uri, or unset it to use the local sqlite store"
            ) from None
        if experiment is not None:
            _require_live(uri, experiment, _server_experiment(uri, experiment, timeout_s))
        return
    if scheme == "sqlite":
        if not uri.startswith("sqlite:///") or uri == "sqlite:///":
            raise ConfigError(
                f"tracking URI '{scrub(uri)}' names no database file; write "
                "sqlite:///path/to/mlflow.db (three slashes, then the path)"
            )
        target = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
        if target is not None and str(target) != ":memory:":
            _require_writable(target.parent if str(target.parent) else Path(), uri)
            _require_sqlite(target, uri)
            problem = _contents_problem(target) or _schema_problem(uri)
            if problem:
                raise EnvironmentFailure(f"tracking store {scrub(uri)} cannot be opened: {problem}")
            if experiment is not None:
                _require_live(uri, experiment, _sqlite_experiment(target, experiment))
        return
    if scheme in ("", "file"):
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() != "true":  # MLflow 3 refuses
            # them on first use, in a message the one-line error would cut at "See htt"
            if scheme == "" and _names_a_database(Path(uri)):
                raise ConfigError(
                    f"tracking URI '{scrub(uri)}' is a database file's path, not a URI; "
                    f"write sqlite:///{uri}"
                )
            raise ConfigError(
                f"tracking URI '{scrub(uri)}' is a directory store, which MLflow no longer "
                "opens; use a sqlite file such as sqlite:///mlflow.db or a server "
                "http://host:port (or set MLFLOW_ALLOW_FILE_STORE=true)"
            )
        target = Path(parsed.path if scheme == "file" else uri)
        _require_writable(target if target.exists() else target.parent, uri)
        return
    if scheme in ("databricks", "postgresql", "mysql", "mssql"):
        return  # checked by MLflow on first use
    raise ConfigError(
        f"tracking URI '{scrub(uri)}' has an unknown scheme '{scheme}'; use a sqlite file such "
        "as sqlite:///mlflow.db or a server http://host:port"
    )


def restore_command(uri: str, arguments: Sequence[str]) -> str:
    """The `mlflow` command line ``arguments`` against the store ``uri`` (MLflow's commands read
    it from the environment), each argument quoted for the shell."""
    return f"MLFLOW_TRACKING_URI={shlex.quote(scrub(uri))} {shlex.join(['mlflow', *arguments])}"


def deleted_experiment(uri: str, name: str, experiment_id: str) -> str:
    """What to say of the experiment ``name``, deleted in the store ``uri``: MLflow keeps it (and
    its runs) until it is restored or purged, and logs nothing to it meanwhile."""
    restore = restore_command(uri, ["experiments", "restore", "--experiment-id", experiment_id])
    return (
        f"experiment '{name}' is deleted in the tracking store {scrub(uri)} (id {experiment_id}), "
        f"so nothing can be logged to it; restore it with `{restore}` (or "
        "MlflowClient().restore_experiment), or set another name in the config (`name:`)"
    )


def _require_live(uri: str, name: str, found: tuple[str, str] | None) -> None:
    """``found``: the experiment's id and lifecycle stage, None where it does not exist (yet)
    or was not read."""
    if found is not None and found[1] == "deleted":
        raise EnvironmentFailure(deleted_experiment(uri, name, found[0]))


def _sqlite_experiment(path: Path, name: str) -> tuple[str, str] | None:
    """The id and lifecycle stage of experiment ``name`` in a local sqlite store, read without
    MLflow (milliseconds); None where the store is new or not yet MLflow's, or holds no such
    experiment."""
    row = _read_row(
        path, "SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?", (name,)
    )  # None too where the table is not there yet: MLflow makes it
    return (str(row[0]), str(row[1])) if row else None


def _read_row(path: Path, query: str, parameters: tuple[str, ...] = ()) -> tuple[Any, ...] | None:
    """The first row ``query`` gives on the sqlite file ``path``, opened read-only (a reading
    command never creates or changes a store); None where the file is missing or empty, or the
    query fails (a table not there, a file that is not a database)."""
    if _new_file(path):
        return None
    try:
        with _read_only(path) as db:
            row = db.execute(query, parameters).fetchone()
    except sqlite3.Error:
        return None
    return tuple(row) if row is not None else None


def _new_file(path: Path) -> bool:
    """Missing or empty: what MLflow would make a new store of."""
    return not path.is_file() or not path.stat().st_size


def _read_only(path: Path, timeout_s: float = 5.0) -> contextlib.closing[sqlite3.Connection]:
    """The sqlite file ``path`` opened read-only (a reading command never creates or changes a
    store), closed when the block ends."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return contextlib.closing(sqlite3.connect(uri, uri=True, timeout=timeout_s))


def _server_experiment(uri: str, name: str, timeout_s: float) -> tuple[str, str] | None:
    """The id and lifecycle stage of experiment ``name`` as a tracking server says (its REST
    API, deleted experiments included); None where it has none, or did not say (a login it
    refused: MLflow logs in, and says what is wrong, when the run starts)."""
    query = urlencode({"experiment_name": name})
    url = f"{_without_credentials(uri).rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?{query}"
    request = urllib.request.Request(url, headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            found = json.loads(response.read(1 << 20)).get("experiment") or {}
    except (OSError, ValueError, AttributeError):  # 404 (none yet) among them
        return None
    if not isinstance(found, dict) or "lifecycle_stage" not in found:
        return None
    return str(found.get("experiment_id", "?")), str(found["lifecycle_stage"])


def _auth_headers() -> dict[str, str]:
    """The login MLflow itself sends, from the environment (never from a URI)."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every sqlite database file
DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _names_a_database(path: Path) -> bool:
    """A plain path a user meant as a sqlite store (``--tracking-uri mlflow.db``): a sqlite file,
    or a name with a database's suffix that is not a directory."""
    if path.is_dir():
        return False
    if path.is_file() and path.stat().st_size:
        with contextlib.suppress(OSError):
            return _is_sqlite(path)
    return path.suffix.lower() in DATABASE_SUFFIXES


def _is_sqlite(path: Path) -> bool:
    """Whether the file at ``path`` begins as every sqlite database does."""
    with path.open("rb") as handle:
        return handle.read(16) == SQLITE_HEADER


def _require_sqlite(path: Path, uri: str) -> None:
    """A store path must be a sqlite file or nothing yet (MLflow would retry a wrong one for
    minutes before giving up)."""
    if path.is_dir():
        raise EnvironmentFailure(
            f"tracking store {scrub(uri)}: {path} is a directory; name a file such as "
            f"sqlite:///{path / 'mlflow.db'}"
        )
    if path.is_file() and path.stat().st_size and not _is_sqlite(path):
        raise EnvironmentFailure(
            f"tracking store {scrub(uri)}: {path} is not a sqlite database; point "
            "--tracking-uri at the store's .db file"
        )


def _require_writable(directory: Path, uri: str) -> None:
    directory = directory if str(directory) else Path()
    if not directory.exists():
        raise EnvironmentFailure(
            f"tracking store {scrub(uri)}: directory {directory} does not exist; create it"
        )
    try:  # a real file, as the run will create: os.access says yes to root on a read-only
        # mount, and to a working directory that was deleted
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise EnvironmentFailure(
            f"tracking store {scrub(uri)}: cannot create files in {directory.absolute()} "
            f"({exc.strerror}); choose a writable location with --tracking-uri"
        ) from None


_opened: set[str] = set()  # stores this process has opened (MLflow caches them per URI)


@contextmanager
def _sqlite_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a local sqlite store while it is opened.

    MLflow creates the tables of a new store on first use; two processes doing it at once fail
    ("Online migration expected to match one row"). Later writes are safe: sqlite locks them and
    MLflow sets a 20 s busy timeout. The lock file is ``.<store>.lock`` next to the store.
    """
    path = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if path is None or str(path) == ":memory:" or not path.parent.is_dir():
        yield
        return
    try:
        import fcntl
    except ImportError:  # not on Windows: there, the first run must create the store alone
        yield
        return
    with path.with_name(f".{path.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open_store(mlflow: Any, uri: str) -> None:
    """Open (and, when new, create) the store once per process, one process at a time. A new
    local sqlite store starts as a copy of the empty store kept in the user's cache
    (:mod:`challengers.tracking.template`), else MLflow makes it (and it is kept as that copy)."""
    if uri in _opened:
        return
    with _sqlite_lock(uri):
        new = _new_sqlite_file(uri)
        if new is not None and copy_template(new) and _opens_copy(mlflow, uri, new):
            new = None  # a copy of the template: nothing to keep
        else:
            try:
                _first_read(mlflow, uri)
            except Exception as exc:
                said = _schema_problem(uri) or first_line(exc, limit=300)
                raise EnvironmentFailure(
                    f"tracking store {scrub(uri)} cannot be opened: {said}"
                ) from exc
        if new is not None:
            keep_template(new)
    _opened.add(uri)


MLFLOW_TABLES = ("alembic_version", "experiments")  # a store MLflow made (or began to make)


def _contents_problem(path: Path) -> str | None:
    """What is wrong with a sqlite file as a store, with the fix; None for a new (absent or empty)
    file or one MLflow made. MLflow gave a damaged file's sqlite error alone, and wrote its own
    tables into another application's database (a reading command too: the run then 'not
    found')."""
    if _new_file(path):
        return None
    try:
        with _read_only(path, timeout_s=1.0) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):  # another run is writing (MLflow waits for it): not damaged
            return None
        return _damaged(exc)
    except sqlite3.Error as exc:
        return _damaged(exc)
    if tables and not tables & set(MLFLOW_TABLES):
        shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
        return (
            f"{path} is a sqlite database of another application (tables {shown}; none of "
            "MLflow's), which MLflow would add its tables to; pass --tracking-uri the store's "
            "file, or a new one"
        )
    return None


def _damaged(exc: sqlite3.Error) -> str:
    return (
        f"the file is damaged ({exc}); restore it from a backup, or pass --tracking-uri another "
        "store"
    )


def _schema_problem(uri: str) -> str | None:
    """What is wrong with a local sqlite store's schema, with the fix; None where its revision
    is the installed MLflow's (or is not read). MLflow calls any revision but its own
    'out-of-date' and says to run `mlflow db upgrade`, which fails on a store a newer MLflow made
    or upgraded (its message, cut to one line, ended at 'please consult your databa'; `challenge
    ui` added 'is port 5000 free?')."""
    path = _sqlite_file(uri)
    found = _read_row(path, "SELECT version_num FROM alembic_version") if path else None
    known, heads, version = _mlflow_revisions()
    if not found or not found[0] or not known or str(found[0]) in heads:
        return None
    revision = str(found[0])
    if revision not in known:
        return (
            f"its schema (revision {revision}) is not one MLflow {version} knows: a newer MLflow "
            "made or upgraded it (or it is not MLflow's); open it with that MLflow release, or "
            "pass --tracking-uri another store"
        )
    upgrade = shlex.join(["mlflow", "db", "upgrade", uri])
    return (
        f"its schema (revision {revision}) is older than MLflow {version}'s; back the file up, "
        f"then upgrade it with `{upgrade}`"
    )


_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*[\"']([0-9a-f]+)[\"']", re.MULTILINE)


@functools.cache
def _mlflow_revisions() -> tuple[frozenset[str], frozenset[str], str]:
    """The schema revisions of the installed MLflow's migration scripts, the newest of them (no
    script names it as its down_revision) and MLflow's version, read from its files without
    importing it (the store check runs before MLflow is imported); nothing where not found."""
    try:
        spec = importlib.util.find_spec("mlflow")
        version = importlib.metadata.version("mlflow")
    except (ImportError, ValueError):
        return frozenset(), frozenset(), "?"
    if spec is None or spec.origin is None:
        return frozenset(), frozenset(), version
    scripts = Path(spec.origin).parent / "store" / "db_migrations" / "versions"
    revisions: set[str] = set()
    downs: set[str] = set()
    for script in scripts.glob("*_*.py"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for kind, revision in _REVISION.findall(script.read_text(encoding="utf-8")):
                (downs if kind == "down_revision" else revisions).add(revision)
    return frozenset(revisions), frozenset(revisions - downs), version


def _first_read(mlflow: Any, uri: str) -> None:
    mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


def _opens_copy(mlflow: Any, uri: str, store: Path) -> bool:
    """Whether MLflow opens the store just copied from the template; when it does not, the store
    is emptied (the same file, which MLflow's pooled connection holds open) for MLflow's
    migrations to make, and the template goes."""
    try:
        _first_read(mlflow, uri)
    except Exception:
        os.truncate(store, 0)
        forget_template()
        return False
    return True


def _sqlite_file(uri: str) -> Path | None:
    """The file of a local sqlite store (``sqlite:///<path>``); None for any other store, an
    in-memory one included."""
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def _new_sqlite_file(uri: str) -> Path | None:
    """The file of a local sqlite store that does not exist yet, else None."""
    path = _sqlite_file(uri)
    return None if path is None or path.exists() else path


def artifact_root(uri: str, experiment: str) -> str | None:
    """Where a new experiment of a local sqlite store keeps its artifacts: beside the store
    (``<store dir>/mlruns/<experiment>``), not in whatever directory the command ran from, which
    is MLflow's default."""
    path = _sqlite_file(uri)
    return None if path is None else str(path.resolve().parent / "mlruns" / experiment)


def create_experiment(mlflow: Any, uri: str, experiment: str) -> None:
    location = artifact_root(uri, experiment)
    client = mlflow.MlflowClient(tracking_uri=uri)
    if location is None or client.get_experiment_by_name(experiment) is not None:
        return
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # another process created it meanwhile
        client.create_experiment(experiment, artifact_location=location)


def open_mlflow(uri: str) -> Any:
    """MLflow, quiet and pointed at ``uri``, its store opened (and created when new) once."""
    import mlflow

    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # a Ctrl-C while a pooled connection is reset: a logged traceback, then the interrupt itself
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    # stdout and stderr are the tool's: no progress bars, no "View run at <url>" lines
    # (MLflow prints the tracking URI as given, credentials included)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    given = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    # MLflow also exports the URI as MLFLOW_TRACKING_URI (for its subprocesses); left there, a
    # later command of this process without --tracking-uri took this one's store for the
    # user's setting (resolve_uri): the environment is the user's, as it was
    if given is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = given
    _open_store(mlflow, uri)
    return mlflow


# what logging a model imports on first use (mlflow.pyfunc: 0.2-0.4 s, the run's main thread
# waited for it inside its first log_model)
LOGGING_IMPORTS = ("mlflow.pyfunc",)


def _import_quietly(modules: Sequence[str]) -> None:
    """Import each of ``modules`` now; one that fails is imported again, and its error said,
    where a step needs it."""
    for module in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(module)


class Warmup:
    """Import MLflow and open its store in a background thread, while the data loads and is
    audited (seconds of imports that would otherwise come after them), then import ``modules``
    (the models' libraries and their MLflow flavours), then ``later`` (matplotlib's figures,
    what logging a model imports, MLflow's package map), which only the outputs need.

    ``first``: modules imported before MLflow, that the loading waits for (the row hashes'
    kernels). Imports hold the interpreter's lock: two threads importing at once each go at half
    speed, and the loading's wait for the kernels grew by what MLflow's import took meanwhile.

    A store that exists is opened (a read: safe to abandon if the run stops first); a new or
    server-side database only has MLflow imported: creating its tables is left to the main thread,
    where an early exit cannot cut it in half. Nothing here is required: whatever fails is done
    again, and reported, by the main thread, except a store that cannot be opened, which
    :meth:`wait_store`, :meth:`paused` and :meth:`wait` raise (as the main thread would have).

    :meth:`wait_store` returns once MLflow is imported and the store opened, while the modules are
    still being imported: the run starts its MLflow run meanwhile; a module the run needs first is
    imported by whichever thread gets to it first, the other one waiting for it. No import runs
    beside a model's fit: it would take the fit's cores and make its ``fit_seconds`` untrue.
    The fits run inside :meth:`paused`, which waits for ``modules`` and for the import under way,
    and holds the ``later`` ones until the fits are done (on the handbook split the run waited
    1.0 s for them before its first fit, one core idle).
    """

    def __init__(
        self,
        uri: str,
        modules: Sequence[str] = (),
        first: Sequence[str] = (),
        later: Sequence[str] = (),
    ) -> None:
        self._failure: EnvironmentFailure | None = None
        self._store = threading.Event()
        self._turn = threading.Condition()
        self._libraries = False  # ``modules`` imported (or the warm-up stopped short of them)
        self._held = False  # the fits are running: no import starts
        self._idle = True  # no import of ``later`` under way
        self._thread = threading.Thread(
            target=self._run,
            args=(uri, tuple(modules), tuple(first), tuple(later)),
            name="challenge-warmup",
            daemon=True,
        )
        self._thread.start()

    def _run(
        self, uri: str, modules: tuple[str, ...], first: tuple[str, ...], later: tuple[str, ...]
    ) -> None:
        try:
            with _collector_off():
                imported = self._imports(uri, modules, first)
            if imported:
                self._signal_libraries()
                self._later_imports(later)
        finally:
            self._signal_libraries()

    def _imports(self, uri: str, modules: tuple[str, ...], first: tuple[str, ...]) -> bool:
        """MLflow, the store and ``modules``; False where the warm-up stops there."""
        _import_quietly(first)
        try:
            if _safe_to_open(uri):
                open_mlflow(uri)
            else:
                import mlflow  # noqa: F401
        except EnvironmentFailure as exc:
            self._failure = exc
            return False
        except Exception:  # the main thread tries again, and says what is wrong
            return False
        finally:
            self._store.set()
        _import_quietly(modules)
        return True

    def _later_imports(self, later: tuple[str, ...]) -> None:
        steps: list[Callable[[], None]] = [
            partial(_import_quietly, (m,)) for m in (*later, *LOGGING_IMPORTS)
        ]
        for step in [*steps, _read_package_map]:
            with self._between_fits(), _collector_off():
                step()

    @contextmanager
    def _between_fits(self) -> Iterator[None]:
        """One step of the later imports: started only while no fit runs, and said done."""
        with self._turn:
            self._turn.wait_for(lambda: not self._held)
            self._idle = False
        try:
            yield
        finally:
            with self._turn:
                self._idle = True
                self._turn.notify_all()

    def _signal_libraries(self) -> None:
        with self._turn:
            self._libraries = True
            self._turn.notify_all()

    def wait_store(self) -> None:
        """Block until MLflow is imported and the store opened (or that failed); raise the
        store's failure. The modules may still be importing."""
        while not self._store.wait(0.1) and self._thread.is_alive():
            pass  # (a thread that died without setting it: nothing more to wait for)
        if self._failure is not None:
            raise self._failure

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Around the models' fits: wait until ``modules`` are imported and no import is under
        way, and start none of the ``later`` ones until the block is left."""
        with self._turn:
            self._held = True
            self._turn.wait_for(lambda: self._libraries and self._idle)
        try:
            if self._failure is not None:
                raise self._failure
            yield
        finally:
            with self._turn:
                self._held = False
                self._turn.notify_all()

    def wait(self) -> None:
        """Block until the warm-up is done; raise the store's failure."""
        self._thread.join()
        if self._failure is not None:
            raise self._failure


@contextmanager
def _collector_off() -> Iterator[None]:
    """Imports without the cyclic garbage collector, whose objects are then left out of its
    passes (``gc.freeze``). Imported, the modules' objects (hundreds of thousands) made it scan
    the whole heap 7 times (0.5 s of 3.5 CPU-s); once the collector was on again, its first pass
    scanned them all again (0.3 s on the handbook split) and found next to nothing: modules live
    as long as the process. Frozen objects are still freed by reference counting; the run's
    outputs step lets them all back into the collector's passes when it is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def _read_package_map() -> None:
    """The map of installed packages MLflow checks a logged model's requirements against, read
    from every package's metadata on first use (0.4-0.5 s) and cached by MLflow."""
    with contextlib.suppress(Exception):  # a private helper: whatever it is, not required
        from mlflow.utils.requirements_utils import _init_modules_to_packages_map

        _init_modules_to_packages_map()


def _safe_to_open(uri: str) -> bool:
    """Opening ``uri`` only reads: a server, or a sqlite store that already has its tables."""
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https", "databricks"):
        return True
    path = _sqlite_file(uri)
    if path is None:
        return False
    # MLflow's tables exist (a sqlite file of another application would get them now)
    found = _read_row(
        path, "SELECT count(*) FROM sqlite_master WHERE name IN ('alembic_version', 'experiments')"
    )
    return bool(found and found[0] == 2)
