"""Every metric against an independent reference: scikit-learn where it has one, a plain
implementation (the handbook's pandas code for card precision) otherwise, and hand-worked cases.

The table ``REFERENCES`` has one row per metric; a test proves it covers the ``METRICS`` registry
both ways (adding a metric is its record and its row here).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from challengers.evaluation.bootstrap import block_weights, paired_bootstrap
from challengers.evaluation.curve import (
    RADIX_ROWS,
    Cost,
    Curve,
    Parts,
    Ranges,
    Ranked,
    descending_order,
    split_rows,
)
from challengers.evaluation.evaluate import TestRows as Rows
from challengers.evaluation.evaluate import rank_scores, ranked_parts
from challengers.evaluation.metrics import METRICS, compute, entity_precision_at, parse_metric

RATE = 0.05
K = 5


def _data(seed: int, n: int = 3000, ties: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.08).astype(float)
    score = rng.random(n) * 0.8 + y * rng.random(n) * 0.6
    score = np.round(score, 2) if ties else score
    return {
        "y": y,
        "score": np.clip(score, 0, 1),
        "amount": np.round(rng.gamma(2.0, 40.0, n), 2),
        "entity": rng.integers(0, 400, n),
        "day": np.sort(rng.integers(0, 6, n)),
    }


def _top(d: dict[str, np.ndarray], rate: float) -> np.ndarray:
    """Indices of the top ``rate`` share of rows by score (no ties in the data it is used on)."""
    k = round(rate * len(d["y"]))
    return np.argsort(-d["score"], kind="stable")[:k]


def ref_recall_at_fpr(d: dict[str, np.ndarray], p: float) -> float:
    fpr, tpr, _ = roc_curve(d["y"], d["score"])
    return float(tpr[fpr <= p].max())


def ref_precision_at_alerts(d: dict[str, np.ndarray], p: float) -> float:
    return float(d["y"][_top(d, p)].mean())


def ref_value_detection(d: dict[str, np.ndarray], p: float) -> float:
    top = _top(d, p)
    return float((d["y"] * d["amount"])[top].sum() / (d["y"] * d["amount"]).sum())


def ref_expected_cost(d: dict[str, np.ndarray], p: float) -> float:
    alerted = np.zeros(len(d["y"]), dtype=bool)
    alerted[_top(d, p)] = True
    false_alerts = np.sum(alerted & (d["y"] == 0))
    missed_amount = np.sum(d["amount"][~alerted & (d["y"] == 1)])
    return float((5.0 * false_alerts + missed_amount) / len(d["y"]))


def ref_card_precision(d: dict[str, np.ndarray], k: float) -> float:
    """The Fraud Detection Handbook's card_precision_top_k, in pandas, as published."""
    df = pd.DataFrame(
        {"CUSTOMER_ID": d["entity"], "TX_FRAUD": d["y"], "predictions": d["score"], "day": d["day"]}
    )
    detected: list[int] = []
    per_day = []
    for day in sorted(df["day"].unique()):
        df_day = df[df["day"] == day][["predictions", "CUSTOMER_ID", "TX_FRAUD"]]
        df_day = df_day[~df_day.CUSTOMER_ID.isin(detected)]
        top = (
            df_day.groupby("CUSTOMER_ID")
            .max()
            .sort_values(by="predictions", ascending=False)
            .reset_index()
            .head(int(k))
        )
        found = list(top[top.TX_FRAUD == 1].CUSTOMER_ID)
        per_day.append(len(found) / k)
        detected.extend(found)
    return float(np.mean(per_day))


def ref_ks(d: dict[str, np.ndarray], p: float | None) -> float:
    fpr, tpr, _ = roc_curve(d["y"], d["score"])
    return float(np.max(tpr - fpr))


Reference = Callable[[dict[str, np.ndarray], float], float]
REFERENCES: dict[str, tuple[str, Reference]] = {
    "roc_auc": ("roc_auc", lambda d, p: roc_auc_score(d["y"], d["score"])),
    "pr_auc": ("pr_auc", lambda d, p: average_precision_score(d["y"], d["score"])),
    "recall_at_fpr": (f"recall_at_fpr@{RATE}", ref_recall_at_fpr),
    "precision_at_alerts": (f"precision_at_alerts@{RATE}", ref_precision_at_alerts),
    "entity_precision_at": (f"entity_precision_at@{K}", ref_card_precision),
    "value_detection_at_alerts": (f"value_detection_at_alerts@{RATE}", ref_value_detection),
    "expected_cost": ("expected_cost", ref_expected_cost),
    "brier": ("brier", lambda d, p: brier_score_loss(d["y"], d["score"])),
    "ks": ("ks", ref_ks),
}


def _ours(text: str, d: dict[str, np.ndarray], weights: np.ndarray | None = None) -> float:
    spec = parse_metric(text)
    ranked = Ranked.build(
        d["y"], d["score"], amount=d["amount"], entity=d["entity"], day=d["day"], calibrated=True
    )
    curve = Curve(ranked, None if weights is None else weights[None, :], Cost(5.0, None))
    return float(compute(spec, curve, operating_rate=RATE)[0])


def test_every_metric_has_a_reference() -> None:
    assert set(REFERENCES) == set(METRICS)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_a_metric_said_to_lie_in_0_1_does_and_one_that_is_not_leaves_it(name: str) -> None:
    """``Metric.unit_range`` decides which claimed figures the config refuses (a claimed 87 for
    0.87): on a perfect, a random and a reversed score, the unit-range metrics stay in [0, 1], and
    the cost per transaction does not."""
    d = _data(0)
    rng = np.random.default_rng(1)
    scores = {"perfect": d["y"], "random": rng.random(len(d["y"])), "reversed": 1 - d["score"]}
    values = [_ours(REFERENCES[name][0], {**d, "score": s}) for s in scores.values()]
    if METRICS[name].unit_range:
        assert all(0.0 <= v <= 1.0 for v in values), values
    else:
        assert max(values) > 1.0, values  # the missed frauds' amounts per transaction


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_matches_reference(name: str, seed: int) -> None:
    text, reference = REFERENCES[name]
    d = _data(seed)
    # the operating alert rate for a metric of the operating point, else its own parameter
    expected = reference(d, parse_metric(text).argument(RATE))  # type: ignore[arg-type]
    assert _ours(text, d) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", ["roc_auc", "pr_auc", "brier", "ks", "recall_at_fpr"])
def test_weights_equal_repeated_rows(name: str) -> None:
    """A bootstrap weight of 3 must mean exactly 'this row three times'."""
    text, _ = REFERENCES[name]
    d = _data(5, n=800, ties=True)
    w = np.random.default_rng(9).integers(0, 4, 800).astype(float)
    repeated = {k: np.repeat(v, w.astype(int)) for k, v in d.items()}
    assert _ours(text, d, w) == pytest.approx(_ours(text, repeated), abs=1e-12)


def test_ties_count_half_in_auc_like_sklearn() -> None:
    d = _data(3, ties=True)
    assert _ours("roc_auc", d) == pytest.approx(roc_auc_score(d["y"], d["score"]), abs=1e-12)
    assert _ours("pr_auc", d) == pytest.approx(
        average_precision_score(d["y"], d["score"]), abs=1e-12
    )


def test_alert_budget_splits_a_tie_group_pro_rata() -> None:
    """Four rows tie at the top, two of them frauds; a budget of two rows expects one fraud."""
    y = np.array([1, 1, 0, 0, 0, 0, 0, 1.0])
    s = np.array([0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.05])
    d = {"y": y, "score": s, "amount": np.full(8, 10.0), "entity": np.arange(8), "day": np.zeros(8)}
    assert _ours("precision_at_alerts@0.25", d) == pytest.approx(0.5)
    assert _ours("value_detection_at_alerts@0.25", d) == pytest.approx(1 / 3)


def _brute_recall_at_fpr(y: np.ndarray, score: np.ndarray, p: float) -> float:
    """The mean over every ordering random tie-breaking can give (all equally likely) of the recall
    at the lowest cut whose false-positive rate is at most ``p``."""
    order = np.argsort(-score, kind="stable")
    groups = [list(g) for _, g in itertools.groupby(order, key=lambda i: score[i])]
    negatives, positives = float((y == 0).sum()), float(y.sum())
    values = []
    for arrangement in itertools.product(*(itertools.permutations(g) for g in groups)):
        ranked = y[[i for g in arrangement for i in g]]
        tp, fp = np.cumsum(ranked), np.cumsum(1 - ranked)
        ok = np.concatenate([[0.0], tp[fp <= p * negatives + 1e-9]])
        values.append(ok.max() / positives)
    return float(np.mean(values))


@pytest.mark.parametrize("seed", range(12))
def test_recall_at_fpr_straddling_ties_equal_brute_force_over_tie_permutations(seed: int) -> None:
    """Small rankings with heavy ties (at most 8! orderings): the metric, and the bootstrap
    kernels on the same rows, equal the average over every tie-breaking."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 9))
    y = np.zeros(n)
    y[rng.choice(n, int(rng.integers(1, n - 1)), replace=False)] = 1.0
    score = rng.integers(0, 3, n).astype(float) + 0.5 * y * rng.integers(0, 2, n)
    d = {"y": y, "score": score, "amount": np.ones(n), "entity": np.arange(n), "day": np.zeros(n)}
    for p in (0.01, 0.2, 0.34, 0.5, 0.8):
        want = _brute_recall_at_fpr(y, score, p)
        assert _ours(f"recall_at_fpr@{p}", d) == pytest.approx(want, abs=1e-12)
        ranked = {"m": Ranked.build(y, score)}
        spec = parse_metric(f"recall_at_fpr@{p}")
        kernel = paired_bootstrap(
            ranked, [spec], replicates=3, seed=seed, cost=Cost(), operating_rate=0.1
        ).values["m"][spec.key]
        weights = block_weights(seed, 0, 3, n).astype(np.float64)
        reference = compute(spec, Curve(ranked["m"], weights, Cost()), 0.1)
        np.testing.assert_allclose(kernel, reference, rtol=1e-12, atol=1e-12)


def test_recall_at_fpr_ten_frauds_tied_with_twenty_genuines_at_the_top() -> None:
    """Issue 18's case: 10 frauds tie with 20 genuines above 980 more genuines; at FPR 1% (10 of
    1,000 genuines allowed) each fraud precedes the 11th tied genuine with probability 11/21."""
    y = np.concatenate([np.ones(10), np.zeros(1000)])
    score = np.concatenate([np.ones(30), np.linspace(0.5, 0, 980)])
    d = {"y": y, "score": score, "amount": y, "entity": np.arange(1010), "day": np.zeros(1010)}
    assert _ours("recall_at_fpr@0.01", d) == pytest.approx(11 / 21)


def test_constant_score_is_uninformative() -> None:
    d = _data(4)
    d["score"] = np.full_like(d["score"], 0.5)
    assert _ours("roc_auc", d) == pytest.approx(0.5)
    assert _ours("precision_at_alerts@0.05", d) == pytest.approx(d["y"].mean())
    # one tie group straddles the limit: F = floor(0.01 N) genuines allowed, each fraud comes
    # before the (F + 1)-th of the N genuines with probability (F + 1) / (N + 1)
    negatives = int((d["y"] == 0).sum())
    assert _ours("recall_at_fpr@0.01", d) == pytest.approx(
        (np.floor(0.01 * negatives) + 1) / (negatives + 1)
    )


def test_brier_refuses_uncalibrated_scores() -> None:
    d = _data(6)
    ranked = Ranked.build(d["y"], d["score"], calibrated=False)
    assert np.isnan(compute(parse_metric("brier"), Curve(ranked), 0.01)[0])


def test_card_precision_removes_entities_detected_on_earlier_days() -> None:
    # entity 0 is a detected fraud on day 0 and again the top score on day 1: it must not count twice
    d = {
        "y": np.array([1, 0, 1, 0.0]),
        "score": np.array([0.9, 0.1, 0.95, 0.2]),
        "amount": np.ones(4),
        "entity": np.array([0, 1, 0, 1]),
        "day": np.array([0, 0, 1, 1]),
    }
    assert _ours("entity_precision_at@1", d) == pytest.approx((1.0 + 0.0) / 2)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("roc_auc", "roc_auc"),
        ("recall_at_fpr@0.01", "recall_at_fpr_0.01"),
        ("precision_at_alerts@0.005", "precision_at_alerts_0.005"),
        ("entity_precision_at@100", "entity_precision_at_100"),
        ("value_detection_at_alerts@1e-4", "value_detection_at_alerts_0.0001"),
    ],
)
def test_metric_keys_follow_design(text: str, key: str) -> None:
    assert parse_metric(text).key == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rocauc", "unknown metric 'rocauc'; did you mean 'roc_auc'?"),
        ("recall_at_fpr", "needs a parameter, e.g. 'recall_at_fpr@0.01'"),
        ("recall_at_fpr@2", "the rate must be in (0, 1], got 2"),
        ("entity_precision_at@2.5", "k must be a positive integer"),
        ("roc_auc@3", "takes no parameter"),
        ("pr_auc@x", "takes no parameter"),
        ("precision_at_alerts@abc", "'abc' is not a number"),
    ],
)
def test_bad_metric_names_explain_the_fix(text: str, message: str) -> None:
    from challengers.errors import ConfigError

    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")
    ):
        parse_metric(text)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_subset_of_a_ranking_equals_ranking_the_subset(seed: int) -> None:
    """Ranked.subset filters the sorted order instead of sorting again: same arrays as build on
    the kept rows, ties (rounded scores) and their order included, and the same metrics."""
    rng = np.random.default_rng(seed)
    n = 5_000
    y = (rng.random(n) < 0.05).astype(np.int8)
    score = np.round(rng.random(n) + y * 0.3, 2)  # many ties
    amount, entity, day = rng.gamma(2, 30, n), rng.integers(0, 400, n), rng.integers(0, 20, n)
    keep = rng.random(n) < 0.3
    full = Ranked.build(y, score, amount=amount, entity=entity, day=day)
    direct = Ranked.build(
        y[keep], score[keep], amount=amount[keep], entity=entity[keep], day=day[keep]
    )
    part = full.subset(keep)
    for field_name in ("y", "score", "order", "ends", "fraud", "entity", "day"):
        np.testing.assert_array_equal(getattr(part, field_name), getattr(direct, field_name))
    assert metrics_of(part) == metrics_of(direct)
    assert full.subset(np.zeros(n, dtype=bool)).n == 0


def metrics_of(ranked: Ranked) -> dict[str, float]:
    curve = Curve(ranked)
    names = ("roc_auc", "pr_auc", "recall_at_fpr@0.01", "precision_at_alerts@0.05")
    return {m: float(compute(parse_metric(m), curve, 0.005)[0]) for m in names}


@pytest.mark.parametrize("n", [6_000, RADIX_ROWS + 6_000])  # numpy's sort; the counting sort
@pytest.mark.parametrize("in_time_order", [True, False])  # ranges of rows; parts by code
def test_parts_of_a_ranking_equal_ranking_each_part(n: int, in_time_order: bool) -> None:
    """Parts (weeks, days, segments) split one ranking without sorting again: each part's arrays
    equal build on its rows, ties and their order included; ranked_parts recodes entities and
    days densely, as ranking the part's own frame does, and keeps the calibration check. Rows
    in time order split into ranges (slices of the rows), others by code; the same parts."""
    rng = np.random.default_rng(3)
    y = (rng.random(n) < 0.05).astype(np.float64)
    score = np.round(rng.random(n) * 1.2, 2)  # many ties, some above 1 (not a probability)
    day = rng.integers(0, 21, n)
    entity, day = rng.integers(0, 700, n), np.sort(day) if in_time_order else day
    rows = Rows(y, rng.gamma(2, 30, n), np.unique(entity, return_inverse=True)[1], day)
    full = rank_scores(rows, score, calibrated=True)
    assert full.y.itemsize == 1  # 0/1 labels as bytes: every model's ranking holds them
    code = day // 7
    parts = split_rows(code, 3)
    if in_time_order:
        # nothing row-sized held through the parts, and each part's rows are views
        assert isinstance(parts, Ranges) and parts.bounds.size == 4
    else:
        # held through every part: 2-byte codes and 4-byte row positions, not 8 each
        assert isinstance(parts, Parts)
        assert (parts.codes.itemsize, parts.position.itemsize, parts.rows[0].itemsize) == (2, 4, 4)
    for (index, part, models), k in zip(
        ranked_parts(rows, {"m": full}, {"m": True}, parts), range(3), strict=True
    ):
        keep = code == k
        np.testing.assert_array_equal(np.arange(n)[index], np.flatnonzero(keep))
        assert models["m"].order.itemsize == 4
        direct_rows = Rows(
            y[keep],
            rows.amount[keep],
            np.unique(entity[keep], return_inverse=True)[1],
            np.unique(day[keep], return_inverse=True)[1],
        )
        for got, want in zip(
            (part.y, part.amount, part.entity, part.day), direct_rows.__dict__.values(), strict=True
        ):
            np.testing.assert_array_equal(got, want)
        direct = rank_scores(direct_rows, score[keep], calibrated=True)
        for field_name in ("y", "score", "order", "ends", "fraud", "entity", "day", "calibrated"):
            np.testing.assert_array_equal(
                getattr(models["m"], field_name), getattr(direct, field_name)
            )
        assert metrics_of(models["m"]) == metrics_of(direct)
        assert entity_precision_at(Curve(models["m"]), 5) == entity_precision_at(Curve(direct), 5)
        table = models["m"].entity_days  # cached with the ranking: its cells alone, small types
        # not a view of a row-sized array (numba's own allocations have a MemInfo base)
        assert table.entity.size < part.y.size
        assert not isinstance(table.entity.base, np.ndarray)
        assert (table.entity.itemsize, table.label.itemsize) == (4, 1)


def test_the_radix_sort_of_scores_equals_numpys_stable_sort() -> None:
    """Ranked.build's radix sort (many rows): descending, ties in row order, -0.0 tied with 0.0,
    negative scores below positive ones, float32 scores and float64 alike; its
    tie groups are the sorted scores' runs. Only the bits that vary are sorted: one value, two,
    values that differ in their sign or in their lowest bit only."""
    rng = np.random.default_rng(5)
    n = RADIX_ROWS + 1_000
    probability = 1 / (1 + np.exp(-rng.normal(-4, 2, n)))  # a model's scores, 1e-6 .. 1
    cases = [
        np.round(rng.normal(size=n), 2),  # ties, negatives
        rng.random(n).astype(np.float32).astype(np.float64),  # 29 low bits zero
        np.concatenate([np.zeros(500), -np.zeros(500), rng.normal(size=n - 1_000)]),
        -rng.gamma(1.0, 1.0, n),
        probability,
        np.full(n, 0.25),  # one value: no pass
        rng.choice([0.125, 0.75], n),  # two values
        rng.choice([-0.5, 0.5], n),  # keys differing in their top bit alone
        rng.choice([0.5, np.nextafter(0.5, 1.0)], n),  # in their lowest bit alone
        np.ldexp(1.0, rng.integers(-1000, 1000, n)),  # in the exponent alone
    ]
    for score in cases:
        order, ends = descending_order(score)
        assert order.dtype == ends.dtype == np.int32  # int32 below 2**31 rows, not int64
        np.testing.assert_array_equal(order, np.argsort(-score, kind="stable"))
        # the tie groups from the sorted keys: where the sorted scores change (-0.0 == 0.0)
        ordered = score[order]
        np.testing.assert_array_equal(
            ends, np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))
        )


def test_column_codes_equal_polars_dense_rank() -> None:
    """TestRows' entity and day codes from a table of the values present (integers and dates in
    a narrow range) or from polars' rank (wide ranges, floats, text): ``rank("dense") - 1``."""
    import datetime as dt

    import polars as pl

    from challengers.evaluation.evaluate import column_codes

    rng = np.random.default_rng(11)
    cases = [
        pl.Series(rng.integers(-50, 3_000, 2_000)),  # gaps and negative ids
        pl.Series(rng.integers(0, 2**40, 2_000)),  # too wide: ranked
        pl.Series(rng.integers(0, 200, 2_000), dtype=pl.UInt8),
        pl.Series(np.array([2**64 - 1, 2**64 - 5, 2**64 - 1], dtype=np.uint64)),
        pl.Series(
            [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 60, 500)]
        ),
        pl.Series(rng.choice(["x", "b", "a"], 300)),  # text: ranked
        pl.Series(rng.integers(0, 300, 2_000).astype(np.float64)),  # float ids: ranked
    ]
    for s in cases:
        expected = s.rank("dense").cast(pl.Int64).to_numpy() - 1
        got = column_codes(s)
        assert got.dtype == np.int32  # below the row count: half of int64's memory
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("values", "what"),
    [
        ([4, None, 7, 4], "null in 1 of the 4"),  # a table of the values present
        ([4, None, 2**40, None], "null in 2 of the 4"),  # too wide: ranked
        ([4.0, float("nan"), 7.0, 4.0], "NaN in 1 of the 4"),  # ranked as one value
        (["a", None, "b", "a"], "null in 1 of the 4"),
    ],
)
def test_column_codes_refuse_a_missing_value(values, what):
    """A null's rank was NaN, cast to a garbage int32 that the compiled kernels indexed with (a
    segmentation fault); a NaN ranked as one value (every such row one customer). The data checks
    refuse both on the windows' rows; the codes refuse them on any other rows, in one line."""
    import polars as pl

    from challengers.errors import DataError
    from challengers.evaluation.evaluate import column_codes

    with pytest.raises(DataError, match=rf"column 'CUSTOMER_ID' is {what} rows evaluated"):
        column_codes(pl.Series("CUSTOMER_ID", values))
    frame = pl.DataFrame({"y": [0, 1, 0, 0], "CUSTOMER_ID": values}, strict=False)
    with pytest.raises(DataError, match=r"unset data\.entity"):
        Rows.from_frame(frame, target="y", amount=None, entity="CUSTOMER_ID")


@pytest.mark.parametrize("seed", range(8))
def test_unweighted_running_sums_equal_numpys_cumsum_bit_for_bit(seed):
    """The headline curve's running positives and fraud amounts (one compiled pass) equal the
    cumsum of the labels and of the rows' amounts (0 for genuine rows) at every tie group's end."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    y = (rng.random(n) < rng.uniform(0.0, 0.4)).astype(np.int8)
    score = np.round(rng.random(n) + 0.2 * y, int(rng.integers(1, 4)))
    amount = np.round(rng.lognormal(3, 1.5, n), 2)
    r = Ranked.build(y, score, amount=amount)
    curve = Curve(r)
    ends = r.ends
    np.testing.assert_array_equal(curve.tp, np.cumsum(r.y, dtype=np.float64)[None, ends])
    want = np.cumsum(np.where(r.y > 0, amount[r.order], 0.0))[None, ends]
    np.testing.assert_array_equal(curve.fraud_amount, want)
    assert Curve(Ranked.build(y, score)).tp.shape == (1, ends.size)


def test_a_ranking_holds_the_scores_and_codes_in_the_rows_order_not_copies() -> None:
    """Every model's ranking of the test window is held through the evaluation and diagnostics:
    it keeps the model's own scores and the test rows' entity and day codes (no score-order
    copies, 16 bytes a row and model) and gives them in score order when asked; its parts,
    subsets and the bootstrap's entity cells read them so."""
    rng = np.random.default_rng(8)
    n = 5_000
    y = (rng.random(n) < 0.05).astype(np.int8)
    score = np.round(rng.random(n), 3)
    entity = rng.integers(0, 300, n).astype(np.int32)
    day = np.sort(rng.integers(0, 20, n)).astype(np.int32)
    r = Ranked.build(y, score, amount=rng.gamma(2, 30, n), entity=entity, day=day)
    assert r.row_score is score and r.row_entity is entity and r.row_day is day
    held = [v for v in vars(r).values() if isinstance(v, np.ndarray) and v.size == n]
    assert sum(v.itemsize for v in held) == 1 + 4 + 8 + 4 + 4  # y, order, and the rows' own
    order = np.argsort(-score, kind="stable")
    np.testing.assert_array_equal(r.score, score[order])
    np.testing.assert_array_equal(r.entity, entity[order])
    np.testing.assert_array_equal(r.day, day[order])
    keep = rng.random(n) < 0.3
    sub, direct = (
        r.subset(keep),
        Ranked.build(y[keep], score[keep], amount=None, entity=entity[keep], day=day[keep]),
    )
    for name in ("y", "score", "order", "ends", "entity", "day"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(direct, name))


def test_the_bootstraps_entity_cells_stay_int32() -> None:
    """The kernels read every model's (day, entity) cells as the rankings cache them, int32
    entities (an int64 copy of them was 8 bytes a cell and model through the replicates)."""
    from challengers.evaluation import bootstrap as boot

    rng = np.random.default_rng(9)
    n = 3_000
    y = (rng.random(n) < 0.05).astype(np.int8)
    entity = rng.integers(0, 200, n).astype(np.int32)
    day = np.sort(rng.integers(0, 10, n)).astype(np.int32)
    models = [Ranked.build(y, rng.random(n), entity=entity, day=day) for _ in range(2)]
    plan = boot._Plan.of([parse_metric("entity_precision_at@5")], 0.02)
    inputs = boot._inputs(models, entity, plan, "entity")
    assert inputs.ent.dtype == np.int32
    for row, r in zip(inputs.ent, models, strict=True):
        np.testing.assert_array_equal(row, r.entity_days.entity)


def _whole_array_metrics(c: Curve, rate: float, limit: float) -> dict[str, np.ndarray]:
    """ROC AUC, PR AUC, recall at an FPR limit, the alert-budget sums and KS as they were written
    before they worked in place (a new array for every operation): the reference, bit for bit."""
    from challengers.evaluation.curve import before_group, safe_div

    tp_before = before_group(c.tp)
    pos_in_group = c.tp - tp_before
    neg_in_group = np.diff(c.fp, prepend=0.0, axis=1)
    wins = (neg_in_group * (tp_before + 0.5 * pos_in_group)).sum(axis=1)
    precision = safe_div(c.tp, c.count)
    recall_step = np.diff(c.tp, prepend=0.0, axis=1)
    allowed = np.where(c.negatives > 0, (limit + 1e-12) * c.negatives, -1.0)[:, None]
    fp_before = before_group(c.fp)
    inside = c.fp <= allowed
    straddles = ~inside & (fp_before <= allowed)
    expected = (c.tp - tp_before) * (np.floor(allowed - fp_before) + 1) / (c.fp - fp_before + 1)
    caught = np.where(inside, c.tp, 0.0).max(axis=1) + np.where(straddles, expected, 0.0).sum(1)
    count_before = before_group(c.count)
    group_count = c.count - count_before
    share = np.clip(
        (rate * c.total[:, None] - count_before) / np.where(group_count > 0, group_count, 1), 0, 1
    )
    tpr = safe_div(c.tp, c.positives[:, None])
    fpr = safe_div(c.fp, c.negatives[:, None])
    return {
        "roc_auc": safe_div(wins, c.positives * c.negatives),
        "pr_auc": safe_div(np.nansum(recall_step * precision, axis=1), c.positives),
        "recall_at_fpr": np.where(c.positives > 0, safe_div(caught, c.positives), np.nan),
        "caught": (share * (c.tp - tp_before)).sum(axis=1),
        # n/a without frauds or without genuines, as ROC AUC
        "ks": np.where(
            (c.positives > 0) & (c.negatives > 0),
            np.nanmax(np.abs(tpr - fpr), axis=1, initial=0.0),
            np.nan,
        ),
    }


@pytest.mark.parametrize("seed", range(16))
def test_metrics_in_place_equal_the_whole_array_formulas_bit_for_bit(seed: int) -> None:
    """The metrics that work in place (two or three arrays of the groups' size at a time) give
    the values of their whole-array formulas exactly: headline curves and bootstrap weights
    (zeros included, and a replicate that draws no row), ties, no fraud, no genuine row, one
    row."""
    from challengers.evaluation.metrics import (
        _caught_at_budget,
        ks,
        pr_auc,
        recall_at_fpr,
        roc_auc,
    )

    rng = np.random.default_rng(seed)
    n = [1, 3, 50, 2000][seed % 4]
    rate = [0.05, 0.0, 1.0, 0.3][(seed // 4) % 4]
    y = (rng.random(n) < rate).astype(np.int8)
    score = np.round(rng.random(n) + 0.4 * y, int(rng.integers(1, 4)))
    weights = None if seed % 2 else rng.poisson(1.0, (5, n)).astype(np.float64)
    if weights is not None:
        weights[0] = 0.0  # no row drawn: every total 0, every rate undefined
    c = Curve(Ranked.build(y, score), weights)
    want = _whole_array_metrics(c, 0.07, 0.02)
    got = {
        "roc_auc": roc_auc(c),
        "pr_auc": pr_auc(c),
        "recall_at_fpr": recall_at_fpr(c, 0.02),
        "caught": _caught_at_budget(c, c.tp, 0.07),
        "ks": ks(c),
    }
    for name, value in want.items():
        assert got[name].tobytes() == value.tobytes(), name


def _brute_card_precision_one_day(
    y: np.ndarray, score: np.ndarray, entity: np.ndarray, k: int
) -> float:
    """The handbook's card precision of one day (each entity's max score and max label, the top
    k entities) averaged over every order random tie-breaking can give the tied entities."""
    cards = np.unique(entity)
    best = {e: score[entity == e].max() for e in cards}
    fraud = {e: y[entity == e].max() for e in cards}
    values = []
    for order in itertools.permutations(cards):  # a stable sort by score of each order
        top = sorted(order, key=lambda e: -best[e])[:k]
        values.append(sum(fraud[e] for e in top) / k)
    return float(np.mean(values))


@pytest.mark.parametrize("seed", range(8))
def test_card_precision_of_tied_entities_equals_every_tie_breaking_averaged(seed: int) -> None:
    """One day, entities tied at the cut of the top k: their expected frauds (the file's order
    picked them before)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 12))
    entity = rng.integers(0, 7, n)
    y = (rng.random(n) < 0.4).astype(float)
    score = rng.integers(0, 2, n).astype(float)
    d = {"y": y, "score": score, "amount": np.ones(n), "entity": entity, "day": np.zeros(n)}
    for k in (1, 2, 3):
        want = _brute_card_precision_one_day(y, score, entity, k)
        assert _ours(f"entity_precision_at@{k}", d) == pytest.approx(want, abs=1e-12)


def test_a_constant_score_has_card_precision_the_fraud_share_wherever_the_frauds_sit() -> None:
    """100 cards, 10 fraudulent, one score for all: the top 10 is any 10 cards, 1 fraud expected.
    It read 1.0 with the frauds first in the file and 0.0 with them last."""
    y = np.zeros(100)
    y[:10] = 1.0
    d = {"score": np.full(100, 0.5), "amount": np.ones(100), "entity": np.arange(100)}
    d["day"] = np.zeros(100)
    assert _ours("entity_precision_at@10", {**d, "y": y}) == pytest.approx(0.1)
    assert _ours("entity_precision_at@10", {**d, "y": y[::-1].copy()}) == pytest.approx(0.1)


def test_card_precision_with_ties_does_not_depend_on_the_rows_order() -> None:
    """Coarse scores over several days, detected cards leaving later days: the headline, the
    bootstrap's replicates and the engines' cells (in-sample) read the same whatever the file's
    order of the rows, and agree with each other."""
    import polars as pl

    from challengers.data.frames import DAY
    from challengers.engine.local import LocalEngine
    from challengers.engine.metrics import card_precision

    d = _data(7, n=1500)
    d["score"] = np.round(d["score"], 1)  # a handful of values: many cards tie at each cut
    d["entity"] = d["entity"] % 150
    spec = parse_metric("entity_precision_at@20")
    shuffled = np.random.default_rng(3).permutation(d["y"].size)
    values, replicates, engine = [], [], []
    for at in (np.arange(d["y"].size), shuffled):
        rows = {name: v[at] for name, v in d.items()}
        values.append(_ours(str(spec), rows))
        ranked = Ranked.build(rows["y"], rows["score"], entity=rows["entity"], day=rows["day"])
        replicates.append(
            paired_bootstrap(
                {"m": ranked}, [spec], replicates=8, seed=1, cost=Cost(), operating_rate=0.1,
                blocks=ranked.row_entity,
            ).values["m"][spec.key]
        )  # fmt: skip
        frame = pl.DataFrame({"s": rows["score"], "y": rows["y"], "e": rows["entity"]})
        frame = frame.with_columns(pl.Series(DAY, rows["day"]))
        cells = LocalEngine().entity_day_cells(frame, score="s", target="y", entity="e", k=20)
        engine.append(card_precision(cells, 20))
    assert 0 < values[0] < 1
    assert values[1] == pytest.approx(values[0], abs=1e-12)
    np.testing.assert_allclose(replicates[1], replicates[0], rtol=1e-12, atol=1e-12)
    assert engine[0] == pytest.approx(values[0], abs=1e-12)
    assert engine[1] == pytest.approx(values[0], abs=1e-12)


def test_ks_without_frauds_or_without_genuines_is_undefined_not_zero() -> None:
    """KS compares the frauds' scores with the genuines': without one of them it is n/a, as ROC
    AUC is. It read 0.0, so a week without frauds showed 'no separation', and every bootstrap
    replicate that drew no fraud entered KS's interval as a 0 (3 frauds: KS 1.0 [0.0, 1.0]
    beside ROC AUC 1.0 [1.0, 1.0])."""
    d = _data(8, n=200)
    for y in (np.zeros(200), np.ones(200)):
        assert np.isnan(_ours("ks", {**d, "y": y}))
        assert np.isnan(_ours("roc_auc", {**d, "y": y}))
    rng = np.random.default_rng(0)
    y = np.zeros(3000, dtype=np.int8)
    y[rng.choice(3000, 3, replace=False)] = 1
    score = rng.random(3000) + y
    ranked = {"m": Ranked.build(y, score, entity=np.arange(3000), day=np.zeros(3000))}
    specs = [parse_metric("ks"), parse_metric("roc_auc")]
    reps = paired_bootstrap(
        ranked, specs, replicates=400, seed=1, cost=Cost(), operating_rate=0.01,
        blocks=ranked["m"].row_entity,
    ).values["m"]  # fmt: skip
    no_fraud = np.isnan(reps["roc_auc"])
    assert no_fraud.any()  # some replicates drew none of the 3 fraud cards
    np.testing.assert_array_equal(np.isnan(reps["ks"]), no_fraud)
    assert np.all(reps["ks"][~no_fraud] == 1.0)  # every fraud above every genuine
