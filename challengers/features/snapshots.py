"""Daily snapshots of the entity graph: neighbourhood risk and structure, from earlier days only.

The rows of day ``d`` are scored against the graph of the ``window_days`` days before ``d``
(``[d - window, d)``, every row of day ``d`` itself left out), and against the labels production
had at the start of ``d`` (rows older than ``d - delay``). Nodes are entity values (a customer, a
terminal, a device); an edge joins two entity values that appeared in one transaction; repeated
transactions make one edge (the deduplicated graph). With ``every_days > 1`` a snapshot serves
that many days (a weekly batch job), which is still leakage-safe: it only knows older days.

Per snapshot:
- neighbourhood (numpy): for every non-account node, how many known-fraud accounts used it; for
  an account, how many of its counterparts (devices, terminals) were used by *other* known-fraud
  accounts, so an account's own fraud does not count as association;
- structure: connected-component size, PageRank and personalised PageRank seeded at the known-fraud
  nodes (guilt by association). Both ranks are multiplied by the node count, so 1 is the average
  node whatever the snapshot's size. They are networkx's algorithms (``connected_components``,
  ``pagerank`` with its defaults) run on a scipy sparse matrix built from the edge arrays: the
  networkx graph object costs ~20 us an edge to build and again to convert for each PageRank,
  hours at 10M rows; the tests hold both to networkx on the same graphs.
Snapshots loop over days and components, never over rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from challengers.features.temporal import DAY_US, T, Y

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoded:
    """Entity values as one integer node space (-1 for null), history sorted by time."""

    history_codes: dict[str, np.ndarray]
    row_codes: dict[str, np.ndarray]
    history_time: np.ndarray
    history_fraud: np.ndarray
    nodes: int


def encode(history: pl.DataFrame, rows: pl.DataFrame, entities: Sequence[str]) -> Encoded:
    """Dense node ids: each entity's values ranked together over history and rows, offset."""
    h_codes, r_codes, offset = {}, {}, 0
    for e in entities:
        both = pl.concat([history.get_column(e), rows.get_column(e)])
        ranked = both.rank("dense").cast(pl.Int64)
        count = ranked.n_unique() - (1 if ranked.null_count() else 0)
        codes = (ranked - 1 + offset).fill_null(-1).to_numpy()
        h_codes[e], r_codes[e] = codes[: history.height], codes[history.height :]
        offset += count
    fraud = history.get_column(Y).fill_null(0).to_numpy() > 0
    return Encoded(h_codes, r_codes, history.get_column(T).to_numpy(), fraud, offset)


def snapshot_features(
    history: pl.DataFrame,
    rows: pl.DataFrame,
    *,
    entities: Sequence[str],
    account: str,
    window_days: int,
    label_delay_days: int,
    every_days: int = 1,
    structure: bool = True,
) -> dict[str, np.ndarray]:
    """Neighbourhood (and, with ``structure``, graph) features for ``rows`` sorted by ``_t``."""
    enc = encode(history, rows, entities)
    names = _names(entities, account, structure)
    out = {name: np.full(rows.height, np.nan) for name in names}
    day = rows.get_column(T).to_numpy() // DAY_US
    if not rows.height:
        return out
    anchor = day - (day - day[0]) % every_days
    starts = np.flatnonzero(np.r_[True, anchor[1:] != anchor[:-1]])
    ends = np.r_[starts[1:], rows.height]
    for lo, hi in zip(starts, ends, strict=True):
        snap = _Snapshot(enc, entities, account, int(anchor[lo]), window_days, label_delay_days)
        values = snap.node_values(structure)
        for name, (entity, per_node) in values.items():
            codes = enc.row_codes[entity][lo:hi]
            known = codes >= 0
            column = out[name][lo:hi]
            column[known] = per_node[codes[known]]
    return out


def _names(entities: Sequence[str], account: str, structure: bool) -> list[str]:
    others = [e for e in entities if e != account]
    names = [f"{c}_fraud_accounts" for c in others] + [f"{account}_risky_{c}" for c in others]
    if structure:
        for e in entities:
            names += [f"{e}_component_size", f"{e}_pagerank", f"{e}_ppr"]
    return names


class _Snapshot:
    """The graph of the days before ``day`` and the fraud labels known at its start."""

    def __init__(
        self,
        enc: Encoded,
        entities: Sequence[str],
        account: str,
        day: int,
        window_days: int,
        label_delay_days: int,
    ) -> None:
        start = day * DAY_US
        lo, hi, labelled = np.searchsorted(
            enc.history_time,
            [start - window_days * DAY_US, start, start - label_delay_days * DAY_US],
            side="left",
        )
        labelled = min(labelled, hi)
        self.enc, self.entities, self.account, self.day = enc, entities, account, day
        self.codes = {e: enc.history_codes[e][lo:hi] for e in entities}
        fraud_rows = np.flatnonzero(enc.history_fraud[lo:labelled])
        self.known = np.zeros(enc.nodes, dtype=bool)  # nodes in a transaction with a known fraud
        for e in entities:
            seen = self.codes[e][fraud_rows]
            self.known[seen[seen >= 0]] = True

    def edges(self, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
        """The deduplicated edges between entity columns ``a`` and ``b``."""
        src, dst = self.codes[a], self.codes[b]
        both = (src >= 0) & (dst >= 0)
        key = distinct(src[both] * self.enc.nodes + dst[both])
        return key // self.enc.nodes, key % self.enc.nodes

    def node_values(self, structure: bool) -> dict[str, tuple[str, np.ndarray]]:
        """Feature name -> (entity whose node it describes, value per node id)."""
        out: dict[str, tuple[str, np.ndarray]] = {}
        pairs = {(a, b): self.edges(a, b) for a, b in combinations(self.entities, 2)}
        for c in (e for e in self.entities if e != self.account):
            pair = (self.account, c) if (self.account, c) in pairs else (c, self.account)
            src, dst = pairs[pair]
            acc, other = (src, dst) if pair[0] == self.account else (dst, src)
            fraud_accounts = np.bincount(other[self.known[acc]], minlength=self.enc.nodes)
            by_others = fraud_accounts[other] - self.known[acc] > 0  # not the account itself
            risky = np.bincount(acc[by_others], minlength=self.enc.nodes)
            out[f"{c}_fraud_accounts"] = (c, fraud_accounts.astype(np.float64))
            out[f"{self.account}_risky_{c}"] = (self.account, risky.astype(np.float64))
        if structure:
            out |= self._structure(pairs)
        return out

    def _structure(
        self, pairs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    ) -> dict[str, tuple[str, np.ndarray]]:
        from scipy.sparse.csgraph import connected_components

        n = self.enc.nodes
        size, rank, personal = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        src = np.concatenate([p[0] for p in pairs.values()])
        dst = np.concatenate([p[1] for p in pairs.values()])
        nodes, adjacency = _adjacency(src, dst, n)
        if nodes.size:
            _, label = connected_components(adjacency, directed=False)
            size[nodes] = np.bincount(label)[label]
            rank[nodes] = pagerank(adjacency) * nodes.size
            seeds = self.known[nodes]
            if seeds.any():
                personal[nodes] = pagerank(adjacency, seeds.astype(np.float64)) * nodes.size
        out: dict[str, tuple[str, np.ndarray]] = {}
        for e in self.entities:
            out[f"{e}_component_size"] = (e, size)
            out[f"{e}_pagerank"] = (e, rank)
            out[f"{e}_ppr"] = (e, personal)
        return out


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted unique values (numpy 2's hashing ``np.unique`` is ~15x slower on int64 ids)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def _adjacency(src: np.ndarray, dst: np.ndarray, nodes: int) -> tuple[np.ndarray, Any]:
    """The graph's node ids (sorted) and its symmetric 0/1 adjacency matrix over them (CSR)."""
    from scipy import sparse

    present = np.zeros(nodes, dtype=bool)
    present[src] = present[dst] = True
    local = np.cumsum(present) - 1  # node id -> row of the matrix
    i, j = local[src], local[dst]
    size = int(present.sum())
    ones = np.ones(2 * i.size)
    matrix = sparse.csr_array((ones, (np.r_[i, j], np.r_[j, i])), shape=(size, size))
    return np.flatnonzero(present), matrix


def pagerank(
    adjacency: Any,
    personalization: np.ndarray | None = None,
    *,
    alpha: float = 0.85,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> np.ndarray:
    """networkx's ``pagerank`` (its scipy power iteration, same defaults) on a symmetric matrix.

    networkx walks its Python graph object to build this matrix, about 20 microseconds an edge per
    call; snapshots of a large log hold millions of edges, so the matrix is built from the edge
    arrays directly. Tests hold the result to ``networkx.pagerank`` on the same graph. NaN when the
    iteration does not converge.
    """
    n = adjacency.shape[0]
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inverse = np.divide(1.0, degree, out=np.zeros(n), where=degree != 0)
    p = np.full(n, 1.0 / n) if personalization is None else personalization / personalization.sum()
    dangling = degree == 0
    x = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        last = x
        # x @ D^-1 A, computed as A @ (x / degree): A is symmetric, and stays CSR
        x = alpha * (adjacency @ (x * inverse) + x[dangling].sum() * p) + (1 - alpha) * p
        if np.abs(x - last).sum() < n * tol:
            return np.asarray(x)
    log.warning("PageRank did not converge in %d iterations; left empty", max_iter)
    return np.full(n, np.nan)
