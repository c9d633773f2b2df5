"""DeLong's test: the O(n log n) midrank algorithm against plain O(n^2) reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from challengers.evaluation.curve import Curve, Ranked
from challengers.evaluation.delong import delong_from_components, delong_test, midranks
from challengers.evaluation.metrics import roc_auc


def _psi(score_pos: np.ndarray, score_neg: np.ndarray) -> np.ndarray:
    """The Mann-Whitney kernel for every (positive, negative) pair: 1 above, 1/2 tied, 0 below."""
    diff = score_pos[:, None] - score_neg[None, :]
    return (diff > 0) + 0.5 * (diff == 0)


def reference_delong(y, a, b, clusters=None):
    """DeLong et al. (1988) straight from the definitions, O(n^2); Obuchowski (1997) when clustered."""
    pos = y > 0
    m, n = pos.sum(), (~pos).sum()
    psi_a, psi_b = _psi(a[pos], a[~pos]), _psi(b[pos], b[~pos])
    auc_a, auc_b = psi_a.mean(), psi_b.mean()
    v10 = np.stack([psi_a.mean(axis=1), psi_b.mean(axis=1)])  # (2, m)
    v01 = np.stack([psi_a.mean(axis=0), psi_b.mean(axis=0)])  # (2, n)
    contrast = np.array([1.0, -1.0])
    if clusters is None:
        s = np.cov(v10) / m + np.cov(v01) / n
        var = contrast @ s @ contrast
    else:
        theta = np.array([auc_a, auc_b])
        ids = np.unique(clusters)
        k = len(ids)
        s10, s01, s11 = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2))
        for c in ids:
            in_pos = clusters[pos] == c
            in_neg = clusters[~pos] == c
            x = v10[:, in_pos].sum(axis=1) - in_pos.sum() * theta
            z = v01[:, in_neg].sum(axis=1) - in_neg.sum() * theta
            s10 += np.outer(x, x)
            s01 += np.outer(z, z)
            s11 += np.outer(x, z)
        s10 *= k / ((k - 1) * m)
        s01 *= k / ((k - 1) * n)
        s11 *= k / (k - 1)
        cov = s10 / m + s01 / n + (s11 + s11.T) / (m * n)
        var = contrast @ cov @ contrast
    se = math.sqrt(var)
    z = (auc_a - auc_b) / se
    return auc_a, auc_b, se, z, 2 * norm.sf(abs(z))


def _data(seed: int, n: int = 300, ties: bool = True):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    a = y * 0.8 + rng.normal(size=n)
    b = y * 0.5 + 0.5 * a + rng.normal(size=n)
    if ties:  # coarse scores: many ties, within and across classes
        a, b = np.round(a, 1), np.round(b * 2) / 2
    clusters = rng.integers(0, 40, n)
    return y, a, b, clusters


def test_midranks_match_scipy() -> None:
    x = np.round(np.random.default_rng(0).normal(size=500), 1)
    np.testing.assert_allclose(midranks(x), rankdata(x, method="average"), rtol=0, atol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [True, False])
def test_fast_delong_equals_reference(seed: int, ties: bool) -> None:
    y, a, b, _ = _data(seed, ties=ties)
    got = delong_test(y, a, b)
    auc_a, auc_b, se, z, p = reference_delong(y, a, b)
    assert got.auc_a == pytest.approx(auc_a, abs=1e-12)
    assert got.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert abs(got.se - se) < 1e-9
    assert abs(got.z - z) < 1e-9
    assert abs(got.p_value - p) < 1e-9


@pytest.mark.parametrize("seed", [3, 4])
def test_clustered_delong_equals_reference(seed: int) -> None:
    y, a, b, clusters = _data(seed)
    got = delong_test(y, a, b, clusters=clusters)
    _, _, se, z, p = reference_delong(y, a, b, clusters=clusters)
    assert got.clusters == len(np.unique(clusters))
    assert abs(got.se - se) < 1e-9
    assert abs(got.z - z) < 1e-9
    assert abs(got.p_value - p) < 1e-9


def test_one_row_per_cluster_is_delong_up_to_the_small_sample_factor() -> None:
    y, a, b, _ = _data(5, ties=False)
    plain = delong_test(y, a, b)
    single = delong_test(y, a, b, clusters=np.arange(y.size))
    # both estimate the same variance; they differ only by K/(K-1) vs M/(M-1), N/(N-1)
    assert single.se == pytest.approx(plain.se, rel=0.01)


def test_auc_is_the_metric_roc_auc() -> None:
    y, a, _, _ = _data(6)
    headline = roc_auc(Curve(Ranked.build(y, a)))[0]
    assert delong_test(y, a, a).auc_a == pytest.approx(headline, abs=1e-12)


def test_identical_models_are_not_different() -> None:
    y, a, _, _ = _data(7)
    result = delong_test(y, a, a.copy())
    assert result.delta == 0 and result.p_value == 1.0


def test_clustered_delong_holds_its_level_where_plain_delong_does_not() -> None:
    """Planted truth: frauds come in bursts on compromised cards, and two equally good models err
    card by card. Treating the rows as independent understates the variance of the AUC difference
    and cries wolf; the entity clusters hold the level."""
    rng = np.random.default_rng(8)
    plain, clustered, pairs = 0, 0, 200
    for _ in range(pairs):
        n, entities = 6000, 600
        entity = rng.integers(0, entities, n)
        compromised = rng.random(entities) < 0.15
        y = (rng.random(n) < np.where(compromised[entity], 0.6, 0.0)).astype(float)
        errors_a, errors_b = rng.normal(size=(2, entities))
        a = y + 1.2 * errors_a[entity] + 0.3 * rng.normal(size=n)
        b = y + 1.2 * errors_b[entity] + 0.3 * rng.normal(size=n)
        plain += delong_test(y, a, b).p_value < 0.05
        clustered += delong_test(y, a, b, clusters=entity).p_value < 0.05
    assert clustered / pairs <= 0.07
    assert plain / pairs > 0.15


@pytest.mark.parametrize("ties", [True, False])
def test_components_from_a_ranking_equal_their_own_sort(ties: bool) -> None:
    """The evaluation hands DeLong each model's ranking (descending, stable) reversed: tied rows
    then come in another order than argsort's, which must not move any number, to the last bit."""
    from challengers.evaluation.delong import _dense, components

    y, a, b, clusters = _data(7, ties=ties)
    for score in (a, b):
        ascending = Ranked.build(y, score).order[::-1]
        own, given = components(y, score), components(y, score, ascending)
        assert own.auc == given.auc
        np.testing.assert_array_equal(own.v10, given.v10)
        np.testing.assert_array_equal(own.v01, given.v01)
    for codes in (clusters, clusters * 3 + 5, np.arange(50)[::-1], np.array([7, 7, 2**40])):
        np.testing.assert_array_equal(_dense(codes), np.unique(codes, return_inverse=True)[1])
    r = Ranked.build(y, a)
    rows_a, rows_b = components(y, a, r.order[::-1]), components(y, b)
    got = delong_from_components(y, rows_a, rows_b, clusters=clusters * 3 + 5)
    assert got == delong_test(y, a, b, clusters=clusters)


@pytest.mark.parametrize("seed", range(6))
def test_components_read_from_a_ranking_equal_the_midrank_ones_bit_for_bit(seed):
    """The one-pass kernel over a Ranked (the runs' path) gives exactly the numbers of the midrank
    algorithm, itself checked above against the O(n^2) definitions: ties (rounded scores), -0.0
    tied with 0.0, and sizes where one class is scarce."""
    from challengers.evaluation.delong import components, components_of_ranking

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 5000))
    y = (rng.random(n) < rng.uniform(0.01, 0.5)).astype(np.int8)
    y[:2], y[2:4] = 1, 0
    score = np.round(rng.random(n) + 0.3 * y, int(rng.integers(1, 4)))
    score[score == 0.0] = -0.0 if seed % 2 else 0.0
    r = Ranked.build(y, score)
    got = components_of_ranking(y, r.y, r.ends, r.order)
    want = components(y, score)
    assert got.auc == want.auc
    np.testing.assert_array_equal(got.v10, want.v10)
    np.testing.assert_array_equal(got.v01, want.v01)
    pairs = _psi(score[y > 0], score[y == 0])  # the definitions: O(n^2)
    assert math.isclose(got.auc, pairs.mean(), abs_tol=1e-12)
    np.testing.assert_allclose(got.v10, pairs.mean(axis=1), atol=1e-12)


def test_components_read_from_a_ranking_need_two_of_each_class():
    from challengers.evaluation.delong import components_of_ranking

    y = np.array([1, 0, 0, 0], dtype=np.int8)
    r = Ranked.build(y, np.array([0.9, 0.1, 0.2, 0.3]))
    got = components_of_ranking(y, r.y, r.ends, r.order)
    assert math.isnan(got.auc) and got.v10.shape == (1,) and got.v01.shape == (3,)


@pytest.mark.parametrize("seed", range(6))
def test_per_cluster_sums_give_the_clustered_test_of_the_row_components(seed):
    """The runs' clustered path (each model's components summed per cluster in one pass over
    its ranking, no row-sized array) against the row components' clustered test and the O(n^2)
    definitions: ties, int32 codes with gaps (a code no row has is no cluster), a cluster of
    one row, and codes too sparse to index (renumbered)."""
    from challengers.evaluation.delong import (
        cluster_components_of_ranking,
        delong_from_cluster_sums,
    )

    y, a, b, clusters = _data(seed, n=int(np.random.default_rng(seed).integers(50, 600)))
    y = y.astype(np.int8)
    for codes in (clusters.astype(np.int32) * 3, clusters, clusters * 2**35 + 7):
        codes = codes.copy()
        codes[0] = codes.max() + 1  # a cluster of one row
        ra, rb = Ranked.build(y, a), Ranked.build(y, b)
        got = delong_from_cluster_sums(
            cluster_components_of_ranking(ra.y, ra.ends, ra.order, codes),
            cluster_components_of_ranking(rb.y, rb.ends, rb.order, codes),
        )
        want = delong_test(y, a, b, clusters=codes)
        assert got.clusters == want.clusters
        assert got.auc_a == want.auc_a and got.auc_b == want.auc_b
        assert math.isclose(got.se, want.se, rel_tol=1e-12)
        assert math.isclose(got.p_value, want.p_value, rel_tol=1e-9, abs_tol=1e-15)
        _, _, se, _, p = reference_delong(y, a, b, clusters=codes)
        assert math.isclose(got.se, se, rel_tol=1e-9)
        assert abs(got.p_value - p) < 1e-9


def test_per_cluster_sums_need_two_of_each_class():
    from challengers.evaluation.delong import (
        cluster_components_of_ranking,
        delong_from_cluster_sums,
    )

    y = np.array([1, 0, 0, 0], dtype=np.int8)
    r = Ranked.build(y, np.array([0.9, 0.1, 0.2, 0.3]))
    one = cluster_components_of_ranking(r.y, r.ends, r.order, np.array([0, 1, 1, 2], np.int32))
    got = delong_from_cluster_sums(one, one)
    assert math.isnan(got.se) and math.isnan(got.p_value) and got.clusters is None
