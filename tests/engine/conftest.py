"""One in-process Spark session (local[2]) for every engine test of a pytest worker: starting one
takes seconds, so it is shared; the UI is off and shuffles use few partitions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from challengers.engine.local import LocalEngine

SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "5000",  # several batches per partition
}


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Any]:
    from challengers.engine.spark import SparkEngine

    engine = SparkEngine.start("local[2]", SPARK_CONF)
    engine.session.sparkContext.setLogLevel("ERROR")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def local_engine() -> LocalEngine:
    return LocalEngine()
