"""The compiled bootstrap engine against the numpy metrics (the exact reference) on the same weights."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from challengers.errors import ConfigError
from challengers.evaluation.bootstrap import REPLICATES_PER_CALL, block_weights, paired_bootstrap
from challengers.evaluation.curve import Cost, Curve, Ranked, safe_div
from challengers.evaluation.metrics import (
    METRICS,
    Metric,
    MetricSpec,
    compute,
    parse_metric,
    precision_at_alerts,
    recall_at_fpr,
)

# Two values of every parameter kind, so each metric must read its own column of the kernels'
# statistics (one alert rate also equals the operating rate, shared with expected_cost).
PARAMS: dict[str | None, tuple[str, ...]] = {
    None: ("",),
    "fpr": ("@0.01", "@0.1"),
    "alert_rate": ("@0.005", "@0.02"),
    "k": ("@5", "@30"),
}


def specs_of(name: str) -> list[MetricSpec]:
    """A registered metric as the engine tests call it: every parameter of its kind."""
    return [parse_metric(name + p) for p in PARAMS[METRICS[name].param]]


ALL_METRICS = [spec for name in METRICS for spec in specs_of(name)]
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


def _engine_and_reference(
    ranked: dict[str, Ranked],
    metrics: list[MetricSpec],
    *,
    codes: np.ndarray | None,
    unit: str,
    cost: Cost,
    replicates: int,
    seed: int,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """The engine's replicate values, and the reference functions' on the same block weights."""
    got = paired_bootstrap(
        ranked,
        metrics,
        replicates=replicates,
        seed=seed,
        cost=cost,
        operating_rate=OPERATING_RATE,
        blocks=codes,
        unit=unit,  # type: ignore[arg-type]
    ).values
    n = next(iter(ranked.values())).n
    block = np.arange(n) if codes is None else codes
    weights = block_weights(seed, 0, replicates, int(block.max()) + 1).astype(np.float64)
    return got, _reference(ranked, metrics, weights, block, cost, unit)


@functools.cache
def _every_metric(unit: str, cost: Cost) -> tuple[dict, dict]:
    """One engine run of every registered metric per unit and cost (the tests below read it)."""
    ranked, blocks = _world(seed=1)
    metrics = [m for m in ALL_METRICS if unit != "row" or "entity" not in m.info.needs]
    return _engine_and_reference(
        ranked, metrics, codes=blocks[unit], unit=unit, cost=cost, replicates=6, seed=5
    )


def _assert_same(got: dict, want: dict, specs: list[MetricSpec]) -> None:
    for model in want:
        for m in specs:
            np.testing.assert_allclose(
                got[model][m.key], want[model][m.key], rtol=1e-10, atol=1e-12, err_msg=m.key
            )


@pytest.mark.parametrize("name", sorted(METRICS))  # every registered metric, automatically
@pytest.mark.parametrize("unit", ["entity", "day", "row"])
@pytest.mark.parametrize("cost", [Cost(5.0, None), Cost(2.0, 50.0)])
def test_engine_equals_numpy_reference(name: str, unit: str, cost: Cost) -> None:
    if unit == "row" and "entity" in METRICS[name].needs:  # whole entities, never single rows
        ranked, _ = _world(n=300)
        with pytest.raises(ConfigError, match=r"single rows.*evaluation\.resample"):
            paired_bootstrap(
                ranked, specs_of(name), replicates=2, seed=0, cost=cost, operating_rate=0.01
            )
        return
    got, want = _every_metric(unit, cost)
    _assert_same(got, want, specs_of(name))


@functools.cache
def _few_positives() -> tuple[dict, dict]:
    ranked, _ = _world(n=400, seed=2, positives=0.008)
    metrics = [m for m in ALL_METRICS if "entity" not in m.info.needs]
    return _engine_and_reference(
        ranked, metrics, codes=None, unit="row", cost=Cost(), replicates=60, seed=9
    )


@pytest.mark.parametrize("name", sorted(n for n in METRICS if "entity" not in METRICS[n].needs))
def test_engine_equals_reference_when_replicates_lose_every_positive(name: str) -> None:
    """Three positives: some replicates draw none, and ratios become undefined exactly as in numpy."""
    got, want = _few_positives()
    assert np.isnan(got["smooth"]["roc_auc"]).any()  # the case under test did happen
    _assert_same(got, want, specs_of(name))


def test_long_runs_of_heavy_blocks_sum_exactly_in_every_lane() -> None:
    """Runs of negatives far longer than a flush (4,096 rows) between positives, from three blocks
    only (weights of 4 and more occur in some replicates: a run's weighted count passes what a
    16-bit lane holds), over more replicates than one call packs with a partial last call: every
    lane's sums, emptied at each flush, equal the reference's."""
    from challengers.evaluation import kernels

    assert REPLICATES_PER_CALL == kernels.LANES  # the threads' unit of work is one packed call
    rng = np.random.default_rng(8)
    n = 150_000
    y = np.zeros(n)
    y[rng.choice(n, 4, replace=False)] = 1.0
    block = rng.integers(0, 3, n)
    score = rng.normal(size=n) + y
    ranked = {"only": Ranked.build(y, score, amount=None, entity=block, day=block)}
    metrics = [parse_metric(m) for m in ("roc_auc", "pr_auc", "ks", "recall_at_fpr@0.1")]
    got, want = _engine_and_reference(
        ranked, metrics, codes=block, unit="entity", cost=Cost(2.0, 50.0),
        replicates=kernels.LANES + 5, seed=4,
    )  # fmt: skip
    weights = block_weights(4, 0, kernels.LANES + 5, 3)
    assert weights.max() >= 4  # heavy lanes did occur
    _assert_same(got, want, metrics)


def test_a_new_metric_is_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """A metric the engine has never heard of (recall in the top share of rows), registered as a
    record only: its alert rate is planned from its parameter kind (no list of names to extend)
    and the engine equals its reference on a rate no other metric uses."""
    record = Metric(
        "recall_at_alerts",
        lambda c, p: safe_div(precision_at_alerts(c, p) * (p or 0) * c.total, c.positives),
        lambda s, p: safe_div(s.caught(p or 0)[0], s.positives),
        True,
        param="alert_rate",
    )
    monkeypatch.setitem(METRICS, record.name, record)
    # its rate lies between two planned ones: a plan that missed it would read a neighbour
    metrics = [parse_metric(m) for m in ("precision_at_alerts@0.01", "recall_at_alerts@0.03")]
    metrics.append(parse_metric("precision_at_alerts@0.05"))
    ranked, blocks = _world(seed=4)
    got, want = _engine_and_reference(
        ranked, metrics, codes=blocks["entity"], unit="entity", cost=Cost(), replicates=8, seed=3
    )
    _assert_same(got, want, metrics)


def test_a_formula_reading_an_unplanned_column_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record whose formula reads an alert-rate column but whose parameter kind is an FPR limit:
    the plan has no such rate, and the engine says so instead of reading a neighbouring column."""
    record = Metric("confused", recall_at_fpr, lambda s, p: s.caught(p or 0)[0], True, param="fpr")
    monkeypatch.setitem(METRICS, record.name, record)
    ranked, _ = _world(n=300)
    metrics = [parse_metric("precision_at_alerts@0.05"), parse_metric("confused@0.01")]
    with pytest.raises(KeyError, match="not planned"):
        paired_bootstrap(ranked, metrics, replicates=2, seed=0, cost=Cost(), operating_rate=0.02)


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
