"""PSI, test weeks and decay slopes on hand-worked cases."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from challengers.analysis.stability import (
    PSI_FLOOR,
    Reference,
    Stability,
    WeekMetrics,
    decay_slope,
    psi,
    split_weeks,
    unstable_week,
    week_of,
    weekly_psi,
    weekly_trend,
)


def halves(zeros: int, ones: int) -> np.ndarray:
    return np.array([0.0] * zeros + [1.0] * ones)


def test_psi_of_a_known_shift() -> None:
    # 50/50 -> 25/75: 0.25 ln 2 + 0.25 ln 1.5
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi(halves(500, 500), halves(250, 750)) == pytest.approx(expected, rel=1e-12)
    assert psi(halves(500, 500), halves(500, 500)) == 0.0


def test_psi_gives_missing_values_their_own_bin() -> None:
    current = np.concatenate([halves(450, 450), np.full(100, np.nan)])
    # the empty NaN bin of the reference is floored, so the index stays finite
    expected = 2 * (0.45 - 0.5) * math.log(0.45 / 0.5) + (0.1 - PSI_FLOOR) * math.log(
        0.1 / PSI_FLOOR
    )
    assert psi(halves(500, 500), current) == pytest.approx(expected, rel=1e-12)


def test_psi_reads_a_mean_shift_as_major_and_noise_as_stable() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=20_000)
    assert psi(reference, rng.normal(size=20_000)) < 0.02
    assert psi(reference, rng.normal(1.0, 1.0, 20_000)) > 0.25


def test_a_kept_reference_gives_the_psi_of_the_values_it_was_taken_from() -> None:
    # the run keeps the training window's bins and shares, not its rows: the same PSI, exactly
    rng = np.random.default_rng(1)
    reference, current = rng.gamma(2.0, size=30_000), rng.gamma(2.3, size=9_000)
    reference[::50], current[::70] = np.nan, np.nan  # missing values have a bin of their own
    for bins in (5, 10, 20):
        assert Reference.of(reference, bins).psi(current) == psi(reference, current, bins)
    discrete = rng.integers(0, 3, 10_000).astype(np.float64)  # duplicate quantiles dropped
    assert Reference.of(discrete).psi(discrete[:4_000]) == psi(discrete, discrete[:4_000])


def test_weekly_psi_against_previous_week_and_training() -> None:
    reference = halves(500, 500)
    current = np.concatenate([halves(50, 50), halves(25, 75)])
    week = np.array([0] * 100 + [1] * 100)
    previous, vs_train = weekly_psi(Reference.of(reference, bins=10), current, week, 2)
    assert math.isnan(previous[0])
    assert previous[1] == pytest.approx(psi(halves(50, 50), halves(25, 75)))
    assert vs_train == pytest.approx([0.0, psi(reference, halves(25, 75))])


def test_test_weeks_and_week_index() -> None:
    weeks = split_weeks(date(2024, 3, 8), date(2024, 3, 31))
    assert [(w.start.day, w.end.day) for w in weeks] == [(8, 14), (15, 21), (22, 28), (29, 31)]
    days = np.array(["2024-03-08", "2024-03-14", "2024-03-15", "2024-03-31"], dtype="datetime64[D]")
    assert week_of(days, date(2024, 3, 8)).tolist() == [0, 0, 1, 3]


def test_decay_slope_of_an_exact_line() -> None:
    x = np.arange(10, 31, dtype=float)
    s = decay_slope(x, 0.9 - 0.01 * x, np.ones_like(x))
    assert s.per_week == pytest.approx(-0.07)
    assert s.ci == pytest.approx((-0.07, -0.07))
    assert s.p_value < 1e-100 and s.points == 21


def test_decay_slope_is_weighted_least_squares() -> None:
    rng = np.random.default_rng(1)
    x = np.arange(20, dtype=float)
    v = 0.8 - 0.005 * x + rng.normal(0, 0.02, 20)
    w = rng.integers(1, 30, 20).astype(float)
    v_out = np.append(v, 99.0)  # an outlier with no weight is left out
    s = decay_slope(np.append(x, 50.0), v_out, np.append(w, 0.0))
    reference = np.polyfit(x, v, 1, w=np.sqrt(w))[0]  # polyfit weights residuals, not squares
    assert s.per_week == pytest.approx(7 * reference, rel=1e-9)
    assert s.ci[0] < s.per_week < s.ci[1]
    assert s.points == 20


def test_decay_slope_needs_three_points() -> None:
    s = decay_slope(np.array([1.0, 2.0]), np.array([0.5, 0.4]), np.ones(2))
    assert math.isnan(s.per_week) and s.points == 2


@pytest.mark.parametrize("bins", [10, 80])  # edges counted one by one; searched (> 32 edges)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])  # read as held: no float64 copy
def test_bin_shares_match_searchsorted_on_planted_values(bins: int, dtype: type) -> None:
    """The compiled bin count against numpy's searchsorted + bincount: values on the edges (they
    fall in the bin they close), below and above every edge, repeated edges dropped, NaN and
    infinities counted as missing."""
    from challengers.analysis.stability import bin_shares, psi_edges

    rng = np.random.default_rng(7)
    reference = np.round(rng.normal(size=5_000), 2 if bins > 10 else 1)  # quantiles repeat
    edges = psi_edges(reference.astype(dtype), bins)
    assert (len(edges) > 32) == (bins > 10)
    current = np.concatenate(
        [
            np.round(rng.normal(0.3, 1.2, size=20_000), 1),
            edges,  # exactly on every edge
            [-50.0, 50.0, np.nan, np.inf, -np.inf, -0.0],
        ]
    ).astype(dtype)
    rng.shuffle(current)
    finite = np.isfinite(current)
    counts = np.bincount(
        np.searchsorted(edges, current[finite], side="left"), minlength=len(edges) + 1
    )
    expected = np.append(counts, np.count_nonzero(~finite)) / current.size
    assert np.array_equal(bin_shares(current, edges), expected)
    assert bin_shares(current, np.empty(0)).tolist() == [
        np.count_nonzero(finite) / current.size,
        3 / current.size,
    ]


def _quantile_cases(seed: int) -> np.ndarray:
    """Continuous, discrete, rounded and signed values, with NaN and infinities mixed in."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4000)) if seed % 4 else int(rng.integers(100_000, 300_000))
    kind = seed % 5
    if kind == 0:
        return rng.random(n)
    if kind == 1:
        return rng.integers(0, 4, n).astype(np.float64)
    if kind == 2:
        return rng.normal(size=n) * 1e3
    if kind == 3:
        return np.round(rng.lognormal(3, 1, n), 2)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.2] = np.nan
    x[rng.random(n) < 0.05] = np.inf
    x[rng.random(n) < 0.05] = -np.inf
    return x


@pytest.mark.parametrize("seed", range(40))
def test_finite_quantiles_equal_numpys_bit_for_bit(seed):
    """The two-pass selection gives np.quantile's linear-interpolated values exactly."""
    from challengers.analysis.stability import finite_quantiles

    x = _quantile_cases(seed)
    qs = np.linspace(0, 1, 11)[1:-1]
    finite = x[np.isfinite(x)]
    want = np.quantile(finite, qs) if finite.size else np.empty(0)
    np.testing.assert_array_equal(finite_quantiles(x, qs), want)
    ends = np.array([0.0, 0.25, 1.0, 0.999999])
    np.testing.assert_array_equal(
        finite_quantiles(x, ends), np.quantile(finite, ends) if finite.size else np.empty(0)
    )


def test_psi_edges_of_many_rows_take_the_selection_and_agree_with_numpy():
    from challengers.analysis import stability

    rng = np.random.default_rng(3)
    x = np.round(rng.lognormal(4, 0.5, stability.SELECT_ROWS + 17), 2)
    x[::1000] = np.nan
    finite = x[np.isfinite(x)]
    want = np.unique(np.quantile(finite, np.linspace(0, 1, 11)[1:-1]))
    np.testing.assert_array_equal(stability.psi_edges(x), want)
    assert stability.finite_quantiles(np.full(5, np.nan), np.array([0.5])).size == 0


# the probe's production score: pr_auc per test week, the week of 03-22 degraded (0.5 y in the
# logit instead of 2.5 y); its interval overlaps no other week's
PROBE_WEEKS = [
    (0.3378, (0.2800, 0.4000)),
    (0.5095, (0.4500, 0.5700)),
    (0.0320, (0.0231, 0.0435)),
    (0.3645, (0.2000, 0.5939)),
]


def weeks_of(
    planted: list[tuple[float, tuple[float, float]]],
    model: str = "champ",
    key: str = "pr_auc",
    bootstrap: int = 200,
) -> Stability:
    """A Stability whose test weeks (from 2024-03-08) hold the planted values and intervals."""
    weeks = [
        WeekMetrics(
            week=i,
            start=f"2024-03-{8 + 7 * i:02d}",
            end=f"2024-03-{min(14 + 7 * i, 31):02d}",
            rows=10_000,
            positives=200,
            metrics={model: {key: value}},
            ci={model: {key: ci}},
        )
        for i, (value, ci) in enumerate(planted)
    ]
    return Stability(weeks, {}, {}, {}, {}, {}, {}, {}, weekly_bootstrap=bootstrap)


def test_a_week_whose_interval_is_below_every_other_weeks_is_singled_out() -> None:
    collapsed = unstable_week(weeks_of(PROBE_WEEKS), "champ", "pr_auc", True)
    assert collapsed is not None and collapsed.start == "2024-03-22"
    # a lower-is-better metric: the week above the rest is the worse one
    brier = weeks_of([(0.010, (0.008, 0.012)), (0.011, (0.009, 0.013)), (0.03, (0.025, 0.035))])
    worse = unstable_week(brier, "champ", "pr_auc", False)
    assert worse is not None and worse.week == 2
    assert unstable_week(brier, "champ", "pr_auc", True) is None  # an unusually good week


@pytest.mark.parametrize(
    "planted",
    [
        # a steady decline: each week overlaps its neighbour, none lies below all the others
        [(0.50, (0.44, 0.56)), (0.45, (0.39, 0.51)), (0.40, (0.34, 0.46)), (0.35, (0.29, 0.41))],
        # overlapping the lowest other week by a hair
        [(0.50, (0.45, 0.55)), (0.30, (0.25, 0.35)), (0.20, (0.15, 0.2501))],
        # two weeks: one below the other is a change, not an outlier
        [(0.50, (0.45, 0.55)), (0.10, (0.05, 0.15))],
    ],
)
def test_no_week_is_singled_out_where_it_overlaps_another_or_weeks_are_too_few(
    planted: list[tuple[float, tuple[float, float]]],
) -> None:
    assert unstable_week(weeks_of(planted), "champ", "pr_auc", True) is None


def test_without_bootstrap_intervals_no_week_is_singled_out() -> None:
    points = [(v, (v, v)) for v, _ in PROBE_WEEKS]  # point estimates only
    assert unstable_week(weeks_of(points, bootstrap=0), "champ", "pr_auc", True) is None


def test_the_weekly_trend_weighs_each_week_by_its_interval() -> None:
    s = weeks_of(PROBE_WEEKS)
    trend = weekly_trend(s, "champ", "pr_auc", 0.05, leave_out=2)
    # by hand: weighted least squares on weeks 0, 1, 3 with weights 1 / se^2, se = half-width /
    # 1.96; polyfit weighs residuals by w, and its unscaled covariance is the known-variance one
    kept = [PROBE_WEEKS[i] for i in (0, 1, 3)]
    se = np.array([(hi - lo) / (2 * 1.959963984540054) for _, (lo, hi) in kept])
    coef, cov = np.polyfit([0.0, 1.0, 3.0], [v for v, _ in kept], 1, w=1 / se, cov="unscaled")
    assert trend.per_week == pytest.approx(coef[0], rel=1e-9)
    half = 1.959963984540054 * math.sqrt(cov[0, 0])
    assert trend.ci == pytest.approx((coef[0] - half, coef[0] + half), rel=1e-9)
    assert trend.points == 3 and trend.per_week > 0  # the other weeks do not decline
    # with the collapsed week in, the weeks trend down
    assert weekly_trend(s, "champ", "pr_auc", 0.05).per_week < 0
