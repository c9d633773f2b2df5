"""Reading logged runs back as plain data (for `replicate` and `compare`)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from challengers.errors import ConfigError, EnvironmentFailure, first_line, scrub
from challengers.tracking.store import check_reachable, open_mlflow, restore_command

log = logging.getLogger(__name__)


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
    artifact_uri: str = ""  # where the store keeps its artifacts
    # deleted in the store (MLflow keeps it until it is restored or purged): "run", or
    # "experiment <id>" when its experiment is; "" when it is not
    deleted: str = ""

    @property
    def parent_id(self) -> str | None:
        return self.tags.get("mlflow.parentRunId")

    def deleted_note(self, uri: str, consequence: str = "") -> str:
        """What to say of a deleted run: where, ``consequence`` (what the command does of it),
        and how to restore it; "" for a run that is not deleted."""
        if not self.deleted:
            return ""
        if self.deleted.startswith("experiment "):
            experiment_id = self.deleted.removeprefix("experiment ")
            what = f"is in experiment '{self.experiment}', which is deleted"
            restore = ["experiments", "restore", "--experiment-id", experiment_id]
        else:
            what, restore = "is deleted", ["runs", "restore", "--run-id", self.run_id]
        return (
            f"run {self.run_id} {what} in the tracking store {scrub(uri)}{consequence}; restore "
            f"it with `{restore_command(uri, restore)}`"
        )


def require_store(uri: str) -> None:
    """Reading commands must not create an empty store: a missing sqlite file is a wrong URI."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if str(path) != ":memory:" and not path.exists():
            raise ConfigError(
                f"no tracking store at {scrub(uri)} (the file does not exist); pass "
                "--tracking-uri or set MLFLOW_TRACKING_URI to the store the run was logged to"
            )
        if path.is_file() and not path.stat().st_size:  # MLflow made it a new store: the
            # runs 'not found', and a store cut to nothing (a failed copy) overwritten
            raise ConfigError(
                f"no tracking store at {scrub(uri)} (the file is empty); pass --tracking-uri or "
                "set MLFLOW_TRACKING_URI to the store the run was logged to, or restore the file"
            )
    check_reachable(uri)  # a directory store: refused unless MLFLOW_ALLOW_FILE_STORE=true
    directory = _directory_store(uri)
    if directory is not None and not directory.is_dir():  # MLflow made it a new store
        raise ConfigError(
            f"no tracking store at {scrub(uri)} (the directory does not exist); pass "
            "--tracking-uri or set MLFLOW_TRACKING_URI to the store the run was logged to"
        )


def _directory_store(uri: str) -> Path | None:
    """The directory of a directory store (``file:///path`` or a plain path), else None."""
    parsed = urlparse(uri)
    if parsed.scheme.lower() == "file":
        return Path(parsed.path)
    return Path(uri) if not parsed.scheme else None


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    open_mlflow(uri)  # quiet loggers
    return MlflowClient(tracking_uri=uri)


RUN_ID_PREFIX = re.compile(r"[0-9a-f]{6,31}")  # MLflow's ids are 32 hex digits
HEX = re.compile(r"[0-9a-fA-F]{6,32}")


def read_run(uri: str, run_id: str) -> StoredRun:
    """One run by id, or by the first characters of its id (at least 6, as the tool's tables
    show 8) where they name one run of the store; ConfigError when the store holds no such run."""
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    try:
        run = client.get_run(whole_run_id(uri, run_id, client))
    except MlflowException as exc:
        raise ConfigError(
            f"run '{run_id}' not found in {scrub(uri)}: {first_line(exc, limit=300)}; check the id "
            "(`challenge ui` lists runs) or pass --tracking-uri"
        ) from exc
    except ConfigError:  # several runs begin with the characters given
        raise
    except Exception as exc:
        raise EnvironmentFailure(
            f"tracking store {scrub(uri)} failed: {first_line(exc, limit=300)}"
        ) from exc
    experiment = client.get_experiment(run.info.experiment_id)
    stored = _stored(run, experiment.name if experiment else run.info.experiment_id)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        stored.deleted = f"experiment {experiment.experiment_id}"
    elif run.info.lifecycle_stage == "deleted":
        stored.deleted = "run"
    return stored


def whole_run_id(uri: str, run_id: str, client: Any = None) -> str:
    """``run_id`` itself, or the one run id of the store it begins; ConfigError where it begins
    several. Deleted runs and experiments included, as a whole id finds them: a deleted run was
    'not found' by its first characters, and found by its whole id."""
    from mlflow.entities import ViewType

    if HEX.fullmatch(run_id):  # MLflow's ids are lower case; one pasted in upper case (a
        # report, a spreadsheet) was 'not found' though the store holds it
        run_id = run_id.lower()
    if not RUN_ID_PREFIX.fullmatch(run_id):
        return run_id
    client = client or _client(uri)
    experiments = [e.experiment_id for e in _every_experiment(client)]
    if not experiments:
        return run_id
    found = [
        r.info.run_id
        for r in client.search_runs(
            experiments,
            filter_string=f"attributes.run_id LIKE '{run_id}%'",
            run_view_type=ViewType.ALL,
            max_results=3,
        )
    ]
    if len(found) > 1:
        raise ConfigError(
            f"run id '{run_id}' begins several runs in {scrub(uri)} ({', '.join(found)}); "
            "give more of its characters"
        )
    return found[0] if found else run_id


def _every_experiment(client: Any) -> list[Any]:
    """The store's experiments, deleted ones included, every page of them."""
    from mlflow.entities import ViewType

    page = client.search_experiments(ViewType.ALL)
    experiments = list(page)
    while page.token:
        page = client.search_experiments(ViewType.ALL, page_token=page.token)
        experiments += list(page)
    return experiments


def read_children(uri: str, parent: StoredRun) -> list[StoredRun]:
    """The child runs (one per model) of a parent run, in the order they were logged; deleted
    ones included and marked (MLflow keeps their record: left out, `compare` showed the run
    without that model, and `replicate` said the model was 'not in the logged run')."""
    from mlflow.entities import ViewType

    client = _client(uri)
    experiment = client.get_run(parent.run_id).info.experiment_id
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.run_id}'",
        run_view_type=ViewType.ALL,
        max_results=1000,
        order_by=["attributes.start_time ASC"],
    )
    children = [_stored(r, parent.experiment) for r in runs]
    for child, run in zip(children, runs, strict=True):
        if run.info.lifecycle_stage == "deleted":
            child.deleted = "run"
    return children


def read_artifact_text(uri: str, run_id: str, path: str) -> str | None:
    """A logged text artifact of a run, or None when the run has none at that path."""
    import tempfile

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stdout is ours
    mlflow = open_mlflow(uri)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=uri
            )
        except Exception as exc:
            log.debug("no artifact %s in run %s: %s", path, run_id, exc)
            return None
        return Path(local).read_text(encoding="utf-8")


def has_artifacts(uri: str, run_id: str) -> bool:
    """Whether the store finds any artifact of the run where it keeps them (False where they
    were moved or deleted: MLflow lists a missing directory as empty)."""
    try:
        return bool(_client(uri).list_artifacts(run_id))
    except Exception as exc:
        log.debug("artifacts of run %s not listed: %s", run_id, exc)
        return False


def resumed_by(uri: str, run_id: str) -> list[str]:
    """The runs that resumed ``run_id`` (their tag ``resumed_from`` lists it), oldest first."""
    client = _client(uri)
    try:
        experiment = client.get_run(run_id).info.experiment_id
        runs = client.search_runs(
            [experiment],
            filter_string=f"tags.resumed_from LIKE '%{run_id}%'",
            order_by=["attributes.start_time ASC"],
        )
    except Exception as exc:
        log.debug("runs resuming %s not searched: %s", run_id, exc)
        return []
    return [r.info.run_id for r in runs if run_id in r.data.tags["resumed_from"].split(",")]


def run_tags(uri: str, run_id: str) -> dict[str, str] | None:
    """The tags of run ``run_id``, or None when the store has no such run."""
    try:
        return dict(_client(uri).get_run(run_id).data.tags)
    except Exception as exc:  # MLflow's RESOURCE_DOES_NOT_EXIST, a malformed id
        log.debug("run %s not read: %s", run_id, exc)
        return None


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
        artifact_uri=str(run.info.artifact_uri or ""),
    )
