"""The compiled bootstrap engine against the numpy metrics (the exact reference) on the same weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from challengers.errors import ConfigError
from challengers.evaluation.bootstrap import block_weights, paired_bootstrap
from challengers.evaluation.curve import Cost, Curve, Ranked
from challengers.evaluation.metrics import MetricSpec, compute, parse_metric

ALL_METRICS = [
    parse_metric(m)
    for m in (
        "roc_auc",
        "pr_auc",
        "recall_at_fpr@0.01",
        "recall_at_fpr@0.1",
        "precision_at_alerts@0.005",
        "precision_at_alerts@0.05",
        "value_detection_at_alerts@0.02",
        "expected_cost",
        "brier",
        "ks",
        "entity_precision_at@5",
        "entity_precision_at@30",
    )
]
OPERATING_RATE = 0.02


def _world(n: int = 3000, seed: int = 0, positives: float = 0.04) -> tuple[dict[str, Ranked], dict]:
    """Three models on the same rows: one with heavy ties, one continuous, one calibrated."""
    rng = np.random.default_rng(seed)
    entity = np.unique(rng.integers(0, n // 6, n), return_inverse=True)[1]
    day = rng.integers(0, 5, n)
    y = (rng.random(n) < positives).astype(float)
    amount = rng.lognormal(3, 1, n)
    scores = {
        "ties": np.round(y + rng.normal(size=n), 1),
        "smooth": 0.7 * y + rng.normal(size=n),
        "prob": 1 / (1 + np.exp(-(2 * y + rng.normal(size=n) - 3))),
    }
    ranked = {
        name: Ranked.build(y, s, amount=amount, entity=entity, day=day, calibrated=name == "prob")
        for name, s in scores.items()
    }
    return ranked, {"entity": entity, "day": day, "row": None}


def _reference(
    ranked: dict[str, Ranked],
    metrics: list[MetricSpec],
    weights: np.ndarray,
    codes: np.ndarray,
    cost: Cost,
    unit: str,
) -> dict[str, dict[str, np.ndarray]]:
    """The numpy metrics on the engine's hashed weights, passed explicitly as (B, n) row weights."""
    out = {}
    for name, r in ranked.items():
        curve = Curve(r, weights[:, codes], cost, day_weights=weights if unit == "day" else None)
        out[name] = {m.key: compute(m, curve, OPERATING_RATE) for m in metrics}
    return out


@pytest.mark.parametrize("unit", ["entity", "day", "row"])
@pytest.mark.parametrize("cost", [Cost(5.0, None), Cost(2.0, 50.0)])
def test_engine_equals_numpy_reference(unit: str, cost: Cost) -> None:
    ranked, blocks = _world(seed=1)
    metrics = [m for m in ALL_METRICS if unit != "row" or m.name != "entity_precision_at"]
    n_rep = 6
    got = paired_bootstrap(
        ranked,
        metrics,
        replicates=n_rep,
        seed=5,
        cost=cost,
        operating_rate=OPERATING_RATE,
        blocks=blocks[unit],
        unit=unit,  # type: ignore[arg-type]
    ).values
    n = next(iter(ranked.values())).n
    codes = np.arange(n) if blocks[unit] is None else blocks[unit]
    weights = block_weights(5, 0, n_rep, int(codes.max()) + 1).astype(np.float64)
    want = _reference(ranked, metrics, weights, codes, cost, unit)
    for name in ranked:
        for m in metrics:
            np.testing.assert_allclose(
                got[name][m.key], want[name][m.key], rtol=1e-10, atol=1e-12, err_msg=m.key
            )


def test_engine_equals_reference_when_replicates_lose_every_positive() -> None:
    """Three positives: some replicates draw none, and ratios become undefined exactly as in numpy."""
    ranked, _ = _world(n=400, seed=2, positives=0.008)
    metrics = [m for m in ALL_METRICS if m.name != "entity_precision_at"]
    got = paired_bootstrap(
        ranked, metrics, replicates=60, seed=9, cost=Cost(), operating_rate=OPERATING_RATE
    ).values
    weights = block_weights(9, 0, 60, 400).astype(np.float64)
    want = _reference(ranked, metrics, weights, np.arange(400), Cost(), "row")
    assert np.isnan(got["smooth"]["roc_auc"]).any()  # the case under test did happen
    for name in ranked:
        for m in metrics:
            np.testing.assert_allclose(
                got[name][m.key], want[name][m.key], rtol=1e-10, atol=1e-12, err_msg=m.key
            )


def test_results_do_not_depend_on_threads_and_follow_the_seed() -> None:
    ranked, blocks = _world(seed=3)
    kwargs = {
        "replicates": 40,
        "cost": Cost(),
        "operating_rate": 0.01,
        "blocks": blocks["entity"],
        "unit": "entity",
    }
    one = paired_bootstrap(ranked, ALL_METRICS, seed=1, threads=1, **kwargs).values  # type: ignore[arg-type]
    two = paired_bootstrap(ranked, ALL_METRICS, seed=1, threads=2, **kwargs).values  # type: ignore[arg-type]
    other = paired_bootstrap(ranked, ALL_METRICS, seed=2, threads=2, **kwargs).values  # type: ignore[arg-type]
    for name in ranked:
        for key in one[name]:
            np.testing.assert_array_equal(one[name][key], two[name][key])
    assert not np.array_equal(one["smooth"]["roc_auc"], other["smooth"]["roc_auc"])


def test_weights_are_poisson_one_and_independent() -> None:
    w = block_weights(11, 0, 200, 2001).astype(np.float64)  # odd count: the unpaired last block
    draws = w.ravel()
    assert draws.mean() == pytest.approx(1.0, abs=0.01)
    assert draws.var() == pytest.approx(1.0, abs=0.02)
    for k in range(5):  # the Poisson(1) frequencies, within 5 binomial standard errors
        p = math.exp(-1) / math.factorial(k)
        se = math.sqrt(p * (1 - p) / draws.size)
        assert abs(np.mean(draws == k) - p) < 5 * se, k
    # no correlation between neighbouring blocks, nor between replicates
    assert abs(np.corrcoef(w[:, :-1].ravel(), w[:, 1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(w[:-1].ravel(), w[1:].ravel())[0, 1]) < 0.01
    # a replicate's weights do not depend on which replicates are computed with it
    np.testing.assert_array_equal(block_weights(11, 7, 3, 2001), w[7:10])


def test_entity_precision_needs_whole_entities() -> None:
    ranked, _ = _world(n=500)
    with pytest.raises(ConfigError, match=r"evaluation\.resample"):
        paired_bootstrap(
            ranked,
            [parse_metric("entity_precision_at@10")],
            replicates=2,
            seed=0,
            cost=Cost(),
            operating_rate=0.01,
        )


def test_amount_metrics_need_amounts() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.1).astype(float)
    ranked = {"a": Ranked.build(y, rng.random(200))}
    with pytest.raises(ConfigError, match=r"data\.amount"):
        paired_bootstrap(
            ranked,
            [parse_metric("value_detection_at_alerts@0.1")],
            replicates=2,
            seed=0,
            cost=Cost(),
            operating_rate=0.01,
        )
