"""MLflow: the only package that imports it.

The store is found as MLflow itself would, with the tool's own flag first: ``--tracking-uri`` >
``tracking.uri`` in the config > ``MLFLOW_TRACKING_URI`` > ``sqlite:///mlflow.db`` in the working
directory (embedded, nothing to start). The store is checked before any training so that an
unreachable server costs seconds, not a lost run.

``store`` finds, checks and opens the store; ``writing`` logs a run (parent, one child per model,
nested trials); ``reading`` reads logged runs back for ``replicate`` and ``compare``.
"""

from challengers.tracking.reading import (
    StoredRun,
    annotate_run,
    read_artifact_text,
    read_children,
    read_run,
    require_store,
)
from challengers.tracking.store import (
    DEFAULT_URI,
    artifact_root,
    check_reachable,
    open_mlflow,
    resolve_uri,
)
from challengers.tracking.writing import DatasetRef, ModelRun, NestedRun, Tracker, download_model

__all__ = [
    "DEFAULT_URI",
    "DatasetRef",
    "ModelRun",
    "NestedRun",
    "StoredRun",
    "Tracker",
    "annotate_run",
    "artifact_root",
    "check_reachable",
    "download_model",
    "open_mlflow",
    "read_artifact_text",
    "read_children",
    "read_run",
    "require_store",
    "resolve_uri",
]
