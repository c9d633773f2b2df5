"""The engine interface: the steps that touch rows, and the small records they hand back.

An engine holds rows in its own form (``F``: a polars DataFrame locally, a Spark DataFrame on a
cluster) and hands back only what the shared code after it needs: row counts, per-day fingerprint
sums (:class:`~challengers.engine.rowhash.RowSums`), and per-score counts (:class:`ScoreStats`).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

import numpy as np
import polars as pl

from challengers.data.split import Windows
from challengers.engine.aggregates import Aggregate
from challengers.engine.boosters import TreeScorer
from challengers.engine.rowhash import RowSums
from challengers.features.graph import feature_names

F = TypeVar("F")
URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")  # a path with a scheme: Spark's file systems


@dataclass(frozen=True)
class DataSource:
    """Where the rows are: files (``path``: a file, a glob) or a table of a Spark session's catalog
    (``table``: [catalog.][db.]name); exactly one."""

    path: str | None = None
    table: str | None = None

    @classmethod
    def of(cls, source: str | DataSource) -> DataSource:
        """A path given as a plain string, or the source itself."""
        return source if isinstance(source, DataSource) else cls(path=source)

    @property
    def key(self) -> str:
        """The config key that names it, for messages."""
        return "data.table" if self.table is not None else "data.path"

    @property
    def spark_only(self) -> bool:
        """Whether only Spark reads it: a catalog table, or a URI with a scheme (hdfs://, s3a://,
        abfss://, gs://, file://, ...) that Spark resolves through its own file systems."""
        return self.table is not None or bool(self.path and URI.match(self.path))

    @property
    def name(self) -> str:
        return self.table if self.table is not None else str(self.path)


@dataclass(frozen=True)
class WindowRows(Generic[F]):
    """The training and test rows of a run (label delay and known-fraud exclusion applied)."""

    train: F
    test: F
    excluded_rows: int
    excluded_positives: int


@dataclass(frozen=True)
class ModelFile:
    """A native booster file to score with, and the tree library that reads and applies it."""

    path: str
    library: TreeScorer  # challengers.models.trees.library("lightgbm" | "xgboost")
    features: tuple[str, ...]


@dataclass(frozen=True)
class GraphSettings:
    """The arguments of :func:`challengers.features.graph.graph_features` but the frames."""

    entities: tuple[str, ...]
    time: str
    target: str
    amount: str | None = None
    windows_days: tuple[int, ...] = (1, 7, 30)
    label_delay_days: int = 0
    structure: bool = True
    structure_every_days: int = 1
    account: str | None = None

    @property
    def owner(self) -> str:
        """The account: the entity whose neighbourhood is scored."""
        return self.account or self.entities[0]

    @property
    def names(self) -> list[str]:
        """The feature columns, in order."""
        return feature_names(
            self.entities, self.windows_days, self.amount is not None, self.structure, self.owner
        )


@dataclass(frozen=True)
class ScoreStats:
    """Sufficient statistics of every exact metric: per tie group of scores, in descending order,
    its (highest) score, the count of positives and negatives and the positives' total amount
    (None without an amount); and over every row, the sum of squared errors ``(score - label)^2``
    (the Brier score's), the lowest score and the scores that are not finite (NaN, +-inf: counted,
    not grouped). A group is one distinct score (:meth:`Engine.score_stats`), or, from
    :meth:`Engine.score_groups`, a run of consecutive distinct scores without a positive between
    two scores that hold one: every metric but card precision reads the same values from either
    (see :func:`merge_negative_runs`)."""

    score: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    fraud_amount: np.ndarray | None
    squared_error: float = math.nan
    lowest: float = math.nan
    non_finite: int = 0

    @property
    def rows(self) -> int:
        return int(self.positives.sum() + self.negatives.sum())

    @property
    def in_unit(self) -> bool:
        """Whether every score is in [0, 1] (a calibrated kind's scores read as probabilities)."""
        return bool(len(self.score)) and self.lowest >= 0.0 and float(self.score[0]) <= 1.0


def merge_negative_runs(stats: ScoreStats) -> ScoreStats:
    """``stats`` with each run of consecutive groups that hold no positive merged into one group
    (its highest score). No metric read from the groups moves: such a group adds no positive and
    no fraud amount, so ROC AUC's pairs, average precision's steps, the recall at an FPR limit,
    the alert budget's pro-rata share of a group straddling it and KS's largest gap (monotone
    along the run) are the same; the Brier score is summed over the rows, apart. Scores are
    mostly distinct, and frauds rare: a window's groups fall from about its rows to about twice
    its frauds."""
    if not len(stats.score):  # no group to merge (reduceat needs at least one start)
        return stats
    has_positive = stats.positives > 0
    starts = np.ones(len(stats.score), dtype=bool)  # a group starts where a run does not go on
    starts[1:] = has_positive[1:] | has_positive[:-1]
    first = np.flatnonzero(starts)
    fraud = None
    if stats.fraud_amount is not None:
        fraud = np.add.reduceat(stats.fraud_amount, first)
    return ScoreStats(
        stats.score[first],
        np.add.reduceat(stats.positives, first),
        np.add.reduceat(stats.negatives, first),
        fraud,
        stats.squared_error,
        stats.lowest,
        stats.non_finite,
    )


class Engine(ABC, Generic[F]):
    """Where the steps that touch rows run. Implementations: local (polars), spark."""

    kind: ClassVar[str]

    @abstractmethod
    def schema(self, source: str | DataSource) -> pl.Schema:
        """The columns of the data at ``source`` (a path, or a :class:`DataSource`) as polars types
        (for the shared column checks); DataError (one line) when nothing can be read."""

    def lazy(self, source: str | DataSource) -> pl.LazyFrame:
        """The rows of ``source`` as a polars LazyFrame, for the queries the audit and the checks
        run on every row."""
        raise NotImplementedError(f"engine {self.kind} scans files where they are")

    def read(self, source: str | DataSource) -> F:
        """Every row and column of ``source``, held where the engine holds rows, for
        :meth:`aggregate` (the local engine scans the files lazily: :meth:`lazy`)."""
        raise NotImplementedError(f"engine {self.kind} scans files where they are")

    @abstractmethod
    def aggregate(
        self,
        rows: F,
        aggregates: Sequence[Aggregate],
        *,
        repeats: Sequence[pl.Expr] = (),
        schema: pl.Schema | None = None,
    ) -> tuple[list[pl.DataFrame], list[int]]:
        """Each aggregate's result on every row of ``rows`` (a Spark engine merges its parts'
        results where the rows are), and for each integer key of ``repeats`` (an expression
        over the rows) how many rows hold a key, not null, that an earlier row holds: only counts
        reach the caller, never the keys. ``schema``: the polars types the queries are written
        for; the rows are read as those (the engine's own by default)."""

    @abstractmethod
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
    ) -> F:
        """Rows on days start..end (inclusive) with ``columns`` plus the day column (``data.frames.DAY``), the time
        as naive UTC, Decimal columns as numbers (``data.frames.number_types``); the target checked
        (0/1, no nulls: missing labels said by the part of ``windows`` they are in)."""

    @abstractmethod
    def split(self, rows: F, windows: Windows, *, target: str, entity: str | None) -> WindowRows[F]:
        """Training and test rows, label delay and known-fraud exclusion applied."""

    @abstractmethod
    def count(self, rows: F) -> int:
        """The number of rows."""

    @abstractmethod
    def columns(self, rows: F) -> list[str]:
        """The names of the columns of ``rows``."""

    @abstractmethod
    def to_polars(self, rows: F) -> pl.DataFrame:
        """The rows on the driver (small extracts and tests only)."""

    @abstractmethod
    def select(self, rows: F, columns: Sequence[str]) -> F:
        """The rows with ``columns`` alone (those to bring to the driver)."""

    @abstractmethod
    def head(self, rows: F, n: int) -> pl.DataFrame:
        """The first ``n`` rows (in the files' order) on the driver."""

    @abstractmethod
    def take(self, rows: F, positions: np.ndarray) -> pl.DataFrame:
        """The rows at ``positions`` (0-based, ascending, in the files' order) on the driver."""

    def with_infinite(self, rows: F, columns: Sequence[str]) -> F:
        """The rows with a value in one of the float ``columns`` that a model would read as
        infinite (``data.frames.read_as_infinite``); none when ``columns`` is empty."""
        raise NotImplementedError(f"engine {self.kind} checks its rows in memory")

    @abstractmethod
    def row_sums(self, rows: F, columns: Sequence[str], *, chunk_by: str | None) -> RowSums:
        """The fingerprint sums of ``columns`` (per day of ``chunk_by``)."""

    @abstractmethod
    def score(self, rows: F, model: ModelFile, *, output: str) -> AbstractContextManager[F]:
        """The rows with the model's score (float64) in column ``output``, for the block: Spark
        ships the model's file to the executors until it ends, so the jobs on the rows run in it."""

    def scored_by(
        self,
        rows: F,
        scorer: Callable[[pl.DataFrame], np.ndarray],
        columns: Sequence[str],
        *,
        output: str,
    ) -> AbstractContextManager[F]:
        """The rows with ``scorer``'s float64 score in column ``output`` (as :meth:`scores_by`:
        it sees ``columns``, in batches, and must score each row alone), where the rows are, for
        the block (as :meth:`score`)."""
        raise NotImplementedError(f"engine {self.kind} scores through the models")

    @abstractmethod
    def score_stats(
        self, rows: F, *, score: str, target: str, amount: str | None = None
    ) -> ScoreStats:
        """Per distinct score: positives, negatives, fraud amount."""

    def score_groups(
        self, rows: F, *, score: str, target: str, amount: str | None = None
    ) -> ScoreStats:
        """:meth:`score_stats` with the runs of scores without a positive merged
        (:func:`merge_negative_runs`): the same metrics from about twice the frauds' groups."""
        return merge_negative_runs(
            self.score_stats(rows, score=score, target=target, amount=amount)
        )

    @abstractmethod
    def entity_day_cells(
        self, rows: F, *, score: str, target: str, entity: str, k: int
    ) -> pl.DataFrame:
        """Per day (``data.frames.DAY``), the entities in card-precision order (``rank`` from 1 by
        max score, tied entities sharing theirs) with their max ``label``; at least the first
        ``k * days`` ranks of each day."""

    # ------------------------------------------------------------------ PSI references
    # exact quantiles and bin counts of columns (challengers.engine.references), for the
    # diagnostics' references of a window whose rows stay on the engine

    def finite_counts(self, rows: F, columns: Sequence[str]) -> dict[str, int]:
        """The finite values (not null, NaN or infinite) of each column."""
        raise NotImplementedError(f"engine {self.kind} keeps its rows in memory")

    def order_statistics(
        self, rows: F, ranks: Mapping[str, np.ndarray], counts: Mapping[str, int]
    ) -> dict[str, np.ndarray]:
        """Per column, its finite values at the 0-based ascending ``ranks`` among its
        ``counts[column]`` finite values, exactly."""
        raise NotImplementedError(f"engine {self.kind} keeps its rows in memory")

    def bin_counts(self, rows: F, edges: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per column, its rows in each bin ``(-inf, e0], (e0, e1], ... (e_last, inf)``, then
        its non-finite rows."""
        raise NotImplementedError(f"engine {self.kind} keeps its rows in memory")

    @abstractmethod
    def graph_features(self, history: F, rows: F, settings: GraphSettings) -> F:
        """``rows`` with the graph features of ``settings`` appended (float32, null where
        undefined), from the strictly earlier rows of ``history``."""

    # ------------------------------------------------------------------ training challengers
    # An engine that keeps rows off the driver (``distributed``) trains challengers where the rows
    # are: XGBoost on its workers, other kinds on a sample brought to the driver; the local engine
    # trains every model in this process on every row (the models' own ``fit``).

    distributed: ClassVar[bool] = False

    def tags(self) -> dict[str, str]:
        """What a run's MLflow parent records of the engine (its version, its master)."""
        return {}

    def workers(self, requested: int | None) -> int:
        """The tasks a distributed training runs: ``requested``, else the engine's parallelism;
        ConfigError when the engine cannot run them together."""
        return requested or 1

    def class_counts(self, rows: F, target: str) -> tuple[int, int]:
        """The number of genuine (target 0) and fraud (target 1) rows."""
        raise NotImplementedError(f"engine {self.kind} does not count classes")

    def missing_counts(self, rows: F, column: str) -> tuple[int, int]:
        """The rows whose ``column`` is null, and those where it is NaN (a float column's)."""
        raise NotImplementedError(f"engine {self.kind} does not count missing values")

    def sample(
        self, rows: F, *, target: str, size: int, seed: int, by: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """At most ``size`` rows on the driver, the same for the same ``seed`` and values of the
        columns ``by`` (default: every column), with the fraud rate of ``rows`` (each class
        sampled alone); every row when there are no more."""
        raise NotImplementedError(f"engine {self.kind} trains on every row")

    def kept(self, rows: F) -> F:
        """``rows`` computed once and kept where they are until :meth:`close` (Spark: persisted
        on the executors, in memory then on disk), for the run's jobs on them; the local
        engine's rows are in memory."""
        return rows

    @contextmanager
    def held(self, rows: F) -> Iterator[F]:
        """``rows`` computed once for the jobs of the block and kept where they are (Spark:
        persisted on the executors, released after it); the local engine's rows are in memory."""
        yield rows

    def train_xgboost(
        self,
        rows: F,
        *,
        features: Sequence[str],
        target: str,
        params: dict[str, object],
        rounds: int,
        workers: int,
    ) -> object:
        """An ``xgboost.Booster`` trained on ``rows`` by ``workers`` tasks with the library's
        ``params`` (native names) for ``rounds`` rounds."""
        raise NotImplementedError(f"engine {self.kind} trains in the models' own fit")

    def scores_of(self, rows: F, model: ModelFile) -> np.ndarray:
        """The model's float64 scores of ``rows``, in their load order (the driver's rows)."""
        raise NotImplementedError(f"engine {self.kind} scores through the models")

    def scores_by(
        self, rows: F, scorer: Callable[[pl.DataFrame], np.ndarray], columns: Sequence[str]
    ) -> np.ndarray:
        """``scorer``'s float64 scores of ``rows`` (it sees ``columns``, in batches: it must score
        each row alone), in their load order. Spark ships it to the executors (pickled)."""
        raise NotImplementedError(f"engine {self.kind} scores through the models")

    def close(self) -> None:
        """Release what the engine holds (a Spark session)."""
