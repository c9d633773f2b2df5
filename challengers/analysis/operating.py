"""Operating points: what each model does at the champion's alert budget.

A fraud team reviews a fixed number of alerts a day, so the fair question is not "which model has the
better curve" but "with the champion's budget of alerts, what would each model catch, miss and cost".
The budget (:mod:`challengers.analysis.budget`) is a share of the test rows or the champion's alerts
at its production threshold; every model alerts its own top rows of that count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from challengers.analysis.budget import Budget, TopRows, budget_masks, ranking
from challengers.analysis.distributions import chi2_sf, sign_test_p
from challengers.evaluation.curve import Cost, Ranked

DEFAULT_BUDGETS: tuple[float, ...] = tuple(float(r) for r in np.geomspace(0.0005, 0.1, 24))


def total_cost(
    false_alerts: float, missed: float, missed_amount: float | None, cost: Cost
) -> float | None:
    """Cost of a window: false alerts at ``cost.false_positive`` plus missed frauds at
    ``cost.false_negative`` each, or at their amount when that is None (None without amounts)."""
    if cost.false_negative is None:
        if missed_amount is None:
            return None
        return false_alerts * cost.false_positive + missed_amount
    return false_alerts * cost.false_positive + missed * cost.false_negative


@dataclass
class ModelAtBudget:
    """One model at the budget; ``savings`` is the champion's cost minus this model's."""

    model: str
    alerts: int
    true_positives: int
    false_positives: int
    recall: float
    precision: float
    fp_per_tp: float
    amount_caught: float | None = None
    amount_share: float | None = None
    cost: float | None = None
    savings: float | None = None
    savings_ci: tuple[float, float] | None = None
    savings_p_value: float | None = None
    score_at_budget: float = float("nan")  # the lowest alerted score


def at_budget(
    name: str,
    y: np.ndarray,
    alerted: np.ndarray,
    scores: np.ndarray,
    *,
    amount: np.ndarray | None,
    cost: Cost,
) -> ModelAtBudget:
    """Counts, rates, amounts and cost of one model's alerts."""
    fraud = y > 0
    tp = int(np.count_nonzero(alerted & fraud))
    fp = int(np.count_nonzero(alerted & ~fraud))
    positives = int(np.count_nonzero(fraud))
    caught_amount = share = missed_amount = None
    if amount is not None:
        fraud_amount = float(amount[fraud].sum())
        caught_amount = float(amount[alerted & fraud].sum())
        share = caught_amount / fraud_amount if fraud_amount > 0 else float("nan")
        missed_amount = fraud_amount - caught_amount
    return ModelAtBudget(
        model=name,
        alerts=tp + fp,
        true_positives=tp,
        false_positives=fp,
        recall=tp / positives if positives else float("nan"),
        precision=tp / (tp + fp) if tp + fp else float("nan"),
        fp_per_tp=fp / tp if tp else float("inf"),
        amount_caught=caught_amount,
        amount_share=share,
        cost=total_cost(fp, positives - tp, missed_amount, cost),
        score_at_budget=float(scores[alerted].min()) if tp + fp else float("nan"),
    )


def mcnemar(only_first: int, only_second: int) -> tuple[float, float, str]:
    """McNemar's test on the discordant pairs: (statistic, two-sided p-value, method).

    Exact binomial below 25 discordant frauds (the chi-square approximation is poor there), else the
    continuity-corrected chi-square. The exact statistic is the smaller discordant count.
    """
    b, c = int(only_first), int(only_second)
    n = b + c
    if n == 0:
        return 0.0, 1.0, "no discordant frauds"
    if n < 25:
        return float(min(b, c)), sign_test_p(min(b, c), n), "exact binomial"
    statistic = (abs(b - c) - 1) ** 2 / n
    return float(statistic), chi2_sf(statistic, 1), "chi-square, continuity-corrected"


@dataclass
class Overlap:
    """Which frauds the champion and one challenger alert at the same budget."""

    challenger: str
    both: int
    only_champion: int
    only_challenger: int
    neither: int
    amount_both: float | None = None
    amount_only_champion: float | None = None
    amount_only_challenger: float | None = None
    amount_neither: float | None = None
    statistic: float = 0.0
    p_value: float = 1.0
    test: str = ""


def overlap(
    challenger: str,
    y: np.ndarray,
    champion_alerted: np.ndarray,
    challenger_alerted: np.ndarray,
    amount: np.ndarray | None = None,
) -> Overlap:
    """Frauds caught by both, only one, or neither, with McNemar's test on the discordant ones."""
    fraud = y > 0
    cells = {
        "both": fraud & champion_alerted & challenger_alerted,
        "only_champion": fraud & champion_alerted & ~challenger_alerted,
        "only_challenger": fraud & ~champion_alerted & challenger_alerted,
        "neither": fraud & ~champion_alerted & ~challenger_alerted,
    }
    n = {k: int(np.count_nonzero(v)) for k, v in cells.items()}
    total = {k: None if amount is None else float(amount[v].sum()) for k, v in cells.items()}
    statistic, p, test = mcnemar(n["only_champion"], n["only_challenger"])
    return Overlap(
        challenger,
        n["both"],
        n["only_champion"],
        n["only_challenger"],
        n["neither"],
        total["both"],
        total["only_champion"],
        total["only_challenger"],
        total["neither"],
        statistic=statistic,
        p_value=p,
        test=test,
    )


@dataclass
class ScenarioOverlap:
    """One challenger against the champion on the frauds of one scenario, at the same budget."""

    challenger: str
    scenario: str  # the value, as text
    name: str  # its name (data.scenario_names), else the value
    frauds: int
    both: int
    only_champion: int
    only_challenger: int
    p_value: float  # McNemar on the scenario's discordant frauds
    p_value_adjusted: float = float("nan")  # Holm over every challenger x scenario
    test: str = ""


def scenario_overlaps(
    frauds: np.ndarray,
    scenario: np.ndarray,
    masks: Mapping[str, np.ndarray],
    champion: str,
    names: Mapping[str, str],
) -> list[ScenarioOverlap]:
    """Frauds caught only by the champion or only by each challenger, per scenario of the frauds,
    with McNemar's test per cell and Holm's correction over the challenger x scenario family.

    ``frauds``: the fraud rows' indices into ``masks``; ``scenario``: each fraud's scenario. Only
    the frauds' scenarios are read: every row's as text was a Python string a row (168 MB at 8M
    rows, left in the allocator's arenas after)."""
    from challengers.evaluation.bootstrap import holm

    text = np.asarray(scenario).astype(str)
    values = [v for v in np.unique(text) if v not in ("0", "")]
    out = []
    for name, alerted in masks.items():
        if name == champion:
            continue
        for v in values:
            rows = frauds[text == v]
            champ, mine = masks[champion][rows], alerted[rows]
            only_champ = int(np.count_nonzero(champ & ~mine))
            only_mine = int(np.count_nonzero(mine & ~champ))
            _, p, test = mcnemar(only_champ, only_mine)
            out.append(
                ScenarioOverlap(
                    name, v, names.get(v, v), int(rows.size),
                    int(np.count_nonzero(champ & mine)), only_champ, only_mine, p, test=test,
                )
            )  # fmt: skip
    for o, adjusted in zip(out, holm([o.p_value for o in out]), strict=True):
        o.p_value_adjusted = adjusted
    return out


@dataclass
class CostCurve:
    """Cost and recall of every model when alerting each share of the test rows."""

    budgets: list[float]
    cost: dict[str, list[float]] = field(default_factory=dict)  # empty without amounts
    recall: dict[str, list[float]] = field(default_factory=dict)


def cost_curve(
    y: np.ndarray,
    scores: Mapping[str, np.ndarray],
    *,
    amount: np.ndarray | None,
    cost: Cost,
    budgets: Sequence[float] = DEFAULT_BUDGETS,
    seed: int = 0,
    ranked: Mapping[str, Ranked] | None = None,
) -> CostCurve:
    """Every model's top rows at every budget, from its ranking (``ranked``, else one sort)."""
    n = len(y)
    rates = sorted({min(1.0, max(float(b), 1.0 / n)) for b in budgets})
    ks = np.array([max(1, round(r * n)) for r in rates])
    curve = CostCurve(budgets=rates)
    fraud = (y > 0).astype(np.float64)
    positives = fraud.sum()
    fraud_amount = None if amount is None else fraud * amount
    fraud_total = None if fraud_amount is None else fraud_amount.sum()
    if ranked is None or (amount is not None and not np.all(np.isfinite(amount))):
        top_sums = {
            name: _top_sums(ranking(s, seed), fraud, fraud_amount, ks) for name, s in scores.items()
        }
    else:
        del fraud, fraud_amount  # only their sums are read (8 bytes a row each, not held)
        top_sums = {name: _ranked_top_sums(ranked[name], seed, amount, ks) for name in scores}
    for name, (tp, caught) in top_sums.items():
        curve.recall[name] = (tp / positives if positives else np.full(len(ks), np.nan)).tolist()
        missed: list[float | None] = [None] * len(ks)
        if fraud_total is not None and caught is not None:
            missed = list(fraud_total - caught)
        costs = [
            total_cost(float(k - t), float(positives - t), None if m is None else float(m), cost)
            for k, t, m in zip(ks, tp, missed, strict=True)
        ]
        if all(c is not None for c in costs):
            curve.cost[name] = [float(c) for c in costs if c is not None]
    return curve


def _ranked_top_sums(
    r: Ranked, seed: int, amount: np.ndarray | None, ks: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_top_sums` of ``ranking``'s order, read from the model's ranking."""
    top = TopRows(r, seed)
    tp = np.array([top.frauds(int(k)) for k in ks], dtype=np.float64)
    if amount is None:
        return tp, None
    sums = np.concatenate([[0.0], top.fraud_amounts(amount)])
    return tp, sums[tp.astype(np.int64)]


def _top_sums(
    order: np.ndarray, fraud: np.ndarray, fraud_amount: np.ndarray | None, ks: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Frauds and fraud amount in the top ``ks`` rows of ``order`` (running sums over every row)."""
    tp = np.cumsum(fraud[order])[ks - 1]
    return tp, None if fraud_amount is None else np.cumsum(fraud_amount[order])[ks - 1]


@dataclass
class OperatingPoint:
    """Every model at the champion's budget, the overlaps with the champion, and the cost curve."""

    rate: float
    alerts: int
    source: str
    threshold: float | None
    champion: str
    models: list[ModelAtBudget]
    overlaps: list[Overlap]
    curve: CostCurve
    cost_basis: str = ""  # how a false alert and a missed fraud are costed
    scenarios: list[ScenarioOverlap] = field(default_factory=list)  # when data.scenario is set


def operating_point(
    y: np.ndarray,
    scores: Mapping[str, np.ndarray],
    *,
    champion: str,
    budget: Budget,
    amount: np.ndarray | None,
    cost: Cost,
    seed: int,
    ranked: Mapping[str, Ranked] | None = None,
) -> tuple[OperatingPoint, dict[str, np.ndarray]]:
    """The operating-point analysis and each model's alerted rows (segments reuse them);
    ``ranked``: each model's ranking of the rows, read instead of sorting the scores again."""
    masks = budget_masks(scores, champion, budget, seed=seed, ranked=ranked)
    models = [
        at_budget(name, y, masks[name], scores[name], amount=amount, cost=cost) for name in scores
    ]
    champ_cost = next(m.cost for m in models if m.model == champion)
    for m in models:
        if m.cost is not None and champ_cost is not None and m.model != champion:
            m.savings = champ_cost - m.cost
    overlaps = [
        overlap(name, y, masks[champion], masks[name], amount)
        for name in scores
        if name != champion
    ]
    fn = "its amount" if cost.false_negative is None else f"{cost.false_negative:g}"
    point = OperatingPoint(
        rate=budget.rate,
        alerts=budget.alerts,
        source=budget.source,
        threshold=budget.threshold,
        champion=champion,
        models=models,
        overlaps=overlaps,
        curve=cost_curve(
            y,
            scores,
            amount=amount,
            cost=cost,
            budgets=[*DEFAULT_BUDGETS, budget.rate],
            seed=seed,
            ranked=ranked,
        ),
        cost_basis=f"a false alert costs {cost.false_positive:g}; a missed fraud costs {fn}",
    )
    return point, masks
