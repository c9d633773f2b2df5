"""The statistics the audit checks share: single-column AUCs, PSI and Kolmogorov–Smirnov.

All work on polars frames (a seeded sample) with vectorised expressions; nothing loops over rows.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

PSI_FLOOR = 1e-4  # empty bins would make PSI infinite; the usual floor


def rank_auc(frame: pl.DataFrame, columns: list[str], target: str) -> dict[str, float]:
    """ROC AUC of each column used alone as a score (Mann–Whitney, ties averaged), rows with a
    missing value left out. NaN where a class has no rows with a value."""
    if not columns:
        return {}
    y = pl.col(target) == 1
    exprs = []
    for i, c in enumerate(columns):
        x = _numeric(pl.col(c), frame.schema[c])
        present = x.is_not_null()
        exprs += [
            (x.rank("average") * y.cast(pl.Float64)).sum().alias(f"{i}:r"),
            (present & y).sum().alias(f"{i}:p"),
            (present & ~y).sum().alias(f"{i}:n"),
        ]
    row = frame.select(exprs).row(0, named=True)
    out = {}
    for i, c in enumerate(columns):
        pos, neg = row[f"{i}:p"], row[f"{i}:n"]
        if not pos or not neg:
            out[c] = math.nan
            continue
        out[c] = (row[f"{i}:r"] - pos * (pos + 1) / 2) / (pos * neg)
    return out


def _numeric(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_temporal():
        return col.dt.epoch("us").cast(pl.Float64)
    x = col.cast(pl.Float64)
    return x.fill_nan(None)


def grouped_auc(frame: pl.DataFrame, column: str, target: str) -> float:
    """The best AUC any score built from this column's values alone can reach: each value scored
    by its fraud rate (missing is a value of its own). For categorical columns."""
    groups = (
        frame.group_by(pl.col(column).cast(pl.String))
        .agg(
            (pl.col(target) == 1).sum().alias("pos"),
            (pl.col(target) == 0).sum().alias("neg"),
        )
        .with_columns((pl.col("pos") / (pl.col("pos") + pl.col("neg"))).alias("rate"))
        .sort("rate")
    )
    pos = groups["pos"].to_numpy().astype(np.float64)
    neg = groups["neg"].to_numpy().astype(np.float64)
    if pos.sum() == 0 or neg.sum() == 0:
        return math.nan
    below = np.cumsum(neg) - neg  # negatives in strictly lower-rate groups
    return float(np.sum(pos * (below + 0.5 * neg)) / (pos.sum() * neg.sum()))


def missing_auc(frame: pl.DataFrame, column: str, target: str) -> float:
    """AUC of "the value is missing" as a score, either way: 0.5 + |P(miss|fraud) - P(miss|ok)| / 2."""
    y = pl.col(target) == 1
    x = pl.col(column)
    if frame.schema[column].is_float():
        x = x.fill_nan(None)
    row = frame.select(
        (x.is_null() & y).sum().alias("mp"),
        y.sum().alias("p"),
        (x.is_null() & ~y).sum().alias("mn"),
        (~y).sum().alias("n"),
    ).row(0, named=True)
    if not row["p"] or not row["n"]:
        return math.nan
    return 0.5 + abs(row["mp"] / row["p"] - row["mn"] / row["n"]) / 2


def either_way(auc: float) -> float:
    """An AUC of 0.02 separates as well as 0.98: the score just runs the other way."""
    return max(auc, 1 - auc) if math.isfinite(auc) else auc


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two vectors of counts over the same bins."""
    e = np.maximum(expected / max(expected.sum(), 1), PSI_FLOOR)
    a = np.maximum(actual / max(actual.sum(), 1), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(train: pl.Series, test: pl.Series, bins: int = 10) -> float:
    """PSI over the training window's deciles; missing values are a bin of their own. A training
    window without any value has one bin for the values (the test window's, if any): missing
    in every training row and present in the test rows is as large a shift as the reverse (it
    read NaN, ranked last and said nothing, where the reverse read 16)."""
    x = train.cast(pl.Float64).fill_nan(None)
    z = test.cast(pl.Float64).fill_nan(None)
    if x.len() == 0:
        return math.nan
    values = x.drop_nulls().to_numpy()
    edges = (
        np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])) if values.size else values
    )
    return psi(_binned(x, edges), _binned(z, edges))


def _binned(series: pl.Series, edges: np.ndarray) -> np.ndarray:
    values = series.drop_nulls().to_numpy()
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    return np.append(counts, series.null_count()).astype(np.float64)


def categorical_psi(train: pl.Series, test: pl.Series) -> float:
    """PSI over the categories of either window (missing is a category)."""
    a = train.cast(pl.String).fill_null("\x00missing").value_counts(name="n")
    b = test.cast(pl.String).fill_null("\x00missing").value_counts(name="n")
    joined = a.join(b, on=a.columns[0], how="full", coalesce=True).fill_null(0)
    return psi(joined["n"].to_numpy().astype(float), joined["n_right"].to_numpy().astype(float))


def ks(train: pl.Series, test: pl.Series) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic and asymptotic p-value on the values present."""
    x = np.sort(train.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy())
    z = np.sort(test.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy())
    if x.size == 0 or z.size == 0:
        return math.nan, math.nan
    grid = np.concatenate([x, z])
    gap = np.searchsorted(x, grid, side="right") / x.size
    gap -= np.searchsorted(z, grid, side="right") / z.size
    d = float(np.max(np.abs(gap)))
    en = math.sqrt(x.size * z.size / (x.size + z.size))
    return d, kolmogorov_sf((en + 0.12 + 0.11 / en) * d)  # Stephens' small-sample correction


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution: 2 Σ (-1)^(k-1) exp(-2 k² lam²)."""
    if lam < 0.2:
        return 1.0
    k = np.arange(1, 101)
    terms = 2 * (-1.0) ** (k - 1) * np.exp(-2 * k**2 * lam**2)
    return float(min(max(terms.sum(), 0.0), 1.0))


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the z-test for equal proportions."""
    pooled = (k1 + k2) / max(n1 + n2, 1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / max(n1, 1) + 1 / max(n2, 1)))
    if se == 0:
        return math.nan
    z = abs(k2 / max(n2, 1) - k1 / max(n1, 1)) / se
    return math.erfc(z / math.sqrt(2))
