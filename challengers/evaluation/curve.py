"""The test rows as every metric reads them: ranked once by score, tie groups marked, and the
cumulative sums at the group ends (:class:`Curve`), per bootstrap replicate or plain counts.

A curve carries one weight vector per bootstrap replicate (shape ``(B, n)``) or none (plain counts,
``B = 1``), so one metric function gives the headline value and every replicate without sorting
again. :func:`entity_day_table` holds the (day, entity) cells the handbook's card precision reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from challengers.errors import ConfigError

FloatArray = np.ndarray


@dataclass(frozen=True)
class Cost:
    """Cost of errors at the operating point: a false alert costs ``false_positive``; a missed fraud
    costs ``false_negative`` (a number) or its own amount (``None``)."""

    false_positive: float = 5.0
    false_negative: float | None = None


@dataclass(frozen=True)
class Ranked:
    """Test rows sorted once by descending score (stable), with the tie groups marked.

    The scores and the entity and day codes are held in the rows' own order, read in score
    order through ``order`` when asked (:attr:`score`, :attr:`entity`, :attr:`day`): the
    scores are the model's own array and the codes the test rows' (``TestRows``), shared by
    every model's ranking, where each ranking held its own score-order copies (16 of its 41
    bytes a row, 48 bytes a test row for three models through the evaluation and diagnostics)."""

    y: np.ndarray  # 0/1 labels in score order (int8 from build: 1 byte a row and model)
    order: np.ndarray  # original row index of each sorted position
    ends: np.ndarray  # index of the last row of each tie group
    # the positives' amounts in score order: only a fraud's amount enters a metric, and every
    # model's ranking held a float64 copy of all the rows' amounts (8 bytes a row and model)
    fraud: FloatArray | None
    calibrated: bool
    row_score: FloatArray  # the scores in the rows' order (``score``: in descending order)
    row_entity: np.ndarray | None = None  # entity codes (0..E-1) in the rows' order
    row_day: np.ndarray | None = None  # day codes (0..D-1, chronological) in the rows' order

    def __post_init__(self) -> None:
        # positions and codes (all below the row count) as int32: a run holds every model's
        # ranking of the test window through the evaluation and the diagnostics, and these
        # arrays as int64 were 8 bytes a row each (no copy for the test rows' int32 codes)
        for name in ("order", "ends", "row_entity", "row_day"):
            values = getattr(self, name)
            if values is not None:
                object.__setattr__(self, name, narrow(values, self.y.shape[0]))

    @property
    def score(self) -> FloatArray:
        """The scores in descending order (gathered when asked: a transient array)."""
        return self.row_score[self.order]

    @property
    def entity(self) -> np.ndarray | None:
        """The entity codes in score order (gathered when asked), or None."""
        return None if self.row_entity is None else self.row_entity[self.order]

    @property
    def day(self) -> np.ndarray | None:
        """The day codes in score order (gathered when asked), or None."""
        return None if self.row_day is None else self.row_day[self.order]

    @classmethod
    def build(
        cls,
        y: np.ndarray,
        score: np.ndarray,
        *,
        amount: np.ndarray | None = None,
        entity: np.ndarray | None = None,
        day: np.ndarray | None = None,
        calibrated: bool = False,
    ) -> Ranked:
        score = np.asarray(score, dtype=np.float64)
        order, ends = descending_order(score)
        return cls(
            y=np.asarray(y, dtype=np.int8)[order],  # labels are 0/1 (checked when loaded)
            order=order,
            ends=ends,
            fraud=None if amount is None else _positives_amounts(amount, order, y),
            calibrated=calibrated,
            row_score=score,
            row_entity=None if entity is None else np.asarray(entity),
            row_day=None if day is None else np.asarray(day),
        )

    def subset(self, keep: np.ndarray) -> Ranked:
        """The ranking of the rows where ``keep`` (a mask in original row order) is True, equal to
        ``build`` on those rows but O(n) instead of a new sort: filtering a stable descending order
        leaves it stable and descending. Row indices of the result count within the subset."""
        keep = np.asarray(keep, dtype=bool)
        at = keep[self.order]  # positions of the kept rows, in score order
        position_in_subset = np.cumsum(keep) - 1
        return Ranked(
            y=self.y[at],
            order=position_in_subset[self.order[at]],
            ends=_tie_group_ends(self.row_score[self.order[at]]),
            fraud=self.fraud_of(np.flatnonzero(at)),
            calibrated=self.calibrated,
            row_score=self.row_score[keep],
            row_entity=_rows_of(self.row_entity, keep),
            row_day=_rows_of(self.row_day, keep),
        )

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def fraud_of(self, at: np.ndarray, positives: np.ndarray | None = None) -> FloatArray | None:
        """The fraud amounts of the rows at ascending score-order positions ``at``
        (``positives``: ``np.flatnonzero(self.y)``, when the caller reads many parts)."""
        if self.fraud is None:
            return None
        positives = np.flatnonzero(self.y) if positives is None else positives
        return self.fraud[np.searchsorted(positives, at[self.y[at] > 0])]

    def amounts(self) -> FloatArray:
        """Every row's amount in score order as the metrics weigh it: a fraud's own, 0 for the
        rest (a transient array of the rows' size)."""
        amounts = np.zeros(self.n)
        amounts[self.y > 0] = require_amount(self)
        return amounts

    def recoded(
        self, entity: np.ndarray | None, day: np.ndarray | None, calibrated: bool
    ) -> Ranked:
        """This ranking with the entity and day codes of its rows replaced (``entity``/``day``
        in original row order) and the calibration flag set."""
        return replace(self, row_entity=entity, row_day=day, calibrated=calibrated)

    @cached_property
    def entity_days(self) -> EntityDayTable:
        """The (day, entity) cells of entity precision (see :func:`entity_day_table`)."""
        return _entity_day_table(self)

    def forget_entity_days(self) -> None:
        """Let go of :attr:`entity_days` (built again if asked): the evaluation's metric and its
        bootstrap read them, the diagnostics read their parts' own (3-4 bytes a row a model)."""
        self.__dict__.pop("entity_days", None)


def _rows_of(values: np.ndarray | None, at: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[at]


def narrow(values: np.ndarray, rows: int) -> np.ndarray:
    """Row positions or codes (all below ``rows``) as int32 when ``rows`` fits it: half of
    int64's memory for arrays a run holds per row and model."""
    return values.astype(np.int32, copy=False) if rows < 2**31 else values


RADIX_ROWS = 100_000  # from this many rows the compiled radix sort beats numpy's merge sort


def descending_order(score: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices by descending score, tied rows in row order: ``np.argsort(-score,
    kind="stable")``, by a radix sort for many finite scores (several times faster); and the
    last position of each tie group in that order (:func:`_tie_group_ends`)."""
    if score.size < RADIX_ROWS or not np.all(np.isfinite(score)):
        order = np.argsort(-score, kind="stable")
        return order, _tie_group_ends(score[order])
    from challengers.evaluation import row_kernels as kern  # numba loads only when needed

    # the scores' own bits (no copy) and int32 indices below 2**31 rows: the sort's buffers are
    # 24 bytes a row, not 40 (an int64 copy of the order and of the scores)
    bits = np.ascontiguousarray(score, dtype=np.float64).view(np.uint64)
    index = np.int32 if score.size < 2**31 else np.int64
    return kern.descending_order(bits, np.empty(score.size, index), np.empty(score.size, index))


def small_codes(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """``codes`` as int16 when they fit (numpy's stable sort of 16-bit integers is a radix sort),
    else as int32 below 2**31 codes (half of int64's memory)."""
    wide = np.int32 if n_codes < 2**31 else np.int64
    return codes.astype(np.int16 if n_codes < 2**15 else wide, copy=False)


@dataclass(frozen=True)
class Parts:
    """Rows split by a code (0..K-1 per row, original order): each part's rows in original order,
    and each row's position among its part's rows. Computed once, applied to every model's
    ranking (:meth:`of`) without sorting scores again."""

    codes: np.ndarray
    rows: list[np.ndarray]  # original row indices of each part, ascending
    position: np.ndarray  # each row's index within its part

    @classmethod
    def build(cls, codes: np.ndarray, n_codes: int) -> Parts:
        # held through every part's views: int16 codes (int32 from 2**15 parts) and int32 row
        # indices, 10 bytes a row instead of 24 as int64
        codes = small_codes(np.asarray(codes), n_codes)
        by_code, counts = _by_code(codes, np.arange(codes.size, dtype=np.int32), n_codes)
        rows = np.split(by_code, np.cumsum(counts)[:-1]) if n_codes else []
        position = np.empty(codes.size, dtype=by_code.dtype)
        for part in rows:  # a part's rows take positions 0.. in their original order
            position[part] = np.arange(part.size, dtype=by_code.dtype)
        return cls(codes, rows, position)

    def of(self, r: Ranked) -> Iterator[Ranked]:
        """Each part's ranking in turn, equal to ``Ranked.build`` on the part's rows (in their
        original order): a stable sort by part of the score order keeps each part in score order.
        The parts carry no entity or day codes (give them the part's with
        :meth:`Ranked.recoded`)."""
        # the positives' positions once, not once a part (a day's part of 17M rows read them all)
        positives = None if r.fraud is None else np.flatnonzero(r.y)
        for rows, at in self._positions(r):
            yield _part_ranking(r, at, self.position[r.order[at]], r.row_score[rows], positives)

    def labels_and_ties(self, r: Ranked) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each part's labels in score order and its tie groups' last positions: the ``y`` and
        ``ends`` of its ranking (:meth:`of`) alone, what a part's AUC reads. Its ties are read
        from ``r``'s tie groups (:func:`~challengers.evaluation.row_kernels.part_tie_ends`), not
        from its scores: :meth:`of` reads each row's position and score at random."""
        from challengers.evaluation import row_kernels as kern  # numba loads only when needed

        for _, at in self._positions(r):
            yield r.y[at], kern.part_tie_ends(at, r.ends, np.empty_like(at))

    def _positions(self, r: Ranked) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each part's rows and their positions in ``r``'s score order, ascending (a stable sort
        by part of the score order keeps each part in score order)."""
        # held while the parts are read, one per model: int32 positions, no codes in score order
        by_part, _ = _by_code(self.codes, r.order, len(self.rows))
        stop = 0
        for rows in self.rows:
            yield rows, by_part[stop : stop + rows.size]
            stop += rows.size


@dataclass(frozen=True)
class Ranges:
    """Rows split into consecutive ranges: the parts of codes that ascend with the rows (the days
    and weeks of rows held in time order, as a log is written). Each part's rows are a slice, so
    the rows' arrays are read as views and nothing row-sized is held across the parts; each
    model's ranking of a part is filtered from the window's in one pass (:meth:`of`). Where
    :class:`Parts` held, through every part, 10 bytes a row and 4 more for each model's
    ranking, and copied each part's rows: 0.4 GB and more at 17.4M test rows."""

    bounds: np.ndarray  # part k is rows bounds[k]..bounds[k+1]-1

    @property
    def rows(self) -> list[slice]:
        return [
            slice(int(a), int(b)) for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)
        ]

    def of(self, r: Ranked) -> Iterator[Ranked]:
        """Each part's ranking in turn, equal to ``Ranked.build`` on the part's rows (see
        :meth:`Parts.of`): the score order's positions that fall in the part, in score order."""
        positives = None if r.fraud is None else np.flatnonzero(r.y)
        for rows in self.rows:
            at, order = _in_range(r.order, rows.start, rows.stop)
            yield _part_ranking(r, at, order, r.row_score[rows], positives)
            del at, order  # this part's arrays, before the next part's are cut


def _part_ranking(
    r: Ranked,
    at: np.ndarray,
    order: np.ndarray,
    row_score: FloatArray,
    positives: np.ndarray | None,
) -> Ranked:
    """A part's ranking from the window's ranking ``r``: ``at`` the part's positions in ``r``'s
    score order (ascending), ``order`` their rows within the part, ``row_score`` the part's
    scores in its rows' order (``positives``: ``np.flatnonzero(r.y)``, once for every part)."""
    return Ranked(
        y=r.y[at],
        order=order,
        ends=_tie_group_ends(row_score[order]),
        fraud=r.fraud_of(at, positives),
        calibrated=r.calibrated,
        row_score=row_score,
    )


def split_rows(codes: np.ndarray, n_codes: int) -> Parts | Ranges:
    """The rows split by ``codes`` (0..K-1 a row): as :class:`Ranges` when the codes never
    decrease along the rows, else as :class:`Parts`. Both give each part's rows (``rows``:
    an index or a slice) and every model's ranking of each part (``of``)."""
    codes = np.asarray(codes)
    if codes.size and bool(np.all(codes[1:] >= codes[:-1])):
        return Ranges(np.searchsorted(codes, np.arange(n_codes + 1), side="left"))
    return Parts.build(codes, n_codes)


def _in_range(order: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions ``i`` (ascending) where ``start <= order[i] < stop``, and ``order[i] -
    start`` there: one compiled pass from many rows on, no row-sized masks."""
    if order.size < RADIX_ROWS:
        at = np.flatnonzero((order >= start) & (order < stop))
        return narrow(at, order.size), narrow(order[at] - start, order.size)
    from challengers.evaluation import row_kernels as kern

    index = np.int32 if order.size < 2**31 else np.int64
    return kern.positions_in_range(
        order, start, stop, np.empty(stop - start, index), np.empty(stop - start, index)
    )


def _by_code(codes: np.ndarray, order: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions 0..n-1 grouped by ``codes[order]`` (stable) and each code's count, ``order`` a
    permutation of the rows of ``codes``: a counting sort from many rows on (no int64 argsort
    result, no gathered codes beside it), numpy's stable sort below (numba loads only when
    needed)."""
    assert order.size == codes.size, "a permutation of the coded rows"
    if order.size < RADIX_ROWS:
        gathered = codes[order]
        return narrow(np.argsort(gathered, kind="stable"), order.size), np.bincount(
            gathered, minlength=n_codes
        )
    from challengers.evaluation import row_kernels as kern

    out = np.empty(order.size, np.int32 if order.size < 2**31 else np.int64)
    return kern.positions_by_code(codes, order, n_codes, out)


def dense_codes(codes: np.ndarray, size: int) -> np.ndarray:
    """``codes`` (0..size-1) renumbered 0..K-1 in the same order, K the distinct values: the dense
    rank of a subset's values, as ranking the subset's own column gives, in O(size) not a sort."""
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    return (np.cumsum(present) - 1)[codes]


def _tie_group_ends(descending: FloatArray) -> np.ndarray:
    """Index of the last row of each tie group: a group ends where the next score differs, and
    the last row always ends one."""
    return np.flatnonzero(np.append(descending[1:] != descending[:-1], True))


@dataclass
class Curve:
    """Cumulative positives, negatives and fraud amount at the end of each tie group.

    ``weights`` is ``None`` (every row counts once) or ``(B, n)`` row weights in *original* row order
    (bootstrap counts); the sums then have shape ``(B, groups)``. ``day_weights`` only changes how
    entity precision averages its days (see :func:`entity_precision_at`).
    """

    ranked: Ranked
    weights: np.ndarray | None = None
    cost: Cost = field(default_factory=Cost)
    day_weights: np.ndarray | None = None  # (B, days) under a day-block bootstrap, by day code

    @cached_property
    def w(self) -> FloatArray:
        """Weights in score order, shape (B, n)."""
        if self.weights is None:
            return np.ones((1, self.ranked.n))
        return np.asarray(self.weights, dtype=np.float64)[:, self.ranked.order]

    def _cum_at_ends(self, values: np.ndarray) -> FloatArray:
        # float64 sums whatever the values' type (int8 labels): exact for counts below 2**53
        return np.cumsum(values, axis=-1, dtype=np.float64)[:, self.ranked.ends]

    def weighted(self, values: FloatArray) -> FloatArray:
        """Per-row ``values`` (score order) times the weights, shape (B, n); no copy when unweighted."""
        return values[None, :] if self.weights is None else self.w * values

    @cached_property
    def _unweighted(self) -> tuple[FloatArray, FloatArray]:
        """Running positives and fraud amount at each group end, every row counted once: one
        compiled pass (the headline path), the same sums as :meth:`_cum_at_ends`."""
        from challengers.evaluation import row_kernels as kern  # numba loads only when needed

        r = self.ranked
        fraud = np.empty(0) if r.fraud is None else np.asarray(r.fraud, dtype=np.float64)
        tp, amount = kern.positives_at_ends(r.y, fraud, r.ends, r.fraud is not None)
        return tp[None, :], amount[None, :]

    @cached_property
    def tp(self) -> FloatArray:
        """Cumulative (weighted) positives at each group end."""
        if self.weights is None:
            return self._unweighted[0]
        return self._cum_at_ends(self.weighted(self.ranked.y))

    @cached_property
    def count(self) -> FloatArray:
        """Cumulative (weighted) rows at each group end."""
        if self.weights is None:  # the headline path: row counts, no (1, n) array of ones
            return (self.ranked.ends + 1.0)[None, :]
        return self._cum_at_ends(self.w)

    @cached_property
    def fp(self) -> FloatArray:
        return self.count - self.tp

    @cached_property
    def fraud_amount(self) -> FloatArray:
        """Cumulative (weighted) fraud amount at each group end."""
        if self.weights is None:
            require_amount(self.ranked)
            return self._unweighted[1]
        return self._cum_at_ends(self.weighted(self.ranked.amounts()))

    @property
    def positives(self) -> FloatArray:
        return self.tp[:, -1]

    @property
    def negatives(self) -> FloatArray:
        return self.fp[:, -1]

    @property
    def total(self) -> FloatArray:
        return self.count[:, -1]


def require_amount(ranked: Ranked) -> FloatArray:
    """The positives' amounts in score order (:attr:`Ranked.fraud`)."""
    if ranked.fraud is None:
        raise ConfigError("this metric needs amounts: set data.amount to the amount column")
    return ranked.fraud


def _positives_amounts(amount: np.ndarray, order: np.ndarray, y: np.ndarray) -> FloatArray:
    """The amounts of the positive rows in score order (``order``: rows by descending score)."""
    positives = order[np.asarray(y)[order] > 0]
    return np.asarray(amount, dtype=np.float64)[positives]


def before_group(cum: FloatArray) -> FloatArray:
    """Cumulative value just before each group (shifted by one group)."""
    return np.concatenate([np.zeros((cum.shape[0], 1)), cum[:, :-1]], axis=1)


def safe_div(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@dataclass(frozen=True)
class EntityDayTable:
    entity: np.ndarray  # entity code per (day, entity), days in order, each day sorted by max score
    label: np.ndarray  # 1 when one of the entity's rows that day is a fraud (uint8)
    # 1 where a cell ends its tie group (the next cell of its day has a lower max score): entities
    # tied at the cut of the top k share it, whatever the file's order (uint8)
    tie_end: np.ndarray
    day_slices: list[slice]
    days: np.ndarray  # day code of each slice
    n_entities: int


def entity_day_table(r: Ranked) -> EntityDayTable:
    """One cell per (day, entity) with its max label, each day's cells in descending max score,
    the ends of their tie groups marked.

    Built once per ranking (cached on it): the headline value and the bootstrap read the same table.
    """
    if r.row_entity is None or r.row_day is None:
        raise ConfigError("entity_precision_at needs data.entity (the card/customer id column)")
    return r.entity_days


def _as_int32(codes: np.ndarray) -> np.ndarray:
    """Codes as the kernel is compiled for them: int32 (below 2**31 codes), else int64."""
    return codes.astype(np.int32 if codes.size < 2**31 else np.int64, copy=False)


def _entity_day_table(r: Ranked) -> EntityDayTable:
    """Rows grouped by day (a stable sort of the small day codes keeps the score order within a
    day), then each entity's first row of the day opens its cell (the row of its max score)."""
    from challengers.evaluation import row_kernels as kern  # numba loads only when needed

    entity, day = r.row_entity, r.row_day  # in the rows' order, read through the ranking's
    assert entity is not None and day is not None
    n_entities = int(entity.max()) + 1 if r.n else 0
    n_days = int(day.max()) + 1 if r.n else 0
    # cached with the ranking through the evaluation and the diagnostics: the cells alone,
    # entities as int32, labels and tie ends as 0/1 bytes, 6 bytes a cell
    ent, lab, cell_day, first = kern.entity_day_cells(
        _as_int32(entity), _as_int32(day), r.order, r.y, n_entities, n_days
    )
    group = np.searchsorted(r.ends, first)  # the ranking's tie group of each cell's max score
    tie_end = np.ones(len(ent), dtype=np.uint8)
    tie_end[:-1] = (group[1:] != group[:-1]) | (cell_day[1:] != cell_day[:-1])
    del first, group
    bounds = np.flatnonzero(np.diff(cell_day)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64)
    stops = np.concatenate([bounds, [len(ent)]])
    return EntityDayTable(
        entity=ent,
        label=lab,
        tie_end=tie_end,
        day_slices=[slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)],
        days=cell_day[starts[: len(stops)]] if len(ent) else starts[:0],
        n_entities=n_entities,
    )
