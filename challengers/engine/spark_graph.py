"""Graph features on Spark: the definitions of :mod:`challengers.features.graph`, as window jobs.

The windowed features are range-window aggregations over one union of the scored rows, the history
rows and, per entity pair, the pair's occurrence intervals (the interval trick of
:func:`challengers.features.temporal.distinct_counterparts`): partitioned by the entity, ordered by
the time in integer microseconds, so a frame ``rangeBetween(-w days, -1)`` is exactly the local
``[t - w, t)`` and rows at the scored row's timestamp are left out, as locally. Nothing of the rows
reaches the driver for them.

The snapshot features (neighbourhood risk, component size, PageRank) need the whole graph of each
snapshot: Spark reduces the history to each day's distinct entity tuples (the day's deduplicated
edges, with whether one of the tuple's rows was a fraud) and the scored rows to each day's distinct
entity values; the driver runs the local snapshot code on those
(:func:`challengers.features.snapshots.snapshot_features`) and the per-day node values go back to
Spark as small tables joined on (day, entity). The driver holds the distinct tuples of the history
days the snapshots span.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import polars as pl

from challengers.engine.base import GraphSettings
from challengers.features.snapshots import snapshot_features
from challengers.features.temporal import DAY_US, T, Y

ID = "_graph_id"  # a scored row's id, on its probes
KIND = "_graph_kind"  # what a union row is (below)
SHIFT = "_graph_shift"  # a probe's shift (an index into the shifts)
UID = "_graph_uid"  # every union row's own id
HISTORY, PROBE = 0, 1
PAIR = 1000  # pair i's interval events: kind PAIR * (i + 1) opens, PAIR * (i + 1) + w closes
AMOUNT = "_graph_amt"
# the three parts of a window's largest amount (_probed)
BEFORE, SINCE, BETWEEN = "_graph_max_before", "_graph_max_since", "_graph_max_between"
GDAY = "_graph_day"
STATS = ("n", "amt", "amt_n", "lab", "y")


def graph_features(session: Any, history: Any, rows: Any, g: GraphSettings) -> Any:
    """``rows`` (a Spark DataFrame) with the graph features of ``g`` appended as float columns
    (null where the local feature is null), from the strictly earlier rows of ``history``."""
    from pyspark.sql import functions as F

    span = rows.agg(F.min(_micros(g.time)), F.max(_micros(g.time))).first()
    if span is None or span[0] is None:  # no rows: no features
        return rows.select("*", *(F.lit(None).cast("float").alias(n) for n in g.names))
    first, last = int(span[0]), int(span[1])
    # a float id's NaN is no id, as null (as locally): Spark's NaN equals NaN, one hub node
    history, rows = _nan_ids_null(history, g), _nan_ids_null(rows, g)
    # history older than the longest window plus the delay and a day is never read, as locally
    reach = (max(g.windows_days) + g.label_delay_days + 1) * DAY_US
    history = history.where(_micros(g.time).between(first - reach, last))
    rows = rows.withColumn(ID, F.monotonically_increasing_id())
    shifts = _shifts(g)
    probed = _probed(_union(history, rows, g, shifts), g, shifts)
    featured = rows.join(probed, on=ID, how="left")
    columns: dict[str, Any] = {}
    for e in g.entities:
        columns |= _entity_windows(g, e, shifts)
    for a, b in combinations(g.entities, 2):
        for key, other in ((a, b), (b, a)):
            for w in g.windows_days:
                name = f"{key}_distinct_{other}_{w}d"
                columns[name] = F.when(F.col(key).isNotNull(), F.col(name))
    featured = featured.withColumn(GDAY, F.floor(_micros(g.time) / DAY_US))
    for e in g.entities if g.amount else ():
        between = _between_days(history, rows, g, e)
        if between is not None:
            featured = featured.join(between, on=[GDAY, e], how="left")
    for e, table in _snapshot_tables(session, history, rows, g, first // DAY_US).items():
        featured = featured.join(F.broadcast(table), on=[GDAY, e], how="left")
    original = [c for c in rows.columns if c != ID]
    return featured.select(
        *original, *(columns.get(n, F.col(n)).cast("float").alias(n) for n in g.names)
    )


def _nan_ids_null(frame: Any, g: GraphSettings) -> Any:
    """``frame`` with NaN in its float entity columns made null (the rows come back so)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    for e in g.entities:
        if isinstance(frame.schema[e].dataType, DoubleType | FloatType):
            frame = frame.withColumn(e, F.when(~F.isnan(F.col(e)), F.col(e)))
    return frame


def _micros(time: str) -> Any:
    from pyspark.sql import functions as F

    # TIMESTAMP_NTZ read as UTC (the session's zone), as the local engine's naive UTC times
    return F.unix_micros(F.col(time).cast("timestamp"))


Shift = tuple[int, bool]  # microseconds back, from the row's time or (True) its day's start


def _shifts(g: GraphSettings) -> list[Shift]:
    """The distinct times before a row at which running totals are read: now and each window's
    start, back from the row's time; the label delay and each label window's start, back from
    the start of the row's day (a day's labels are known ``delay + 1`` days later, as locally)."""
    delay = g.label_delay_days * DAY_US
    wanted = [(0, False), *((w * DAY_US, False) for w in g.windows_days), (delay, True)]
    wanted += [(delay + w * DAY_US, True) for w in g.windows_days]
    return list(dict.fromkeys(wanted))


def _union(history: Any, rows: Any, g: GraphSettings, shifts: list[Shift]) -> Any:
    """History rows, one probe per scored row and shift (at its time minus the shift), and the
    pairs' interval events, in one frame."""
    from pyspark.sql import functions as F

    value = F.col(g.amount).cast("double") if g.amount else F.lit(None).cast("double")
    past = history.select(
        F.lit(None).cast("long").alias(ID),
        F.lit(HISTORY).alias(KIND),
        F.lit(None).cast("int").alias(SHIFT),
        _micros(g.time).alias(T),
        F.col(g.target).cast("double").alias(Y),
        value.alias(AMOUNT),
        *g.entities,
    )
    shift = F.explode(F.array(*(F.lit(i) for i in range(len(shifts)))))
    back = F.element_at(F.array(*(F.lit(b) for b, _ in shifts)), F.col(SHIFT) + 1)
    from_day = F.element_at(F.array(*(F.lit(d) for _, d in shifts)), F.col(SHIFT) + 1)
    # a probe back from the day's start: its time less the time since midnight (pmod floors)
    since_midnight = F.when(from_day, F.pmod(F.col(T), F.lit(DAY_US))).otherwise(F.lit(0))
    probes = (
        rows.select(ID, _micros(g.time).alias(T), *g.entities)
        .withColumn(SHIFT, shift)
        .select(
            ID,
            F.lit(PROBE).alias(KIND),
            SHIFT,
            (F.col(T) - since_midnight - back).alias(T),
            F.lit(None).cast("double").alias(Y),
            F.lit(None).cast("double").alias(AMOUNT),
            *g.entities,
        )
    )
    union = past.unionByName(probes)
    for i, (a, b) in enumerate(combinations(g.entities, 2)):
        union = union.unionByName(_events(past, g, a, b, PAIR * (i + 1)))
    return union.withColumn(UID, F.monotonically_increasing_id())


def _day_start() -> Any:
    """The start of the union row's day, in microseconds (pmod floors, as the local day)."""
    from pyspark.sql import functions as F

    return F.col(T) - F.pmod(F.col(T), F.lit(DAY_US))


def _between_days(history: Any, rows: Any, g: GraphSettings, e: str) -> Any:
    """Per value of ``e`` and scored day: its largest history amount on the ``w - 1`` whole days
    before that day's, for each window ``w`` (a sliding frame over days: a few rows an entity)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    assert g.amount is not None, "maxima are of amounts"
    day = F.floor(_micros(g.time) / DAY_US)
    amount = F.col(g.amount).cast("double")
    daily = (
        history.where(F.col(e).isNotNull())
        .groupBy(e, day.alias(GDAY))
        .agg(F.max(amount).alias(AMOUNT))
        .withColumn(KIND, F.lit(HISTORY))
    )
    scored = rows.where(F.col(e).isNotNull()).select(e, day.alias(GDAY)).distinct()
    both = daily.unionByName(
        scored.withColumn(AMOUNT, F.lit(None).cast("double")).withColumn(KIND, F.lit(PROBE))
    )
    by_day = Window.partitionBy(e).orderBy(GDAY)
    maxima = [
        F.max(AMOUNT).over(by_day.rangeBetween(-(w - 1), -1)).alias(f"{BETWEEN}@{e}@{w}")
        for w in g.windows_days
        if w > 1
    ]
    if not maxima:
        return None
    # the frames over every row first, then the scored days' rows kept
    return both.select(e, GDAY, KIND, *maxima).where(F.col(KIND) == PROBE).drop(KIND)


def _by(e: str) -> Any:
    """The rows of one value of ``e``, ordered by time. Rows without a value (a null device, the
    events of other pairs) are each a partition of their own: as one partition they would be a
    single skewed task, and a sliding frame over it quadratic."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    alone = F.when(F.col(e).isNull(), F.col(UID))
    return Window.partitionBy(F.col(e), alone).orderBy(T)


def _events(past: Any, g: GraphSettings, a: str, b: str, kind: int) -> Any:
    """Each distinct (a, b, time) occurrence opens an interval at its time and closes it, for
    window w, at min(next occurrence, time + w): the pair counts at t when open < t <= close
    (:func:`challengers.features.temporal.distinct_counterparts`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    occurrences = (
        past.where(F.col(a).isNotNull() & F.col(b).isNotNull())
        .select(a, b, T)
        .distinct()
        .withColumn("_next", F.lead(T).over(Window.partitionBy(a, b).orderBy(T)))
    )
    kinds = [(F.lit(kind), F.col(T))] + [
        (F.lit(kind + w), F.least(F.col("_next"), F.col(T) + w * DAY_US)) for w in g.windows_days
    ]
    event = F.explode(F.array(*(F.struct(k.alias("k"), t.alias("t")) for k, t in kinds)))
    return occurrences.select(a, b, event.alias("_e")).select(
        F.lit(None).cast("long").alias(ID),
        F.col("_e.k").alias(KIND),
        F.lit(None).cast("int").alias(SHIFT),
        F.col("_e.t").alias(T),
        F.lit(None).cast("double").alias(Y),
        F.lit(None).cast("double").alias(AMOUNT),
        *(
            F.col(e) if e in (a, b) else F.lit(None).cast(past.schema[e].dataType).alias(e)
            for e in g.entities
        ),
    )


def _probed(union: Any, g: GraphSettings, shifts: list[Shift]) -> Any:
    """Per scored row (ID): each entity's running totals strictly before each probe time, the
    pairs' open intervals and the largest recent amounts at the row's own time (shift 0).

    Running totals are cumulative frames, which Spark computes incrementally. The maxima have no
    cumulative form, and Spark recomputes a sliding frame's maximum row by row: over a hub
    entity's rows (one terminal of every card) that was quadratic, 60 s for 5,000 rows and 788 s
    for 20,000. A window ``[t - w, t)`` of whole days is instead the part of ``t``'s day before
    ``t`` (a running maximum of the day, read at the row's time), the part of the day of
    ``t - w`` from ``t - w`` on (a running maximum of the day in reverse time, read at the probe of
    shift ``w``) and the ``w - 1`` whole days between (:func:`_between_days`, over daily maxima)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    past = F.col(KIND) == HISTORY
    values = {
        "n": F.when(past, 1),
        "amt": F.when(past, F.col(AMOUNT)),
        "amt_n": F.when(past, F.col(AMOUNT)),
        "lab": F.when(past, F.col(Y)),
        "y": F.when(past, F.col(Y)),
    }
    counted = ("n", "amt_n", "lab")  # the rest are sums
    columns: dict[str, tuple[Any, bool]] = {}  # name -> (value, read at every shift)
    for e in g.entities:
        before = _by(e).rangeBetween(Window.unboundedPreceding, -1)
        for stat, value in values.items():
            total = F.count(value) if stat in counted else F.sum(value)
            columns[f"{stat}@{e}"] = (total.over(before), True)
        if g.amount:
            alone = F.when(F.col(e).isNull(), F.col(UID))
            day = Window.partitionBy(F.col(e), _day_start(), alone)
            earlier = day.orderBy(T).rangeBetween(Window.unboundedPreceding, -1)
            later = day.orderBy(F.col(T).desc()).rangeBetween(Window.unboundedPreceding, 0)
            columns[f"{BEFORE}@{e}"] = (F.max(values["amt"]).over(earlier), False)
            columns[f"{SINCE}@{e}"] = (F.max(values["amt"]).over(later), True)
    for i, (a, b) in enumerate(combinations(g.entities, 2)):
        kind = PAIR * (i + 1)
        for key, other in ((a, b), (b, a)):
            before = _by(key).rangeBetween(Window.unboundedPreceding, -1)
            opened = F.count(F.when(F.col(KIND) == kind, 1)).over(before)
            for w in g.windows_days:
                closed = F.count(F.when(F.col(KIND) == kind + w, 1)).over(before)
                columns[f"{key}_distinct_{other}_{w}d"] = (opened - closed, False)
    windowed = union.select(ID, KIND, SHIFT, *(v.alias(k) for k, (v, _) in columns.items()))
    picks = []
    for name, (_, every) in columns.items():
        for i in range(len(shifts)) if every else [0]:
            label = f"{name}@{i}" if every else name
            picks.append(F.max(F.when(F.col(SHIFT) == i, F.col(name))).alias(label))
    return windowed.where(F.col(KIND) == PROBE).groupBy(ID).agg(*picks)


def _entity_windows(g: GraphSettings, e: str, shifts: list[Shift]) -> dict[str, Any]:
    """Counts, amounts (sum, mean, ratio) and known frauds of ``e`` per window, as differences
    of running totals (:func:`challengers.features.temporal.entity_windows`)."""
    from pyspark.sql import functions as F

    def at(stat: str, shift: Shift) -> Any:
        return F.coalesce(F.col(f"{stat}@{e}@{shifts.index(shift)}"), F.lit(0)).cast("double")

    def ratio(num: Any, den: Any) -> Any:
        return F.when(den > 0, num / den)

    delay = g.label_delay_days * DAY_US
    value = F.col(g.amount).cast("double") if g.amount else None
    out: dict[str, Any] = {}
    for w in g.windows_days:
        back = w * DAY_US
        now, start = (0, False), (back, False)
        out[f"{e}_tx_{w}d"] = at("n", now) - at("n", start)
        if value is not None:
            total = at("amt", now) - at("amt", start)
            mean = ratio(total, at("amt_n", now) - at("amt_n", start))
            out[f"{e}_amount_sum_{w}d"] = total
            out[f"{e}_amount_mean_{w}d"] = mean
            out[f"{e}_amount_ratio_{w}d"] = ratio(value, mean)
            since = F.col(f"{SINCE}@{e}@{shifts.index((back, False))}")
            parts = [F.col(f"{BEFORE}@{e}"), since]
            parts += [F.col(f"{BETWEEN}@{e}@{w}")] if w > 1 else []
            out[f"{e}_amount_max_{w}d"] = F.greatest(*parts)  # of those not null
        known, older = (delay, True), (delay + back, True)  # back from the day's start
        frauds = at("y", known) - at("y", older)
        out[f"{e}_fraud_{w}d"] = frauds
        out[f"{e}_fraud_rate_{w}d"] = ratio(frauds, at("lab", known) - at("lab", older))
    return {name: F.when(F.col(e).isNotNull(), v) for name, v in out.items()}


# ------------------------------------------------------------------- snapshots, on the driver


def _snapshot_tables(
    session: Any, history: Any, rows: Any, g: GraphSettings, first: int
) -> dict[str, Any]:
    """Per entity, a Spark table (day, entity value, its snapshot features); ``first``: the
    scored rows' first day."""
    from pyspark.sql import functions as F

    day = F.floor(_micros(g.time) / DAY_US)
    window = max(g.windows_days)
    tuples = (
        history.select(day.alias(GDAY), F.col(g.target).cast("double").alias(Y), *g.entities)
        .groupBy(GDAY, *g.entities)
        .agg(F.max(Y).alias(Y))
    )
    past = _to_polars(tuples).select((pl.col(GDAY) * DAY_US).alias(T), Y, *g.entities).sort(T)
    scored = _scored_nodes(rows, g, day, first)
    values = snapshot_features(
        past,
        scored,
        entities=g.entities,
        account=g.owner,
        window_days=window,
        label_delay_days=g.label_delay_days,
        every_days=g.structure_every_days,
        structure=g.structure,
    )
    table = scored.with_columns(
        (pl.col(T) // DAY_US).alias(GDAY), *(pl.Series(k, v) for k, v in values.items())
    )
    out = {}
    for e, names in _snapshot_names(g).items():
        part = table.filter(pl.col(e).is_not_null()).select(GDAY, e, *names)
        out[e] = session.createDataFrame(part.to_arrow())
    return out


def _scored_nodes(rows: Any, g: GraphSettings, day: Any, first: int) -> pl.DataFrame:
    """Each day's distinct values of each entity among the scored rows, one entity a row (the
    others null), sorted by day; the first day leads, as it anchors the snapshot cadence."""
    from pyspark.sql import functions as F

    parts = []
    for e in g.entities:
        values = rows.where(F.col(e).isNotNull()).select(day.alias(GDAY), e).distinct()
        parts.append(_to_polars(values))
    schema = {e: part.schema[e] for e, part in zip(g.entities, parts, strict=True)}
    lead = pl.DataFrame({GDAY: [first]}, schema={GDAY: pl.Int64})
    frames = [lead, *parts]
    return pl.concat(
        [
            f.with_columns(pl.col(GDAY).cast(pl.Int64)).select(
                (pl.col(GDAY) * DAY_US).alias(T),
                *(
                    pl.col(e) if e in f.columns else pl.lit(None, schema[e]).alias(e)
                    for e in g.entities
                ),
            )
            for f in frames
        ]
    ).sort(T, maintain_order=True)


def _snapshot_names(g: GraphSettings) -> dict[str, list[str]]:
    """The snapshot features of each entity's nodes (:func:`snapshot_features`' columns)."""
    others = [e for e in g.entities if e != g.owner]
    out: dict[str, list[str]] = {e: [] for e in g.entities}
    for c in others:
        out[c].append(f"{c}_fraud_accounts")
        out[g.owner].append(f"{g.owner}_risky_{c}")
    if g.structure:
        for e in g.entities:
            out[e] += [f"{e}_component_size", f"{e}_pagerank", f"{e}_ppr"]
    return out


def _to_polars(frame: Any) -> pl.DataFrame:
    out = pl.from_arrow(frame.toArrow())
    assert isinstance(out, pl.DataFrame)
    return out
