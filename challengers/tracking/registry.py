"""The MLflow model registry: registering a run's challengers, and moving an alias by hand.

A run registers what it trained (one version per challenger, tagged with the run and the model's
name) and may point an alias such as ``challenger`` at the one the findings name best. Promoting a
model to ``champion`` is a person's decision: :func:`promote` moves an alias and records on the
version which run justified it; nothing here ever does that by itself.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from challengers.errors import ConfigError, EnvironmentFailure, first_line, scrub
from challengers.tracking.reading import read_run
from challengers.tracking.store import open_mlflow

RUN_TAG = "challenge.run"  # the parent run that trained the version
MODEL_TAG = "challenge.model"  # the model's name in that run
JUSTIFIED_BY = "challenge.promoted_by_run"  # on promotion: the run whose evidence justified it
PROMOTED_TO = "challenge.promoted_to"
# on the version an alias left: which version it moved to, and the runs that justified both
SUPERSEDED = "challenge.superseded"

# MLflow's rules for an alias (mlflow.utils.validation), checked before MLflow is asked: its refusal
# came after the run had trained and registered its versions (tracking.register.alias), or as a
# traceback (`challenge promote --alias`). ASCII only, as MLflow's own message says.
ALIAS = re.compile(r"[A-Za-z0-9_\-]+")
RESERVED_ALIAS = re.compile(r"latest|v[0-9]+", re.IGNORECASE)  # `latest`; v3 is version 3
MAX_ALIAS = 255
# the names a `challenge run` registers under (tracking.register.name, or the experiment's name)
REGISTERED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


_quiet: list[bool] = [False]  # inside quiet_registration(): `challenge run --register --quiet`


@contextlib.contextmanager
def quiet_registration() -> Iterator[None]:
    """Registering says nothing while this is open (`--quiet`): MLflow prints 'Successfully
    registered model ...', 'Registered model ... already exists ...' and 'Created version ...'
    on stderr itself (its ``eprint``, not a logger, so no logging level silences them)."""
    was = _quiet[0]
    _quiet[0] = True
    try:
        yield
    finally:
        _quiet[0] = was


@contextlib.contextmanager
def _mlflow_silent() -> Iterator[None]:
    """MLflow's own stream (its ``eprint`` and its loggers' handler) off, then as it was."""
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    was = stream.enabled
    stream.enabled = False
    try:
        yield
    finally:
        stream.enabled = was


@dataclass(frozen=True)
class Promotion:
    """An alias moved: to which version, from which (None: the alias is new; the version
    itself: it pointed there already)."""

    name: str
    alias: str
    version: str
    previous: str | None
    run_id: str


def _client(uri: str) -> Any:
    return open_mlflow(uri).MlflowClient(tracking_uri=uri)


def alias_problem(alias: str) -> str | None:
    """Why the registry would refuse ``alias`` (a sentence naming it, with the fix), or None: the
    one rule of tracking.register.alias and `challenge promote --alias`."""
    if not alias:
        return "the alias is empty; give one, e.g. challenger"
    if not ALIAS.fullmatch(alias):
        fixed = re.sub(r"[^A-Za-z0-9_\-]+", "_", alias).strip("_")
        fix = (
            f"write e.g. {fixed}" if fixed and not RESERVED_ALIAS.fullmatch(fixed) else "rename it"
        )
        return (
            f"alias '{alias}' holds characters other than letters, digits, '_' and '-', which an "
            f"MLflow registry alias is made of; {fix}"
        )
    if len(alias) > MAX_ALIAS:
        return (
            f"the alias is {len(alias)} characters long; the MLflow registry takes at most "
            f"{MAX_ALIAS}: shorten it"
        )
    if RESERVED_ALIAS.fullmatch(alias):
        meaning = "names the newest version" if alias.lower() == "latest" else "names a version"
        return (
            f"alias '{alias}' is reserved by the MLflow registry (latest and v<number>, in any "
            f"letter case: '{alias}' {meaning}); choose another alias"
        )
    return None


def registered_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a model a `challenge run` registered, or None."""
    if REGISTERED_NAME.fullmatch(name):
        return None
    return (
        f"'{name}' is not a name `challenge run` registers under (letters, digits, '_', '.' and "
        "'-', first a letter or digit: tracking.register.name or the experiment's name); give "
        "that name"
    )


def check_promotion(alias: str, name: str | None) -> None:
    """`challenge promote`'s --alias and --name, refused before the store is asked."""
    problem = alias_problem(alias)
    if problem:
        raise ConfigError(f"--alias: {problem}")
    problem = None if name is None else registered_name_problem(name)
    if problem:
        raise ConfigError(f"--name: {problem}")


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
    problem = alias and alias_problem(alias)
    if problem:  # before a version is registered: refused afterwards, the versions stayed
        raise ConfigError(f"tracking.register.alias: {problem}")
    mlflow = open_mlflow(uri)
    client = _client(uri)
    versions: dict[str, str] = {}
    try:
        for model, model_id in model_ids.items():
            with _mlflow_silent() if _quiet[0] else contextlib.nullcontext():
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
    run that justified it. The run must have finished: a failed or killed run's evidence
    justifies nothing."""
    check_promotion(alias, name)
    run = read_run(uri, run_id)
    run_id = run.run_id
    if run.deleted:
        raise ConfigError(run.deleted_note(uri, ", so it justifies no promotion"))
    if run.status != "FINISHED":
        raise ConfigError(
            f"run {run_id} is {run.status}, not FINISHED: a run that did not finish justifies no "
            "promotion; promote a model of a finished run (`challenge compare` shows a run's "
            "status)"
        )
    client = _client(uri)
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
    _require_model(uri, client, version, f"model '{model}' of run {run_id}")
    previous = _alias_version(client, names[0], alias)
    client.set_registered_model_alias(names[0], alias, version.version)
    client.set_model_version_tag(names[0], version.version, JUSTIFIED_BY, run_id)
    client.set_model_version_tag(names[0], version.version, PROMOTED_TO, alias)
    if previous is not None and previous != str(version.version):
        _superseded(client, names[0], previous, alias, str(version.version), run_id)
    return Promotion(names[0], alias, str(version.version), previous, run_id)


def _require_model(uri: str, client: Any, version: Any, what: str) -> None:
    """The version to promote must still be a model: its model run not deleted in the store, and
    its files where the store keeps them (else the alias named a model no run can load, and
    `challenge promote` said it moved). Where the files cannot be listed, MLflow says so when
    the alias is used."""
    if version.run_id:
        model_run = read_run(uri, str(version.run_id))
        if model_run.deleted:
            raise ConfigError(
                f"{what}: " + model_run.deleted_note(uri, ", so it justifies no promotion")
            )
    location = _files_location(client, str(version.source or ""))
    if location is None:
        return
    try:
        from mlflow.artifacts import list_artifacts

        files = [f.path for f in _walk(list_artifacts, location)]
    except Exception:
        return
    if not any(Path(f).name == "MLmodel" for f in files):
        raise ConfigError(
            f"{what}: version {version.version} of '{version.name}' has no model files at "
            f"{scrub(location)} (deleted or moved), so the alias would name a model that cannot "
            "be loaded; nothing was moved: put the files back there, or register the run's models "
            "again with `challenge run --register`"
        )


def _files_location(client: Any, source: str) -> str | None:
    """Where a version's files are: a logged model's artifact location (``models:/m-...``), or
    the version's source itself."""
    if source.startswith("models:/m-"):
        try:
            return str(client.get_logged_model(source.removeprefix("models:/")).artifact_location)
        except Exception:
            return None
    return source or None


def _walk(list_artifacts: Any, location: str, depth: int = 2) -> Iterator[Any]:
    """The files at ``location``, into sub-directories ``depth`` levels deep (a logged model's
    files sit in ``artifacts/``)."""
    for entry in list_artifacts(artifact_uri=location):
        if entry.is_dir and depth:
            yield from _walk(
                list_artifacts, f"{location.rstrip('/')}/{Path(entry.path).name}", depth - 1
            )
        else:
            yield entry


def _superseded(client: Any, name: str, left: str, alias: str, version: str, run_id: str) -> None:
    """The version ``alias`` left no longer says it was promoted to it (both versions claimed
    the alias): its promotion tags give way to one saying where the alias went, and which runs
    justified the two promotions. Tags of another alias's promotion are left as they are."""
    tags = client.get_model_version(name, left).tags
    if tags.get(PROMOTED_TO) != alias:
        return
    was = tags.get(JUSTIFIED_BY)
    client.set_model_version_tag(
        name,
        left,
        SUPERSEDED,
        f"{alias} moved to version {version}, justified by run {run_id}"
        + (f"; this version's promotion was justified by run {was}" if was else ""),
    )
    client.delete_model_version_tag(name, left, PROMOTED_TO)
    if was is not None:
        client.delete_model_version_tag(name, left, JUSTIFIED_BY)


def _alias_version(client: Any, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None  # the alias is new
