"""Segments: how each model performs for each value of a segment column, at the operating point.

The view is predictive equality, the one used in fraud fairness work: at the same alert threshold,
does a segment bear more false alerts (false-positive-rate ratio) or see its frauds caught less often
(recall ratio) than the best-served segment? Ratios are <= 1 by construction: the best segment's FPR
divided by this segment's, and this segment's recall divided by the best. Segments too small to
measure are flagged (``small``) and kept in the table, but never serve as the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from challengers.evaluation.curve import Parts, Ranked
from challengers.threads import each

OTHER = "(other)"
MISSING = "(missing)"


@dataclass
class SegmentRow:
    value: str
    rows: int
    positives: int
    fraud_rate: float
    small: bool
    auc: dict[str, float] = field(default_factory=dict)  # model -> value
    recall: dict[str, float] = field(default_factory=dict)
    fpr: dict[str, float] = field(default_factory=dict)
    recall_ratio: dict[str, float] = field(default_factory=dict)
    fpr_ratio: dict[str, float] = field(default_factory=dict)
    recall_p: dict[str, float] = field(default_factory=dict)  # Fisher, against the reference
    fpr_p: dict[str, float] = field(default_factory=dict)


@dataclass
class SegmentColumn:
    column: str
    rows: list[SegmentRow]
    folded_values: int = 0  # distinct values folded into "(other)"


def fold_values(
    codes: np.ndarray, labels: list[str], max_values: int
) -> tuple[np.ndarray, list[str], int]:
    """Keep the ``max_values`` - 1 most frequent values (``codes`` index ``labels``) and fold the
    rest into one ``(other)`` code. Returns (codes, labels, number of values folded)."""
    counts = np.bincount(codes, minlength=len(labels))
    if len(labels) <= max_values:
        return codes, list(labels), 0
    keep = np.argsort(-counts, kind="stable")[: max_values - 1]
    remap = np.full(len(labels), len(keep))
    remap[keep] = np.arange(len(keep))
    return remap[codes], [labels[k] for k in keep] + [OTHER], len(labels) - len(keep)


def disparity(
    values: np.ndarray, eligible: np.ndarray, *, higher_is_better: bool
) -> tuple[np.ndarray, int | None]:
    """Each value against the best eligible one, as a ratio <= 1 (NaN when undefined), and the
    index of that best (reference) value.

    ``higher_is_better`` (recall): value / best. Otherwise (FPR): best / value, 1 when both are 0.
    """
    v = np.asarray(values, dtype=np.float64)
    candidates = np.flatnonzero(eligible & np.isfinite(v))
    if candidates.size == 0:
        return np.full(v.shape, np.nan), None
    if higher_is_better:
        ref = int(candidates[np.argmax(v[candidates])])
        return (v / v[ref] if v[ref] > 0 else np.full(v.shape, np.nan)), ref
    ref = int(candidates[np.argmin(v[candidates])])
    safe = np.where(v > 0, v, 1.0)
    return np.where(v > 0, v[ref] / safe, np.where(v == 0, 1.0, np.nan)), ref


def versus_reference(hits: np.ndarray, totals: np.ndarray, ref: int | None) -> np.ndarray:
    """Fisher's exact p-value of each segment's rate (hits / totals) against the reference's."""
    from scipy.stats import fisher_exact

    out = np.full(len(hits), np.nan)
    if ref is None:
        return out
    for i in range(len(hits)):
        if totals[i] > 0 and totals[ref] > 0:
            table = [[hits[i], totals[i] - hits[i]], [hits[ref], totals[ref] - hits[ref]]]
            out[i] = 1.0 if i == ref else float(fisher_exact(table).pvalue)
    return out


def segment_column(
    column: str,
    codes: np.ndarray,
    labels: list[str],
    y: np.ndarray,
    scores: Mapping[str, np.ndarray],
    alerted: Mapping[str, np.ndarray],
    *,
    min_rows: int,
    min_positives: int,
    max_values: int = 30,
    ranked: Mapping[str, Ranked] | None = None,
    threads: int | None = None,
) -> SegmentColumn:
    """Volume, fraud rate, AUC, recall and FPR at the operating point, and disparity ratios.

    ``codes`` (0..k-1) give each row's value among ``labels``; ``ranked``: each model's ranking of
    the rows (sorted once for the whole run), else one sort per model here; ``threads`` models
    at a time (default: every core).
    """
    codes, labels, folded = fold_values(codes, labels, max_values)
    k = len(labels)
    fraud = y > 0
    rows = np.bincount(codes, minlength=k)
    positives = np.bincount(codes, weights=fraud, minlength=k).astype(np.int64)
    negatives = rows - positives
    small = (rows < min_rows) | (positives < min_positives)
    out = [
        SegmentRow(
            labels[i], int(rows[i]), int(positives[i]), positives[i] / rows[i], bool(small[i])
        )
        for i in range(k)
    ]
    parts = Parts.build(codes, k)  # each segment's rows, split from every model's ranking

    def of_model(name: str) -> _ModelSegments:
        r = ranked[name] if ranked else Ranked.build(y, scores[name])
        auc = [_auc(labels, ends) for labels, ends in parts.labels_and_ties(r)]
        tp = np.bincount(codes, weights=alerted[name] & fraud, minlength=k)
        fp = np.bincount(codes, weights=alerted[name] & ~fraud, minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(positives > 0, tp / positives, np.nan)
            fpr = np.where(negatives > 0, fp / negatives, np.nan)
        recall_ratio, recall_ref = disparity(recall, ~small, higher_is_better=True)
        fpr_ratio, fpr_ref = disparity(fpr, ~small, higher_is_better=False)
        recall_p = versus_reference(tp.astype(np.int64), positives, recall_ref)
        fpr_p = versus_reference(fp.astype(np.int64), negatives, fpr_ref)
        return _ModelSegments(auc, recall, fpr, recall_ratio, fpr_ratio, recall_p, fpr_p)

    for name, m in zip(scores, each(of_model, scores, threads), strict=True):
        for i, row in enumerate(out):
            row.auc[name] = m.auc[i]
            row.recall[name], row.fpr[name] = float(m.recall[i]), float(m.fpr[i])
            row.recall_ratio[name] = float(m.recall_ratio[i])
            row.fpr_ratio[name] = float(m.fpr_ratio[i])
            row.recall_p[name], row.fpr_p[name] = float(m.recall_p[i]), float(m.fpr_p[i])
    return SegmentColumn(column, out, folded)


@dataclass(frozen=True)
class _ModelSegments:
    """A model's numbers in each segment (arrays: one value a segment)."""

    auc: list[float]
    recall: np.ndarray
    fpr: np.ndarray
    recall_ratio: np.ndarray
    fpr_ratio: np.ndarray
    recall_p: np.ndarray
    fpr_p: np.ndarray


def _auc(y: np.ndarray, ends: np.ndarray) -> float:
    """ROC AUC of a segment's ranking from its labels in score order and its tie groups' last
    positions, summed from the groups' terms alone (:func:`row_kernels.roc_wins`; the curve's
    arrays were 40 bytes a row of the largest segment, the diagnostics' peak): the same float as
    :func:`~challengers.evaluation.metrics.roc_auc` of its curve (the same operations on the
    same values)."""
    if y.size == 0 or y.min() == y.max():
        return float("nan")
    from challengers.evaluation import row_kernels as kern  # numba loads only when needed

    wins, positives = kern.roc_wins(y, ends)
    return float(wins.sum() / (positives * (y.size - positives)))
