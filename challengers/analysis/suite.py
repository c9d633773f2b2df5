"""Run every diagnostic on a finished evaluation: the one call the pipeline makes.

Takes plain inputs (frames, score arrays, fitted models, a few sizes), returns :class:`Analyses`.
Headline numbers elsewhere are exact on every test row; here only the SHAP explanations sample rows
(seeded), and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from challengers.allocator import drop_read_pages
from challengers.analysis import calibration as cal
from challengers.analysis import explain as ex
from challengers.analysis import segments as seg
from challengers.analysis import stability as st
from challengers.analysis.budget import Budget
from challengers.analysis.curves import Curves, curves
from challengers.analysis.operating import (
    OperatingPoint,
    operating_point,
    scenario_overlaps,
)
from challengers.data.frames import DAY, DataSpec
from challengers.evaluation.curve import Cost, Ranked, split_rows
from challengers.evaluation.evaluate import (
    ModelEvaluation,
    TestRows,
    evaluate_models,
    rank_scores,
    ranked_parts,
)
from challengers.evaluation.metrics import MetricSpec
from challengers.results import DeltaResult
from challengers.threads import each, in_background


@dataclass(frozen=True)
class Settings:
    """Sizes and thresholds of the diagnostics (from evaluation.diagnostics and .findings)."""

    psi_bins: int = 10
    reliability_bins: int = 10
    explain_rows: int = 2000
    weekly_bootstrap: int = 200  # capped by the run's bootstrap
    max_segment_values: int = 30
    min_segment_rows: int = 1000
    min_segment_positives: int = 20
    ignored_share: float = 0.01
    leaned_share: float = 0.05


@dataclass
class AnalysisInput:
    train: pl.DataFrame | None  # None once ``training`` is taken and the rows are let go
    test: pl.DataFrame
    spec: DataSpec
    scores: dict[str, np.ndarray]  # test scores of every model that ran
    train_scores: dict[str, np.ndarray]
    calibrated: dict[str, bool]
    models: dict[str, Any]  # fitted models (native_model(), model_inputs())
    champion: str
    champion_inputs: tuple[str, ...]
    metrics: list[MetricSpec]
    cost: Cost
    budget: Budget
    train_end: date
    test_start: date
    test_end: date
    bootstrap: int
    alpha: float
    seed: int
    settings: Settings = field(default_factory=Settings)
    # the run's bootstrap unit (evaluation.resample), used by every interval here too
    resample: str | None = None
    resample_force: bool = False
    history: pl.DataFrame | None = None
    # the evaluation's own expected-cost deltas at this budget, when it computed them
    cost_deltas: dict[str, DeltaResult] = field(default_factory=dict)
    # the evaluation's headline metrics on the test window, when it computed them (not again)
    test_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # the evaluation's test rows and each model's ranking of them (rank_scores), when it has them
    test_rows: TestRows | None = None
    ranked: dict[str, Ranked] = field(default_factory=dict)
    # what the diagnostics read of the training window (training_window), when taken before the
    # test window's rankings were built: then ``train`` and ``train_scores`` may be let go
    training: TrainingWindow | None = None
    # when ``test`` holds no features (they stayed on a distributed engine): the explanations'
    # sample of test rows (explain_index) whole, and each feature's test rows counted in the bins
    # of its training reference (Reference.psi_of_counts)
    explain_sample: pl.DataFrame | None = None
    test_bin_counts: dict[str, np.ndarray] = field(default_factory=dict)
    threads: int | None = None  # models (features) analysed at once; None: every core


@dataclass(frozen=True)
class TrainingWindow:
    """What the diagnostics need of the training window, taken once: each model's in-sample
    metrics, and the PSI references of its scores and of the champion's input features."""

    metrics: dict[str, dict[str, float]]  # model -> metric key -> in-sample value
    scores: dict[str, st.Reference]  # model -> its training scores' bins
    features: dict[str, st.Reference]  # feature -> its training values' bins


@dataclass
class Analyses:
    operating_point: OperatingPoint
    stability: st.Stability
    segments: list[seg.SegmentColumn]
    calibration: list[cal.Calibration]
    explanations: ex.Explanations
    curves: Curves
    score_levels: dict[str, int] = field(default_factory=dict)  # distinct test scores per model


def analyse(inp: AnalysisInput) -> Analyses:
    """Operating point, stability, segments, calibration, explanations and plot curves.

    Each model's test scores are sorted once (:func:`rank_scores`); every view (the alerts at a
    budget, the weeks, the days, the segments, the curves) reads that ranking."""
    rows = inp.test_rows or _rows(inp, inp.test)
    ranked = {
        name: inp.ranked.get(name)
        or rank_scores(rows, s, calibrated=inp.calibrated.get(name, False))
        for name, s in inp.scores.items()
    }
    # the weeks and days in a thread of their own beside the views below: each view's pieces
    # run on every core, but between them, and in their serial parts (the operating point's
    # sums, the segments' codes, the curves), one core waited (100M rows: 46.5 CPU-s in 32.4 s;
    # 26.3 s with it). A daemon: an error or an interrupt here does not wait for it
    weekly = in_background(stability, inp, rows, ranked, name="challenge-stability")
    return _views(inp, rows, ranked, weekly)


def _views(
    inp: AnalysisInput,
    rows: TestRows,
    ranked: dict[str, Ranked],
    weekly: Callable[[], st.Stability],
) -> Analyses:
    """Every view but the stability, then the stability (``weekly()``) once it is done."""
    y = rows.y
    point, alerted = operating_point(
        y,
        inp.scores,
        champion=inp.champion,
        budget=inp.budget,
        amount=rows.amount,
        cost=inp.cost,
        seed=inp.seed,
        ranked=ranked,
    )
    _savings_intervals(inp, rows, point)
    if inp.spec.scenario is not None:
        frauds = np.flatnonzero(y > 0)
        point.scenarios = scenario_overlaps(
            frauds,
            inp.test.get_column(inp.spec.scenario)
            .gather(frauds)
            .cast(pl.String)
            .fill_null("")
            .to_numpy(),
            alerted,
            inp.champion,
            dict(inp.spec.scenario_names),
        )
    segments = [
        seg.segment_column(
            column,
            *_codes(inp.test.get_column(column)),
            y,
            inp.scores,
            alerted,
            min_rows=inp.settings.min_segment_rows,
            min_positives=inp.settings.min_segment_positives,
            max_values=inp.settings.max_segment_values,
            ranked=ranked,
            threads=inp.threads,
        )
        for column in inp.spec.segments
    ]
    return Analyses(
        operating_point=point,
        segments=segments,
        calibration=each(
            lambda name: cal.calibration(
                name,
                y,
                inp.scores[name],
                calibrated=inp.calibrated.get(name, False),
                bins=inp.settings.reliability_bins,
            ),
            inp.scores,
            inp.threads,
        ),
        explanations=explanations(inp),
        curves=curves(y, inp.scores, ranked),
        score_levels={name: int(r.ends.shape[0]) for name, r in ranked.items()},
        stability=weekly(),
    )


def _codes(series: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Dense codes of a segment column's values (as text, missing ones named) and the values:
    each value's index among the sorted distinct values. Only the distinct values are turned into
    text: the rows' text (a string per row, with its copies) was 0.7 GB at 8M test rows, the
    diagnostics' peak. Two values with the same text (a missing value and the text MISSING)
    share a code, as they share a label."""
    distinct = series.unique()
    text = distinct.cast(pl.String).fill_null(seg.MISSING)
    labels = text.unique().sort()
    if labels.is_empty():
        return np.zeros(0, dtype=np.int32), []
    label_index = pl.Series(np.arange(len(labels), dtype=np.int32))
    code_of_distinct = text.replace_strict(labels, label_index)
    codes = series.replace_strict(distinct, code_of_distinct, return_dtype=pl.Int32)
    return codes.to_numpy(), labels.to_list()


def _rows(inp: AnalysisInput, frame: pl.DataFrame) -> TestRows:
    s = inp.spec
    return TestRows.from_frame(frame, target=s.target, amount=s.amount, entity=s.entity)


def _evaluate(
    inp: AnalysisInput,
    rows: TestRows,
    scores: Mapping[str, np.ndarray],
    *,
    metrics: Sequence[MetricSpec] | None = None,
    bootstrap: int = 0,
    window: bool = False,
    ranked: Mapping[str, Ranked] | None = None,
    deltas: bool = True,
) -> dict[str, ModelEvaluation]:
    """The evaluation's own metric code on a subset of rows (a week, a day, the training window),
    resampling the run's unit. ``window``: a part of the test window (a week), where day blocks
    are used as the run chose them on the whole window, without checking the part again.
    ``deltas``: whether the paired deltas are wanted (:func:`evaluate_models`)."""
    return evaluate_models(
        rows,
        scores,
        inp.calibrated,
        champion=inp.champion,
        metrics=list(metrics if metrics is not None else inp.metrics),
        cost=inp.cost,
        operating_rate=inp.budget.rate,
        bootstrap=bootstrap,
        alpha=inp.alpha,
        seed=inp.seed,
        resample=inp.resample,
        resample_force=inp.resample_force or window,
        ranked=ranked,
        threads=inp.threads,
        deltas=deltas,
    )


def _savings_intervals(inp: AnalysisInput, rows: TestRows, point: OperatingPoint) -> None:
    """Paired bootstrap interval of each challenger's savings (from the expected-cost delta),
    reusing the evaluation's replicates when it already had expected_cost at this budget."""
    if inp.bootstrap <= 0 or (inp.cost.false_negative is None and rows.amount is None):
        return
    deltas = inp.cost_deltas
    if not deltas:
        evaluation = _evaluate(
            inp, rows, inp.scores, metrics=[MetricSpec("expected_cost")], bootstrap=inp.bootstrap
        )
        deltas = {n: e.delta["expected_cost"] for n, e in evaluation.items() if e.delta}
    n = len(rows.y)
    for m in point.models:
        delta = deltas.get(m.model)
        if delta is not None:
            # savings = champion cost - challenger cost = -delta(cost per row) x rows
            m.savings_ci = (-delta.ci[1] * n, -delta.ci[0] * n)
            m.savings_p_value = delta.p_value


def _scores_of(ranked: Mapping[str, Ranked]) -> dict[str, np.ndarray]:
    """Each model's scores of a part's rows, as its ranking of them holds them (no copy)."""
    return {name: r.row_score for name, r in ranked.items()}


def stability(
    inp: AnalysisInput, rows: TestRows, ranked: Mapping[str, Ranked] | None = None
) -> st.Stability:
    """Weekly metrics with intervals, PSI, decay slopes and the train/test gap; the weeks and the
    days read each model's ranking of the test window (``ranked``, else sorted here)."""
    if ranked is None:
        ranked = {
            name: rank_scores(rows, s, calibrated=inp.calibrated.get(name, False))
            for name, s in inp.scores.items()
        }
    dates, day_codes = _test_days(inp, rows)
    weeks = st.split_weeks(inp.test_start, inp.test_end)
    week_of_day = st.week_of(dates, inp.test_start)
    per_week = _weeks(inp, rows, ranked, weeks, week_of_day, day_codes)
    training = inp.training or training_window(replace(inp, train_scores=dict(inp.train_scores)))
    # each row's week, once the weeks' rankings are let go (int16: 2 bytes a row, not 8)
    week = week_of_day.astype(np.int16 if len(weeks) < 2**15 else np.int64)[day_codes]
    weekly: dict[str, tuple[list[float], list[float]]] = {
        name: st.weekly_psi(training.scores[name], s, week, len(weeks))
        for name, s in inp.scores.items()
        if name in training.scores
    }
    return st.Stability(
        weeks=per_week,
        score_psi={name: training.scores[name].psi(inp.scores[name]) for name in weekly},
        score_psi_weekly={name: v[0] for name, v in weekly.items()},
        score_psi_vs_train={name: v[1] for name, v in weekly.items()},
        feature_psi=_feature_psi(inp, training),
        decay=_decay(inp, rows, ranked, dates, day_codes),
        train_metrics=training.metrics,
        test_metrics=inp.test_metrics
        or _metric_values(_evaluate(inp, rows, inp.scores, ranked=ranked)),
        bins=inp.settings.psi_bins,
        weekly_bootstrap=min(inp.bootstrap, inp.settings.weekly_bootstrap),
        decay_basis="weighted least squares of each day's metric on the days since the end of "
        "training, each day weighted by its frauds",
    )


def _feature_psi(inp: AnalysisInput, training: TrainingWindow) -> dict[str, float]:
    """Each reference feature's PSI, test against training: from the test rows, or from their
    counts per bin when the features stayed on an engine."""
    out = {}
    for f, reference in training.features.items():
        if f in inp.test.columns:
            out[f] = reference.psi(inp.test.get_column(f).cast(pl.Float64).to_numpy())
        elif f in inp.test_bin_counts:
            out[f] = reference.psi_of_counts(inp.test_bin_counts[f])
    return out


def _weeks(
    inp: AnalysisInput,
    rows: TestRows,
    ranked: Mapping[str, Ranked],
    weeks: list[st.Week],
    week_of_day: np.ndarray,
    day_codes: np.ndarray,
) -> list[st.WeekMetrics]:
    """Each test week's metrics and intervals, one week's rankings held at a time."""
    known = {w.index: w for w in weeks}
    values, codes = np.unique(week_of_day, return_inverse=True)
    parts = split_rows(codes[day_codes], len(values))
    out = []
    for w, (index, part, models) in zip(
        values, ranked_parts(rows, ranked, inp.calibrated, parts, inp.threads), strict=True
    ):
        if int(w) in known:
            out.append(_week_metrics(inp, known[int(w)], part, models))
        # let go of the week's rankings before the next week's are built (a comprehension held
        # them until then: two weeks' rankings of every model at once)
        del index, part, models
    return out


def _test_days(inp: AnalysisInput, rows: TestRows) -> tuple[np.ndarray, np.ndarray]:
    """The distinct test days (datetime64[D], ascending) and each row's index among them."""
    if rows.day is not None:
        dates = inp.test.get_column(DAY).unique().sort().to_numpy().astype("datetime64[D]")
        return dates, rows.day
    days = inp.test.get_column(DAY).to_numpy().astype("datetime64[D]")
    return np.unique(days, return_inverse=True)


def training_window(
    inp: AnalysisInput,
    let_go: Callable[[], None] | None = None,
    features: Mapping[str, st.Reference] | None = None,
) -> TrainingWindow:
    """The in-sample metrics, one model's training-window ranking held at a time, and the PSI
    references of the training scores and of the champion's inputs (``inp.train``: the rows;
    ``features``: the inputs' references when an engine computed them where the rows are).
    ``inp.train_scores`` is emptied: each model's scores go once read.

    ``let_go`` is called once the frame is read (labels, amounts, codes, the features' bins) and
    before any ranking: the caller drops the training frame there, which was otherwise held beside
    each ranking (31.8M rows, about 2.4 GB, at 100M rows in the file)."""
    assert inp.train is not None, "the training rows were let go before their summary was taken"
    train, bins = inp.train, inp.settings.psi_bins
    rows = _rows(inp, train)
    if features is None:
        # a column at a time a thread as float64: all at once they were the diagnostics' peak
        names = reference_features(inp, train.columns)
        references = each(partial(_feature_reference, train, bins), names, inp.threads)
        features = dict(zip(names, references, strict=True))
    del train
    if let_go is not None:
        let_go()

    def in_sample(name: str) -> tuple[dict[str, dict[str, float]], st.Reference]:
        s = inp.train_scores.pop(name)
        return _metric_values(_evaluate(inp, rows, {name: s})), st.Reference.of(s, bins)

    # a model's scores a thread: each is let go once its metrics and bins are taken (the caller
    # hands them over in ``inp.train_scores``), not held beside the next models' rankings
    names = list(inp.train_scores)
    taken = each(in_sample, names, inp.threads)
    metrics = {name: m for values, _ in taken for name, m in values.items()}
    scores = {name: reference for name, (_, reference) in zip(names, taken, strict=True)}
    return TrainingWindow(metrics=metrics, scores=scores, features=dict(features))


def _feature_reference(frame: pl.DataFrame, bins: int, column: str) -> st.Reference:
    values = frame.get_column(column).cast(pl.Float64).to_numpy()
    # the column's pages, read (a spilled window's: pipeline/spill.py), let go of before the
    # next column's: held together they were the in-sample step's peak (100M rows: 1.7 GB)
    drop_read_pages()
    return st.Reference.of(values, bins)


def reference_features(inp: AnalysisInput, columns: Sequence[str]) -> list[str]:
    """The features whose drift the diagnostics measure: the champion's inputs (else the data's
    features) among ``columns``."""
    return [f for f in inp.champion_inputs or inp.spec.features if f in columns]


def _metric_values(evaluation: Mapping[str, ModelEvaluation]) -> dict[str, dict[str, float]]:
    return {name: dict(e.metrics) for name, e in evaluation.items()}


def _week_metrics(
    inp: AnalysisInput, w: st.Week, rows: TestRows, ranked: dict[str, Ranked]
) -> st.WeekMetrics:
    replicates = min(inp.bootstrap, inp.settings.weekly_bootstrap)
    # a week's metrics and bands alone: no paired delta (the clustered DeLong tests of every
    # challenger, read from each ranking, were 2.5 s of the 100M run's diagnostics)
    evaluation = _evaluate(
        inp,
        rows,
        _scores_of(ranked),
        bootstrap=replicates,
        window=True,
        ranked=ranked,
        deltas=False,
    )
    return st.WeekMetrics(
        week=w.index,
        start=w.start.isoformat(),
        end=w.end.isoformat(),
        rows=rows.y.size,
        positives=rows.positives,
        metrics=_metric_values(evaluation),
        ci={name: dict(e.ci) for name, e in evaluation.items()},
    )


def _decay(
    inp: AnalysisInput,
    rows: TestRows,
    ranked: Mapping[str, Ranked],
    dates: np.ndarray,
    day_codes: np.ndarray,
) -> dict[str, dict[str, st.Slope]]:
    """Each metric per test day, then its weighted trend over days since the end of training."""
    values: dict[str, dict[str, list[float]]] = {
        name: {m.key: [] for m in inp.metrics} for name in inp.scores
    }
    since, weights = [], []
    parts = split_rows(day_codes, len(dates))
    for day, (_, part, models) in zip(
        dates, ranked_parts(rows, ranked, inp.calibrated, parts, inp.threads), strict=True
    ):
        since.append(int((day - np.datetime64(inp.train_end, "D")).astype(np.int64)))
        weights.append(part.positives)
        for name, e in _evaluate(inp, part, _scores_of(models), ranked=models).items():
            for key in values[name]:
                values[name][key].append(e.metrics.get(key, float("nan")))
        del part, models  # before the next day's rankings are built
    x, w = np.asarray(since, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    return {
        name: {
            key: st.decay_slope(x, np.asarray(v, dtype=np.float64), w, inp.alpha)
            for key, v in per.items()
        }
        for name, per in values.items()
    }


def explain_index(rows: int, size: int, seed: int) -> np.ndarray:
    """The positions (ascending) of the explanations' seeded sample among ``rows`` test rows."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=min(rows, size), replace=False))


def explanations(inp: AnalysisInput) -> ex.Explanations:
    """SHAP summaries on one seeded sample of test rows, shared by every model."""
    sample = inp.explain_sample
    if sample is None:
        sample = inp.test[explain_index(inp.test.height, inp.settings.explain_rows, inp.seed)]
    done: list[ex.ModelExplanation] = []
    skipped: dict[str, str] = {}
    for name, model in inp.models.items():
        try:
            booster = model.native_model()
            if ex.library_of(booster) is None:
                skipped[name] = f"{model.kind} has no native tree booster"
                continue
            x, names = model.model_inputs(sample, history=inp.history)
            done.append(ex.explain(name, booster, x, names, inp.threads))
        except NotImplementedError as exc:  # a model that cannot (a restored graph), not an error
            skipped[name] = str(exc)
        except Exception as exc:  # an explanation failing never stops the run
            skipped[name] = f"{ex.EXPLANATION_FAILED}: {type(exc).__name__}: {exc}"
    champion = next((e for e in done if e.model == inp.champion), None)
    spots: list[ex.BlindSpot] = []
    if champion is not None or inp.champion_inputs:
        spots = ex.blind_spots(
            champion,
            inp.champion_inputs,
            [e for e in done if e.model != inp.champion],
            ignored=inp.settings.ignored_share,
            leaned=inp.settings.leaned_share,
        )
    return ex.Explanations(sample.height, inp.test.height, inp.seed, done, skipped, spots)
