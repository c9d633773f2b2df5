"""What every config section shares: strict frozen models, path resolution, metric keys."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import ValidationInfo

from challengers.errors import ConfigError, did_you_mean
from challengers.evaluation.metrics import METRICS, MetricSpec, parse_metric

# shared with the kinds' sections, which live with the kinds (models sit below config)
from challengers.models.params import NAME_PATTERN, Strict, unique_names

__all__ = ["NAME_PATTERN", "Strict", "unique_names"]


class FieldError(ValueError):
    """A check across sections that knows where its fix goes: ``path`` (keys and list indexes,
    e.g. ``("challengers", 0, "tune")``) gives the error its config line, where pydantic would
    give a whole-config check none."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")  # a URL or a URI: scheme://...


def resolve_path(value: str | None, info: ValidationInfo) -> str | None:
    """Paths in a config are relative to the config file, and normalised; URIs are left alone."""
    if value is None or value.startswith(URI_SCHEMES):
        return value
    scheme = SCHEME.match(value)
    if scheme:  # else joined to the config's directory: "file not found: .../http:/host/..."
        mlflow = " or an MLflow URI (models:/<name>/<version>, runs:/<run id>/<path>)"
        raise ValueError(
            f"'{value}' is a {scheme.group(1)}:// URL, which is not read from; download the file "
            f"and give its local path{mlflow if info.field_name == 'model' else ''}"
        )
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    # "configs/../data/x" as "data/x": the path stays right after the config's directory moves,
    # and a config copied beside it hashes the same; by its text only, as symlinks are not
    # followed (a link to the data is the path the user gave, and the one the run records)
    return os.path.normpath(path)


def resolve_data_path(value: str | None, info: ValidationInfo) -> str | None:
    """``data.path``: as :func:`resolve_path`, but a URI with a scheme (hdfs://, s3a://, ...) is
    kept as it is, for Spark to read (the local engine refuses it when planning)."""
    if value is not None and SCHEME.match(value):
        return value
    return resolve_path(value, info)


def metric_from_value(value: str) -> MetricSpec:
    try:
        return parse_metric(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def metric_from_key(key: str) -> MetricSpec:
    """A metric key (``recall_at_fpr_0.01``) back to its spec."""
    for name in sorted(METRICS, key=len, reverse=True):
        if key == name:
            return metric_from_value(name)
        if key.startswith(name + "_"):
            return metric_from_value(f"{name}@{key[len(name) + 1 :]}")
    raise ValueError(f"'{key}' is not a metric key{did_you_mean(key, list(METRICS))}")
