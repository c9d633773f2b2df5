"""Segment disparity ratios on a hand-worked table."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import fisher_exact

from challengers.analysis.segments import OTHER, disparity, fold_values, segment_column


def build() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments A (200 rows), B (200 rows), C (10 rows: small).

    A: 20 frauds, 10 alerted; 180 genuine, 9 alerted  -> recall 0.5,  FPR 0.05
    B: 20 frauds, 5 alerted;  180 genuine, 36 alerted -> recall 0.25, FPR 0.2
    C: 2 frauds, 0 alerted;   8 genuine, 0 alerted    -> recall 0,    FPR 0
    """
    parts = []
    for seg, frauds, caught, genuine, false_alerts in (
        ("A", 20, 10, 180, 9),
        ("B", 20, 5, 180, 36),
        ("C", 2, 0, 8, 0),
    ):
        y = [1] * frauds + [0] * genuine
        alert = [1] * caught + [0] * (frauds - caught) + [1] * false_alerts
        alert += [0] * (genuine - false_alerts)
        parts.append((np.array([seg] * len(y)), np.array(y), np.array(alert, dtype=bool)))
    values, y, alerted = (np.concatenate(p) for p in zip(*parts, strict=True))
    scores = alerted + np.linspace(0, 0.5, len(y))  # alerted rows score higher
    return values, y.astype(float), alerted, scores


def codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    labels, index = np.unique(values, return_inverse=True)
    return index, [str(v) for v in labels]


def test_recall_fpr_and_ratios_against_the_best_segment() -> None:
    values, y, alerted, scores = build()
    col = segment_column(
        "SEG", *codes(values), y, {"m": scores}, {"m": alerted}, min_rows=50, min_positives=5
    )
    a, b, c = col.rows
    assert [r.value for r in col.rows] == ["A", "B", "C"]
    assert (a.rows, a.positives, a.fraud_rate) == (200, 20, 0.1)
    assert (a.recall["m"], a.fpr["m"]) == pytest.approx((0.5, 0.05))
    assert (b.recall["m"], b.fpr["m"]) == pytest.approx((0.25, 0.2))
    assert b.recall_ratio["m"] == pytest.approx(0.5)  # 0.25 / 0.5
    assert b.fpr_ratio["m"] == pytest.approx(0.25)  # 0.05 / 0.2
    assert a.recall_ratio["m"] == a.fpr_ratio["m"] == 1.0
    # C is small: flagged, kept, never the reference (its FPR 0 would make every ratio 0)
    assert c.small and not a.small and not b.small
    assert c.fpr_ratio["m"] == 1.0 and c.recall_ratio["m"] == 0.0
    # the gap to the reference is tested with Fisher's exact test
    assert b.fpr_p["m"] == pytest.approx(fisher_exact([[36, 144], [9, 171]]).pvalue)
    assert b.recall_p["m"] == pytest.approx(fisher_exact([[5, 15], [10, 10]]).pvalue)
    assert a.fpr_p["m"] == 1.0


def test_disparity_edge_cases() -> None:
    eligible = np.array([True, True])
    ratio, ref = disparity(np.array([0.0, 0.0]), eligible, higher_is_better=True)
    assert ref == 0 and np.isnan(ratio).all()  # no recall anywhere: undefined
    ratio, ref = disparity(np.array([0.0, 0.1]), eligible, higher_is_better=False)
    assert ratio.tolist() == [1.0, 0.0]
    ratio, ref = disparity(np.array([0.2, 0.1]), np.array([False, False]), higher_is_better=False)
    assert ref is None and np.isnan(ratio).all()


def test_rare_values_fold_into_other() -> None:
    values = np.array(["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"])
    folded_codes, labels, folded = fold_values(*codes(values), 3)
    assert labels == ["a", "b", OTHER] and folded == 2
    assert folded_codes.tolist() == [0] * 5 + [1] * 4 + [2] * 3
    assert fold_values(*codes(values), 10)[1] == ["a", "b", "c", "d"]


def test_segment_auc_matches_a_reference_on_each_segment() -> None:
    from sklearn.metrics import roc_auc_score

    values, y, alerted, scores = build()
    col = segment_column(
        "SEG", *codes(values), y, {"m": scores}, {"m": alerted}, min_rows=1, min_positives=1
    )
    for row in col.rows:
        mask = values == row.value
        assert row.auc["m"] == pytest.approx(roc_auc_score(y[mask], scores[mask]))


@pytest.mark.parametrize("n", [3_000, 120_000])  # segments below and above RADIX_ROWS
@pytest.mark.parametrize("decimals", [2, 6])  # heavy ties; few
def test_segment_auc_equals_the_curves_bit_for_bit(n: int, decimals: int) -> None:
    """A segment's AUC is summed from its tie groups' terms alone, its labels and ties read
    from the whole ranking (Parts.labels_and_ties): the labels and tie groups of the segment's
    own ranking (Parts.of), the same float as roc_auc of its curve, ties counting half, and
    scikit-learn's within 1e-12."""
    from sklearn.metrics import roc_auc_score

    from challengers.analysis.segments import _auc
    from challengers.evaluation.curve import Curve, Parts, Ranked
    from challengers.evaluation.metrics import roc_auc

    rng = np.random.default_rng(11)
    y = (rng.random(n) < 0.03).astype(np.int8)
    score = np.round(rng.random(n) + 0.4 * y, decimals)
    codes = rng.choice(4, size=n, p=[0.7, 0.2, 0.09, 0.01])
    ranked = Ranked.build(y, score)
    parts = Parts.build(codes, 4)
    pairs = zip(parts.labels_and_ties(ranked), parts.of(ranked), strict=True)
    for k, ((labels, ends), part) in enumerate(pairs):
        np.testing.assert_array_equal(labels, part.y)
        np.testing.assert_array_equal(ends, part.ends)
        got = _auc(labels, ends)
        assert got == float(roc_auc(Curve(part))[0])
        mask = codes == k
        assert got == pytest.approx(roc_auc_score(y[mask], score[mask]), abs=1e-12)


def test_segment_codes_index_the_sorted_distinct_values() -> None:
    """A segment column's codes (text values, missing ones named) against numpy's unique."""
    import polars as pl

    from challengers.analysis.segments import MISSING
    from challengers.analysis.suite import _codes

    rng = np.random.default_rng(3)
    values = rng.choice(["b", "a", "10", "9", "Z", "é", None], size=2_000).tolist()
    codes_, labels = _codes(pl.Series("region", values))
    text = np.array([MISSING if v is None else v for v in values])
    expected_labels, expected_codes = np.unique(text, return_inverse=True)
    assert labels == expected_labels.tolist()
    assert np.array_equal(codes_, expected_codes)
    numbers, number_labels = _codes(pl.Series("n", [3, 10, None, 3, 2]))
    assert number_labels == ["(missing)", "10", "2", "3"] and numbers.tolist() == [3, 1, 0, 3, 2]
    assert _codes(pl.Series("e", [], dtype=pl.String))[1] == []
    # categories, and a missing value beside the text that names missing ones: one code, as
    # the rows' text gave them
    cats = pl.Series("c", ["x", None, MISSING, "a", "x"], dtype=pl.Categorical)
    cat_codes, cat_labels = _codes(cats)
    assert cat_labels == sorted({MISSING, "a", "x"}) and cat_codes.dtype == np.int32
    assert [cat_labels[c] for c in cat_codes] == ["x", MISSING, MISSING, "a", "x"]
