"""Graph features: exact against a brute-force reference, leakage-safe by construction, and the
planted ring found."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import networkx as nx
import numpy as np
import polars as pl
import pytest

from challengers.errors import ConfigError, DataError
from challengers.features.graph import feature_names, graph_features
from challengers.features.snapshots import pagerank

ENTITIES = ["card", "shop", "device"]
WINDOWS = [1, 3]
DELAY = 2
START = datetime(2024, 3, 1)
KW: dict[str, Any] = {
    "entities": ENTITIES,
    "time": "t",
    "target": "y",
    "amount": "amount",
    "windows_days": WINDOWS,
    "label_delay_days": DELAY,
}


def random_log(rows: int = 500, days: int = 10, seed: int = 0) -> pl.DataFrame:
    """Hour-rounded times (many ties), few entities (dense graph), null devices and amounts."""
    rng = np.random.default_rng(seed)
    hours = np.sort(rng.integers(0, days * 24, rows))
    device = rng.integers(0, 8, rows).astype(float)
    device[rng.random(rows) < 0.4] = np.nan
    amount = rng.gamma(2.0, 30.0, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    return pl.DataFrame(
        {
            "t": [START + timedelta(hours=int(h)) for h in hours],
            "card": rng.integers(0, 25, rows),
            "shop": [f"s{i}" for i in rng.integers(0, 12, rows)],
            "device": pl.Series(device, nan_to_null=True).cast(pl.Int64),
            "amount": pl.Series(amount, nan_to_null=True),
            "y": (rng.random(rows) < 0.12).astype(np.int8),
        }
    )


# ------------------------------------------------------------------------ brute-force reference


def reference_temporal(log: pl.DataFrame, row: dict, name: str, delay_days: int) -> float:
    """One windowed feature of one row, by scanning the log the slow, obvious way. Labels are
    known from the start of the day ``delay_days + 1`` days after their row's day."""
    t, delay = row["t"], timedelta(days=delay_days)
    known = datetime.combine(t.date(), datetime.min.time()) - delay
    for e in ENTITIES:
        for w in WINDOWS:
            win = timedelta(days=w)
            if not name.startswith(f"{e}_") or not name.endswith(f"_{w}d"):
                continue
            if row[e] is None:
                return np.nan
            mine = log.filter(pl.col(e) == row[e])
            recent = mine.filter((pl.col("t") >= t - win) & (pl.col("t") < t))
            labelled = mine.filter((pl.col("t") >= known - win) & (pl.col("t") < known))
            amounts = recent.get_column("amount").drop_nulls()
            mean = amounts.mean() if len(amounts) else np.nan
            kind = name[len(e) + 1 : -len(f"_{w}d")]
            if kind.startswith("distinct_"):
                other = kind.removeprefix("distinct_")
                return float(recent.get_column(other).drop_nulls().n_unique())
            frauds = float(labelled.get_column("y").sum())
            ratio = row["amount"] / mean if row["amount"] is not None else np.nan
            return {
                "tx": float(recent.height),
                "amount_sum": float(amounts.sum()),
                "amount_mean": mean,
                "amount_max": amounts.max() if len(amounts) else np.nan,
                "amount_ratio": ratio,
                "fraud": frauds,
                "fraud_rate": frauds / labelled.height if labelled.height else np.nan,
            }[kind]
    raise AssertionError(f"no reference for {name}")


def reference_snapshot(log: pl.DataFrame, day: datetime, delay_days: int) -> dict[str, dict]:
    """Neighbourhood and structure of the graph of the days before ``day``, with networkx."""
    start = day - timedelta(days=max(WINDOWS))
    window = log.filter((pl.col("t") >= start) & (pl.col("t") < day))
    labelled = pl.col("t") < day - timedelta(days=delay_days)
    known_rows = window.filter((pl.col("y") == 1) & labelled)
    known = {(e, v) for e in ENTITIES for v in known_rows.get_column(e).drop_nulls()}
    graph = nx.Graph()
    for r in window.iter_rows(named=True):
        present = [(e, r[e]) for e in ENTITIES if r[e] is not None]
        graph.add_edges_from((a, b) for i, a in enumerate(present) for b in present[i + 1 :])
    size = {n: len(c) for c in nx.connected_components(graph) for n in c}
    n = graph.number_of_nodes()
    pr = {k: v * n for k, v in nx.pagerank(graph).items()} if n else {}
    seeds = {s: 1.0 for s in known if s in graph}
    ppr = {k: v * n for k, v in nx.pagerank(graph, personalization=seeds).items()} if seeds else {}
    out: dict[str, dict] = {}
    for e in ENTITIES:
        out[f"{e}_component_size"] = {v: size[(e2, v)] for (e2, v) in size if e2 == e}
        out[f"{e}_pagerank"] = {v: pr[(e2, v)] for (e2, v) in pr if e2 == e}
        out[f"{e}_ppr"] = {v: ppr[(e2, v)] for (e2, v) in ppr if e2 == e}
    fraud_accounts = {c: {} for c in ENTITIES[1:]}
    risky: dict[str, dict] = {c: {} for c in ENTITIES[1:]}
    for c in ENTITIES[1:]:
        pairs = window.select("card", c).drop_nulls().unique()
        users: dict = {}
        for a, v in pairs.iter_rows():
            users.setdefault(v, set()).add(a)
        for v, accounts in users.items():
            fraud_accounts[c][v] = sum(("card", a) in known for a in accounts)
        for a, v in pairs.iter_rows():
            others = {b for b in users[v] if b != a and ("card", b) in known}
            risky[c][a] = risky[c].get(a, 0) + (1 if others else 0)
        out[f"{c}_fraud_accounts"] = fraud_accounts[c]
        out[f"card_risky_{c}"] = risky[c]
    return out


def reference_value(snapshot: dict[str, dict], name: str, row: dict) -> float:
    owner = "card" if name.startswith("card_") else name.split("_")[0]
    value = row[owner]
    if value is None:
        return np.nan
    default = 0.0 if ("fraud_accounts" in name or "risky" in name) else np.nan
    return float(snapshot[name].get(value, default))


@pytest.mark.parametrize(("delay", "every"), [(DELAY, 1), (0, 3)])
def test_every_feature_matches_the_brute_force_reference(delay: int, every: int) -> None:
    """Rows scored in a shuffled order (the output follows it); with ``every`` > 1, the rows of
    ``every`` days from the first scored day share the snapshot of the first of them."""
    log = random_log()
    rows = log.filter(pl.col("t") >= START + timedelta(days=4, hours=20)).sample(120, seed=3)
    settings = {**KW, "label_delay_days": delay, "structure_every_days": every}
    ours = graph_features(log, rows, **settings)
    assert ours.columns == feature_names(ENTITIES, WINDOWS)
    assert ours.height == rows.height
    first = rows.get_column("t").min().date()  # type: ignore[union-attr]
    snapshots: dict[datetime, dict] = {}
    for i, row in enumerate(rows.iter_rows(named=True)):
        day = row["t"].date()
        anchor = day - timedelta(days=(day - first).days % every)
        start = datetime.combine(anchor, datetime.min.time())
        snap = snapshots.setdefault(start, reference_snapshot(log, start, delay))
        for name in ours.columns:
            got = ours.get_column(name)[i]
            got = np.nan if got is None else got
            if name in snap:
                want = reference_value(snap, name, row)
            else:
                want = reference_temporal(log, row, name, delay)
            assert got == pytest.approx(want, rel=1e-4, nan_ok=True), (name, row)


def test_pagerank_is_networkx_pagerank() -> None:
    from scipy import sparse

    graph = nx.gnm_random_graph(300, 700, seed=4)
    graph.add_edge(400, 401)  # a second component
    nodes = sorted(graph)
    matrix = sparse.csr_array(nx.to_scipy_sparse_array(graph, nodelist=nodes))
    want = nx.pagerank(graph)
    np.testing.assert_allclose(pagerank(matrix), [want[n] for n in nodes], rtol=1e-6)
    seeds = np.zeros(len(nodes))
    seeds[[0, 5, 9]] = 1.0
    want = nx.pagerank(graph, personalization={nodes[i]: 1.0 for i in (0, 5, 9)})
    np.testing.assert_allclose(pagerank(matrix, seeds), [want[n] for n in nodes], rtol=1e-6)


# ------------------------------------------------------------------------------------ leakage


def _rows_between(log: pl.DataFrame, lo: datetime, hi: datetime) -> pl.DataFrame:
    return log.filter((pl.col("t") >= lo) & (pl.col("t") < hi))


CUTS = [START + timedelta(days=4, hours=13), START + timedelta(days=7, hours=2)]


@pytest.mark.parametrize("cut", CUTS)
def test_deleting_every_later_row_changes_nothing(cut: datetime) -> None:
    log = random_log(seed=1)
    rows = _rows_between(log, cut - timedelta(hours=10), cut + timedelta(hours=1))
    full = graph_features(log, rows, **KW)
    truncated = graph_features(
        log.filter(pl.col("t") <= cut), rows.filter(pl.col("t") <= cut), **KW
    )
    assert full.filter(rows.get_column("t") <= cut).equals(truncated)


@pytest.mark.parametrize("cut", CUTS)
def test_shuffling_the_future_changes_nothing_before_it(cut: datetime) -> None:
    """Later rows get other entities, amounts and labels; earlier rows' features stay put,
    while the later rows' own features do move (the shuffle has teeth)."""
    log = random_log(seed=2)
    rng = np.random.default_rng(0)
    later = pl.col("t") > cut
    future = log.filter(later)
    shuffled = future.with_columns(
        future.get_column(c).gather(rng.permutation(future.height))
        for c in ["card", "shop", "device", "amount", "y"]
    )
    other = pl.concat([log.filter(~later), shuffled]).sample(fraction=1.0, shuffle=True, seed=5)
    rows = _rows_between(log, cut - timedelta(days=2), cut + timedelta(days=2))
    early = rows.get_column("t") <= cut
    before, after = graph_features(log, rows, **KW), graph_features(other, rows, **KW)
    assert before.filter(early).equals(after.filter(early))
    assert not before.filter(~early).equals(after.filter(~early))


def test_labels_younger_than_the_delay_are_never_read() -> None:
    log = random_log(seed=3)
    lo = START + timedelta(days=6, hours=5)
    hi = lo + timedelta(hours=6)
    rows = _rows_between(log, lo, hi)
    young = pl.col("t") >= hi - timedelta(days=DELAY)  # younger than the delay for every row
    flipped = log.with_columns(
        pl.when(young).then(1 - pl.col("y")).otherwise(pl.col("y")).alias("y")
    )
    assert graph_features(log, rows, **KW).equals(graph_features(flipped, rows, **KW))
    # labels just older than the delay are read: flipping them moves the risk features
    older = (pl.col("t") < lo - timedelta(days=DELAY)) & (
        pl.col("t") >= lo - timedelta(days=DELAY + 1)
    )
    flipped = log.with_columns(
        pl.when(older).then(1 - pl.col("y")).otherwise(pl.col("y")).alias("y")
    )
    assert not graph_features(log, rows, **KW).equals(graph_features(flipped, rows, **KW))


def early_fraud_log(delay: int) -> pl.DataFrame:
    """One shop: a fraud at 01:00 on day 0, then genuine payments at 02:00 and 23:00 of days 0 to
    ``delay + 1``."""
    times = [START + timedelta(hours=1)]
    times += [START + timedelta(days=d, hours=h) for d in range(delay + 2) for h in (2, 23)]
    return pl.DataFrame(
        {
            "t": times,
            "card": list(range(len(times))),
            "shop": ["a"] * len(times),
            "device": [None] * len(times),
            "amount": [10.0] * len(times),
            "y": [1] + [0] * (len(times) - 1),
        },
        schema_overrides={"device": pl.Int64},
    )


@pytest.mark.parametrize("delay", [0, 2])
def test_a_label_is_known_from_the_start_of_the_day_delay_plus_one_days_later(delay: int) -> None:
    """A fraud at 01:00 on day 0 is known from day ``delay + 1`` (the split's known-fraud
    exclusion reads it so): not by the shop's 23:00 payment of day ``delay``, 22 hours more than
    the delay after it (it was), nor, with no delay, by the same day's later payments."""
    log = early_fraud_log(delay)
    rows = log.tail(log.height - 1)
    out = graph_features(log, rows, **{**KW, "label_delay_days": delay})
    day = rows.get_column("t").dt.day() - START.day
    known = [float(d >= delay + 1) for d in day]
    assert out.get_column(f"shop_fraud_{max(WINDOWS)}d").to_list() == known
    assert out.get_column("shop_fraud_accounts").to_list() == known


def test_rows_at_the_same_timestamp_do_not_see_each_other() -> None:
    at = START + timedelta(days=1)
    log = pl.DataFrame(
        {
            "t": [START, at, at, at],
            "card": [1, 1, 1, 1],
            "shop": ["a", "b", "c", "d"],
            "device": [None, None, None, None],
            "amount": [10.0, 20.0, 30.0, 40.0],
            "y": [0, 1, 1, 1],
        },
        schema_overrides={"device": pl.Int64},
    )
    out = graph_features(log, log.tail(3), **KW)
    assert out.get_column("card_tx_3d").to_list() == [1.0, 1.0, 1.0]
    assert out.get_column("card_distinct_shop_3d").to_list() == [1.0, 1.0, 1.0]
    assert out.get_column("card_amount_max_3d").to_list() == [10.0, 10.0, 10.0]


def test_null_entities_make_no_node_and_null_features() -> None:
    log = random_log(seed=4)
    out = graph_features(log, log, **KW)
    no_device = log.get_column("device").is_null()
    device_columns = [c for c in out.columns if c.startswith("device_")]
    assert out.filter(no_device).select(device_columns).null_count().row(0) == tuple(
        [int(no_device.sum())] * len(device_columns)
    )
    # a card's device count ignores its card-present (null-device) payments
    assert out.get_column("card_distinct_device_3d").max() <= 8
    assert out.filter(~no_device).get_column("device_tx_3d").null_count() == 0


def test_a_nan_entity_is_no_entity_as_null() -> None:
    """A float device id with NaN for "no device" gives the features of null ids: NaN is not one
    device shared by every card-present payment (it was: a hub of every NaN row, counted,
    linked to every card, merging them into one component)."""
    log = random_log(seed=4)
    as_nan = log.with_columns(pl.col("device").cast(pl.Float64).fill_null(float("nan")))
    assert as_nan.get_column("device").is_nan().sum() == log.get_column("device").null_count()
    with_null = graph_features(log, log, **KW)
    with_nan = graph_features(as_nan, as_nan, **KW)
    assert with_nan.equals(with_null)
    no_device = log.get_column("device").is_null()
    assert with_nan.filter(no_device).get_column("device_tx_3d").null_count() == no_device.sum()


# ------------------------------------------------------------------------------- planted truth


def ring_log() -> pl.DataFrame:
    """60 cards, each with its own device and shop; from day 5, cards 0-7 pay through device 999.
    Card 0's payments through the ring are the only frauds."""
    rows = []
    for day in range(14):
        for card in range(60):
            ring = day >= 5 and card < 8
            when = START + timedelta(days=day, hours=1 + card % 20, minutes=card)
            fraud = int(ring and card == 0)
            rows.append((when, card, f"shop{card}", 999 if ring else 1000 + card, 20.0, fraud))
    return pl.DataFrame(rows, schema=["t", "card", "shop", "device", "amount", "y"], orient="row")


def test_a_device_shared_by_many_cards_carries_the_ring_signal() -> None:
    log = ring_log()
    rows = log.filter(pl.col("t") >= START + timedelta(days=12))
    out = rows.hstack(graph_features(log, rows, **KW))
    ring = pl.col("device") == 999
    members = out.filter(ring)
    others = out.filter(~ring)
    assert members.get_column("device_distinct_card_3d").min() == 8
    assert others.get_column("device_distinct_card_3d").max() == 1
    # card 0's frauds are known after 2 days: the device is tainted for the other members
    assert members.get_column("device_fraud_accounts").min() == 1
    assert members.filter(pl.col("card") != 0).get_column("card_risky_device").min() == 1
    assert members.filter(pl.col("card") == 0).get_column("card_risky_device").max() == 0
    assert others.get_column("card_risky_device").max() == 0
    # 8 cards, their 8 shops and the device; everyone else: card, shop, device
    assert members.get_column("device_component_size").to_list() == [17.0] * members.height
    assert others.get_column("device_component_size").to_list() == [3.0] * others.height
    assert members.get_column("card_ppr").min() > others.get_column("card_ppr").max()


# ------------------------------------------------------------------------------------- input


def test_bad_input_is_one_clear_error() -> None:
    log = random_log(rows=50)
    with pytest.raises(DataError, match="'devise' is not in the history; did you mean 'device'"):
        graph_features(log, log, **{**KW, "entities": ["card", "devise"]})
    with pytest.raises(ConfigError, match="windows_days"):
        graph_features(log, log, **{**KW, "windows_days": [0]})
    with pytest.raises(DataError, match="not a datetime"):
        graph_features(log.with_columns(pl.col("t").cast(pl.Int64)), log, **KW)
