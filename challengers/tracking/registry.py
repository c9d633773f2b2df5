"""The MLflow model registry: registering a run's challengers, and moving an alias by hand.

A run registers what it trained (one version per challenger, tagged with the run and the model's
name) and may point an alias such as ``challenger`` at the one the findings name best. Promoting a
model to ``champion`` is a person's decision: :func:`promote` moves an alias and records on the
version which run justified it; nothing here ever does that by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from challengers.errors import ConfigError, EnvironmentFailure, first_line, scrub
from challengers.tracking.reading import whole_run_id
from challengers.tracking.store import open_mlflow

RUN_TAG = "challenge.run"  # the parent run that trained the version
MODEL_TAG = "challenge.model"  # the model's name in that run
JUSTIFIED_BY = "challenge.promoted_by_run"  # on promotion: the run whose evidence justified it
PROMOTED_TO = "challenge.promoted_to"


@dataclass(frozen=True)
class Promotion:
    """An alias moved: to which version, from which (None: the alias is new)."""

    name: str
    alias: str
    version: str
    previous: str | None
    run_id: str


def _client(uri: str) -> Any:
    return open_mlflow(uri).MlflowClient(tracking_uri=uri)


def register_models(
    uri: str,
    name: str,
    model_ids: Mapping[str, str],
    *,
    run_id: str,
    alias: str | None = None,
    best: str | None = None,
) -> dict[str, str]:
    """Register each logged model (model name -> logged model id) as a version of ``name``;
    set ``alias`` on ``best``'s version. Returns model name -> version."""
    mlflow = open_mlflow(uri)
    client = _client(uri)
    versions: dict[str, str] = {}
    try:
        for model, model_id in model_ids.items():
            version = mlflow.register_model(
                f"models:/{model_id}", name, tags={RUN_TAG: run_id, MODEL_TAG: model}
            )
            versions[model] = str(version.version)
        if alias and best in versions:
            client.set_registered_model_alias(name, alias, versions[best])
    except Exception as exc:
        raise EnvironmentFailure(
            f"registering the models as '{name}' in {scrub(uri)} failed: "
            f"{first_line(exc, limit=300)}"
        ) from exc
    return versions


def promote(uri: str, run_id: str, model: str, alias: str, name: str | None = None) -> Promotion:
    """Point ``alias`` at the registered version of ``model`` trained by run ``run_id`` (a
    ``challenge run`` parent run, or the first characters of its id), tagging the version with the
    run that justified it."""
    client = _client(uri)
    run_id = whole_run_id(uri, run_id, client)
    filter_string = f"tags.`{RUN_TAG}` = '{run_id}'"
    if name:
        filter_string += f" and name = '{name}'"
    found = [
        v for v in client.search_model_versions(filter_string) if v.tags.get(MODEL_TAG) == model
    ]
    if not found:
        raise ConfigError(
            f"no registered version of model '{model}' from run {run_id} in {scrub(uri)}; "
            "register the run's models with `challenge run --register` (or tracking.register), "
            "and give the parent run's id"
        )
    names = sorted({str(v.name) for v in found})
    if len(names) > 1:
        raise ConfigError(
            f"model '{model}' of run {run_id} is registered as {', '.join(names)}; choose one "
            "with --name"
        )
    version = max(found, key=lambda v: int(v.version))
    previous = _alias_version(client, names[0], alias)
    client.set_registered_model_alias(names[0], alias, version.version)
    client.set_model_version_tag(names[0], version.version, JUSTIFIED_BY, run_id)
    client.set_model_version_tag(names[0], version.version, PROMOTED_TO, alias)
    return Promotion(names[0], alias, str(version.version), previous, run_id)


def _alias_version(client: Any, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None  # the alias is new
