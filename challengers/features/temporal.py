"""Exact time-windowed aggregates per entity, from strictly earlier rows, with no loop over rows.

Each windowed sum is a difference of cumulative sums: an entity's row count in ``[t - w, t)`` is
``C(t) - C(t - w)``, where ``C(x)`` counts the entity's rows strictly before ``x``. ``C`` is one
polars ``join_asof`` (backward, exact matches excluded) against the entity's cumulative table, so
the scored row and every row at the same timestamp are left out: simultaneous rows are not
"earlier", and a batch scored together cannot see itself. Labels use the same table read at the
start of the row's day less the label delay: production learns a day's labels ``delay + 1`` days
later (at the start of day ``d + delay + 1``), so a row of day ``d`` knows the labels of the days up
to ``d - delay - 1``, as the split's known-fraud exclusion and the snapshots read them.

Maxima have no cumulative form: they come from polars' sliding-window ``rolling_max_by``
(``closed="left"``) over the history rows with the scored rows interleaved as empty values. Distinct
counterparts use an interval trick (see :func:`distinct_counterparts`). Every function takes the
prepared frames of :mod:`challengers.features.graph`: integer microsecond time ``_t``, label
``_y``, amount ``_amt``; the scored rows sorted by ``_t`` with their position ``_pos``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from challengers.data.frames import INTERNAL

DAY_US = 86_400_000_000
T, Y, AMT, POS = (f"{INTERNAL}{n}" for n in ("t", "y", "amt", "pos"))  # never a user's column
Q, NEXT = f"{INTERNAL}q", f"{INTERNAL}next"
SUMS = ("n", "lab", "y", "amt", "amt_n")


def cumulative(history: pl.DataFrame, entity: str) -> pl.DataFrame:
    """Per entity and timestamp, running totals of rows, labelled rows, frauds and amounts."""
    return (
        history.lazy()
        .filter(pl.col(entity).is_not_null())
        .group_by(entity, T)
        .agg(
            pl.len().alias("n"),
            pl.col(Y).count().alias("lab"),
            pl.col(Y).sum().alias("y"),
            pl.col(AMT).sum().alias("amt"),
            pl.col(AMT).count().alias("amt_n"),
        )
        .sort(T)
        .with_columns(pl.col(SUMS).cast(pl.Float64).cum_sum().over(entity))
        .collect()
    )


def as_of(
    rows: pl.DataFrame,
    table: pl.DataFrame,
    entity: str,
    shift_us: int,
    columns: Sequence[str],
    *,
    on: str = T,
    day_start: bool = False,
) -> dict[str, np.ndarray]:
    """Running totals of ``table`` strictly before each row's time minus ``shift_us`` (0 if none);
    with ``day_start``, before the start of the row's day minus ``shift_us``.

    ``rows`` must be sorted by ``_t``; so is every shifted copy of it, which join_asof needs.
    """
    at = pl.col(T) - pl.col(T) % DAY_US if day_start else pl.col(T)  # polars' % floors, as //
    left = rows.select(pl.col(entity), (at - shift_us).alias(Q))
    joined = left.join_asof(
        table.select(entity, on, *columns),
        left_on=Q,
        right_on=on,
        by=entity,
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    return {c: joined.get_column(c).fill_null(0).cast(pl.Float64).to_numpy() for c in columns}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def entity_windows(
    history: pl.DataFrame,
    rows: pl.DataFrame,
    entity: str,
    *,
    windows_days: Sequence[int],
    label_delay_days: int,
    amount: bool,
) -> dict[str, np.ndarray]:
    """Counts, amounts and known-fraud counts and rates of ``entity`` per window.

    Activity windows are ``[t - w, t)``; label windows are ``[k - w, k)`` with ``k`` the start of
    the row's day less the delay, the rows whose labels production already had (the Fraud
    Detection Handbook's terminal risk): a label is known from the start of the day
    ``delay + 1`` days after its row's day, never on its own day.
    """
    table = cumulative(history, entity)
    delay = label_delay_days * DAY_US
    now = as_of(rows, table, entity, 0, SUMS)
    known = as_of(rows, table, entity, delay, ("lab", "y"), day_start=True)
    value = rows.get_column(AMT).cast(pl.Float64).fill_null(np.nan).to_numpy()
    out: dict[str, np.ndarray] = {}
    for w in windows_days:
        past = as_of(rows, table, entity, w * DAY_US, SUMS)
        out[f"{entity}_tx_{w}d"] = now["n"] - past["n"]
        if amount:
            total = now["amt"] - past["amt"]
            mean = _ratio(total, now["amt_n"] - past["amt_n"])
            out[f"{entity}_amount_sum_{w}d"] = total
            out[f"{entity}_amount_mean_{w}d"] = mean
            out[f"{entity}_amount_ratio_{w}d"] = _ratio(value, mean)
        older = as_of(rows, table, entity, delay + w * DAY_US, ("lab", "y"), day_start=True)
        frauds = known["y"] - older["y"]
        out[f"{entity}_fraud_{w}d"] = frauds
        out[f"{entity}_fraud_rate_{w}d"] = _ratio(frauds, known["lab"] - older["lab"])
    return out


def window_max(
    history: pl.DataFrame, rows: pl.DataFrame, entity: str, windows_days: Sequence[int]
) -> dict[str, np.ndarray]:
    """The largest earlier amount of ``entity`` in ``[t - w, t)``, NaN when there is none."""
    past = history.select(
        pl.col(entity), pl.col(T), pl.col(AMT).cast(pl.Float64), pl.lit(None, pl.UInt32).alias(POS)
    )
    scored = rows.select(
        pl.col(entity), pl.col(T), pl.lit(None, pl.Float64).alias(AMT), pl.col(POS)
    )
    maxima = (
        pl.concat([past, scored])
        .lazy()
        .filter(pl.col(entity).is_not_null())
        .sort(T)
        .with_columns(
            pl.col(AMT)
            .rolling_max_by(T, window_size=f"{w * DAY_US}i", closed="left")
            .over(entity)
            .alias(f"{entity}_amount_max_{w}d")
            for w in windows_days
        )
        .filter(pl.col(POS).is_not_null())
        .select(pl.exclude(entity, T, AMT))
        .collect()
    )
    pos = maxima.get_column(POS).to_numpy()
    out = {}
    for w in windows_days:
        name = f"{entity}_amount_max_{w}d"
        values = np.full(rows.height, np.nan)
        values[pos] = maxima.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
        out[name] = values
    return out


def distinct_counterparts(
    history: pl.DataFrame,
    rows: pl.DataFrame,
    pair: tuple[str, str],
    windows_days: Sequence[int],
) -> dict[str, dict[str, np.ndarray]]:
    """For both directions of ``pair`` (a, b): distinct b seen with a in ``[t - w, t)``, by a.

    An occurrence of the pair at time s is the pair's latest before t exactly when
    ``s < t <= next`` (its next occurrence), and that latest one falls in the window when
    ``t <= s + w``. So the pair counts at t for exactly one occurrence, the one whose interval
    ``(s, min(next, s + w)]`` holds t, and the distinct count is the number of intervals opened
    before t minus the number closed before t: two cumulative counts, two as-of joins.
    """
    a, b = pair
    occurrences = (
        history.lazy()
        .filter(pl.col(a).is_not_null() & pl.col(b).is_not_null())
        .select(a, b, T)
        .unique()
        .sort(T)
        .with_columns(pl.col(T).shift(-1).over(a, b).alias(NEXT))
        .collect()
    )
    out: dict[str, dict[str, np.ndarray]] = {a: {}, b: {}}
    for key, other in ((a, b), (b, a)):
        opened = _running_count(occurrences.select(key, pl.col(T)), key)
        started = as_of(rows, opened, key, 0, ("k",))["k"]
        for w in windows_days:
            end = pl.min_horizontal(pl.col(NEXT), pl.col(T) + w * DAY_US)
            closed = _running_count(occurrences.select(key, end.alias(T)), key)
            ended = as_of(rows, closed, key, 0, ("k",))["k"]
            out[key][f"{key}_distinct_{other}_{w}d"] = started - ended
    return out


def _running_count(events: pl.DataFrame, key: str) -> pl.DataFrame:
    """Per key and time, how many events happened up to that time (inclusive)."""
    return (
        events.lazy()
        .group_by(key, T)
        .agg(pl.len().cast(pl.Float64).alias("k"))
        .sort(T)
        .with_columns(pl.col("k").cum_sum().over(key))
        .collect()
    )
