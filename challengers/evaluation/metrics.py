"""Fraud metrics, one function each, exact and vectorised.

Every metric reads a :class:`~challengers.evaluation.curve.Curve`: the test rows sorted once by
score, with tied scores grouped, and cumulative sums at the group ends, with one weight vector per
bootstrap replicate or none, so the same function gives the headline value and every bootstrap
replicate without sorting again. Ties are handled as their expected value under random
tie-breaking, so a model with many equal scores is neither flattered nor punished by row order.

A metric is one :class:`Metric` record in :data:`METRICS`: its function here, its formula from the
bootstrap kernels' statistics, what it needs, its direction and its parameter kind. A new metric is
its record plus its row in the reference test table (``tests/evaluation/test_metrics.py``); the
engine-vs-reference bootstrap test covers it automatically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from challengers.errors import ConfigError, did_you_mean
from challengers.evaluation.curve import (
    Cost,
    Curve,
    EntityDayTable,
    FloatArray,
    Ranked,
    before_group,
    entity_day_table,
    safe_div,
)


def roc_auc(c: Curve, param: float | None = None) -> FloatArray:
    """Area under the ROC curve: P(score of a fraud > score of a genuine), ties counting half."""
    # in place, two arrays of the groups' size at a time (the same operations on the same
    # values: a genuine group's negatives times the positives above it, ties counting half)
    above = before_group(c.tp)
    half = np.subtract(c.tp, above)  # positives in the group
    np.multiply(half, 0.5, out=half)
    np.add(above, half, out=above)
    del half
    wins = _in_group(c.fp)  # negatives in the group
    np.multiply(wins, above, out=wins)
    return safe_div(wins.sum(axis=1), c.positives * c.negatives)


def pr_auc(c: Curve, param: float | None = None) -> FloatArray:
    """Average precision (scikit-learn's step-wise definition, no interpolation)."""
    terms = _in_group(c.tp)  # each group's recall step (times the positives), times precision
    np.multiply(terms, safe_div(c.tp, c.count), out=terms)
    np.copyto(terms, 0.0, where=np.isnan(terms))  # what np.nansum sums, in place
    return safe_div(terms.sum(axis=1), c.positives)


def recall_at_fpr(c: Curve, param: float | None = None) -> FloatArray:
    """Recall at the lowest threshold whose false-positive rate is at most ``param``, a tie group
    straddling the limit counted at its expected value under random tie-breaking.

    With ``F = param x negatives`` false positives allowed and ``fp`` before the straddling group,
    its first ``r = floor(F - fp)`` genuines are allowed: each of its frauds precedes the
    ``(r + 1)``-th of its ``g`` genuines with probability ``(r + 1) / (g + 1)``. (Dropping the
    group, as before issue 18, gave 0 for 10 frauds tied with 20 genuines above the limit.)
    """
    assert param is not None
    # no genuines: no false-positive rate, no threshold qualifies (as the kernels)
    allowed = np.where(c.negatives > 0, (param + 1e-12) * c.negatives, -1.0)[:, None]
    inside = c.fp <= allowed
    # the group straddling the limit: the first outside it, if the groups before are inside
    # (at most one a replicate; its expected frauds read at it alone, not at every group)
    straddles = ~inside
    straddles[:, 1:] &= inside[:, :-1]
    straddles[:, 0] &= allowed[:, 0] >= 0.0  # no group before the first: 0 false positives
    rep, at = np.nonzero(straddles)
    del straddles
    tp, fp = c.tp[rep, at], c.fp[rep, at]
    tp_before = np.where(at > 0, c.tp[rep, at - 1], 0.0)
    fp_before = np.where(at > 0, c.fp[rep, at - 1], 0.0)
    expected = (tp - tp_before) * (np.floor(allowed[rep, 0] - fp_before) + 1) / (fp - fp_before + 1)
    straddling = np.bincount(rep, weights=expected, minlength=c.tp.shape[0])
    caught = np.where(inside, c.tp, 0.0).max(axis=1) + straddling
    return np.where(c.positives > 0, safe_div(caught, c.positives), np.nan)


def _in_group(cum: FloatArray) -> FloatArray:
    """Each group's own part of a running sum at the groups' ends (``np.diff(cum,
    prepend=0.0, axis=1)``, one new array)."""
    out = before_group(cum)
    return np.subtract(cum, out, out=out)


def _caught_at_budget(c: Curve, cum: FloatArray, rate: float) -> FloatArray:
    """Value of ``cum`` (a cumulative sum at group ends) over the top ``rate`` share of the weight.

    The boundary tie group is included pro rata: the expected value under random tie-breaking.
    """
    budget = rate * c.total  # (B,)
    share = before_group(c.count)  # rows before each group, then the group's share, in place
    in_group = _in_group(c.count)
    np.copyto(in_group, 1.0, where=in_group <= 0)
    np.subtract(budget[:, None], share, out=share)
    np.divide(share, in_group, out=share)
    del in_group
    np.clip(share, 0, 1, out=share)
    value = _in_group(cum)
    np.multiply(share, value, out=value)
    return value.sum(axis=1)


def precision_at_alerts(c: Curve, param: float | None = None) -> FloatArray:
    """Precision among the top ``param`` share of test rows (the alert budget)."""
    assert param is not None
    return safe_div(_caught_at_budget(c, c.tp, param), param * c.total)


def value_detection_at_alerts(c: Curve, param: float | None = None) -> FloatArray:
    """Share of the fraud amount caught in the top ``param`` share of test rows."""
    assert param is not None
    return safe_div(_caught_at_budget(c, c.fraud_amount, param), c.fraud_amount[:, -1])


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
    return safe_div(false_alerts * c.cost.false_positive + missed, c.total)


def brier(c: Curve, param: float | None = None) -> FloatArray:
    """Mean squared error of the score as a probability (calibrated kinds only)."""
    r = c.ranked
    if not r.calibrated:
        return np.full(c.total.shape[0], np.nan)
    sq = (r.score - r.y) ** 2
    return safe_div(c.weighted(sq).sum(axis=1), c.total)


def ks(c: Curve, param: float | None = None) -> FloatArray:
    """Kolmogorov–Smirnov statistic: the largest gap between the TPR and FPR curves; NaN without
    frauds or without genuines (two samples to compare), as ROC AUC."""
    gap = _share(c.tp, c.positives)  # TPR, then TPR - FPR in place
    np.subtract(gap, _share(c.fp, c.negatives), out=gap)
    largest = np.nanmax(np.abs(gap, out=gap), axis=1, initial=0.0)
    return _both_classes(largest, c.positives, c.negatives)


def _both_classes(value: FloatArray, positives: FloatArray, negatives: FloatArray) -> FloatArray:
    """``value`` where there are frauds and genuines, else NaN: KS read 0.0 without one, so a
    week without frauds showed 'no separation' and each bootstrap replicate that drew no fraud
    entered KS's interval as a 0 (3 frauds: KS 1.0 [0.0, 1.0])."""
    return np.where((positives > 0) & (negatives > 0), value, np.nan)


def _share(cum: FloatArray, total: FloatArray) -> FloatArray:
    """``safe_div(cum, total[:, None])`` (NaN in the rows whose total is not positive) in one
    array of ``cum``'s size."""
    positive = total > 0
    out = cum / np.where(positive, total, 1.0)[:, None]
    np.copyto(out, np.nan, where=~positive[:, None])
    return out


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
        return safe_div(dw @ per_day, dw.sum(axis=1))
    entity_weight = _entity_weights(c, table.n_entities)  # (B, E)
    return _per_day_precision(table, entity_weight, float(param)).mean(axis=1)


def entity_precision_per_day(ranked: Ranked, k: float) -> tuple[np.ndarray, FloatArray]:
    """Day codes and the unweighted card precision top-k of each day (the terms of the average)."""
    table = entity_day_table(ranked)
    return table.days, _per_day_precision(table, np.ones((1, table.n_entities)), k)[0]


def _per_day_precision(table: EntityDayTable, entity_weight: FloatArray, k: float) -> FloatArray:
    """(B, days) precision in the top k entities of each day, detected entities removed later.

    Entities tied at the cut share the places left, pro rata (their expected frauds under random
    tie-breaking; the file's order picked them before, and a constant score read 1.0 or 0.0 by
    where the frauds sat in the file). A fraud entity is then detected with its share, and only
    that probability leaves later days (``keep``: the chance it is still undetected); entities
    not tied are all in or all out, as the handbook's top k."""
    n_rep = entity_weight.shape[0]
    keep = np.ones((n_rep, table.n_entities))
    per_day = np.zeros((n_rep, len(table.day_slices)))
    for d, sl in enumerate(table.day_slices):
        ents, labels = table.entity[sl], table.label[sl]
        starts = np.flatnonzero(np.concatenate([[1], table.tie_end[sl][:-1]]))
        sizes = np.diff(np.append(starts, ents.size))
        kept = keep[:, ents]
        w = entity_weight[:, ents] * kept  # (B, m), sorted by score
        group_w = np.add.reduceat(w, starts, axis=1)  # (B, groups)
        # a group's weight inside the top k, and its fraud rate (the label of a lone entity)
        included = np.clip(k - (np.cumsum(group_w, axis=1) - group_w), 0, group_w)
        rate = safe_div(np.add.reduceat(w * labels, starts, axis=1), group_w)
        per_day[:, d] = np.nansum(included * rate, axis=1) / k
        # each fraud entity's chance of detection: its group's share of places, or for an entity
        # alone in its group (of those still present) that its first copy is in (a bootstrap
        # weight above 1 is copies of one card: any copy in detects it)
        present = np.add.reduceat((w > 0).astype(np.float64), starts, axis=1)
        share = np.repeat(safe_div(included, group_w), sizes, axis=1)
        alone = np.repeat(present == 1, sizes, axis=1)
        first_copy = np.minimum(1.0, safe_div(np.repeat(included, sizes, axis=1), kept))
        detected = np.where(alone, first_copy, share)
        np.copyto(detected, 0.0, where=~((w > 0) & (labels > 0)) | np.isnan(detected))
        keep[:, ents] = kept * (1.0 - detected)
    return per_day


def _entity_weights(c: Curve, n_entities: int) -> FloatArray:
    """Per-entity weights, (B, E). Row weights of an entity-block bootstrap are constant per entity."""
    r = c.ranked
    if c.weights is None:
        return np.ones((1, n_entities))
    entity = r.entity
    assert entity is not None
    w_sorted = c.w
    out = np.zeros((w_sorted.shape[0], n_entities))
    # the first row seen for each entity carries the entity's resampling count
    first = np.unique(entity, return_index=True)[1]
    out[:, entity[first]] = w_sorted[:, first]
    return out


MetricFn = Callable[[Curve, float | None], FloatArray]

ParamKind = Literal["fpr", "alert_rate", "k"]
"""What a metric's parameter is: a false-positive-rate limit, an alert rate (a share of the test
rows) or a number of entities. The bootstrap measures each kind in its own kernel statistic."""

Need = Literal["amount", "entity", "calibrated", "operating_point", "amount_cost"]
"""What a metric reads beyond labels and scores: ``amount`` the fraud amounts (data.amount);
``entity`` the entity ids, resampled as whole entities or days (data.entity, never single rows);
``calibrated`` probability scores (n/a otherwise); ``operating_point`` the run's operating alert
rate (it is evaluated there); ``amount_cost`` the amounts when a missed fraud costs its amount
(evaluation.cost.false_negative: amount)."""


class Statistics(Protocol):
    """One model's statistics over B bootstrap replicates, as the compiled kernels measure them
    (implemented by :mod:`challengers.evaluation.bootstrap`). Each array has shape (B,)."""

    @property
    def cost(self) -> Cost: ...

    @property
    def positives(self) -> FloatArray: ...  # weighted frauds

    @property
    def total(self) -> FloatArray: ...  # weighted rows

    @property
    def fraud_amount(self) -> FloatArray: ...  # weighted fraud amount

    @property
    def roc_wins(self) -> FloatArray: ...  # fraud-genuine pairs ranked right, ties half

    @property
    def ap_sum(self) -> FloatArray: ...  # sum of recall step x precision

    @property
    def ks_gap(self) -> FloatArray: ...  # largest |TPR - FPR|

    @property
    def brier_sum(self) -> FloatArray | None: ...  # sum of squared errors; None: not calibrated

    def within_fpr(self, limit: float) -> FloatArray: ...  # positives above the FPR limit

    def caught(self, rate: float) -> tuple[FloatArray, FloatArray]: ...  # frauds, amount in top

    def entity_precision(self, k: float) -> FloatArray: ...  # card precision top-k


Formula = Callable[[Statistics, float | None], FloatArray]


@dataclass(frozen=True)
class Metric:
    """A metric: its exact function (headline values and the reference), its formula from the
    bootstrap kernels' statistics (replicates), what it needs, its direction and its parameter."""

    name: str
    fn: MetricFn
    formula: Formula
    higher_is_better: bool
    param: ParamKind | None = None
    needs: frozenset[Need] = frozenset()
    unit_range: bool = True  # its values lie in [0, 1] (a claimed 87 means 0.87)


def _param(p: float | None) -> float:
    assert p is not None, "this metric takes a parameter"
    return float(p)


def _expected_cost_formula(s: Statistics, p: float | None) -> FloatArray:
    rate = _param(p)
    caught, caught_amount = s.caught(rate)
    if s.cost.false_negative is None:
        missed = s.fraud_amount - caught_amount
    else:
        missed = (s.positives - caught) * s.cost.false_negative
    return safe_div((rate * s.total - caught) * s.cost.false_positive + missed, s.total)


def _brier_formula(s: Statistics, p: float | None) -> FloatArray:
    if s.brier_sum is None:
        return np.full(s.positives.shape, np.nan)
    return safe_div(s.brier_sum, s.total)


_REGISTERED = (
    Metric(
        "roc_auc",
        roc_auc,
        lambda s, p: safe_div(s.roc_wins, s.positives * (s.total - s.positives)),
        higher_is_better=True,
    ),
    Metric(
        "pr_auc",
        pr_auc,
        lambda s, p: safe_div(s.ap_sum, s.positives),
        higher_is_better=True,
    ),
    Metric(
        "recall_at_fpr",
        recall_at_fpr,
        lambda s, p: safe_div(s.within_fpr(_param(p)), s.positives),
        higher_is_better=True,
        param="fpr",
    ),
    Metric(
        "precision_at_alerts",
        precision_at_alerts,
        lambda s, p: safe_div(s.caught(_param(p))[0], _param(p) * s.total),
        higher_is_better=True,
        param="alert_rate",
    ),
    Metric(
        "entity_precision_at",
        entity_precision_at,
        lambda s, p: s.entity_precision(_param(p)),
        higher_is_better=True,
        param="k",
        needs=frozenset({"entity"}),
    ),
    Metric(
        "value_detection_at_alerts",
        value_detection_at_alerts,
        lambda s, p: safe_div(s.caught(_param(p))[1], s.fraud_amount),
        higher_is_better=True,
        param="alert_rate",
        needs=frozenset({"amount"}),
    ),
    Metric(
        "expected_cost",
        expected_cost,
        _expected_cost_formula,
        higher_is_better=False,
        needs=frozenset({"operating_point", "amount_cost"}),
        unit_range=False,  # a cost per transaction, in the cost's units
    ),
    Metric(
        "brier",
        brier,
        _brier_formula,
        higher_is_better=False,
        needs=frozenset({"calibrated"}),
    ),
    Metric(
        "ks",
        ks,
        lambda s, p: _both_classes(s.ks_gap, s.positives, s.total - s.positives),
        higher_is_better=True,
    ),
)
METRICS: dict[str, Metric] = {m.name: m for m in _REGISTERED}
"""Every metric, by name: adding one is its record here and its row in the reference test table."""

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
        text = f"{int(self.param)}" if self.info.param == "k" else _fmt(self.param)
        return f"{self.name}_{text}"

    @property
    def info(self) -> Metric:
        return METRICS[self.name]

    def argument(self, operating_rate: float) -> float | None:
        """What the metric's function and formula are called with: its parameter, or the
        operating alert rate for a metric evaluated at the operating point."""
        return operating_rate if "operating_point" in self.info.needs else self.param

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
    if kind in ("fpr", "alert_rate") and not (0.0 < value <= 1.0):
        raise ConfigError(f"metric '{text}': the rate must be in (0, 1], got {raw}")
    if kind == "k" and (value < 1 or not math.isclose(value, round(value))):
        raise ConfigError(f"metric '{text}': k must be a positive integer, got {raw}")
    return MetricSpec(name, float(round(value)) if kind == "k" else value)


def compute(spec: MetricSpec, curve: Curve, operating_rate: float) -> FloatArray:
    """One metric on a curve (exact); a metric of the operating point is evaluated at its rate."""
    return np.asarray(spec.info.fn(curve, spec.argument(operating_rate)), dtype=np.float64)


def amount_needed(metrics: Sequence[MetricSpec], *, cost_is_amount: bool) -> bool:
    """Whether ``metrics`` read the fraud amounts (directly, or as the cost of a missed fraud)."""
    needs = {n for m in metrics for n in m.info.needs}
    return "amount" in needs or ("amount_cost" in needs and cost_is_amount)
