"""Starting the Spark session of `engine: spark`, turning its failures into one line, and the values
it ships to the executors for a block of jobs.

Defaults that make Spark read rows as the local engine does: times in UTC (naive parquet timestamps
read as TIMESTAMP_NTZ), Arrow between the JVM and Python. Spark's Python workers run this process's
interpreter (``PYSPARK_PYTHON``), so executors on this machine import the same packages; on a
cluster the executors' Python must have ``challenge`` installed (see the README).
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from challengers.errors import ChallengeError, ConfigError, EnvironmentFailure, first_line

Fn = TypeVar("Fn", bound=Callable[..., Any])

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
    check_master(master)
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


@contextmanager
def sql_conf(session: Any, key: str, value: str) -> Iterator[None]:
    """The session's SQL setting ``key`` as ``value`` for the block's queries, then as it was."""
    before = session.conf.get(key, None)
    session.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            session.conf.unset(key)
        else:
            session.conf.set(key, before)


@contextmanager
def shipped(session: Any, value: Any) -> Iterator[Any]:
    """``value`` as a broadcast for the block's jobs, destroyed when it ends. Not unpersisted:
    that frees the executors' copies only, while the driver keeps its JVM's until a garbage
    collection finds it and PySpark's pickled file (in spark.local.dir) until the JVM exits; in
    local mode the driver's copy is the only one. A frame whose plan reads the broadcast must
    not be computed after the block."""
    broadcast = session.sparkContext.broadcast(value)
    try:
        yield broadcast
    finally:
        broadcast.destroy()


def check_master(master: str | None) -> None:
    """A standalone master (spark://...) that cannot be reached is EnvironmentFailure (exit 3),
    checked without starting Spark; other masters (local, yarn, k8s) are left to Spark."""
    if master and master.startswith("spark://"):
        check_reachable(master)


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


# What a failed job's message says when the cluster failed it, not the rows; the first found names
# the cause (an executor killed for its memory is also reported lost: memory is looked for first)
CLUSTER_CAUSES = (
    ("OutOfMemoryError", "an executor ran out of memory"),
    ("exceeding memory limits", "an executor exceeded its memory limit"),
    ("ExecutorLostFailure", "an executor was lost"),
    ("SparkContext was shut down", "the Spark session was shut down"),
    ("stopped SparkContext", "the Spark session was shut down"),
    ("Master removed our application", "the master removed the application"),
    (
        "spark.driver.maxResultSize",
        "the rows brought to the driver are larger than spark.driver.maxResultSize (raise it, and "
        "spark.driver.memory, in engine.conf)",
    ),
)


def cluster_failure(exc: BaseException) -> EnvironmentFailure | None:
    """The exit-3 error for a Spark job the cluster failed (a lost executor, an executor out of
    memory, a session shut down, results over the driver's limit) anywhere in ``exc``'s chain;
    None for any other error."""
    links: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in links:
        links.append(link)
        link = link.__cause__ or link.__context__
    text = "\n".join(str(link) for link in links)
    for marker, cause in CLUSTER_CAUSES:
        at = text.find(marker)
        if at >= 0:
            end = text.find("\n", at)
            detail = text[at : end if end >= 0 else None].strip()[:200]
            return EnvironmentFailure(
                f"engine: a Spark job failed: {cause} ({detail}); check the cluster and "
                "engine.conf (spark.executor.memory), then run again"
            )
    return None


def cluster_errors(fn: Fn) -> Fn:
    """``fn`` (an engine step that runs Spark jobs) with the cluster's failures as
    :func:`cluster_failure` (exit 3); the tool's own errors and any other error pass unchanged."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ChallengeError:
            raise
        except Exception as exc:
            failure = cluster_failure(exc)
            if failure is None:
                raise
            raise failure from exc

    return wrapper  # type: ignore[return-value]
