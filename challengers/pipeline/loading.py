"""The rows of a run on this machine: every loaded row in one frame, or only the windows' rows.

A run whose models read no rows before their window (no graph features) needs, after loading, only
the training and the test rows. :func:`load_windows` reads each window with its own scan (filtered
by the parquet reader, row group by row group), streams the gap between them through the checks
and the fingerprint a day at a time, and lets the test rows of already-known fraudsters go once they
are counted, so the run never holds the loaded rows besides the windows cut from them. The rows,
their order, the checks and the fingerprint are those of :func:`load_whole` (tests/test_memory.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from challengers.data.checks import check_labels
from challengers.data.frames import (
    DAY,
    collect_days,
    days_query,
    read_as_infinite,
)
from challengers.data.split import Split, Windows, exclude_known, first_known_fraud_day, split
from challengers.pipeline.plan import Plan
from challengers.replication.fingerprint import Fingerprinter

# what a run does with a window's frame once it is final ("training", "test"): keeps it as it is,
# or moves it to a file's pages (pipeline/spill.py)
Keep = Callable[[str, pl.DataFrame], pl.DataFrame]


def as_it_is(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    return frame


@dataclass
class Loaded:
    """The loaded rows cut into the run's windows, and what the checks and fingerprint need."""

    split: Split
    history: pl.DataFrame | None  # every loaded row as one frame, when kept
    printer: Fingerprinter  # fed with the rows no longer held (the gap)
    unprinted: list[pl.DataFrame]  # the held rows not yet fingerprinted
    checked: list[pl.DataFrame]  # held rows, and the gap's rows a model would read as infinite
    rows: int  # every loaded row

    def fingerprint_rest(self) -> Fingerprinter:
        """The printer, fed with the held rows too."""
        for piece in self.unprinted:
            self.printer.update(piece)
        self.unprinted = []
        return self.printer


def features_of(plan: Plan) -> list[str]:
    return sorted({f for m in [plan.champion, *plan.challengers] for f in m.features})


def window_rows(plan: Plan, lean: bool) -> tuple[int, int, int]:
    """The rows a load holds (with ``lean``, the windows' alone: see :func:`load_windows`), the
    training rows and the test rows (before the known-fraud exclusion): one query of the time
    column, for the memory check before loading."""
    w, time = plan.windows, plan.spec.time
    query = days_query(plan.lf, columns=[time], time=time, start=w.first_day, end=w.last_day)
    day = pl.col(DAY)
    counts = query.select(
        pl.len().alias("loaded"),
        day.is_between(w.train_start, w.train_end).sum().alias("train"),
        day.is_between(w.test_start, w.test_end).sum().alias("test"),
    )
    loaded, train, test = (int(n or 0) for n in collect_days(plan.lf, counts, time).row(0))
    return (train + test if lean else loaded), train, test


def load_whole(plan: Plan, frame: pl.DataFrame | None, threads: int | None) -> Loaded:
    """Every loaded row in one frame (``frame``, or read here), then cut into the windows."""
    if frame is None:
        w = plan.windows
        frame = collect_days(plan.lf, held_days(plan, w.first_day, w.last_day), plan.spec.time)
        check_labels(frame.get_column(plan.spec.target), plan.spec.target, w, frame.lazy())
    parts = split(frame, plan.windows, target=plan.spec.target, entity=plan.spec.entity)
    printer = Fingerprinter(_used(plan, frame.columns), threads=threads, chunk_by=DAY)
    return Loaded(parts, frame, printer, [frame], [frame], frame.height)


def windows_alone(w: Windows) -> bool:
    """Whether the loaded days are exactly training, the gap and testing, in that order."""
    return w.first_day == w.train_start and w.train_end < w.test_start <= w.test_end == w.last_day


def load_windows(plan: Plan, threads: int | None, keep: Keep = as_it_is) -> Loaded:
    """Training and test rows, each its own scan; the gap streamed (module docstring). Each
    window is fingerprinted as soon as it is read and then given to ``keep``; the training frame
    first lets go of the columns that only label test rows (:func:`training_columns`). So a
    training window moved to disk by ``keep`` is out of memory before the test rows are read."""
    w, spec = plan.windows, plan.spec
    query = days_query(
        plan.lf, columns=plan.columns, time=spec.time, start=w.first_day, end=w.last_day
    )
    labels = collect_days(plan.lf, query.select(spec.target), spec.time).get_column(spec.target)
    check_labels(labels, spec.target, w, query)
    del labels  # a byte a loaded row, not held while the windows are read

    train = collect_days(plan.lf, held_days(plan, w.train_start, w.train_end), spec.time)
    printer = Fingerprinter(_used(plan, train.columns), threads=threads, chunk_by=DAY)
    printer.update(train)
    schema = train.schema  # the gap's rows have every column
    read_after = training_columns(plan)
    train = keep("training", train.select(c for c in train.columns if c in read_after))
    gap_start, gap_end = w.train_end + timedelta(days=1), w.test_start - timedelta(days=1)
    gap_rows, gap_bad = _stream(plan, gap_start, gap_end, printer, schema)
    test = collect_days(plan.lf, held_days(plan, w.test_start, w.test_end), spec.time)
    rows = train.height + gap_rows + test.height
    if not w.exclude_known_frauds:
        printer.update(test)
        test = keep("test", test)
        return Loaded(Split(train, test, 0, 0), None, printer, [], [train, test, gap_bad], rows)
    assert spec.entity is not None, "exclude_known_frauds needs an entity column"
    known = first_known_fraud_day(query, w, target=spec.target, entity=spec.entity)
    kept, dropped = exclude_known(test, known, w, entity=spec.entity)
    del test  # the test rows live on as kept and dropped
    for piece in (kept, dropped):
        printer.update(piece)
    kept = keep("test", kept)
    parts = Split(train, kept, dropped.height, int(dropped.get_column(spec.target).sum()))
    return Loaded(parts, None, printer, [], [train, kept, dropped, gap_bad], rows)


def training_columns(plan: Plan) -> set[str]:
    """The training frame's columns something reads after loading: the run's columns
    (:attr:`Plan.columns`) and the day, but not the id, the segments or the scenario, which only
    label test rows, unless a model or the run reads them (a segment that is also the entity).
    At 300M rows in the file, the id, segments and scenario of 95M training rows are 1.9 GB."""
    s = plan.spec
    read = {c for m in [plan.champion, *plan.challengers] for c in (*m.features, *m.extra_columns)}
    read |= {c for c in (s.target, s.time, s.amount, s.entity) if c}
    labels_only = {s.id, *s.segments, s.scenario} - read
    return {DAY, *plan.columns} - labels_only


def _stream(
    plan: Plan, start: date, end: date, printer: Fingerprinter, schema: pl.Schema
) -> tuple[int, pl.DataFrame]:
    """Fingerprint the rows of days start..end one day at a time: their count, and the rows
    (normally none) with a feature a model would read as infinite, which the finiteness check
    reports as it would from every row. A day per query: polars' batched reading
    (collect_batches, sink_batches) ran ahead of the fingerprint and held about the whole gap
    at its peak."""
    floats = [f for f in features_of(plan) if schema[f].is_float()]
    infinite = pl.any_horizontal(read_as_infinite(f) for f in floats) if floats else None
    rows, bad = 0, [pl.DataFrame(schema=schema)]
    time = plan.spec.time
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        batch = collect_days(plan.lf, held_days(plan, day, day), time)
        printer.update(batch)
        rows += batch.height
        if infinite is not None:
            bad.append(batch.filter(infinite))
    return rows, pl.concat(bad)


def held_days(plan: Plan, start: date, end: date) -> pl.LazyFrame:
    """The query of the rows of days start..end as a run holds them: the plan's columns, the
    text columns that only label rows (``data.segments``, ``data.scenario``) as categories."""
    query = days_query(plan.lf, columns=plan.columns, time=plan.spec.time, start=start, end=end)
    return as_held(plan, query)


def as_held(plan: Plan, rows: pl.LazyFrame) -> pl.LazyFrame:
    """``rows`` with the text columns that only label rows as categories (:func:`_labels`)."""
    return rows.with_columns(pl.col(c).cast(pl.Categorical) for c in _labels(plan))


def _labels(plan: Plan) -> list[str]:
    """The text columns that only label rows: as text each row holds a 16-byte view (17 bytes
    a row measured), as a category a 4-byte code; read as text where used (segments, scenario
    overlaps) and fingerprinted as text (the same digest). Ids, entities and model inputs
    stay as they are: their codes and order are the text's."""
    s = plan.spec
    read = {s.target, s.time, s.id, s.amount, s.entity}
    for m in [plan.champion, *plan.challengers]:
        read.update([*m.features, *m.extra_columns])
    named = [*s.segments, *([s.scenario] if s.scenario else [])]
    return [c for c in dict.fromkeys(named) if c not in read and plan.schema[c] == pl.String]


def _used(plan: Plan, columns: list[str]) -> list[str]:
    return [c for c in plan.columns if c in columns]
