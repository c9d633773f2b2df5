"""The distribution functions the analyses' tests read, from SciPy's special functions: the same
functions ``scipy.stats`` evaluates for these distributions (the same bits), without importing
``scipy.stats``, which took 0.6-0.8 CPU-s of a run that needs nothing else of it (the tree
libraries import ``scipy.special`` themselves). Scalars in, floats out."""

from __future__ import annotations

import math


def normal_sf(x: float) -> float:
    """P(Z > x), Z standard normal (``scipy.stats.norm.sf``)."""
    from scipy.special import ndtr

    return float(ndtr(-x))


def normal_quantile(p: float) -> float:
    """The standard normal's ``p`` quantile (``scipy.stats.norm.ppf``)."""
    from scipy.special import ndtri

    return float(ndtri(p))


def chi2_sf(x: float, df: int) -> float:
    """P(X > x), X chi-square with ``df`` degrees of freedom (``scipy.stats.chi2.sf``)."""
    from scipy.special import chdtrc

    return float(chdtrc(df, x))


def t_sf(x: float, df: float) -> float:
    """P(T > x), T Student's t with ``df`` degrees of freedom (``scipy.stats.t.sf``)."""
    from scipy.special import stdtr

    return float(stdtr(df, -x))


def t_quantile(p: float, df: float) -> float:
    """Student's t's ``p`` quantile with ``df`` degrees of freedom (``scipy.stats.t.ppf``)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def sign_test_p(k: int, n: int) -> float:
    """Two-sided p-value of ``k`` successes in ``n`` fair coin tosses (``scipy.stats.binomtest(k,
    n, 0.5).pvalue``): the probability of a count at least as far from n/2 as ``k``, computed
    exactly (integers, one rounding); for n up to a few thousand."""
    if not 0 <= k <= n:
        raise ValueError(f"k={k} outside 0..{n}")
    low = min(k, n - k)
    if 2 * low == n:  # k is the middle: every outcome is as extreme
        return 1.0
    tail = sum(math.comb(n, i) for i in range(low + 1))  # P(X <= low) * 2**n
    return min(1.0, 2 * tail / 2**n)
