"""Queries over every row whose result merges from their results on any parts of the rows.

An :class:`Aggregate` is a polars query on rows (a function of a LazyFrame) with how its results
merge: grouped by its key columns (none: one row), every other column the sum, min or max of
theirs. An engine that holds the rows in parts (Spark: Arrow batches on the executors) runs the
same query on each part and merges the parts' results into exactly the result of the query on all
rows; the local engine runs it once on all of them. Beside them, an engine counts the repeats of
integer keys (:meth:`~challengers.engine.base.Engine.aggregate`): values equal to an earlier one.

Sums merge as 64-bit integers (polars counts in 32 bits), so only integer columns may be summed:
a float's sum depends on the order of its terms. Min and max keep the column's type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

Merge = Literal["sum", "min", "max"]


@dataclass(frozen=True)
class Aggregate:
    """``query`` on any rows; its results on parts of them merge, grouped by the columns ``by``
    (none: a one-row result), each column of ``merge`` by its sum, min or max. ``by`` and
    ``merge`` name every column of the result. ``query`` is shipped to where the rows are
    (pickled): a module-level function or a ``functools.partial`` of one, over expressions."""

    query: Callable[[pl.LazyFrame], pl.LazyFrame]
    by: tuple[str, ...] = ()
    merge: tuple[tuple[str, Merge], ...] = ()

    def on(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        """The result's columns and types for rows of ``schema``; ValueError when ``by`` and
        ``merge`` do not name them all, or sum a column that is not an integer."""
        result = self.query(pl.LazyFrame(schema=schema)).collect_schema()
        named = [*self.by, *(c for c, _ in self.merge)]
        if sorted(named) != sorted(result.names()):
            raise ValueError(f"an aggregate names {named} of its columns {result.names()}")
        summed = [c for c, how in self.merge if how == "sum" and not result[c].is_integer()]
        if summed:
            raise ValueError(f"an aggregate sums '{summed[0]}' ({result[summed[0]]})")
        return result

    def merged(self, parts: pl.LazyFrame) -> pl.LazyFrame:
        """The results of parts of the rows (concatenated) merged into the result on all."""
        merges = [_merge(c, how) for c, how in self.merge]
        if not self.by:
            return parts.select(merges)
        if not merges:
            return parts.select(self.by).unique()
        return parts.group_by(self.by).agg(merges)


def _merge(column: str, how: Merge) -> pl.Expr:
    col = pl.col(column)
    if how == "sum":
        return col.cast(pl.Int64).sum()
    return col.min() if how == "min" else col.max()
