"""The local engine: polars and numpy in this process, the code every run used before the seam."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date

import numpy as np
import polars as pl

from challengers.data.checks import check_labels, nulls_and_nans
from challengers.data.frames import DAY, load_days, read_as_numbers, scan, schema_of
from challengers.data.split import Windows, split
from challengers.engine.aggregates import Aggregate
from challengers.engine.base import (
    DataSource,
    Engine,
    GraphSettings,
    ModelFile,
    ScoreStats,
    WindowRows,
)
from challengers.engine.boosters import predict
from challengers.engine.rowhash import RowSums
from challengers.errors import ConfigError
from challengers.features.graph import graph_features


def local_path(source: str | DataSource) -> str:
    """The files the local engine reads; a catalog table or a URI only Spark reads is refused
    (ConfigError, exit 2)."""
    source = DataSource.of(source)
    if source.table is not None:
        raise ConfigError(
            f"data.table: {source.table} is a table of a Spark catalog, which the local engine "
            "cannot read; set engine.kind: spark (or run with --engine spark), or give data.path "
            "(a parquet or csv file)"
        )
    assert source.path is not None
    if source.spark_only:
        raise ConfigError(
            f"data.path: {source.path} is a URI that only Spark reads; set engine.kind: spark "
            "(or run with --engine spark), or copy the files here and give their local path"
        )
    return source.path


def _rows(source: str | DataSource) -> pl.LazyFrame:
    """The scan of ``source``, its Decimals read as numbers, as a run's plan reads them."""
    lf = scan(local_path(source))
    return read_as_numbers(lf, schema_of(lf))


class LocalEngine(Engine[pl.DataFrame]):
    """Rows as one polars DataFrame in memory."""

    kind = "local"

    def schema(self, source: str | DataSource) -> pl.Schema:
        return schema_of(_rows(source))

    def aggregate(
        self,
        rows: pl.DataFrame | pl.LazyFrame,
        aggregates: Sequence[Aggregate],
        *,
        repeats: Sequence[pl.Expr] = (),
        schema: pl.Schema | None = None,
    ) -> tuple[list[pl.DataFrame], list[int]]:
        """The queries collected together, so polars reads a scan once for all of them (it
        shares the scan: 30% less time than apart); the keys (8 bytes a row each) then counted
        one at a time in place (:func:`repeated`)."""
        lf = rows.lazy()
        queries = [a.query(lf) for a in aggregates]
        if not repeats:
            return pl.collect_all(queries), []
        with _kernels_loading():
            *results, keys = pl.collect_all([*queries, lf.select(repeats)])
        return results, [repeated(keys.drop_in_place(name)) for name in list(keys.columns)]

    def load_days(
        self,
        source: str | DataSource,
        *,
        columns: Sequence[str],
        time: str,
        target: str,
        start: object,
        end: object,
        windows: Windows | None = None,
    ) -> pl.DataFrame:
        assert isinstance(start, date) and isinstance(end, date)
        frame = load_days(_rows(source), columns=columns, time=time, start=start, end=end)
        check_labels(frame.get_column(target), target, windows, frame.lazy())
        return frame

    def split(
        self, rows: pl.DataFrame, windows: Windows, *, target: str, entity: str | None
    ) -> WindowRows[pl.DataFrame]:
        parts = split(rows, windows, target=target, entity=entity)
        return WindowRows(parts.train, parts.test, parts.excluded_rows, parts.excluded_positives)

    def count(self, rows: pl.DataFrame) -> int:
        return rows.height

    def columns(self, rows: pl.DataFrame) -> list[str]:
        return rows.columns

    def to_polars(self, rows: pl.DataFrame) -> pl.DataFrame:
        return rows

    def select(self, rows: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        return rows.select(columns)

    def head(self, rows: pl.DataFrame, n: int) -> pl.DataFrame:
        return rows.head(n)

    def take(self, rows: pl.DataFrame, positions: np.ndarray) -> pl.DataFrame:
        return rows[positions]

    def row_sums(
        self, rows: pl.DataFrame, columns: Sequence[str], *, chunk_by: str | None
    ) -> RowSums:
        sums = RowSums(tuple(sorted(dict.fromkeys(columns))), chunk_by)
        sums.update(rows)
        return sums

    @contextlib.contextmanager
    def score(self, rows: pl.DataFrame, model: ModelFile, *, output: str) -> Iterator[pl.DataFrame]:
        booster = model.library.load(model.path)
        scores = predict(model.library, booster, rows, model.features)
        yield rows.with_columns(pl.Series(output, scores, dtype=pl.Float64))

    def scores_of(self, rows: pl.DataFrame, model: ModelFile) -> np.ndarray:
        booster = model.library.load(model.path)
        return predict(model.library, booster, rows, model.features)

    def scores_by(
        self,
        rows: pl.DataFrame,
        scorer: Callable[[pl.DataFrame], np.ndarray],
        columns: Sequence[str],
    ) -> np.ndarray:
        return np.asarray(scorer(rows.select(columns)), dtype=np.float64)

    @contextlib.contextmanager
    def scored_by(
        self,
        rows: pl.DataFrame,
        scorer: Callable[[pl.DataFrame], np.ndarray],
        columns: Sequence[str],
        *,
        output: str,
    ) -> Iterator[pl.DataFrame]:
        scores = self.scores_by(rows, scorer, columns)
        yield rows.with_columns(pl.Series(output, scores, dtype=pl.Float64))

    def class_counts(self, rows: pl.DataFrame, target: str) -> tuple[int, int]:
        positives = int(rows.get_column(target).cast(pl.Int64).sum())
        return rows.height - positives, positives

    def missing_counts(self, rows: pl.DataFrame, column: str) -> tuple[int, int]:
        return nulls_and_nans(rows.get_column(column))

    def score_stats(
        self, rows: pl.DataFrame, *, score: str, target: str, amount: str | None = None
    ) -> ScoreStats:
        return score_stats(
            rows.get_column(score).cast(pl.Float64).to_numpy(),
            rows.get_column(target).cast(pl.Float64).to_numpy(),
            None if amount is None else rows.get_column(amount).cast(pl.Float64).to_numpy(),
        )

    def entity_day_cells(
        self, rows: pl.DataFrame, *, score: str, target: str, entity: str, k: int
    ) -> pl.DataFrame:
        # ranked as Spark's rank(): tied entities share their rank (card precision shares the
        # places at the cut among them)
        return (
            rows.group_by(DAY, entity)
            .agg(
                pl.col(score).cast(pl.Float64).max().alias("_best"),
                pl.col(target).cast(pl.Float64).max().alias("label"),
            )
            .rename({entity: "entity"})
            .with_columns(pl.col("_best").rank("min", descending=True).over(DAY).alias("rank"))
            .sort(DAY, "rank", "entity")
            .drop("_best")
        )

    def finite_counts(self, rows: pl.DataFrame, columns: Sequence[str]) -> dict[str, int]:
        return {c: int(np.isfinite(_values(rows, c)).sum()) for c in columns}

    def order_statistics(
        self, rows: pl.DataFrame, ranks: Mapping[str, np.ndarray], counts: Mapping[str, int]
    ) -> dict[str, np.ndarray]:
        out = {}
        for c, r in ranks.items():
            values = _values(rows, c)
            finite = values[np.isfinite(values)]
            out[c] = np.sort(finite)[np.asarray(r, dtype=np.intp)]
        return out

    def bin_counts(
        self, rows: pl.DataFrame, edges: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        from challengers.evaluation.row_kernels import bin_counts  # numba loads only when needed

        return {
            c: bin_counts(_values(rows, c), np.asarray(e, dtype=np.float64))
            for c, e in edges.items()
        }

    def graph_features(
        self, history: pl.DataFrame, rows: pl.DataFrame, settings: GraphSettings
    ) -> pl.DataFrame:
        s = settings
        features = graph_features(
            history,
            rows,
            entities=s.entities,
            time=s.time,
            target=s.target,
            amount=s.amount,
            windows_days=s.windows_days,
            label_delay_days=s.label_delay_days,
            structure=s.structure,
            structure_every_days=s.structure_every_days,
            account=s.account,
        )
        return rows.hstack(features)


def score_stats(score: np.ndarray, y: np.ndarray, amount: np.ndarray | None) -> ScoreStats:
    """Per distinct finite score (descending): positives, negatives and the positives' amount;
    the squared errors' sum, the lowest score, the scores not finite."""
    finite = np.isfinite(score)
    non_finite = int(score.size - np.count_nonzero(finite))
    if non_finite:
        score, y = score[finite], y[finite]
        amount = None if amount is None else amount[finite]
    distinct, group = np.unique(-score, return_inverse=True)  # ascending -score: descending score
    positives = np.bincount(group, weights=y, minlength=len(distinct))
    rows = np.bincount(group, minlength=len(distinct)).astype(np.float64)
    fraud = (
        None if amount is None else np.bincount(group, weights=y * amount, minlength=len(distinct))
    )
    squared = float(np.sum((score - y) ** 2))
    lowest = float(-distinct[-1]) if len(distinct) else float("nan")
    return ScoreStats(-distinct, positives, rows - positives, fraud, squared, lowest, non_finite)


def _values(rows: pl.DataFrame, column: str) -> np.ndarray:
    """A column as float64 values, missing ones NaN (as the diagnostics read it)."""
    return rows.get_column(column).cast(pl.Float64).to_numpy()


def repeated(keys: pl.Series) -> int:
    """Values (nulls aside) equal to an earlier value of an integer column of keys.

    One column of keys, 8 bytes a row (0.8 GB at 100M rows), counted in place by
    :func:`challengers.engine.repeats.repeats`; a hash set, as ``n_unique`` builds, needs several
    times that. Keys already increasing (ids as extracts write them) are seen chunk by chunk,
    without the copy that joins a collected column's chunks into one array (100M ids, 936
    chunks: 1.9 s and 0.8 GB)."""
    from challengers.engine.repeats import repeats  # numba loads when keys are counted

    present = keys.drop_nulls()
    if _increasing(present):
        return 0
    values = present.to_numpy()
    return repeats(values if values.flags.writeable else values.copy())


def _increasing(keys: pl.Series) -> bool:
    """Whether integer ``keys`` (no nulls) are strictly increasing, read chunk by chunk (each a
    view of polars' memory), the first key of each chunk against the last of the one before."""
    from challengers.engine.repeats import increasing

    last = None
    for chunk in keys.get_chunks():
        values = chunk.to_numpy()
        if values.size == 0:
            continue
        if not increasing(values) or (last is not None and values[0] <= last):
            return False
        last = values[-1]
    return True


@contextlib.contextmanager
def _kernels_loading() -> Iterator[None]:
    """Load the duplicate counting's compiled kernels (numba's import and its cached machine
    code, about a second) in a thread while polars reads the rows, which leaves the GIL free."""
    thread = threading.Thread(target=load_kernels, name="challenge-kernels", daemon=True)
    thread.start()
    yield
    thread.join()  # not on an exception: a Ctrl-C does not wait for the import


def load_kernels() -> None:
    """Compile (or load) the signatures :func:`repeated` calls."""
    with contextlib.suppress(Exception):  # nothing required: repeated() loads them anyway
        for dtype in (pl.Int64, pl.UInt64):  # integer ids, and the hashes: the real signatures
            repeated(pl.Series([3, 1, 2, 1], dtype=dtype))
