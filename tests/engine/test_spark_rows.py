"""The rows a Spark run brings to the driver by place: the first rows, the rows at given positions
and a selection of columns are the local engine's, in the files' order, whatever Spark's
partitions (a file of many row groups read by several tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest


@pytest.mark.slow
def test_head_take_and_select_give_the_local_rows_in_file_order(
    spark_engine: Any, local_engine: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame(
        {"id": np.arange(50_000), "x": rng.normal(size=50_000), "y": rng.integers(0, 2, 50_000)}
    )
    path = tmp_path / "rows.parquet"
    frame.write_parquet(path, row_group_size=4_000)  # several tasks read it
    rows = spark_engine.file_rows(str(path)).where("y = 1 or x > 0")  # a window's gaps
    local = frame.filter((pl.col("y") == 1) | (pl.col("x") > 0))
    positions = np.sort(rng.choice(local.height, size=300, replace=False))
    assert spark_engine.head(rows, 7).equals(local_engine.head(local, 7))
    assert spark_engine.take(rows, positions).equals(local_engine.take(local, positions))
    selected = spark_engine.to_polars(spark_engine.select(rows, ["y", "id"]))
    assert selected.equals(local_engine.select(local, ["y", "id"]))
