"""Fraud metrics, one function each, exact and vectorised.

Every metric reads a :class:`Curve`: the test rows sorted once by score, with tied scores grouped, and
cumulative sums at the group ends. A curve carries one weight vector per bootstrap replicate (shape
``(B, n)``) or none (plain counts, ``B = 1``), so the same function gives the headline value and every
bootstrap replicate without sorting again. Ties are handled as their expected value under random
tie-breaking, so a model with many equal scores is neither flattered nor punished by row order.

A new metric is one function plus one :data:`METRICS` entry plus a row in the metric test table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from challengers.errors import ConfigError, did_you_mean

FloatArray = np.ndarray


@dataclass(frozen=True)
class Cost:
    """Cost of errors at the operating point: a false alert costs ``false_positive``; a missed fraud
    costs ``false_negative`` (a number) or its own amount (``None``)."""

    false_positive: float = 5.0
    false_negative: float | None = None


@dataclass(frozen=True)
class Ranked:
    """Test rows sorted once by descending score (stable), with the tie groups marked."""

    y: FloatArray  # 0/1 labels in score order, float64
    score: FloatArray  # scores in descending order
    order: np.ndarray  # original row index of each sorted position
    ends: np.ndarray  # index of the last row of each tie group
    amount: FloatArray | None  # amounts in score order
    entity: np.ndarray | None  # entity codes (0..E-1) in score order
    day: np.ndarray | None  # day codes (0..D-1, chronological) in score order
    calibrated: bool

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
        order = np.argsort(-score, kind="stable")
        s = score[order]
        return cls(
            y=np.asarray(y, dtype=np.float64)[order],
            score=s,
            order=order,
            ends=_tie_group_ends(s),
            amount=None if amount is None else np.asarray(amount, dtype=np.float64)[order],
            entity=None if entity is None else np.asarray(entity)[order],
            day=None if day is None else np.asarray(day)[order],
            calibrated=calibrated,
        )

    def subset(self, keep: np.ndarray) -> Ranked:
        """The ranking of the rows where ``keep`` (a mask in original row order) is True, equal to
        ``build`` on those rows but O(n) instead of a new sort: filtering a stable descending order
        leaves it stable and descending. Row indices of the result count within the subset."""
        keep = np.asarray(keep, dtype=bool)
        at = keep[self.order]  # positions of the kept rows, in score order
        position_in_subset = np.cumsum(keep) - 1
        s = self.score[at]
        return Ranked(
            y=self.y[at],
            score=s,
            order=position_in_subset[self.order[at]],
            ends=_tie_group_ends(s),
            amount=None if self.amount is None else self.amount[at],
            entity=None if self.entity is None else self.entity[at],
            day=None if self.day is None else self.day[at],
            calibrated=self.calibrated,
        )

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


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

    def _cum_at_ends(self, values: FloatArray) -> FloatArray:
        return np.cumsum(values, axis=-1)[:, self.ranked.ends]

    def weighted(self, values: FloatArray) -> FloatArray:
        """Per-row ``values`` (score order) times the weights, shape (B, n); no copy when unweighted."""
        return values[None, :] if self.weights is None else self.w * values

    @cached_property
    def tp(self) -> FloatArray:
        """Cumulative (weighted) positives at each group end."""
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
        amount = require_amount(self.ranked)
        return self._cum_at_ends(self.weighted(self.ranked.y * amount))

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
    if ranked.amount is None:
        raise ConfigError("this metric needs amounts: set data.amount to the amount column")
    return ranked.amount


def _before(cum: FloatArray) -> FloatArray:
    """Cumulative value just before each group (shifted by one group)."""
    return np.concatenate([np.zeros((cum.shape[0], 1)), cum[:, :-1]], axis=1)


def _safe_div(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def roc_auc(c: Curve, param: float | None = None) -> FloatArray:
    """Area under the ROC curve: P(score of a fraud > score of a genuine), ties counting half."""
    tp_before = _before(c.tp)
    pos_in_group = c.tp - tp_before
    neg_in_group = np.diff(c.fp, prepend=0.0, axis=1)
    wins = (neg_in_group * (tp_before + 0.5 * pos_in_group)).sum(axis=1)
    return _safe_div(wins, c.positives * c.negatives)


def pr_auc(c: Curve, param: float | None = None) -> FloatArray:
    """Average precision (scikit-learn's step-wise definition, no interpolation)."""
    precision = _safe_div(c.tp, c.count)
    recall_step = np.diff(c.tp, prepend=0.0, axis=1)
    return _safe_div(np.nansum(recall_step * precision, axis=1), c.positives)


def recall_at_fpr(c: Curve, param: float | None = None) -> FloatArray:
    """Best recall among thresholds whose false-positive rate is at most ``param``."""
    assert param is not None
    tpr = _safe_div(c.tp, c.positives[:, None])
    fpr = _safe_div(c.fp, c.negatives[:, None])
    allowed = np.where(fpr <= param + 1e-12, tpr, 0.0)
    return np.where(c.positives > 0, allowed.max(axis=1), np.nan)


def _caught_at_budget(c: Curve, cum: FloatArray, rate: float) -> FloatArray:
    """Value of ``cum`` (a cumulative sum at group ends) over the top ``rate`` share of the weight.

    The boundary tie group is included pro rata: the expected value under random tie-breaking.
    """
    budget = rate * c.total  # (B,)
    count_before = _before(c.count)
    group_count = c.count - count_before
    share = np.clip(
        (budget[:, None] - count_before) / np.where(group_count > 0, group_count, 1), 0, 1
    )
    group_value = cum - _before(cum)
    return (share * group_value).sum(axis=1)


def precision_at_alerts(c: Curve, param: float | None = None) -> FloatArray:
    """Precision among the top ``param`` share of test rows (the alert budget)."""
    assert param is not None
    return _safe_div(_caught_at_budget(c, c.tp, param), param * c.total)


def value_detection_at_alerts(c: Curve, param: float | None = None) -> FloatArray:
    """Share of the fraud amount caught in the top ``param`` share of test rows."""
    assert param is not None
    return _safe_div(_caught_at_budget(c, c.fraud_amount, param), c.fraud_amount[:, -1])


def expected_cost(c: Curve, param: float | None = None) -> FloatArray:
    """Mean cost per transaction when alerting on the top ``param`` share of rows.

    A false alert costs ``cost.false_positive``; a missed fraud costs ``cost.false_negative`` or, when
    that is ``None``, its amount.
    """
    assert param is not None
    caught = _caught_at_budget(c, c.tp, param)
    false_alerts = param * c.total - caught
    if c.cost.false_negative is None:
        missed = c.fraud_amount[:, -1] - _caught_at_budget(c, c.fraud_amount, param)
    else:
        missed = (c.positives - caught) * c.cost.false_negative
    return _safe_div(false_alerts * c.cost.false_positive + missed, c.total)


def brier(c: Curve, param: float | None = None) -> FloatArray:
    """Mean squared error of the score as a probability (calibrated kinds only)."""
    r = c.ranked
    if not r.calibrated:
        return np.full(c.total.shape[0], np.nan)
    sq = (r.score - r.y) ** 2
    return _safe_div(c.weighted(sq).sum(axis=1), c.total)


def ks(c: Curve, param: float | None = None) -> FloatArray:
    """Kolmogorov–Smirnov statistic: the largest gap between the TPR and FPR curves."""
    tpr = _safe_div(c.tp, c.positives[:, None])
    fpr = _safe_div(c.fp, c.negatives[:, None])
    return np.nanmax(np.abs(tpr - fpr), axis=1, initial=0.0)


def entity_precision_at(c: Curve, param: float | None = None) -> FloatArray:
    """The Fraud Detection Handbook's card precision top-k, averaged over test days.

    Per day: each entity's max score and max label; precision among the top k entities (denominator k);
    entities detected (fraudulent and in the top k) on earlier days are left out of later days.
    With bootstrap weights, an entity's weight is its resampling count (entity-block bootstrap); with
    ``day_weights`` (day-block bootstrap) the per-day values are averaged with the days' weights.
    """
    assert param is not None
    table = entity_day_table(c.ranked)
    if c.day_weights is not None:
        per_day = _per_day_precision(table, np.ones((1, table.n_entities)), float(param))[0]
        dw = np.asarray(c.day_weights, dtype=np.float64)[:, table.days]
        return _safe_div(dw @ per_day, dw.sum(axis=1))
    entity_weight = _entity_weights(c, table.n_entities)  # (B, E)
    return _per_day_precision(table, entity_weight, float(param)).mean(axis=1)


def entity_precision_per_day(ranked: Ranked, k: float) -> tuple[np.ndarray, FloatArray]:
    """Day codes and the unweighted card precision top-k of each day (the terms of the average)."""
    table = entity_day_table(ranked)
    return table.days, _per_day_precision(table, np.ones((1, table.n_entities)), k)[0]


def _per_day_precision(table: _EntityDayTable, entity_weight: FloatArray, k: float) -> FloatArray:
    """(B, days) precision in the top k entities of each day, detected entities removed later."""
    n_rep = entity_weight.shape[0]
    removed = np.zeros((n_rep, table.n_entities), dtype=bool)
    per_day = np.zeros((n_rep, len(table.day_slices)))
    for d, sl in enumerate(table.day_slices):
        ents = table.entity[sl]
        labels = table.label[sl]
        w = np.where(removed[:, ents], 0.0, entity_weight[:, ents])  # (B, m), sorted by score
        cum = np.cumsum(w, axis=1)
        included = np.clip(k - (cum - w), 0, w)  # weight of each entity inside the top k
        per_day[:, d] = (included * labels).sum(axis=1) / k
        detected = (included > 0) & (labels > 0)
        rows, cols = np.nonzero(detected)
        removed[rows, ents[cols]] = True
    return per_day


@dataclass(frozen=True)
class _EntityDayTable:
    entity: np.ndarray  # entity code per (day, entity), days in order, each day sorted by max score
    label: np.ndarray
    day_slices: list[slice]
    days: np.ndarray  # day code of each slice
    n_entities: int


def entity_day_table(r: Ranked) -> _EntityDayTable:
    """One cell per (day, entity) with its max label, each day's cells in descending max score."""
    if r.entity is None or r.day is None:
        raise ConfigError("entity_precision_at needs data.entity (the card/customer id column)")
    n_entities = int(r.entity.max()) + 1 if r.n else 0
    # rows are in descending score order, so the first row of each (day, entity) holds its max score
    key = r.day.astype(np.int64) * max(n_entities, 1) + r.entity.astype(np.int64)
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    label_max = np.zeros(len(first))
    # same dtype on both sides: numpy's fast path for ufunc.at (20x faster than int8 into float64)
    np.maximum.at(label_max, group, r.y.astype(np.float64))
    first_sorted = np.sort(first)  # back to score order
    # a stable sort by day keeps the score order within each day
    by_day = first_sorted[np.argsort(r.day[first_sorted], kind="stable")]
    ent = r.entity[by_day]
    lab = label_max[group[by_day]]
    day_sorted = r.day[by_day]
    bounds = np.flatnonzero(np.diff(day_sorted)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64)
    stops = np.concatenate([bounds, [len(by_day)]])
    return _EntityDayTable(
        entity=ent.astype(np.int64),
        label=lab,
        day_slices=[slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)],
        days=day_sorted[starts[: len(stops)]].astype(np.int64) if len(by_day) else starts[:0],
        n_entities=n_entities,
    )


def _entity_weights(c: Curve, n_entities: int) -> FloatArray:
    """Per-entity weights, (B, E). Row weights of an entity-block bootstrap are constant per entity."""
    r = c.ranked
    if c.weights is None:
        return np.ones((1, n_entities))
    assert r.entity is not None
    w_sorted = c.w
    out = np.zeros((w_sorted.shape[0], n_entities))
    # the first row seen for each entity carries the entity's resampling count
    first = np.unique(r.entity, return_index=True)[1]
    out[:, r.entity[first]] = w_sorted[:, first]
    return out


MetricFn = Callable[[Curve, float | None], FloatArray]


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is called and read."""

    fn: MetricFn
    param: str | None  # "rate", "k" or None
    higher_is_better: bool
    needs: tuple[str, ...] = ()  # "amount", "entity", "calibrated"
    description: str = ""


METRICS: dict[str, MetricInfo] = {
    "roc_auc": MetricInfo(roc_auc, None, True, description="area under the ROC curve"),
    "pr_auc": MetricInfo(pr_auc, None, True, description="average precision"),
    "recall_at_fpr": MetricInfo(
        recall_at_fpr, "rate", True, description="recall at false-positive rate <= param"
    ),
    "precision_at_alerts": MetricInfo(
        precision_at_alerts, "rate", True, description="precision in the top param share of rows"
    ),
    "entity_precision_at": MetricInfo(
        entity_precision_at,
        "k",
        True,
        needs=("entity",),
        description="handbook card precision top-k per day",
    ),
    "value_detection_at_alerts": MetricInfo(
        value_detection_at_alerts,
        "rate",
        True,
        needs=("amount",),
        description="share of fraud amount caught in the top param share",
    ),
    "expected_cost": MetricInfo(
        expected_cost, None, False, description="cost per transaction at the operating point"
    ),
    "brier": MetricInfo(brier, None, False, needs=("calibrated",), description="Brier score"),
    "ks": MetricInfo(ks, None, True, description="Kolmogorov–Smirnov statistic"),
}

DEFAULT_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "recall_at_fpr@0.01",
    "precision_at_alerts@0.005",
    "expected_cost",
    "brier",
    "ks",
)


@dataclass(frozen=True)
class MetricSpec:
    """A metric as named in the config (``NAME`` or ``NAME@PARAM``) with its logging key."""

    name: str
    param: float | None = None

    @property
    def key(self) -> str:
        if self.param is None:
            return self.name
        text = f"{int(self.param)}" if METRICS[self.name].param == "k" else _fmt(self.param)
        return f"{self.name}_{text}"

    @property
    def info(self) -> MetricInfo:
        return METRICS[self.name]

    def __str__(self) -> str:
        return self.name if self.param is None else f"{self.name}@{self.key.split('_')[-1]}"


def _fmt(value: float) -> str:
    return repr(float(value)).rstrip("0").rstrip(".") if "e" not in repr(value) else repr(value)


def parse_metric(text: str) -> MetricSpec:
    """Parse ``NAME`` or ``NAME@PARAM``; raise ConfigError naming the valid choices."""
    name, _, raw = str(text).partition("@")
    name = name.strip()
    if name not in METRICS:
        raise ConfigError(
            f"unknown metric '{name}'{did_you_mean(name, list(METRICS))}; "
            f"valid metrics: {', '.join(METRICS)}"
        )
    kind = METRICS[name].param
    if kind is None:
        if raw:
            raise ConfigError(f"metric '{name}' takes no parameter; write '{name}'")
        return MetricSpec(name)
    if not raw:
        example = "100" if kind == "k" else "0.01"
        raise ConfigError(f"metric '{name}' needs a parameter, e.g. '{name}@{example}'")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"metric '{text}': parameter '{raw}' is not a number") from None
    if kind == "rate" and not (0.0 < value <= 1.0):
        raise ConfigError(f"metric '{text}': the rate must be in (0, 1], got {raw}")
    if kind == "k" and (value < 1 or not math.isclose(value, round(value))):
        raise ConfigError(f"metric '{text}': k must be a positive integer, got {raw}")
    return MetricSpec(name, float(round(value)) if kind == "k" else value)


def compute(spec: MetricSpec, curve: Curve, operating_rate: float) -> FloatArray:
    """One metric on a curve; ``expected_cost`` is evaluated at the operating alert rate."""
    param = operating_rate if spec.name == "expected_cost" else spec.param
    return np.asarray(spec.info.fn(curve, param), dtype=np.float64)
