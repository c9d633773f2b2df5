"""Operating points: counts, costs, overlaps and McNemar's test on hand-worked cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from challengers.analysis.budget import alert_mask, budget_from_rate, budget_masks, resolve_budget
from challengers.analysis.operating import (
    at_budget,
    cost_curve,
    mcnemar,
    operating_point,
    overlap,
    scenario_overlaps,
)
from challengers.config import parse_config
from challengers.errors import ConfigError, DataError
from challengers.evaluation.curve import Cost, Ranked
from tests.conftest import sim_config


def test_mcnemar_exact_on_a_small_table() -> None:
    # 10 frauds only the champion catches, 2 only the challenger: 2 * P(X <= 2 | 12, 1/2)
    statistic, p, method = mcnemar(10, 2)
    assert method == "exact binomial"
    assert statistic == 2
    assert p == pytest.approx(2 * (1 + 12 + 66) / 2**12, rel=1e-12)


def test_mcnemar_chi_square_on_a_large_table() -> None:
    statistic, p, method = mcnemar(40, 20)
    assert method.startswith("chi-square")
    assert statistic == pytest.approx((20 - 1) ** 2 / 60)
    # chi-square with one degree of freedom: sf(x) = erfc(sqrt(x / 2))
    assert p == pytest.approx(math.erfc(math.sqrt(statistic / 2)), rel=1e-9)


def test_mcnemar_without_discordant_frauds_is_not_significant() -> None:
    assert mcnemar(0, 0)[1] == 1.0
    assert mcnemar(7, 7)[1] == pytest.approx(1.0)


def test_overlap_counts_amounts_and_test() -> None:
    y = np.array([1, 1, 1, 1, 1, 0, 0, 1])
    champ = np.array([1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)
    chall = np.array([1, 0, 0, 1, 1, 0, 1, 1], dtype=bool)
    amount = np.array([10.0, 20, 30, 40, 50, 60, 70, 80])
    o = overlap("c", y, champ, chall, amount)
    assert (o.both, o.only_champion, o.only_challenger, o.neither) == (1, 2, 3, 0)
    assert (o.amount_both, o.amount_only_champion, o.amount_only_challenger) == (10, 50, 170)
    assert o.p_value == pytest.approx(mcnemar(2, 3)[1])


def test_scenario_overlaps_count_each_scenarios_frauds_from_the_frauds_alone() -> None:
    # 6 rows, 4 frauds: scenario 1 (rows 0, 2), scenario 2 (row 3), a fraud with no scenario
    # (row 5, "0"); the non-frauds' scenarios are never read (the caller gives the frauds' only)
    y = np.array([1, 0, 1, 1, 0, 1])
    masks = {
        "champ": np.array([1, 1, 0, 1, 0, 0], dtype=bool),
        "chal": np.array([0, 0, 1, 1, 1, 1], dtype=bool),
    }
    frauds = np.flatnonzero(y)
    cells = scenario_overlaps(frauds, np.array([1, 1, 2, 0]), masks, "champ", {"1": "stolen"})
    got = {(o.challenger, o.scenario): o for o in cells}
    assert set(got) == {("chal", "1"), ("chal", "2")}
    one, two = got["chal", "1"], got["chal", "2"]
    assert (one.name, one.frauds, one.both, one.only_champion, one.only_challenger) == (
        "stolen", 2, 0, 1, 1,
    )  # fmt: skip
    assert (two.name, two.frauds, two.both, two.only_champion, two.only_challenger) == (
        "2", 1, 1, 0, 0,
    )  # fmt: skip
    assert one.p_value == pytest.approx(1.0) and two.p_value_adjusted == pytest.approx(1.0)


def test_at_budget_counts_rates_and_costs() -> None:
    y = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05])
    amount = np.array([100.0, 1, 50, 1, 1, 25])
    alerted = alert_mask(scores, 3, seed=0)
    m = at_budget("m", y, alerted, scores, amount=amount, cost=Cost(5.0, None))
    assert (m.alerts, m.true_positives, m.false_positives) == (3, 2, 1)
    assert m.recall == pytest.approx(2 / 3)
    assert m.precision == pytest.approx(2 / 3)
    assert m.fp_per_tp == pytest.approx(0.5)
    assert m.amount_caught == 150 and m.amount_share == pytest.approx(150 / 175)
    assert m.cost == pytest.approx(1 * 5.0 + 25)  # one false alert, the 25 fraud missed
    fixed = at_budget("m", y, alerted, scores, amount=None, cost=Cost(5.0, 200.0))
    assert fixed.cost == pytest.approx(5.0 + 200.0)
    assert at_budget("m", y, alerted, scores, amount=None, cost=Cost(5.0, None)).cost is None


def test_ties_at_the_boundary_are_broken_at_random_not_by_row_order() -> None:
    scores = np.ones(100)
    a, b = alert_mask(scores, 50, seed=3), alert_mask(scores, 50, seed=3)
    assert a.sum() == 50 and np.array_equal(a, b)
    assert not a[:50].all()  # row order does not decide
    assert not np.array_equal(a, alert_mask(scores, 50, seed=4))


def test_threshold_budget_and_its_errors() -> None:
    champ = np.array([0.9, 0.6, 0.5, 0.1])
    budget = resolve_budget(champ, rate=0.01, threshold=0.5)
    assert (budget.alerts, budget.rate, budget.source) == (3, 0.75, "threshold")  # >= threshold
    other = np.array([0.1, 0.2, 0.3, 0.4])
    masks = budget_masks({"champ": champ, "c": other}, "champ", budget, seed=0)
    assert masks["champ"].tolist() == [True, True, True, False]
    assert masks["c"].tolist() == [False, True, True, True]  # the same number of alerts
    with pytest.raises(DataError, match=r"threshold 0\.95.*highest 0\.9"):
        resolve_budget(champ, rate=0.01, threshold=0.95)
    assert budget_from_rate(1000, 0.005).alerts == 5
    assert budget_from_rate(10, 0.0001).alerts == 1  # at least one alert


def test_cost_curve_agrees_with_the_operating_point() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(float)
    amount = rng.gamma(2.0, 50.0, 2000)
    scores = {"champ": y + rng.normal(0, 1.0, 2000), "c": y + rng.normal(0, 0.5, 2000)}
    cost = Cost(5.0, None)
    budget = budget_from_rate(2000, 0.02)
    point, _ = operating_point(
        y, scores, champion="champ", budget=budget, amount=amount, cost=cost, seed=1
    )
    curve = cost_curve(y, scores, amount=amount, cost=cost, budgets=[0.02], seed=1)
    for m in point.models:
        assert curve.cost[m.model][0] == pytest.approx(m.cost)
        assert curve.recall[m.model][0] == pytest.approx(m.recall)
    champ, chall = point.models
    assert chall.savings == pytest.approx(champ.cost - chall.cost)
    assert chall.recall > champ.recall  # the less noisy score is better


def test_config_takes_a_rate_or_a_threshold_not_both(tmp_path: Path) -> None:
    config = sim_config(tmp_path / "data.parquet")
    config["evaluation"]["operating_point"] = {"alert_rate": 0.01, "threshold": 0.5}
    with pytest.raises(ConfigError, match="give alert_rate or threshold, not both"):
        parse_config(yaml.safe_dump(config), tmp_path / "c.yaml")
    config["evaluation"]["operating_point"] = {"threshold": 0.5}
    cfg = parse_config(yaml.safe_dump(config), tmp_path / "c.yaml")
    assert cfg.evaluation.operating_point.threshold == 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_alerts_and_cost_curve_from_a_ranking_equal_sorting_with_the_tiebreak(seed: int) -> None:
    """TopRows reads the masks and the curve from a ranking sorted once; with scores rounded into
    large tie groups (a cut inside a group) they equal the seeded lexsort, amounts to the bit."""
    rng = np.random.default_rng(seed)
    n = 4_000
    y = (rng.random(n) < 0.05).astype(float)
    amount = rng.gamma(2.0, 50.0, n)
    scores = {"champ": np.round(y + rng.normal(0, 1, n), 1), "c": np.round(rng.random(n), 2)}
    ranked = {name: Ranked.build(y, s) for name, s in scores.items()}
    budget = budget_from_rate(n, 0.013)
    for name, mask in budget_masks(scores, "champ", budget, seed=7, ranked=ranked).items():
        np.testing.assert_array_equal(mask, alert_mask(scores[name], budget.alerts, seed=7))
    cost = Cost(5.0, None)
    direct = cost_curve(y, scores, amount=amount, cost=cost, seed=7)
    read = cost_curve(y, scores, amount=amount, cost=cost, seed=7, ranked=ranked)
    assert read == direct
