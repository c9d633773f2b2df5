"""Starting the Spark session of `engine: spark`, and turning its failures into one line.

Defaults that make Spark read rows as the local engine does: times in UTC (naive parquet timestamps
read as TIMESTAMP_NTZ), Arrow between the JVM and Python. Spark's Python workers run this process's
interpreter (``PYSPARK_PYTHON``), so executors on this machine import the same packages; on a
cluster the executors' Python must have ``challenge`` installed (see the README).
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from challengers.errors import ConfigError, EnvironmentFailure, first_line

DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",  # its progress bars would write over our stderr
}


def start_session(
    master: str | None, conf: Mapping[str, Any] | None = None, *, app_name: str = "challenge"
) -> Any:
    """A SparkSession on ``master`` (None: the one spark-submit set up), ``conf`` over the defaults.

    ConfigError (exit 2) when pyspark is not installed; EnvironmentFailure (exit 3) when Spark cannot
    start (no Java, a master that cannot be reached)."""
    if master and master.startswith("spark://"):
        check_reachable(master)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            "engine.kind: spark needs pyspark: install it with pip install 'challenge[spark]' "
            "(make install does), or set engine.kind: local"
        ) from exc
    # pyspark checks pandas' version when a job uses Arrow, and warns about the 3.x that the dev
    # extra installs; nothing here uses pandas
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    # executors on this machine start the interpreter of this process (the venv's), not `python3`
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in {**DEFAULTS, **dict(conf or {})}.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    try:
        return builder.getOrCreate()
    except Exception as exc:
        text = first_line(exc)
        hint = (
            "install Java 17+ (make install does, as root)"
            if "JAVA" in text.upper()
            else "check engine.master and that the cluster is up"
        )
        raise EnvironmentFailure(
            f"engine: Spark could not start on {master or 'the spark-submit master'}: {text}; {hint}"
        ) from exc


def check_reachable(master: str, timeout: float = 5.0) -> None:
    """A standalone master (spark://host:port[,host:port]) must accept a connection: Spark itself
    would retry for a minute and then fail a job, not the start. EnvironmentFailure (exit 3)."""
    reasons = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host or address, int(port or 7077)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            reasons.append(f"{address}: {getattr(exc, 'strerror', None) or exc}")
    raise EnvironmentFailure(
        f"engine.master: cannot reach {master} ({'; '.join(reasons)}); check the URL and that "
        "the Spark master is up"
    )
