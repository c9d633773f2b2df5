"""Logging a run: one parent run per `challenge run`, one child run per model, nested trials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from challengers.errors import EnvironmentFailure, ModelError, first_line, scrub
from challengers.tracking.store import create_experiment, open_mlflow


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
    artifacts: list[Path] = field(default_factory=list)
    children: list[NestedRun] = field(default_factory=list)  # e.g. tuning trials


@dataclass
class DatasetRef:
    """A dataset as an MLflow input: where it came from and its content fingerprint."""

    source: str
    name: str
    digest: str
    context: str


class Tracker:
    """One parent run per ``challenge run``, one child run per model."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.parent_id: str | None = None
        self.experiment_id: str | None = None

    def _mlflow(self) -> Any:
        return open_mlflow(self.uri)

    def start(self, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
        mlflow = self._mlflow()
        try:
            create_experiment(mlflow, self.uri, experiment)
            exp = mlflow.set_experiment(experiment)
            self.experiment_id = exp.experiment_id
            run = mlflow.start_run(run_name=run_name, tags=dict(tags))
        except Exception as exc:
            raise EnvironmentFailure(
                f"tracking store {scrub(self.uri)} failed: {first_line(exc, limit=300)}"
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
        import importlib

        flavor = importlib.import_module(f"mlflow.{run.flavor}")
        flavor.log_model(
            run.native_model,
            name="model",
            pip_requirements=run.requirements,
            **run.flavor_options,
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


def download_model(uri: str, tracking_uri: str) -> tuple[Path, dict[str, Any]]:
    """Download an MLflow model's files and return its directory and its flavours (no loading)."""
    import yaml

    mlflow = open_mlflow(tracking_uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:
        raise ModelError(
            f"champion.model: cannot fetch {uri} from {scrub(tracking_uri)}: {first_line(exc, limit=300)}; "
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
