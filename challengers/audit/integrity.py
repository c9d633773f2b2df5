"""Integrity: nulls, constant columns, duplicates, types, amounts, timestamps, time coverage, label
rate per day and week, rows per window.

A fraud rate is of the rows with a label: a day of the gap between the windows may have none
where nothing of the run reads them (:func:`~challengers.data.checks.unread_gap`), and read as
genuine they showed a fall in fraud that is not in the data.

Queries over the whole table, run by the engine that holds the rows
(:meth:`~challengers.audit.context.AuditContext.aggregate`): a one-row profile (every column's
counts), the rows and frauds per day, each column's distinct-count sketch (:mod:`.distinct`,
2**14 rows), and a 64-bit key per row of the id and of the row's content, whose repeats the engine
counts (an integer id's distinct values are then counted exactly: its present values less its
repeats). Each query is an :class:`~challengers.engine.aggregates.Aggregate`: the local engine
collects them together, so polars reads the file once (it shares the scan among them: 30% less
time than apart), and counts the keys in place (16 bytes a row); Spark runs the same queries on
its executors' Arrow batches and merges their results there, and counts the keys' repeats with a
group-by, so its driver receives the merged results alone. Besides the local engine's keys,
nothing here holds more than a row per day or per register in memory.
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime
from functools import partial
from typing import Any

import polars as pl

from challengers.audit import distinct
from challengers.audit.context import AuditContext, Section, day_range, pct, said_used_by, share
from challengers.data.checks import unread_gap
from challengers.engine.aggregates import Aggregate, Merge

AREA = "integrity"
CARD_MIN = 10**12  # integers this large may be card numbers (privacy looks at them)
PLAUSIBLE_FROM = datetime(1990, 1, 1)
REQUIRED_SEVERITY = {"target": "high", "time": "high", "id": "medium", "entity": "medium"}


def check_integrity(ctx: AuditContext) -> Section:
    """Run the integrity checks; fills ``ctx.daily`` for the checks that follow."""
    keys = _keys(ctx)
    exact_id = _exact_id(ctx)
    sketched = [i for i in range(len(ctx.schema)) if i != exact_id]
    (profile, daily, *values), repeats = ctx.aggregate(_aggregates(ctx, sketched), repeats=keys)
    repeated = dict(zip([k.meta.output_name() for k in keys], repeats, strict=True))
    stats = _derived(ctx, profile).row(0, named=True)
    for i, result in zip(sketched, values, strict=True):
        stats[f"{i}:distinct"] = distinct.count(result)
    n = int(stats["n"])
    if exact_id is not None:  # the id's present values, less those repeating an earlier one
        stats[f"{exact_id}:distinct"] = n - int(stats[f"{exact_id}:nulls"]) - repeated["id"]
    ctx.daily = daily.filter(pl.col("day").is_not_null()).sort("day")
    section = Section()
    section.tables["columns"] = _column_table(ctx, stats, n)
    ctx.columns = {row["column"]: row for row in section.tables["columns"]}
    section.tables["label_rate_daily"] = _rates(ctx.daily)
    section.tables["label_rate_weekly"] = _rates(_weekly(ctx.daily))
    section.tables["rows_per_window"] = _rows_per_window(ctx, daily)
    _nulls_and_constants(ctx, section, n)
    _duplicates(ctx, section, repeated, n)
    _types(ctx, section, stats, n)
    _amounts(ctx, section, stats, n)
    _timestamps(ctx, section, stats, n)
    _coverage(ctx, section)
    _label_days(ctx, section)
    return section


# ------------------------------------------------------------------------------------- queries


def _aggregates(ctx: AuditContext, sketched: list[int]) -> list[Aggregate]:
    """The one-row profile, the rows and frauds per day, and the distinct values or sketch of
    each column of ``sketched`` (indices in the schema): each merges from its results on parts of
    the rows (Spark's Arrow batches)."""
    day = ctx.time_expr.dt.date().alias("day")
    merge: tuple[tuple[str, Merge], ...] = (
        ("rows", "sum"),
        ("positives", "sum"),
        ("unlabelled", "sum"),
    )
    unlabelled = pl.col(ctx.spec.target).is_null()
    daily = Aggregate(partial(_daily, day, ctx.label, unlabelled), by=("day",), merge=merge)
    # each column's distinct values (few by type) or HyperLogLog sketch: a streamed query each
    columns = list(ctx.schema.items())
    values = [distinct.aggregate(*columns[i], ctx.seed) for i in sketched]
    return [_profile(ctx), daily, *values]


def _exact_id(ctx: AuditContext) -> int | None:
    """The id's index in the schema when its distinct values are counted exactly, from the
    duplicate check (an integer id is its own key there; a key of any other type is a hash), else
    None. Its sketch was 1 of 11 in bench_scale's file, and estimated 100M ids to about 1%."""
    s = ctx.spec
    if s.id is None or not ctx.schema[s.id].is_integer():
        return None
    return ctx.schema.names().index(s.id)


def _profile(ctx: AuditContext) -> Aggregate:
    """Every column's counts in one row: sums, and each integer column's min and max, which say
    whether it holds card-sized numbers (:func:`_derived`, once they are merged)."""
    s = ctx.spec
    exprs: list[tuple[pl.Expr, Merge]] = [(pl.len().alias("n"), "sum")]
    for i, (name, dtype) in enumerate(ctx.schema.items()):
        col = pl.col(name)
        exprs.append((col.null_count().alias(f"{i}:nulls"), "sum"))
        if dtype.is_float():
            exprs.append((col.is_nan().sum().alias(f"{i}:nan"), "sum"))
        if dtype.is_integer():  # card-sized numbers (a constant column: its distinct count)
            exprs += [(col.min().alias(f"{i}:min"), "min"), (col.max().alias(f"{i}:max"), "max")]
        if dtype == pl.String:
            as_number = col.str.strip_chars().cast(pl.Float64, strict=False)
            exprs.append((as_number.is_not_null().sum().alias(f"{i}:numeric_text"), "sum"))
    t = ctx.time_expr
    exprs += [
        (t.min().alias("t_first"), "min"),
        (t.max().alias("t_last"), "max"),
        ((pl.col(s.time).is_not_null() & t.is_null()).sum().alias("t_unparseable"), "sum"),
        ((t > ctx.now).sum().alias("t_future"), "sum"),
        ((t < PLAUSIBLE_FROM).sum().alias("t_implausible"), "sum"),
        ((pl.col(s.target).is_not_null() & ctx.label.is_null()).sum().alias("y_invalid"), "sum"),
    ]
    if s.amount and ctx.schema[s.amount].is_numeric():
        a = pl.col(s.amount).cast(pl.Float64)
        exprs += [
            ((a < 0).sum().alias("amount_negative"), "sum"),
            ((a == 0).sum().alias("amount_zero"), "sum"),
            ((~a.is_finite()).sum().alias("amount_nonfinite"), "sum"),
        ]
    merge = tuple((e.meta.output_name(), how) for e, how in exprs)
    return Aggregate(partial(_select, [e for e, _ in exprs]), merge=merge)


def _derived(ctx: AuditContext, profile: pl.DataFrame) -> pl.DataFrame:
    """The profile with each integer column's ``large`` (card-number sized values; the values
    themselves are never kept)."""
    derived = []
    for i, dtype in enumerate(ctx.schema.dtypes()):
        if dtype.is_integer():
            lo, hi = pl.col(f"{i}:min"), pl.col(f"{i}:max")
            top = pl.max_horizontal(hi.cast(pl.Float64), -lo.cast(pl.Float64))
            derived.append((top >= CARD_MIN).alias(f"{i}:large"))
    return profile.with_columns(derived)


def _select(exprs: list[pl.Expr], lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select(exprs)


def _daily(day: pl.Expr, label: pl.Expr, unlabelled: pl.Expr, lf: pl.LazyFrame) -> pl.LazyFrame:
    counts = ("rows", "positives", "unlabelled")
    return (
        lf.group_by(day)
        .agg(
            pl.len().alias("rows"),
            label.sum().alias("positives"),
            unlabelled.sum().alias(counts[2]),
        )
        .with_columns(pl.col(c).cast(pl.Int64) for c in counts)
    )


def _keys(ctx: AuditContext) -> list[pl.Expr]:
    """The keys of the duplicate checks: the id (hashed unless an integer), and the hash of the
    row's content, every column but the id. Missing ids are no id's repeats (the null check
    reports them)."""
    s = ctx.spec
    keys = []
    if s.id:
        key = pl.col(s.id)
        if not ctx.schema[s.id].is_integer():  # a missing id stays missing, not a hash's value
            key = pl.when(key.is_not_null()).then(key.hash(ctx.seed))
        keys.append(key.alias("id"))
    # each column hashed with its own seed, the hashes summed (wrapping): equal rows get equal
    # keys, others collide with chance 2**-64 as with one hash of the row; polars hashes a
    # column at a time in parallel, 2x faster than a struct's row hash (10M rows: 0.85 vs 2.0 s)
    content = [c for c in ctx.schema.names() if c != s.id]
    hashes = [pl.col(c).hash(ctx.seed + i) for i, c in enumerate(content)]
    return [*keys, pl.sum_horizontal(hashes).alias("content")]


def _column_table(ctx: AuditContext, stats: dict[str, Any], n: int) -> list[dict[str, Any]]:
    rows = []
    roles = ctx.roles
    for i, (name, dtype) in enumerate(ctx.schema.items()):
        nulls = int(stats[f"{i}:nulls"]) + int(stats.get(f"{i}:nan") or 0)
        rows.append(
            {
                "column": name,
                "dtype": str(dtype),
                "role": roles.get(name, "feature" if name in ctx.features else "unused"),
                "null_rate": share(nulls, n),
                "distinct": stats[f"{i}:distinct"],
                # one present value (so never an all-missing column): exact from the sketch too,
                # a lone value's register holding it as both its lowest and highest hash, where
                # a min and a max cost a pass over each text column's values (10M rows: 0.2 CPU-s)
                "constant": stats[f"{i}:distinct"] == 1,
                "numeric_text_share": share(
                    stats.get(f"{i}:numeric_text") or 0, n - int(stats[f"{i}:nulls"])
                )
                if dtype == pl.String
                else None,
                "large_integers": bool(stats.get(f"{i}:large")),
            }
        )
    return rows


# ------------------------------------------------------------------------------------- checks


def _nulls_and_constants(ctx: AuditContext, section: Section, n: int) -> None:
    roles = ctx.roles
    unread = _unlabelled_gap(ctx, section) + _unlabelled_unloaded(ctx, section)
    for row in section.tables["columns"]:
        name, rate = row["column"], row["null_rate"]
        role = roles.get(name)
        if role == "target":  # a gap's labels that nothing reads: said apart, not a fault
            rate = share(round(rate * n) - unread, n)
        if role in REQUIRED_SEVERITY and rate > 0:
            section.add(
                f"integrity-nulls-{name}",
                REQUIRED_SEVERITY[role],  # type: ignore[arg-type]
                AREA,
                f"Missing values in the {role} column '{name}'",
                f"{pct(rate)} of rows have no {role}. Rows without a {role} cannot be used "
                "reliably; fix the extract or drop them explicitly.",
            )
        if name not in ctx.features:
            continue
        users = ctx.used_by(name)
        if rate >= 1.0 or row["constant"]:
            section.add(
                f"integrity-constant-{name}",
                "medium",
                AREA,
                f"Feature '{name}' carries no information",
                f"It is {'always missing' if rate >= 1.0 else 'constant'} over the whole data but "
                f"{said_used_by(users)}. A broken feed or join is the usual cause.",
                used_by=users,
            )
        elif rate >= ctx.limits.null_rate:
            section.add(
                f"integrity-nulls-{name}",
                "low",
                AREA,
                f"Feature '{name}' is mostly missing",
                f"{pct(rate)} of rows have no value (threshold {pct(ctx.limits.null_rate)}); "
                f"{said_used_by(users)}. Check whether missingness is expected or a feed problem.",
                used_by=users,
            )


def _unlabelled_gap(ctx: AuditContext, section: Section) -> int:
    """The rows of the gap between the windows without a label when nothing reads its labels
    (``data.checks.unread_gap``), said in an info finding; their count."""
    missing = ctx.unlabelled_gap
    gap = unread_gap(ctx.windows)
    if missing and gap is not None:
        known = (
            " The audit's count of test frauds on entities already known fraudulent (leakage) "
            "cannot see frauds among them."
            if ctx.spec.entity
            else ""
        )
        section.add(
            "integrity-unlabelled-gap",
            "info",
            AREA,
            "Rows without a label in the gap between the windows",
            f"{missing:,} rows of the gap between the training and test windows ({gap[0]}.."
            f"{gap[1]}) have no label in '{ctx.spec.target}' (labels not final yet?). Nothing "
            "of this configuration reads them (no known-fraud exclusion, no graph features): "
            "they are in neither window, and the fraud rates by day and window are of the "
            f"labelled rows.{known}",
        )
    return missing


def _unlabelled_unloaded(ctx: AuditContext, section: Section) -> int:
    """The rows without a label on days a run does not load (before its first day, after the
    test window), said in an info finding; their count. They were the high missing-target
    finding, which rated the champion, for labels no step of the run reads."""
    before, after = ctx.unlabelled_unloaded
    if not before + after:
        return 0
    w = ctx.windows
    where = [
        *([f"{before:,} rows before {w.first_day}"] if before else []),
        *([f"{after:,} rows after {w.last_day}"] if after else []),
    ]
    section.add(
        "integrity-unlabelled-unloaded",
        "info",
        AREA,
        "Rows without a label outside the days the run reads",
        f"{' and '.join(where)}, outside the windows, have no label in "
        f"'{ctx.spec.target}' (labels not final yet?). No model, exclusion or feature of this "
        "configuration reads them; the fraud rates by day and window are of the labelled rows. "
        "Fill them before moving the windows over those days.",
    )
    return before + after


def _duplicates(ctx: AuditContext, section: Section, repeats: dict[str, int], n: int) -> None:
    s = ctx.spec
    if s.id:
        count = repeats["id"]
        if count > 0:
            section.add(
                "integrity-duplicate-ids",
                "high",
                AREA,
                f"Duplicate ids in '{s.id}'",
                f"{count:,} rows repeat an id already seen ({pct(share(count, n))}). "
                "Duplicated events are counted twice in training and evaluation; deduplicate "
                "the extract.",
            )
    # duplicate rows: identical in every column but the id (a replayed or double-ingested event)
    dupes = repeats["content"]
    if dupes:
        section.add(
            "integrity-duplicate-rows",
            "medium",
            AREA,
            "Duplicate rows",
            f"{dupes:,} rows ({pct(share(dupes, n))}) are identical to another row in every "
            f"column{' but the id' if s.id else ''}: replayed or double-ingested events.",
        )


def _types(ctx: AuditContext, section: Section, stats: dict[str, Any], n: int) -> None:
    s = ctx.spec
    tdtype = ctx.schema[s.target]
    if int(stats["y_invalid"]) or not (tdtype.is_numeric() or tdtype == pl.Boolean):
        section.add(
            "integrity-type-target",
            "high",
            AREA,
            f"Target '{s.target}' is not 0/1",
            f"{int(stats['y_invalid']):,} non-missing labels are not 0 or 1 (column type "
            f"{tdtype}). Map the label to 0 = genuine, 1 = fraud.",
        )
    if int(stats["t_unparseable"]):
        section.add(
            "integrity-type-time",
            "high",
            AREA,
            f"Timestamps in '{s.time}' cannot be read",
            f"{int(stats['t_unparseable']):,} values of the {ctx.schema[s.time]} column are not "
            "timestamps. Use a datetime column or ISO 8601 strings in one time zone.",
        )
    for row in section.tables["columns"]:
        text_share = row["numeric_text_share"]
        if text_share is None or text_share == 0 or row["column"] in (s.time,):
            continue
        mixed = text_share < 0.999
        if mixed and text_share < 0.5:
            continue  # a text column with a few numbers in it is just text
        section.add(
            f"integrity-type-{row['column']}",
            "medium" if mixed else "low",
            AREA,
            f"Column '{row['column']}' {'mixes numbers and text' if mixed else 'holds numbers as text'}",
            f"{pct(text_share)} of its values read as numbers. "
            + (
                "The rest do not: a mixed-type column, usually a broken export."
                if mixed
                else "Store it as a numeric type so it can be used and checked as one."
            ),
        )


def _amounts(ctx: AuditContext, section: Section, stats: dict[str, Any], n: int) -> None:
    col = ctx.spec.amount
    if not col or "amount_negative" not in stats:
        return
    checks = (
        ("negative", "medium", "Negative amounts", "refunds or sign errors mixed with payments"),
        ("nonfinite", "medium", "Non-finite amounts", "NaN or infinite values"),
        ("zero", "low", "Zero amounts", "card checks or failed captures rather than payments"),
    )
    for key, severity, title, why in checks:
        count = int(stats[f"amount_{key}"])
        if count:
            section.add(
                f"integrity-amount-{key}",
                severity,  # type: ignore[arg-type]
                AREA,
                f"{title} in '{col}'",
                f"{count:,} rows ({pct(share(count, n))}): {why}. Amount-weighted metrics and "
                "costs use these values as they are.",
            )


def _timestamps(ctx: AuditContext, section: Section, stats: dict[str, Any], n: int) -> None:
    t = ctx.spec.time
    future, implausible = int(stats["t_future"]), int(stats["t_implausible"])
    if future:
        section.add(
            "integrity-time-future",
            "high",
            AREA,
            f"Timestamps in the future in '{t}'",
            f"{future:,} rows are dated after {ctx.now:%Y-%m-%d %H:%M}, the time of the audit "
            f"(latest {stats['t_last']}). A wrong time zone or a wrong column.",
        )
    if implausible:
        section.add(
            "integrity-time-implausible",
            "medium",
            AREA,
            f"Implausibly old timestamps in '{t}'",
            f"{implausible:,} rows are dated before {PLAUSIBLE_FROM:%Y}: default or epoch values.",
        )


def _coverage(ctx: AuditContext, section: Section) -> None:
    """Days without rows, thin days, and windows reaching outside the data."""
    daily = ctx.daily
    if daily is None or daily.height == 0:
        return
    w = ctx.windows
    counts = dict(zip(daily["day"].to_list(), daily["rows"].to_list(), strict=True))
    first, last = min(counts), max(counts)
    windows = day_range(w.train_start, w.train_end) + day_range(w.test_start, w.test_end)
    outside = [d for d in windows if d < first or d > last]
    if outside:
        section.add(
            "integrity-window-outside-data",
            "medium",
            AREA,
            "Windows reach outside the data",
            f"{len(outside)} window day(s) fall outside the data ({first}..{last}), e.g. "
            f"{_days(outside)}: the window is shorter than configured.",
        )
    in_window = set(windows)
    missing = [d for d in day_range(first, last) if d not in counts]
    for inside, severity in ((True, "medium"), (False, "low")):
        days = [d for d in missing if (d in in_window) == inside]
        if days:
            where = "inside the train/test windows" if inside else "outside the windows"
            section.add(
                f"integrity-time-gaps-{'windows' if inside else 'other'}",
                severity,  # type: ignore[arg-type]
                AREA,
                f"Days without any rows {where}",
                f"{len(days)} day(s) between {first} and {last} have no rows: {_days(days)}. A "
                "feed outage or a partial extract.",
            )
    median = statistics.median(counts.values())
    thin = [d for d in windows if 0 < counts.get(d, 0) < ctx.limits.min_day_share * median]
    if thin:
        section.add(
            "integrity-time-thin-days",
            "low",
            AREA,
            "Days with unusually few rows inside the windows",
            f"{len(thin)} day(s) hold fewer than {pct(ctx.limits.min_day_share)} of the median "
            f"day ({median:,.0f} rows): {_days(thin)}. Partial loads?",
        )


def _label_days(ctx: AuditContext, section: Section) -> None:
    """Window days without a single fraud where several were expected: labels not loaded."""
    daily = ctx.daily
    if daily is None or daily.height == 0:
        return
    rate = share(int(daily["positives"].sum()), int(_labelled(daily).sum()))
    w = ctx.windows
    day = pl.col("day")
    in_windows = day.is_between(w.train_start, w.train_end) | day.is_between(
        w.test_start, w.test_end
    )
    labelled = _labelled(daily)
    silent = daily.filter(in_windows & (pl.col("positives") == 0) & (labelled * rate >= 10))
    if silent.height:
        section.add(
            "integrity-label-missing-days",
            "medium",
            AREA,
            "Window days without any fraud label",
            f"{silent.height} day(s) have no fraud although about {int(silent['rows'].sum()) / silent.height * rate:.0f} "
            f"were expected at the overall rate {pct(rate)}: {_days(silent['day'].to_list())}. "
            "Labels not loaded yet (label delay) or lost.",
        )


# ------------------------------------------------------------------------------------- tables


def _labelled(daily: pl.DataFrame) -> pl.Series:
    return daily["rows"] - daily["unlabelled"]


def _rates(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Each row's fraud rate, of its labelled rows (NaN: none)."""
    labelled = pl.col("rows") - pl.col("unlabelled")
    rated = frame.with_columns((pl.col("positives") / labelled).alias("rate"))
    return [{**r, "day": str(r["day"])} for r in rated.iter_rows(named=True)]


def _weekly(daily: pl.DataFrame) -> pl.DataFrame:
    return (
        daily.group_by(pl.col("day").dt.truncate("1w").alias("day"))
        .agg(pl.col("rows").sum(), pl.col("positives").sum(), pl.col("unlabelled").sum())
        .sort("day")
    )


def _rows_per_window(ctx: AuditContext, daily: pl.DataFrame) -> list[dict[str, Any]]:
    w = ctx.windows
    day = pl.col("day")
    spans = [
        ("before training", day < w.train_start),
        ("train", day.is_between(w.train_start, w.train_end)),
        ("gap", (day > w.train_end) & (day < w.test_start)),
        ("test", day.is_between(w.test_start, w.test_end)),
        ("after test", day > w.test_end),
        ("no timestamp", day.is_null()),
    ]
    out = []
    for name, cond in spans:
        part = daily.filter(cond)
        rows, positives = int(part["rows"].sum()), int(part["positives"].sum())
        unlabelled = int(part["unlabelled"].sum())
        labelled = rows - unlabelled
        rate = math.nan if rows and not labelled else share(positives, labelled)
        out.append(
            {
                "window": name,
                "rows": rows,
                "positives": positives,
                "unlabelled": unlabelled,
                "rate": rate,
            }
        )
    return out


def _days(days: list[date]) -> str:
    shown = ", ".join(str(d) for d in sorted(days)[:5])
    return shown + (f" and {len(days) - 5} more" if len(days) > 5 else "")
