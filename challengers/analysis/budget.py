"""The alert budget: how many rows every model alerts, and which.

The budget is a share of the test rows (``alert_rate``) or the number of rows the champion alerts at its
production score threshold; every model then alerts its own top rows of that count. Ties at the
boundary are broken at random with a fixed seed, so row order never decides who is alerted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from challengers.errors import DataError
from challengers.evaluation.curve import Ranked


@dataclass(frozen=True)
class Budget:
    """How many rows every model alerts."""

    alerts: int
    rate: float  # the share of test rows: as configured, or the champion's share at its threshold
    source: Literal["alert_rate", "threshold"]
    threshold: float | None = None  # the champion's score threshold, when that set the budget


def budget_from_rate(rows: int, rate: float) -> Budget:
    """``rate`` of ``rows``, rounded, at least one alert; the rate stays the configured one, so the
    evaluation's rate metrics and the operating point read the same budget."""
    alerts = int(min(rows, max(1, round(rate * rows))))
    return Budget(alerts, rate, "alert_rate")


def budget_from_threshold(champion_scores: np.ndarray, threshold: float) -> Budget:
    """The champion alerts every row scoring at least ``threshold``."""
    alerts = int(np.count_nonzero(champion_scores >= threshold))
    return Budget(alerts, alerts / max(len(champion_scores), 1), "threshold", threshold)


def resolve_budget(
    champion_scores: np.ndarray, *, rate: float, threshold: float | None = None
) -> Budget:
    """The budget of a run: the champion's threshold when given, else ``rate`` of the test rows."""
    if threshold is None:
        return budget_from_rate(len(champion_scores), rate)
    budget = budget_from_threshold(champion_scores, threshold)
    if budget.alerts == 0:
        top = float(np.max(champion_scores)) if len(champion_scores) else float("nan")
        raise DataError(
            f"evaluation.operating_point.threshold {threshold:g}: no champion score in the test "
            f"window reaches it (highest {top:.6g}); lower the threshold or set alert_rate"
        )
    return budget


def ranking(scores: np.ndarray, seed: int) -> np.ndarray:
    """Row indices by descending score; tied rows in a seeded random order."""
    tiebreak = np.random.default_rng(seed).random(len(scores))
    return np.lexsort((tiebreak, -np.asarray(scores, dtype=np.float64)))


def alert_mask(scores: np.ndarray, alerts: int, *, seed: int) -> np.ndarray:
    """True for the ``alerts`` highest-scoring rows."""
    mask = np.zeros(len(scores), dtype=bool)
    mask[ranking(scores, seed)[:alerts]] = True
    return mask


class TopRows:
    """``ranking``'s top rows read from a model's ranking (:class:`Ranked`, sorted once): only the
    tie group at a cut is put in the seeded random order, not every row sorted again."""

    def __init__(self, r: Ranked, seed: int) -> None:
        self.r = r
        self.tiebreak = np.random.default_rng(seed).random(r.n)  # the draw ``ranking`` makes

    @cached_property
    def frauds_before(self) -> np.ndarray:
        """The frauds before each position (and after the last): counted when first asked
        (a mask needs none), as int32 below 2**31 rows (it was float64, 8 bytes a row)."""
        n = self.r.n
        out = np.zeros(n + 1, dtype=np.int32 if n < 2**31 else np.int64)
        np.cumsum(self.r.y > 0, out=out[1:])
        return out

    def cut(self, k: int) -> tuple[int, np.ndarray]:
        """The top ``k`` positions of ``ranking``: every position before the returned start, and
        the returned positions of the tie group holding the cut (its rows in tiebreak order)."""
        r = self.r
        if k <= 0:
            return 0, np.empty(0, dtype=np.int64)
        g = int(np.searchsorted(r.ends, k - 1))
        start = int(r.ends[g - 1]) + 1 if g > 0 else 0
        stop = int(r.ends[g]) + 1
        within = np.argsort(self.tiebreak[r.order[start:stop]], kind="stable")
        return start, start + within[: k - start]

    def mask(self, k: int) -> np.ndarray:
        """True for the ``k`` rows ``alert_mask`` alerts."""
        start, chosen = self.cut(k)
        mask = np.zeros(self.r.n, dtype=bool)
        mask[self.r.order[:start]] = True
        mask[self.r.order[chosen]] = True
        return mask

    def frauds(self, k: int) -> int:
        """Frauds among the top ``k`` rows."""
        start, chosen = self.cut(k)
        return int(self.frauds_before[start]) + int(np.count_nonzero(self.r.y[chosen] > 0))

    def fraud_amounts(self, amount: np.ndarray) -> np.ndarray:
        """Running sums of the frauds' ``amount`` (original row order) in ``ranking``'s order: the
        top k rows' fraud amount is entry ``frauds(k) - 1``. Summed in the same order as a running
        sum over every row (the genuine rows add zeros), so the sums are equal to the last bit."""
        r = self.r
        at = np.flatnonzero(r.y > 0)  # positions of the frauds in the ranking
        group = np.searchsorted(r.ends, at)
        order = r.order[at][np.lexsort((self.tiebreak[r.order[at]], group))]
        return np.cumsum(amount[order])


def budget_masks(
    scores: Mapping[str, np.ndarray],
    champion: str,
    budget: Budget,
    *,
    seed: int,
    ranked: Mapping[str, Ranked] | None = None,
) -> dict[str, np.ndarray]:
    """Each model's alerted rows at the budget (the champion's own threshold when one is set);
    ``ranked``: each model's ranking, read instead of sorting the scores again."""
    out = {}
    for name, s in scores.items():
        if name == champion and budget.threshold is not None:
            out[name] = s >= budget.threshold
        elif ranked is not None:
            out[name] = TopRows(ranked[name], seed).mask(budget.alerts)
        else:
            out[name] = alert_mask(s, budget.alerts, seed=seed)
    return out
