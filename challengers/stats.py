"""Paired bootstrap: every model is scored on the same resampled test rows in each replicate.

Resampling is by blocks of dependent rows when the data names an entity (a card's transactions are
not independent), by rows otherwise. Replicates are drawn as multinomial counts, in chunks sized to
keep memory bounded, and each metric reads the counts as weights on its pre-sorted curve, so no
replicate sorts anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from challengers.metrics import Cost, Curve, MetricSpec, Ranked, compute

CELLS_PER_CHUNK = 4_000_000  # replicates x rows held at once (~32 MB of float64 weights)


def resample_counts(n_blocks: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial resampling counts: ``replicates`` rows of ``n_blocks`` counts summing to n_blocks."""
    draws = rng.integers(0, n_blocks, size=(replicates, n_blocks))
    offsets = (np.arange(replicates) * n_blocks)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=replicates * n_blocks)
    return counts.reshape(replicates, n_blocks).astype(np.float64)


def weight_chunks(
    n_rows: int,
    replicates: int,
    seed: int,
    blocks: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Row weights of every replicate, ``(b, n_rows)`` at a time.

    ``blocks`` gives each row's block code (0..K-1); rows of a block share its count.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(replicates, CELLS_PER_CHUNK // max(n_rows, 1)))
    n_blocks = int(blocks.max()) + 1 if blocks is not None and len(blocks) else n_rows
    done = 0
    while done < replicates:
        b = min(chunk, replicates - done)
        counts = resample_counts(n_blocks, b, rng)
        yield counts if blocks is None else counts[:, blocks]
        done += b


@dataclass(frozen=True)
class Replicates:
    """Bootstrap replicate values: model -> metric key -> array of length B."""

    values: dict[str, dict[str, np.ndarray]]


def paired_bootstrap(
    ranked: Mapping[str, Ranked],
    metrics: Sequence[MetricSpec],
    *,
    replicates: int,
    seed: int,
    cost: Cost,
    operating_rate: float,
    blocks: np.ndarray | None = None,
) -> Replicates:
    """The value of every metric for every model in each of ``replicates`` paired resamples."""
    n_rows = next(iter(ranked.values())).n
    out: dict[str, dict[str, list[np.ndarray]]] = {
        name: {m.key: [] for m in metrics} for name in ranked
    }
    for weights in weight_chunks(n_rows, replicates, seed, blocks):
        for name, r in ranked.items():
            curve = Curve(r, weights, cost)
            for m in metrics:
                out[name][m.key].append(compute(m, curve, operating_rate))
    return Replicates(
        {name: {k: np.concatenate(v) for k, v in per.items()} for name, per in out.items()}
    )


def percentile_interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    """The (alpha/2, 1 - alpha/2) percentile interval, ignoring undefined replicates."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_p_value(deltas: np.ndarray) -> float:
    """Two-sided p-value for 'the paired difference is zero' from its bootstrap distribution.

    Twice the smaller tail share of replicates on either side of zero, with the +1 correction so a
    finite number of replicates never claims p = 0.
    """
    finite = deltas[np.isfinite(deltas)]
    if finite.size == 0:
        return float("nan")
    if np.all(finite == 0):
        return 1.0
    below = (np.count_nonzero(finite <= 0) + 1) / (finite.size + 1)
    above = (np.count_nonzero(finite >= 0) + 1) / (finite.size + 1)
    return float(min(1.0, 2 * min(below, above)))
