"""What every audit check reads: the lazy scan, the column roles, the windows, the thresholds, and
seeded samples drawn once and shared.

Checks never load the table: they aggregate lazily over the scan, or read a seeded sample of a few
hundred thousand rows where an exact answer is not needed (AUC, drift, monotonicity, privacy).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from challengers.config import FindingsConfig
from challengers.data.checks import unread_gap
from challengers.data.frames import DataSpec, parse_time
from challengers.data.split import Windows
from challengers.engine.aggregates import Aggregate
from challengers.engine.base import Engine
from challengers.engine.local import LocalEngine
from challengers.results import Finding, Severity

HASH_BUCKETS = 1_000_000


@dataclass(frozen=True)
class ModelInputs:
    """One model of the plan: its name, kind, features and non-feature columns (graph entities)."""

    name: str
    kind: str
    features: tuple[str, ...]
    extra_columns: tuple[str, ...] = ()
    settings: Any = None
    lookback_days: int = 0


@dataclass
class Section:
    """What one check area returns: findings and tables (rows of plain values for audit.json)."""

    findings: list[Finding] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(
        self,
        id: str,
        severity: Severity,
        area: str,
        title: str,
        detail: str,
        *,
        inputs_of: Sequence[str] = (),
        column: str | None = None,
        used_by: Sequence[str] = (),
    ) -> None:
        """A finding; ``inputs_of``: the models that read ``column``, the input it is about (a
        finding on one model's input rates the champion only when the champion reads it).
        ``used_by``: the models its detail names as readers, with :func:`said_used_by` (a run
        marks those that fail in training: :meth:`AuditResult.with_failed`)."""
        evidence: dict[str, Any] = {"column": column} if column is not None else {}
        if used_by:
            evidence["used_by"] = list(used_by)
        self.findings.append(
            Finding(id, severity, area, title, detail, models=tuple(inputs_of), evidence=evidence)
        )

    def extend(self, other: Section) -> None:
        self.findings += other.findings
        self.tables.update(other.tables)


@dataclass
class AuditContext:
    """The inputs of the audit plus samples drawn once and shared by the checks."""

    lf: pl.LazyFrame
    schema: pl.Schema
    spec: DataSpec
    windows: Windows
    models: list[ModelInputs]
    thresholds: FindingsConfig
    seed: int = 42
    alpha: float = 0.05
    score_column: str | None = None  # the champion's score column: a model output, not data
    now: datetime = field(default_factory=lambda: datetime.now().replace(microsecond=0))
    sensitive: set[str] = field(default_factory=set)  # columns whose values must never be shown
    daily: pl.DataFrame | None = None  # day, rows, positives: filled by the integrity pass
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile, by column
    # where the integrity queries run: an engine holding the rows (Spark: ``rows`` its DataFrame
    # of every row and column), else the local engine over ``lf``
    engine: Engine | None = None
    rows: Any = None

    @property
    def limits(self) -> Any:
        return self.thresholds.audit

    def aggregate(
        self, aggregates: list[Aggregate], *, repeats: list[pl.Expr]
    ) -> tuple[list[pl.DataFrame], list[int]]:
        """The aggregates' results on every row and the keys' repeats
        (:meth:`~challengers.engine.base.Engine.aggregate`), computed by the engine that holds
        the rows: Spark's executors, or the local engine over the scan."""
        if self.engine is None:
            return LocalEngine().aggregate(self.lf, aggregates, repeats=repeats)
        return self.engine.aggregate(self.rows, aggregates, repeats=repeats, schema=self.schema)

    # ----------------------------------------------------------------------- column roles

    @functools.cached_property
    def features(self) -> tuple[str, ...]:
        """Every column some model reads as a feature, each once."""
        return tuple(dict.fromkeys(f for m in self.models for f in m.features))

    def used_by(self, column: str) -> list[str]:
        return [m.name for m in self.models if column in m.features]

    @functools.cached_property
    def entities(self) -> tuple[str, ...]:
        """Entity columns: data.entity and the columns graph-like kinds link on."""
        named = [self.spec.entity] if self.spec.entity else []
        linked = [c for m in self.models for c in m.extra_columns if c != self.score_column]
        return tuple(dict.fromkeys([*named, *linked]))

    @property
    def roles(self) -> dict[str, str]:
        """Columns with a declared role (target, time, ...) and their role."""
        s = self.spec
        named = {s.target: "target", s.time: "time"}
        for role, col in (("id", s.id), ("amount", s.amount), ("entity", s.entity)):
            if col:
                named.setdefault(col, role)
        for col in s.segments:
            named.setdefault(col, "segment")
        if self.score_column:
            named.setdefault(self.score_column, "score")
        return named

    # ----------------------------------------------------------------------- time

    @property
    def time_expr(self) -> pl.Expr:
        return lenient_time(self.spec.time, self.schema[self.spec.time])

    def day_between(self, start: date, end: date) -> pl.Expr:
        """Rows on days start..end; on a plain datetime column as a range on the raw values, so
        polars can skip parquet row groups by their statistics."""
        dtype = self.schema[self.spec.time]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            lo = datetime.combine(start, datetime.min.time())
            hi = datetime.combine(end + timedelta(days=1), datetime.min.time())
            return (pl.col(self.spec.time) >= lo) & (pl.col(self.spec.time) < hi)
        return self.time_expr.dt.date().is_between(start, end)

    @property
    def train(self) -> pl.Expr:
        return self.day_between(self.windows.train_start, self.windows.train_end)

    @property
    def test(self) -> pl.Expr:
        return self.day_between(self.windows.test_start, self.windows.test_end)

    @property
    def label(self) -> pl.Expr:
        """The target as 0/1 (anything else becomes null, reported by the integrity check)."""
        y = pl.col(self.spec.target)
        dtype = self.schema[self.spec.target]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            return pl.lit(None, dtype=pl.Int8)
        y = y.cast(pl.Float64)
        return pl.when(y.is_in([0.0, 1.0])).then(y).cast(pl.Int8)

    @property
    def raw_windows(self) -> str:
        """Said of the windows' counts where the evaluation drops rows from them: the audit
        counts every row of a window, the evaluation only the rows it keeps (a report read
        its 157 test frauds beside the evaluation's 54)."""
        return (
            " (every row, before the known-fraud exclusion)"
            if self.windows.exclude_known_frauds
            else ""
        )

    @property
    def unlabelled_gap(self) -> int:
        """The rows without a label in the gap between the windows when nothing reads the gap's
        labels (:func:`~challengers.data.checks.unread_gap`; else 0), from the daily table."""
        gap = unread_gap(self.windows)
        if gap is None or self.daily is None:
            return 0
        return int(self.daily.filter(pl.col("day").is_between(*gap))["unlabelled"].sum())

    @property
    def unlabelled_unloaded(self) -> tuple[int, int]:
        """The rows without a label (before, after) the days a run loads: no model, exclusion
        or feature reads them (a delivery's latest days, not labelled yet), from the daily
        table."""
        if self.daily is None:
            return 0, 0
        day, w = pl.col("day"), self.windows
        return tuple(  # type: ignore[return-value]
            int(self.daily.filter(outside)["unlabelled"].sum())
            for outside in (day < w.first_day, day > w.last_day)
        )

    def window_rows(self, which: str) -> tuple[int, int]:
        """(rows, positives) of the train or test window, from the daily table."""
        assert self.daily is not None, "the integrity pass fills the daily table first"
        w = self.windows
        start, end = (
            (w.train_start, w.train_end) if which == "train" else (w.test_start, w.test_end)
        )
        part = self.daily.filter(pl.col("day").is_between(start, end))
        return int(part["rows"].sum()), int(part["positives"].sum())

    # ----------------------------------------------------------------------- samples

    def sample(
        self,
        where: pl.Expr,
        available: int,
        wanted: int,
        columns: list[str],
        salt: int = 0,
        key: pl.Expr | None = None,
    ) -> pl.DataFrame:
        """A seeded sample of about ``wanted`` of the ``available`` rows matching ``where``.

        Rows are kept by a hash of their own content (id, time, entity, amount), not of their
        position, so the filter stays a plain predicate that polars pushes into the scan; with
        ``key`` (an entity), all rows sharing a key are kept or dropped together."""
        if available > wanted:
            keep = int(HASH_BUCKETS * wanted / available) + 1
            by = self._row_key if key is None else key
            where = where & (by.hash(self.seed + salt) % HASH_BUCKETS < keep)
        return self.lf.filter(where).select(list(dict.fromkeys(columns))).collect()

    @property
    def _row_key(self) -> pl.Expr:
        s = self.spec
        if s.id:
            return pl.col(s.id)
        return pl.struct([c for c in (s.time, s.entity, s.amount, s.target) if c])

    @functools.cached_property
    def train_sample(self) -> pl.DataFrame:
        """The training window with every fraud (up to half the budget) and sampled genuine rows:
        class-conditional rates, and hence AUCs, are unbiased."""
        rows, positives = self.window_rows("train")
        budget = self.limits.sample_rows
        columns = [c for c in self.schema.names() if c != self.spec.time]
        y = self.label
        take_pos = min(positives, budget // 2)
        frauds = self.sample(self.train & (y == 1), positives, take_pos, columns, salt=1)
        genuine = self.sample(
            self.train & (y == 0), rows - positives, budget - frauds.height, columns, salt=2
        )
        frame = pl.concat([frauds, genuine], how="vertical_relaxed")
        return frame.with_columns(self.label.alias(self.spec.target))

    def window_sample(self, which: str) -> pl.DataFrame:
        """A uniform sample of a window's rows: the population as it is, for drift."""
        return self._window_samples[which]

    @functools.cached_property
    def _window_samples(self) -> dict[str, pl.DataFrame]:
        columns = list(dict.fromkeys([*self.features, *self.spec.segments]))
        columns = [c for c in columns if c in self.schema]
        out = {}
        for salt, (which, where) in enumerate((("train", self.train), ("test", self.test))):
            rows, _ = self.window_rows(which)
            frame = self.sample(
                where, rows, self.limits.sample_rows, [*columns, self.spec.time], salt=3 + salt
            )
            out[which] = frame.with_columns(
                lenient_time(self.spec.time, self.schema[self.spec.time])
            )
        return out


def lenient_time(time: str, dtype: pl.DataType) -> pl.Expr:
    """The time column as naive UTC datetimes; unparseable strings become null (counted)."""
    if dtype == pl.String:
        return (
            pl.col(time)
            .str.to_datetime(time_unit="us", strict=False, time_zone="UTC")
            .dt.replace_time_zone(None)
        )
    if isinstance(dtype, pl.Datetime | pl.Date):
        return parse_time(time, dtype)
    return pl.lit(None, dtype=pl.Datetime("us")).alias(time)


def said_used_by(models: Sequence[str]) -> str:
    """How a finding's detail names the models that read its column: "used by a, b"."""
    return "used by " + ", ".join(models)


def named_users(used_by: Sequence[str], failed: Sequence[str] = ()) -> list[str]:
    """The models reading a column as a text names them: those that failed in training last,
    marked so ("a, b (failed)")."""
    return [*used_by, *(f"{m} (failed)" for m in failed)]


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def pct(value: float) -> str:
    return f"{100 * value:.1f}%" if value >= 0.001 or value == 0 else f"{100 * value:.3f}%"
