"""MLflow: the only module that imports it.

The store is found as MLflow itself would, with the tool's own flag first: ``--tracking-uri`` >
``tracking.uri`` in the config > ``MLFLOW_TRACKING_URI`` > ``sqlite:///mlflow.db`` in the working
directory (embedded, nothing to start). The store is checked before any training so that an
unreachable server costs seconds, not a lost run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from challengers.errors import ConfigError, EnvironmentFailure, ModelError

DEFAULT_URI = "sqlite:///mlflow.db"
log = logging.getLogger(__name__)


def resolve_uri(cli_uri: str | None = None, config_uri: str | None = None) -> str:
    """The store: --tracking-uri > tracking.uri > MLFLOW_TRACKING_URI > ./mlflow.db.

    Credentials come from the environment only (MLFLOW_TRACKING_USERNAME/PASSWORD or
    MLFLOW_TRACKING_TOKEN): a URI holding them on the command line would sit in the shell history
    and the process list, so it is refused (the config refuses them when it loads).
    """
    if cli_uri and _has_credentials(cli_uri):
        raise ConfigError(
            f"--tracking-uri {redact(cli_uri)}: the URI holds credentials; remove them and set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    return cli_uri or config_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _has_credentials(uri: str) -> bool:
    parsed = urlparse(uri)
    return bool(parsed.username or parsed.password)


def redact(uri: str) -> str:
    """The URI without credentials, safe to print and log."""
    return _without_credentials(uri, "***@")


def _without_credentials(uri: str, mark: str = "") -> str:
    parsed = urlparse(uri)
    if parsed.password or parsed.username:
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
        return parsed._replace(netloc=f"{mark}{host}{port}").geturl()
    return uri


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Raise EnvironmentFailure when the store cannot be used; cheap, no MLflow import."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        url = _without_credentials(uri).rstrip("/") + "/health"  # the probe needs no login
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                if response.status >= 400:
                    raise EnvironmentFailure(
                        f"tracking store {redact(uri)} answered HTTP {response.status}; "
                        "check the server or the URI"
                    )
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EnvironmentFailure(
                f"tracking store {redact(uri)} is unreachable ({reason}); start the server, fix "
                "tracking.uri / --tracking-uri, or unset it to use the local sqlite store"
            ) from None
        return
    if scheme == "sqlite":
        target = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
        if target is not None and str(target) != ":memory:":
            _require_writable(target.parent if str(target.parent) else Path(), uri)
            _require_sqlite(target, uri)
        return
    if scheme in ("", "file"):
        target = Path(parsed.path if scheme == "file" else uri)
        _require_writable(target if target.exists() else target.parent, uri)
        return
    if scheme in ("databricks", "postgresql", "mysql", "mssql"):
        return  # checked by MLflow on first use
    raise ConfigError(
        f"tracking URI '{redact(uri)}' has an unknown scheme '{scheme}'; use sqlite:///file.db, "
        "a directory, or http://host:port"
    )


def _require_sqlite(path: Path, uri: str) -> None:
    """A store path must be a sqlite file or nothing yet (MLflow would retry a wrong one for
    minutes before giving up)."""
    if path.is_dir():
        raise EnvironmentFailure(
            f"tracking store {redact(uri)}: {path} is a directory; name a file such as "
            f"sqlite:///{path / 'mlflow.db'}"
        )
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise EnvironmentFailure(
                    f"tracking store {redact(uri)}: {path} is not a sqlite database; point "
                    "--tracking-uri at the store's .db file"
                )


def _require_writable(directory: Path, uri: str) -> None:
    directory = directory if str(directory) else Path()
    if not directory.exists():
        raise EnvironmentFailure(
            f"tracking store {redact(uri)}: directory {directory} does not exist; create it"
        )
    if not os.access(directory, os.W_OK):
        raise EnvironmentFailure(
            f"tracking store {redact(uri)}: directory {directory} is not writable"
        )


@dataclass
class NestedRun:
    """A run under a model's child run (a tuning trial): params, final metrics, metric curves."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # key: (step, value)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "FINISHED"


@dataclass
class ModelRun:
    """What a child run holds: one model's params, metrics, tags and fitted model."""

    name: str
    role: str
    kind: str
    status: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    flavor: str | None = None
    native_model: Any = None
    artifacts: list[Path] = field(default_factory=list)
    children: list[NestedRun] = field(default_factory=list)  # e.g. tuning trials


@dataclass
class DatasetRef:
    """A dataset as an MLflow input: where it came from and its content fingerprint."""

    source: str
    name: str
    digest: str
    context: str


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
    """Open (and, when new, create) the store once per process, one process at a time."""
    if uri in _opened:
        return
    with _sqlite_lock(uri):
        try:
            mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception as exc:
            raise EnvironmentFailure(
                f"tracking store {redact(uri)} cannot be opened: {_first_line(exc)}"
            ) from exc
    _opened.add(uri)


def artifact_root(uri: str, experiment: str) -> str | None:
    """Where a new experiment of a local sqlite store keeps its artifacts: beside the store
    (``<store dir>/mlruns/<experiment>``), not in whatever directory the command ran from, which
    is MLflow's default."""
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return None
    return str(Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns" / experiment)


def _create_experiment(mlflow: Any, uri: str, experiment: str) -> None:
    location = artifact_root(uri, experiment)
    client = mlflow.MlflowClient(tracking_uri=uri)
    if location is None or client.get_experiment_by_name(experiment) is not None:
        return
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # another process created it meanwhile
        client.create_experiment(experiment, artifact_location=location)


class Tracker:
    """One parent run per ``challenge run``, one child run per model."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.parent_id: str | None = None
        self.experiment_id: str | None = None

    def _mlflow(self) -> Any:
        import mlflow

        for name in ("mlflow", "alembic", "urllib3"):
            logging.getLogger(name).setLevel(logging.ERROR)
        # stdout and stderr are the tool's: no progress bars, no "View run at <url>" lines
        # (MLflow prints the tracking URI as given, credentials included)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        mlflow.set_tracking_uri(self.uri)
        _open_store(mlflow, self.uri)
        return mlflow

    def start(self, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
        mlflow = self._mlflow()
        try:
            _create_experiment(mlflow, self.uri, experiment)
            exp = mlflow.set_experiment(experiment)
            self.experiment_id = exp.experiment_id
            run = mlflow.start_run(run_name=run_name, tags=dict(tags))
        except Exception as exc:
            raise EnvironmentFailure(
                f"tracking store {redact(self.uri)} failed: {_first_line(exc)}"
            ) from exc
        self.parent_id = run.info.run_id
        return self.parent_id

    def log_parent(
        self,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        artifacts: list[Path] | None = None,
        datasets: list[DatasetRef] | None = None,
    ) -> None:
        mlflow = self._mlflow()
        if params:
            mlflow.log_params({k: _param(v) for k, v in params.items()})
        if metrics:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        if tags:
            mlflow.set_tags(dict(tags))
        for path in artifacts or []:
            if path.is_dir():  # a directory keeps its name: plots/roc.png
                mlflow.log_artifacts(str(path), artifact_path=path.name)
            elif path.exists():
                mlflow.log_artifact(str(path))
        for ref in datasets or []:
            self._log_dataset(mlflow, ref)

    def log_model_run(self, run: ModelRun, datasets: list[DatasetRef]) -> str:
        mlflow = self._mlflow()
        with mlflow.start_run(run_name=run.name, nested=True, tags=_child_tags(run)) as child:
            try:
                self._fill_model_run(mlflow, run, datasets, str(child.info.run_id))
            except KeyboardInterrupt:  # Ctrl-C while logging: KILLED, not MLflow's FAILED
                mlflow.end_run("KILLED")
                raise
            mlflow.end_run("FINISHED" if run.status == "ok" else "FAILED")
            return str(child.info.run_id)

    def _fill_model_run(
        self, mlflow: Any, run: ModelRun, datasets: list[DatasetRef], run_id: str
    ) -> None:
        if run.params:
            mlflow.log_params({k: _param(v) for k, v in run.params.items()})
        finite = {k: float(v) for k, v in run.metrics.items() if v == v}  # drop NaN
        if finite:
            mlflow.log_metrics(finite)
        for ref in datasets:
            self._log_dataset(mlflow, ref)
        for path in run.artifacts:
            if path.exists():
                mlflow.log_artifact(str(path))
        if run.native_model is not None and run.flavor:
            self._log_model(mlflow, run)
        self._log_nested(mlflow, run_id, run.children)

    def _log_nested(self, mlflow: Any, parent_id: str, runs: list[NestedRun]) -> None:
        """Runs under ``parent_id``, each in a few batched calls (a study may have hundreds)."""
        import time

        from mlflow.entities import Metric, Param

        client = mlflow.MlflowClient()
        now = int(time.time() * 1000)
        for r in runs:
            tags = {"mlflow.parentRunId": parent_id, **r.tags}
            run_id = client.create_run(self.experiment_id, run_name=r.name, tags=tags).info.run_id
            metrics = [Metric(k, float(v), now, 0) for k, v in r.metrics.items() if v == v]
            metrics += [
                Metric(k, float(v), now, int(step))
                for k, curve in r.history.items()
                for step, v in curve
                if v == v
            ]
            params = [Param(k, _param(v)) for k, v in r.params.items()]
            client.log_batch(run_id, metrics=metrics[:1000], params=params[:100])
            for start in range(1000, len(metrics), 1000):  # MLflow's batch limit
                client.log_batch(run_id, metrics=metrics[start : start + 1000])
            client.set_terminated(run_id, r.status)

    def _log_model(self, mlflow: Any, run: ModelRun) -> None:
        from importlib.metadata import version

        package = {"lightgbm": "lightgbm", "xgboost": "xgboost-cpu"}.get(run.flavor or "", "")
        requirements = [f"{package}=={version(package)}"] if package else None
        if run.flavor == "lightgbm":
            mlflow.lightgbm.log_model(run.native_model, name="model", pip_requirements=requirements)
        elif run.flavor == "xgboost":
            mlflow.xgboost.log_model(
                run.native_model, name="model", model_format="json", pip_requirements=requirements
            )

    def _log_dataset(self, mlflow: Any, ref: DatasetRef) -> None:
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]

        dataset = MetaDataset(  # type: ignore[abstract]
            LocalArtifactDatasetSource(ref.source), name=ref.name, digest=ref.digest
        )
        mlflow.log_input(dataset, context=ref.context)

    def finish(self, status: str = "FINISHED") -> None:
        mlflow = self._mlflow()
        while mlflow.active_run() is not None:
            mlflow.end_run(status)

    def run_url(self) -> str | None:
        if self.parent_id is None or not self.uri.startswith("http"):
            return None
        return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.parent_id}"


def download_model(uri: str, tracking_uri: str) -> tuple[Path, dict[str, Any]]:
    """Download an MLflow model's files and return its directory and its flavours (no loading)."""
    import yaml

    mlflow = Tracker(tracking_uri)._mlflow()
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:
        raise ModelError(
            f"champion.model: cannot fetch {uri} from {redact(tracking_uri)}: {_first_line(exc)}; "
            "check the model name/version or run id"
        ) from exc
    mlmodel = local / "MLmodel"
    if not mlmodel.exists():
        raise ModelError(f"champion.model: {uri} is not an MLflow model (no MLmodel file)")
    meta = yaml.safe_load(mlmodel.read_text())
    return local, dict(meta.get("flavors", {}))


def _child_tags(run: ModelRun) -> dict[str, str]:
    return {"role": run.role, "kind": run.kind, "status": run.status, **run.tags}


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


# ------------------------------------------------------------------------- reading logged runs


@dataclass
class StoredRun:
    """A logged run as plain data: what `replicate` and `compare` read back."""

    run_id: str
    name: str
    experiment: str
    status: str
    start_time: int  # ms since the epoch
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def parent_id(self) -> str | None:
        return self.tags.get("mlflow.parentRunId")


def require_store(uri: str) -> None:
    """Reading commands must not create an empty store: a missing sqlite file is a wrong URI."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if str(path) != ":memory:" and not path.exists():
            raise ConfigError(
                f"no tracking store at {redact(uri)} (the file does not exist); pass "
                "--tracking-uri or set MLFLOW_TRACKING_URI to the store the run was logged to"
            )
    check_reachable(uri)


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    Tracker(uri)._mlflow()  # quiet loggers
    return MlflowClient(tracking_uri=uri)


def read_run(uri: str, run_id: str) -> StoredRun:
    """One run by id; ConfigError when the store does not hold it."""
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise ConfigError(
            f"run '{run_id}' not found in {redact(uri)}: {_first_line(exc)}; check the id "
            "(`challenge ui` lists runs) or pass --tracking-uri"
        ) from exc
    except Exception as exc:
        raise EnvironmentFailure(
            f"tracking store {redact(uri)} failed: {_first_line(exc)}"
        ) from exc
    experiment = client.get_experiment(run.info.experiment_id)
    return _stored(run, experiment.name if experiment else run.info.experiment_id)


def read_children(uri: str, parent: StoredRun) -> list[StoredRun]:
    """The child runs (one per model) of a parent run, in the order they were logged."""
    client = _client(uri)
    experiment = client.get_run(parent.run_id).info.experiment_id
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.run_id}'",
        max_results=1000,
        order_by=["attributes.start_time ASC"],
    )
    return [_stored(r, parent.experiment) for r in runs]


def read_artifact_text(uri: str, run_id: str, path: str) -> str | None:
    """A logged text artifact of a run, or None when the run has none at that path."""
    import tempfile

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stdout is ours
    mlflow = Tracker(uri)._mlflow()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=uri
            )
        except Exception as exc:
            log.debug("no artifact %s in run %s: %s", path, run_id, exc)
            return None
        return Path(local).read_text(encoding="utf-8")


def annotate_run(
    uri: str, run_id: str, tags: Mapping[str, str], metrics: Mapping[str, float]
) -> None:
    """Add tags and metrics to a finished run (e.g. the outcome of a replication)."""
    client = _client(uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    for key, number in metrics.items():
        if number == number:  # MLflow stores NaN poorly: skip it
            client.log_metric(run_id, key, float(number))


def _stored(run: Any, experiment: str) -> StoredRun:
    return StoredRun(
        run_id=run.info.run_id,
        name=run.info.run_name or "",
        experiment=experiment,
        status=run.info.status,
        start_time=int(run.info.start_time or 0),
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
    )
