"""Leakage-safe, time-aware entity-graph features, reusable by any challenger kind.

``graph_features(history, rows, entities=..., ...)`` returns one row of features per row of
``rows`` (same order), computed from the rows of ``history`` strictly earlier than each scored row
and from labels older than the label delay. ``history`` is what production knew: the transaction
log with its labels (``rows`` usually belong to it, but need not).

Leakage rules, the same for every feature:
- a history row counts for a scored row at time t only when its time is < t; rows at the same
  timestamp as t are left out (simultaneous transactions are not "earlier", and a batch scored at
  once cannot inform itself);
- a label counts only when its row's day is at most the scored row's day less
  ``label_delay_days + 1``: production learns a day's labels at the start of the day
  ``label_delay_days + 1`` days later (the split's known-fraud exclusion reads them so too);
  younger labels, those of the row's own day, and the scored row's own label are never read;
- snapshot features (neighbourhood, graph structure) use the days before the scored row's day only.
Null entity values (no device on a card-present payment), and NaN in a float id column, make no
node and no edge; the features of that entity are null on such rows.

Features per entity ``E`` and window ``w`` in days (:mod:`challengers.features.temporal`):
``E_tx_wd`` (count), ``E_amount_{sum,mean,max}_wd``, ``E_amount_ratio_wd`` (amount over the
entity's mean), ``E_distinct_F_wd`` (distinct counterparts F: the degree), ``E_fraud_wd`` and
``E_fraud_rate_wd`` (known frauds and their rate in ``[k - w, k)``, ``k`` the start of the row's
day less ``delay`` days). From daily
snapshots of the graph over the longest window (:mod:`challengers.features.snapshots`):
``F_fraud_accounts`` (known-fraud accounts that used F), ``A_risky_F`` (the account's counterparts
used by other known-fraud accounts) and, with ``structure``, ``E_component_size``,
``E_pagerank``, ``E_ppr`` (PageRank personalised on the known-fraud nodes).
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import polars as pl

from challengers.data.frames import INTERNAL
from challengers.errors import ConfigError, DataError, closest
from challengers.features.snapshots import snapshot_features
from challengers.features.temporal import (
    AMT,
    DAY_US,
    POS,
    T,
    Y,
    distinct_counterparts,
    entity_windows,
    window_max,
)

log = logging.getLogger(__name__)
ROW = f"{INTERNAL}row"


def graph_features(
    history: pl.DataFrame,
    rows: pl.DataFrame,
    *,
    entities: Sequence[str],
    time: str,
    target: str,
    amount: str | None = None,
    windows_days: Sequence[int] = (1, 7, 30),
    label_delay_days: int = 0,
    structure: bool = True,
    structure_every_days: int = 1,
    account: str | None = None,
) -> pl.DataFrame:
    """Graph features of ``rows`` from strictly earlier ``history`` rows (module docstring).

    ``account`` (default: the first entity) is the entity whose neighbourhood is scored (the card
    or customer); the snapshot graph spans the longest window. Returns Float32 columns named as
    :func:`feature_names` says, nulls where a feature is undefined.
    """
    entities = list(entities)
    account = account or entities[0]
    _check_arguments(entities, account, windows_days, label_delay_days, structure_every_days)
    _check_columns(history, rows, entities, time, target, amount)
    started = clock.perf_counter()
    r = _prepare(rows, entities, time, None, amount).with_row_index(ROW)
    r = r.sort(T, maintain_order=True).with_row_index(POS)
    h = _prepare(history, entities, time, target, amount)
    if r.height:  # rows older than the longest window plus the delay and a day are never read
        reach = (max(windows_days) + label_delay_days + 1) * DAY_US
        first, last = r.get_column(T).min(), r.get_column(T).max()
        h = h.filter(pl.col(T).is_between(first - reach, last))  # type: ignore[operator]
    h = h.sort(T)
    order = r.get_column(ROW).to_numpy()
    columns: dict[str, pl.Series] = {}
    computed = _computed(
        h,
        r,
        entities,
        account,
        windows_days,
        label_delay_days,
        structure,
        structure_every_days,
        amount is not None,
    )
    for name, values in computed:
        aligned = np.empty(len(order), dtype=np.float32)
        aligned[order] = values
        columns[name] = pl.Series(name, aligned, nan_to_null=True)
    log.info(
        "graph features: %d columns for %d rows from %d history rows in %.1fs",
        len(columns),
        rows.height,
        history.height,
        clock.perf_counter() - started,
    )
    names = feature_names(entities, windows_days, amount is not None, structure, account)
    return pl.DataFrame([columns[n] for n in names])


def _computed(
    h: pl.DataFrame,
    r: pl.DataFrame,
    entities: list[str],
    account: str,
    windows_days: Sequence[int],
    delay: int,
    structure: bool,
    every: int,
    amount: bool,
) -> Iterable[tuple[str, np.ndarray]]:
    """Each feature column in the time order of ``r``, produced one family at a time."""
    for e in entities:
        missing = r.get_column(e).is_null().to_numpy()
        family = entity_windows(
            h, r, e, windows_days=windows_days, label_delay_days=delay, amount=amount
        )
        if amount:
            family |= window_max(h, r, e, windows_days)
        yield from _masked(family, missing)
    for pair in combinations(entities, 2):
        by_entity = distinct_counterparts(h, r, pair, windows_days)
        for e, family in by_entity.items():
            yield from _masked(family, r.get_column(e).is_null().to_numpy())
    yield from snapshot_features(
        h,
        r,
        entities=entities,
        account=account,
        window_days=max(windows_days),
        label_delay_days=delay,
        every_days=every,
        structure=structure,
    ).items()


def _masked(family: dict[str, np.ndarray], missing: np.ndarray) -> Iterable[tuple[str, np.ndarray]]:
    for name, values in family.items():
        values[missing] = np.nan
        yield name, values


def feature_names(
    entities: Sequence[str],
    windows_days: Sequence[int],
    amount: bool = True,
    structure: bool = True,
    account: str | None = None,
) -> list[str]:
    """The columns :func:`graph_features` returns, in order."""
    account = account or entities[0]
    names: list[str] = []
    for e in entities:
        for w in windows_days:
            names.append(f"{e}_tx_{w}d")
            if amount:
                names += [f"{e}_amount_{k}_{w}d" for k in ("sum", "mean", "ratio", "max")]
            names += [f"{e}_fraud_{w}d", f"{e}_fraud_rate_{w}d"]
    for a, b in combinations(entities, 2):
        names += [f"{x}_distinct_{y}_{w}d" for x, y in ((a, b), (b, a)) for w in windows_days]
    others = [e for e in entities if e != account]
    names += [f"{c}_fraud_accounts" for c in others] + [f"{account}_risky_{c}" for c in others]
    if structure:
        for e in entities:
            names += [f"{e}_component_size", f"{e}_pagerank", f"{e}_ppr"]
    return names


def _prepare(
    frame: pl.DataFrame, entities: list[str], time: str, target: str | None, amount: str | None
) -> pl.DataFrame:
    """The columns the features need, under internal names; time as integer microseconds."""
    dtype = frame.schema[time]
    stamp = pl.col(time).cast(pl.Datetime("us")) if dtype == pl.Date else pl.col(time)
    label = pl.col(target).cast(pl.Float64) if target else pl.lit(None, pl.Float64)
    value = pl.col(amount).cast(pl.Float64) if amount else pl.lit(None, pl.Float64)
    # a float id's NaN is no id, as null: kept, every NaN row was one node (a device "used" by
    # every card-present payment, a hub joining every customer into one component)
    ids = [pl.col(e).fill_nan(None) if frame.schema[e].is_float() else pl.col(e) for e in entities]
    return frame.select(stamp.dt.epoch("us").alias(T), label.alias(Y), value.alias(AMT), *ids)


def _check_arguments(
    entities: list[str],
    account: str,
    windows_days: Sequence[int],
    delay: int,
    every: int,
) -> None:
    if not entities or len(set(entities)) != len(entities):
        raise ConfigError(f"graph.entities: give distinct entity columns, got {entities}")
    if account not in entities:
        raise ConfigError(f"graph account '{account}' is not one of the entities {entities}")
    if not windows_days or any(int(w) < 1 for w in windows_days):
        raise ConfigError(f"graph.windows_days: give whole days >= 1, got {list(windows_days)}")
    if len(set(windows_days)) != len(windows_days):
        raise ConfigError(f"graph.windows_days: a window is listed twice in {list(windows_days)}")
    if delay < 0 or every < 1:
        raise ConfigError(
            f"label delay must be >= 0 and the structure cadence >= 1 day (got {delay}, {every})"
        )


def _check_columns(
    history: pl.DataFrame,
    rows: pl.DataFrame,
    entities: list[str],
    time: str,
    target: str,
    amount: str | None,
) -> None:
    needed = [*entities, time, *([amount] if amount else [])]
    for label, frame, columns in (
        ("history", history, [*needed, target]),
        ("rows", rows, needed),
    ):
        for column in columns:
            if column not in frame.columns:
                near = closest(column, frame.columns)
                hint = f"; did you mean '{near}'?" if near else ""
                raise DataError(f"graph features: column '{column}' is not in the {label}{hint}")
    for column in entities:
        if history.schema[column] != rows.schema[column]:
            raise DataError(
                f"graph features: entity '{column}' is {history.schema[column]} in the history "
                f"but {rows.schema[column]} in the rows; load both from the same data"
            )
    for label, frame in (("history", history), ("rows", rows)):
        if not isinstance(frame.schema[time], pl.Datetime | pl.Date):
            raise DataError(
                f"graph features: time column '{time}' of the {label} is "
                f"{frame.schema[time]}, not a datetime; parse it first (challengers.data.frames)"
            )


@dataclass(frozen=True)
class GraphRecipe:
    """The graph features as the data audit recomputes them (challengers.audit.future): a row's
    features from the sample's earlier rows, so removing later rows must not change them."""

    entities: tuple[str, ...]
    windows_days: tuple[int, ...]
    amount: str | None
    label_delay_days: int
    structure: bool
    name: str = "graph"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.entities, *((self.amount,) if self.amount else ()))

    def compute(self, rows: pl.DataFrame, *, time: str, target: str) -> pl.DataFrame:
        return graph_features(
            rows,
            rows,
            entities=self.entities,
            time=time,
            target=target,
            amount=self.amount,
            windows_days=self.windows_days,
            label_delay_days=self.label_delay_days,
            structure=self.structure,
        )
