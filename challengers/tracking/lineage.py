"""Where an MLflow-sourced champion came from, and fetching exactly that model again.

A champion given as ``models:/fraud@champion`` names whatever version the alias points at today.
A run records what it resolved to (:class:`ModelSource`: the URI as given, the registered model,
version, logged-model id, source run id and a digest of the model's files), so that a replication
fetches that version, not the alias's current one, and says so when it is gone or changed.
A champion model file is recorded the same way (its path and the sha256 of its bytes:
:func:`file_source`): a file replaced at the same path is another champion, which a resumed run
must not mix with the old one's checkpoint, and a replication must not score in its place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from challengers.errors import ModelError, first_line, scrub
from challengers.tracking.store import open_mlflow

SOURCE_PREFIX = "source."  # the champion child run's params/tags: source.uri, source.version, ...
MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


@dataclass(frozen=True)
class ModelSource:
    """An MLflow model as resolved when a run used it."""

    uri: str  # as given in the config
    registered_model: str | None = None
    version: str | None = None
    model_id: str | None = None
    run_id: str | None = None  # the run that logged the model
    digest: str | None = None  # sha256 of the model's files (MLmodel and the native file)

    @property
    def pinned_uri(self) -> str:
        """The URI of exactly this model: the version, never the alias."""
        if self.registered_model and self.version:
            return f"models:/{self.registered_model}/{self.version}"
        return self.uri

    def record(self) -> dict[str, str]:
        """``source.*`` params/tags of the champion's child run (unset fields left out)."""
        return {f"{SOURCE_PREFIX}{k}": str(v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_record(cls, record: Mapping[str, str]) -> ModelSource | None:
        fields = {
            k.removeprefix(SOURCE_PREFIX): v
            for k, v in record.items()
            if k.startswith(SOURCE_PREFIX)
            and k.removeprefix(SOURCE_PREFIX) in cls.__dataclass_fields__
        }
        return cls(**fields) if "uri" in fields else None


@dataclass(frozen=True)
class FetchedModel:
    """A model's files on disk, its flavours (from MLmodel) and where it came from."""

    directory: Path
    flavors: dict[str, Any]
    source: ModelSource


def is_mlflow_uri(source: str) -> bool:
    return source.startswith(MLFLOW_SCHEMES)


def fetch_champion(uri: str, tracking_uri: str, pinned: ModelSource | None = None) -> FetchedModel:
    """Resolve ``uri`` (or, replicating, the ``pinned`` version recorded for it), download it and
    record where it came from; ModelError (exit 2, one line) when it cannot be fetched, or when
    the pinned version is gone or its files differ from the recorded digest."""
    if pinned is not None and pinned.uri == uri:
        return _fetch_pinned(pinned, tracking_uri)
    source = _resolve(uri, tracking_uri)
    directory, flavors = download_model(source.pinned_uri, tracking_uri, given=uri)
    return FetchedModel(directory, flavors, _with_digest(source, directory, flavors))


def _fetch_pinned(pinned: ModelSource, tracking_uri: str) -> FetchedModel:
    where = f"champion.model {pinned.uri}: the run used version {pinned.version or '?'}"
    if pinned.registered_model and pinned.version:
        client = _client(tracking_uri)
        try:
            client.get_model_version(pinned.registered_model, pinned.version)
        except Exception:
            now = _current(pinned.uri, tracking_uri)
            raise ModelError(
                f"{where} of '{pinned.registered_model}', which is gone ({now}); nothing was "
                "re-run: restore that version, or evaluate the current one with `challenge run`"
            ) from None
    directory, flavors = download_model(pinned.pinned_uri, tracking_uri, given=pinned.uri)
    fetched = _with_digest(pinned, directory, flavors)
    if pinned.digest and fetched.digest != pinned.digest:
        raise ModelError(
            f"{where}, whose files changed (digest {pinned.digest[:12]} recorded, "
            f"{(fetched.digest or '?')[:12]} now); nothing was re-run"
        )
    return FetchedModel(directory, flavors, fetched)


def file_source(path: str, pinned: ModelSource | None = None) -> dict[str, str]:
    """A champion model file's ``source.*`` record: its path and the sha256 of its bytes. With
    ``pinned`` (what a replicated run recorded), ModelError (exit 2, one line) when the file is
    not the one the run scored. Nothing for a path that is not a file: reading it says why."""
    file = Path(path)
    if not file.is_file():
        return {}
    with file.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    recorded = pinned.digest if pinned is not None and not is_mlflow_uri(pinned.uri) else None
    if recorded and digest != recorded:
        raise ModelError(
            f"champion.model: {path} is not the file the run used (sha256 {recorded[:12]} "
            f"recorded, {digest[:12]} now); nothing was re-run: restore the model the run used, "
            "or evaluate this one with `challenge run`"
        )
    return ModelSource(uri=path, digest=digest).record()


def _current(uri: str, tracking_uri: str) -> str:
    """What ``uri`` resolves to now, for the message."""
    try:
        now = _resolve(uri, tracking_uri)
    except ModelError as exc:
        return f"now: {first_line(exc, limit=120)}"
    return (
        f"it resolves to version {now.version} now" if now.version else "it resolves otherwise now"
    )


def _client(tracking_uri: str) -> Any:
    return open_mlflow(tracking_uri).MlflowClient(tracking_uri=tracking_uri)


def _resolve(uri: str, tracking_uri: str) -> ModelSource:
    """The registered version (and its model id and run) a ``models:/`` URI names today; the
    run of a ``runs:/`` URI."""
    client = _client(tracking_uri)
    try:
        if uri.startswith("runs:/"):
            return ModelSource(uri=uri, run_id=uri.removeprefix("runs:/").split("/")[0])
        if not uri.startswith("models:/"):
            return ModelSource(uri=uri)
        from mlflow.store.artifact.utils.models import get_model_name_and_version

        named = get_model_name_and_version(client, uri)
        if len(named) == 1:  # models:/<model id>
            logged = client.get_logged_model(named[0])
            return ModelSource(uri=uri, model_id=logged.model_id, run_id=logged.source_run_id)
        version = client.get_model_version(named[0], str(named[1]))
    except Exception as exc:
        raise ModelError(
            f"champion.model: cannot fetch {uri} from {scrub(tracking_uri)}: "
            f"{first_line(exc, limit=300)}; check the model name, version or alias"
        ) from exc
    return ModelSource(
        uri=uri,
        registered_model=str(version.name),
        version=str(version.version),
        model_id=getattr(version, "model_id", None) or _model_id(str(version.source or "")),
        run_id=version.run_id or None,
    )


def _model_id(source: str) -> str | None:
    """The logged model a version was registered from (``models:/m-...``), when its store does
    not fill ``model_id`` (a sqlite store leaves it empty)."""
    rest = source.removeprefix("models:/")
    return rest if rest != source and rest and "/" not in rest else None


def _with_digest(source: ModelSource, directory: Path, flavors: dict[str, Any]) -> ModelSource:
    """``source`` with the sha256 of the model's native file(s) (what is evaluated)."""
    files = sorted({directory / str(conf["data"]) for conf in flavors.values() if conf.get("data")})
    digest = hashlib.sha256()
    for file in files:
        paths = sorted(p for p in file.rglob("*") if p.is_file()) if file.is_dir() else [file]
        for path in paths:
            if path.exists():
                digest.update(str(path.relative_to(directory)).encode() + b"\0")
                digest.update(path.read_bytes())
    return ModelSource(**{**asdict(source), "digest": digest.hexdigest()})


def _files_gone(uri: str, tracking_uri: str) -> str | None:
    """Where a registered version's files should be, when the version exists and that local
    directory is missing or holds no MLmodel (MLflow said "No such artifact: ''", and the line
    to check the model's name or version, which were right); None otherwise."""
    if not uri.startswith("models:/"):
        return None
    try:
        from mlflow.store.artifact.utils.models import get_model_name_and_version

        client = _client(tracking_uri)
        named = get_model_name_and_version(client, uri)
        if len(named) != 2:
            return None
        source = str(client.get_model_version(named[0], str(named[1])).source or "")
        if source.startswith("models:/m-"):
            source = str(client.get_logged_model(source.removeprefix("models:/")).artifact_location)
    except Exception:
        return None  # not registered: MLflow's own message says so
    if source.startswith("file://"):
        local = Path(source.removeprefix("file://"))
    elif ":/" in source:  # a server's or a cloud's store: MLflow's message says what failed
        return None
    else:
        local = Path(source)
    if (local / "MLmodel").is_file():
        return None
    return source


def download_model(
    uri: str, tracking_uri: str, *, given: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Download an MLflow model's files and return its directory and its flavours (no loading)."""
    import yaml

    mlflow = open_mlflow(tracking_uri)
    shown = given or uri
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:
        gone = _files_gone(uri, tracking_uri)
        if gone is not None:
            raise ModelError(
                f"champion.model: {shown}: the model is registered, but its files are missing at "
                f"{scrub(gone)} (moved or deleted); put them back there, or register the model "
                "again"
            ) from exc
        raise ModelError(
            f"champion.model: cannot fetch {shown} from {scrub(tracking_uri)}: "
            f"{first_line(exc, limit=300)}; check the model name/version or run id"
        ) from exc
    mlmodel = local / "MLmodel"
    if not mlmodel.exists():
        raise ModelError(f"champion.model: {shown} is not an MLflow model (no MLmodel file)")
    meta = yaml.safe_load(mlmodel.read_text())
    return local, dict(meta.get("flavors", {}))
