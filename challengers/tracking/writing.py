"""Logging a run: one parent run per `challenge run`, one child run per model, nested trials.

MLflow's own conventions, so its UI shows a model-development experiment: the experiment is tagged
``mlflow.experimentKind = custom_model_development`` with a description (``mlflow.note.content``);
child runs are named ``champion: <name>`` / ``challenger: <name>`` (the model's name is also the
``model`` tag); ``mlflow.source.name`` is the absolute path of the command and
``mlflow.source.git.commit`` the commit of the config's repository; hyperparameters are one param
each, named as in the YAML (:func:`flatten_params`); datasets carry an absolute source, the data
fingerprint as digest, and the schema of the columns read.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from challengers.errors import ChallengeError, EnvironmentFailure, first_line, scrub
from challengers.tracking.store import create_experiment, open_mlflow

log = logging.getLogger(__name__)


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
    flavor: str | None = None  # the MLflow flavour logging native_model (models/trees.py)
    flavor_options: dict[str, Any] = field(default_factory=dict)  # extra log_model arguments
    requirements: list[str] | None = None  # the model's pip requirements
    native_model: Any = None
    artifacts: list[Path] = field(default_factory=list)  # a directory keeps its name
    children: list[NestedRun] = field(default_factory=list)  # e.g. tuning trials
    inputs: dict[str, str] = field(default_factory=dict)  # feature -> polars dtype: signature
    example: list[dict[str, Any]] = field(default_factory=list)  # a few rows of the inputs

    @property
    def run_name(self) -> str:
        return f"{self.role}: {self.name}"


@dataclass
class DatasetRef:
    """A dataset as an MLflow input: where it came from, its content fingerprint, its columns."""

    source: str
    name: str
    digest: str
    context: str
    schema: dict[str, str] = field(default_factory=dict)  # column -> polars dtype


EXPERIMENT_KIND = "mlflow.experimentKind"  # MLflow's UI opens the model-training view for:
MODEL_DEVELOPMENT = "custom_model_development"
DESCRIPTION = "mlflow.note.content"  # the experiment's (and a run's) description in the UI
GIT_COMMIT = "mlflow.source.git.commit"
SOURCE_NAME = "mlflow.source.name"
SHARED_VIEW = "mlflow.sharedViewState."  # MLflow's UI reads a saved runs-table view from this tag


def source_tags() -> dict[str, str]:
    """Where the run was started from: the command as an absolute path (MLflow's default is
    ``sys.argv[0]`` as typed, often a relative venv path)."""
    command = str(Path(sys.argv[0] or sys.executable).resolve())
    return {SOURCE_NAME: command, "mlflow.source.type": "LOCAL"}


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """One param per hyperparameter, named as in the YAML: nested keys joined with dots, and the
    library's ``params`` mapping unwrapped (``params: {num_leaves: 31}`` -> ``num_leaves``;
    ``model: {params: {max_depth: 3}}`` -> ``model.max_depth``), so runs can be searched
    (``params.num_leaves = '31'``) and plotted by each."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            out.update(flatten_params(value, prefix if key == "params" else f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class Tracker:
    """One parent run per ``challenge run``, one child run per model."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.parent_id: str | None = None
        self.experiment_id: str | None = None
        self.experiment: str | None = None  # its name, once started
        self.model_ids: dict[str, str] = {}  # model name -> MLflow logged model id

    def _mlflow(self) -> Any:
        return open_mlflow(self.uri)

    def start(
        self,
        experiment: str,
        run_name: str,
        tags: Mapping[str, str],
        description: str | None = None,
    ) -> str:
        mlflow = self._mlflow()
        try:
            create_experiment(mlflow, self.uri, experiment)
            exp = mlflow.set_experiment(experiment)
            self.experiment_id, self.experiment = exp.experiment_id, experiment
            client = mlflow.MlflowClient()
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND, MODEL_DEVELOPMENT)
            if description:
                client.set_experiment_tag(exp.experiment_id, DESCRIPTION, description)
            run = mlflow.start_run(run_name=run_name, tags={**source_tags(), **tags})
        except Exception as exc:
            raise EnvironmentFailure(
                f"tracking store {scrub(self.uri)} failed: {first_line(exc, limit=300)}"
            ) from exc
        self.parent_id = run.info.run_id
        return self.parent_id

    def end_interrupted(self, run_ids: Sequence[str]) -> list[str]:
        """Mark KILLED the runs a resumed run continues that are still RUNNING, with their runs
        still RUNNING under them; returns their ids. Their process is gone (the output directory's
        lock is this one's), so a run left RUNNING was killed without a word (SIGKILL, the OOM
        killer, a power cut) and would stay RUNNING in the store for ever. Housekeeping: a store
        that does not hold them (the resume logs elsewhere) or fails here stops nothing."""
        ended: list[str] = []
        client = self._mlflow().MlflowClient()
        for run_id in run_ids:
            try:
                ended += _end_running(client, run_id)
            except Exception as exc:
                log.debug("run %s not marked KILLED: %s", run_id, exc)
        return ended

    @contextmanager
    def _failing_store(self, what: str) -> Iterator[None]:
        """A store that fails while the run logs is one line (exit 3), not MLflow's traceback."""
        try:
            yield
        except ChallengeError:
            raise
        except Exception as exc:
            from challengers.files import environment_failure

            if environment_failure(exc) is not None:  # a full disk says so itself
                raise
            raise EnvironmentFailure(
                f"tracking store {scrub(self.uri)} failed while logging {what}: "
                f"{first_line(exc, limit=300)}"
            ) from exc

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
        with self._failing_store("the run's parent"):
            if params:
                mlflow.log_params({k: _param(v) for k, v in params.items()})
            if metrics:
                mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            if tags:
                mlflow.set_tags(dict(tags))
            _log_paths(mlflow, artifacts or [])
            for ref in datasets or []:
                self._log_dataset(mlflow, ref)

    def log_model_run(self, run: ModelRun, datasets: list[DatasetRef]) -> str:
        """The model's child run; its logged model's id is kept in ``model_ids``."""
        mlflow = self._mlflow()
        tags = {**source_tags(), **_child_tags(run)}
        with (
            self._failing_store(f"model {run.name}"),
            mlflow.start_run(run_name=run.run_name, nested=True, tags=tags) as child,
        ):
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
        params = flatten_params(run.params)
        for start in range(0, len(params), 100):  # MLflow's batch limit
            batch = dict(list(params.items())[start : start + 100])
            mlflow.log_params({k: _param(v) for k, v in batch.items()})
        # the model before the metrics, which then name it: logged after them, MLflow links a
        # model to the run's metrics by reading each one's history back (a query per metric,
        # 59 a model here)
        model_id = None
        if run.native_model is not None and run.flavor:
            model_id = self._log_model(mlflow, run)
            if model_id:
                self.model_ids[run.name] = model_id
        finite = {k: float(v) for k, v in run.metrics.items() if v == v}  # drop NaN
        if finite:
            mlflow.log_metrics(finite, model_id=model_id)
        for ref in datasets:
            self._log_dataset(mlflow, ref)
        _log_paths(mlflow, run.artifacts)
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

    def _log_model(self, mlflow: Any, run: ModelRun) -> str | None:
        """The fitted model under the model's own name, with its signature and input example."""
        import importlib

        flavor = importlib.import_module(f"mlflow.{run.flavor}")
        info = flavor.log_model(
            run.native_model,
            name=run.name,
            pip_requirements=run.requirements,
            signature=_signature(run.inputs) if run.inputs else None,
            input_example=run.example or None,
            **run.flavor_options,
        )
        return str(info.model_id)

    def _log_dataset(self, mlflow: Any, ref: DatasetRef) -> None:
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]
        from mlflow.exceptions import MlflowException
        from mlflow.types import ColSpec, Schema

        schema = Schema([ColSpec(_mlflow_type(t), c) for c, t in ref.schema.items()])
        dataset = MetaDataset(  # type: ignore[abstract]
            LocalArtifactDatasetSource(normalised_source(ref.source)),
            name=ref.name,
            digest=ref.digest,
            schema=schema if ref.schema else None,
        )
        try:
            mlflow.log_input(dataset, context=ref.context)
        except MlflowException:
            # two runs logging the same new dataset at once: MLflow reads, then inserts, so the
            # later insert breaks the (experiment, name, digest) key; once more, it finds the row
            mlflow.log_input(dataset, context=ref.context)

    def share_view(self, params: list[str], metrics: list[str]) -> str | None:
        """A saved view of this run's models in MLflow's runs table (one row per model, best
        first by the first metric, the given hyperparameters and metrics as columns), stored as
        MLflow stores shared views (an experiment tag); returns its URL fragment."""
        if self.parent_id is None or self.experiment_id is None:
            return None
        import json

        key = f"challenge-{self.parent_id[:12]}"
        state = {
            # sorted by anything but the start time, the table lists child runs as rows of their
            # own instead of folding them under their parent
            "searchFilter": f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
            "orderByKey": f"metrics.`{metrics[0]}`" if metrics else "attributes.run_name",
            "orderByAsc": False,
            "startTime": "ALL",
            "lifecycleFilter": "Active",
            "modelVersionFilter": "All Runs",
            "datasetsFilter": [],
            "selectedColumns": [
                *(f"metrics.`{m}`" for m in metrics),
                *(f"params.`{p}`" for p in params),
            ],
        }
        client = self._mlflow().MlflowClient()
        with self._failing_store("the shared view"):
            client.set_experiment_tag(self.experiment_id, f"{SHARED_VIEW}{key}", json.dumps(state))
        return f"#/experiments/{self.experiment_id}/runs?viewStateShareKey={key}"

    def finish(self, status: str = "FINISHED") -> None:
        mlflow = self._mlflow()
        while mlflow.active_run() is not None:
            mlflow.end_run(status)


def _end_running(client: Any, run_id: str) -> list[str]:
    """``run_id`` and the runs below it (model runs, tuning trials) still RUNNING, marked
    KILLED, the deepest first; nothing when ``run_id`` itself is not RUNNING."""
    run = client.get_run(run_id)
    if run.info.status != "RUNNING":
        return []
    running = client.search_runs(
        [run.info.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000
    )
    below = {r.info.run_id: r.data.tags.get("mlflow.parentRunId") for r in running}
    ended, waiting = [], [run_id]
    while waiting:  # down the tree: each run, then the runs under it
        current = waiting.pop()
        ended.append(current)
        waiting += [child for child, parent in below.items() if parent == current]
    for killed in reversed(ended):
        client.set_terminated(killed, "KILLED")
    return ended


def _child_tags(run: ModelRun) -> dict[str, str]:
    return {"model": run.name, "role": run.role, "kind": run.kind, "status": run.status, **run.tags}


def _log_paths(mlflow: Any, paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():  # a directory keeps its name: plots/roc.png
            mlflow.log_artifacts(str(path), artifact_path=path.name)
        elif path.exists():
            mlflow.log_artifact(str(path))


def normalised_source(source: str) -> str:
    """A dataset's source as one absolute, normalised path (``configs/../data/x.parquet`` ->
    ``/abs/data/x.parquet``); URIs with a scheme stay as they are."""
    if "://" in source:
        return source
    return str(Path(source).resolve())


def _mlflow_type(dtype: str) -> str:
    """MLflow's column type for a polars dtype's name."""
    name = dtype.split("(")[0]
    if name.startswith(("Int", "UInt")):
        return "long"
    if name == "Float32":
        return "float"
    if name.startswith(("Float", "Decimal")):
        return "double"
    if name == "Boolean":
        return "boolean"
    if name in ("Datetime", "Date"):
        return "datetime"
    return "string"


def _signature(inputs: Mapping[str, str]) -> Any:
    """The model's named input columns with the data's types, and one score out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec(_mlflow_type(t), name) for name, t in inputs.items()]),
        outputs=Schema([ColSpec("double", "score")]),
    )


PARAM_CHARS = 6000  # the longest param value MLflow stores


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= PARAM_CHARS else text[: PARAM_CHARS - 3] + "..."


def listed(names: Sequence[str], whole: str) -> str:
    """``names`` joined by commas as a param's value, a name holding a comma or a quote (or with
    spaces at its ends) quoted as in CSV: a model reading 'nb,tx' was logged as reading 'nb' and
    'tx'. Past MLflow's limit (a table of hundreds of features), the names that fit and how many
    more, and where ``whole`` lists them all, rather than a cut in the middle of a name."""
    names = [_csv_field(name) for name in names]
    text = ",".join(names)
    if len(text) <= PARAM_CHARS:
        return text
    widest = len(f",... (+{len(names)} more: {whole})")
    kept: list[str] = []
    size = 0
    for name in names:
        if size + len(name) + 1 + widest > PARAM_CHARS:
            break
        kept.append(name)
        size += len(name) + 1
    return ",".join(kept) + f",... (+{len(names) - len(kept)} more: {whole})"


def _csv_field(name: str) -> str:
    if "," in name or '"' in name or name != name.strip():
        return '"' + name.replace('"', '""') + '"'
    return name
