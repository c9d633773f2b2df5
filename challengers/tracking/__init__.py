"""MLflow: the only package that imports it.

The store is found as MLflow itself would, with the tool's own flag first: ``--tracking-uri`` >
``tracking.uri`` in the config > ``MLFLOW_TRACKING_URI`` > ``sqlite:///mlflow.db`` in the working
directory (embedded, nothing to start). The store is checked before any training so that an
unreachable server costs seconds, not a lost run.

``store`` finds, checks and opens the store; ``writing`` logs a run (parent, one child per model,
nested trials); ``reading`` reads logged runs back for ``replicate`` and ``compare``; ``lineage``
resolves and fetches an MLflow-sourced champion and records where it came from; ``registry``
registers challengers and moves aliases; ``server`` runs ``mlflow server`` as a process tree that
stops whole (``challenge ui``).

MLflow 3 sends anonymous usage records to its project's servers by default. Validation machines
at banks usually must not call out, and a validator should not have to know that a tracking
library does: the tool turns it off (``MLFLOW_DISABLE_TELEMETRY=true``) unless the variable is
set already, before MLflow is first imported. ``challenge ui``'s server inherits the setting.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from challengers.tracking.lineage import (
    FetchedModel,
    ModelSource,
    download_model,
    fetch_champion,
    file_source,
    is_mlflow_uri,
)
from challengers.tracking.reading import (
    StoredRun,
    annotate_run,
    has_artifacts,
    read_artifact_text,
    read_children,
    read_run,
    require_store,
    resumed_by,
    run_tags,
)
from challengers.tracking.store import (
    DEFAULT_URI,
    Warmup,
    artifact_root,
    check_reachable,
    open_mlflow,
    resolve_uri,
)
from challengers.tracking.writing import (
    DatasetRef,
    ModelRun,
    NestedRun,
    Tracker,
    flatten_params,
    listed,
)

__all__ = [
    "DEFAULT_URI",
    "DatasetRef",
    "FetchedModel",
    "ModelRun",
    "ModelSource",
    "NestedRun",
    "StoredRun",
    "Tracker",
    "Warmup",
    "annotate_run",
    "artifact_root",
    "check_reachable",
    "download_model",
    "fetch_champion",
    "file_source",
    "flatten_params",
    "has_artifacts",
    "is_mlflow_uri",
    "listed",
    "open_mlflow",
    "read_artifact_text",
    "read_children",
    "read_run",
    "require_store",
    "resolve_uri",
    "resumed_by",
    "run_tags",
]
