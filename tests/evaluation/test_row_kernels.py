"""The compiled row kernels against plain references: the (day, entity) cells of card precision
and the counting sort by code, on rows whose days are shuffled and in time order."""

from __future__ import annotations

import numpy as np
import pytest

from challengers.evaluation import row_kernels as kern


def _cells_reference(
    entity: np.ndarray, day: np.ndarray, order: np.ndarray, y: np.ndarray
) -> tuple[list[int], list[int], list[int], list[int]]:
    """Each day in turn, its rows in score order: an entity's first row of the day opens its
    cell (its position in score order kept), which keeps the largest label of the entity's rows
    that day."""
    ent, lab, cell_day, first = [], [], [], []
    for d in range(int(day.max()) + 1):
        cell_of: dict[int, int] = {}
        for i in range(order.size):
            r = order[i]
            if day[r] != d:
                continue
            e = int(entity[r])
            if e not in cell_of:
                cell_of[e] = len(ent)
                ent.append(e)
                lab.append(0)
                cell_day.append(d)
                first.append(i)
            lab[cell_of[e]] = max(lab[cell_of[e]], int(y[i] > 0))
    return ent, lab, cell_day, first


@pytest.mark.parametrize("in_time_order", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_entity_day_cells_equal_the_reference(in_time_order: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4_000
    entity = rng.integers(0, 300, n).astype(np.int32)  # about 13 rows an entity: repeats a day
    day = rng.integers(0, 9, n).astype(np.int32)
    day = np.sort(day) if in_time_order else day
    order = rng.permutation(n).astype(np.int32)  # the score order
    y = (rng.random(n) < 0.1).astype(np.int8)  # in score order
    got = kern.entity_day_cells(entity, day, order, y, int(entity.max()) + 1, int(day.max()) + 1)
    want = _cells_reference(entity, day, order, y)
    assert [a.dtype for a in got] == [np.int32, np.uint8, np.int32, np.int64]
    for array, expected in zip(got, want, strict=True):
        np.testing.assert_array_equal(array, expected)


def test_entity_day_cells_of_no_rows() -> None:
    empty = np.empty(0, np.int32)
    ent, lab, cell_day, first = kern.entity_day_cells(
        empty, empty, empty, np.empty(0, np.int8), 0, 0
    )
    assert ent.size == lab.size == cell_day.size == first.size == 0


@pytest.mark.parametrize("n_codes", [1, 7, 300])
def test_positions_by_code_are_a_stable_sort_by_code(n_codes: int) -> None:
    rng = np.random.default_rng(n_codes)
    n = 5_000
    codes = rng.integers(0, n_codes, n).astype(np.int16)
    order = rng.permutation(n).astype(np.int32)
    out, counts = kern.positions_by_code(codes, order, n_codes, np.empty(n, np.int32))
    np.testing.assert_array_equal(out, np.argsort(codes[order], kind="stable"))
    np.testing.assert_array_equal(counts, np.bincount(codes, minlength=n_codes))


@pytest.mark.parametrize("share", [1.0, 0.3, 0.001])  # every row; a segment; far apart (gallops)
def test_part_tie_ends_are_the_runs_of_the_rankings_groups(share: float) -> None:
    rng = np.random.default_rng(int(share * 1000))
    n = 20_000
    sorted_scores = np.sort(np.round(rng.random(n), 3))[::-1]  # a ranking's scores, ties
    ends = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True)).astype(np.int32)
    at = np.flatnonzero(rng.random(n) < share).astype(np.int32)  # the part's positions
    got = kern.part_tie_ends(at, ends, np.empty_like(at))
    part = sorted_scores[at]
    np.testing.assert_array_equal(got, np.flatnonzero(np.append(part[1:] != part[:-1], True)))
