"""Outlier scores of PyOD detectors, fitted on a bounded sample and scored in bounded chunks.

The pieces a detector needs and that PyOD leaves to the caller:

* **Encoding**, learned on the fit sample only: integer-coded categories (MCC, region codes) become
  the share of fit rows with that value (rare category = small share; unseen = 0), which means the
  same to every detector and needs no column per level; missing numeric values take the fit
  sample's median; features are scaled (robust: median and IQR) for distance- and density-based
  detectors, left alone for the rank/tree/histogram ones (iforest, ecod, copod, hbos are
  invariant to per-feature scaling).
* **Inductive scoring.** PyOD's ECOD and COPOD ``decision_function`` re-estimate their empirical
  CDFs on the training rows *plus the batch being scored*, so a row's score depends on which other
  rows share its batch, and memory grows with training + batch. :class:`EcdfScorer` applies the
  same formula with the CDFs of the fit sample alone: it equals PyOD's score of each row scored on
  its own. PyOD's HBOS with ``n_bins: auto`` scores in a Python loop over rows;
  :func:`hbos_scores` is its vectorised equivalent. Both are checked against PyOD in the tests.
* **Chunks**: rows are encoded and scored ``CHUNK_ROWS`` at a time, so memory is bounded by the fit
  sample and one chunk whatever the number of rows scored.
* **Out-of-fold scores** for the hybrid kind: the training rows split into time-ordered folds; each
  fold is scored by a detector fitted on a sample of the other folds only.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from challengers.data.frames import to_matrix
from challengers.features.detectors import DETECTORS, DetectorInfo
from challengers.threads import each, workers

log = logging.getLogger(__name__)

CHUNK_ROWS = 250_000
MIN_FIT_ROWS = 50
Scale = Literal["auto", "robust", "standard", "none"]


# --------------------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class Encoding:
    """Per-feature preprocessing learned on the fit sample."""

    categorical: tuple[bool, ...]
    levels: tuple[np.ndarray, ...]  # sorted values of each categorical feature (NaN last)
    shares: tuple[np.ndarray, ...]  # their share of fit rows
    fill: np.ndarray  # median of each numeric feature (float32)
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(
        cls, x: np.ndarray, categorical: Sequence[bool], scale: str, threads: int = 1
    ) -> Encoding:
        levels, shares = [], []
        for j in np.flatnonzero(categorical):
            values, counts = np.unique(x[:, j], return_counts=True)
            levels.append(values)
            shares.append((counts / x.shape[0]).astype(np.float32))
        fill = np.nan_to_num(column_medians(x, threads), nan=0.0).astype(np.float32)
        empty = cls(tuple(categorical), tuple(levels), tuple(shares), fill, fill * 0, fill * 0 + 1)
        if scale == "none":
            return empty
        z = empty.apply(x)
        center, spread = _location_scale(z, scale)
        return cls(tuple(categorical), tuple(levels), tuple(shares), fill, center, spread)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A new float32 matrix: categories as shares, gaps filled, scaled."""
        out = np.array(x, dtype=np.float32, copy=True)
        for k, j in enumerate(np.flatnonzero(self.categorical)):
            out[:, j] = _lookup(self.levels[k], self.shares[k], out[:, j])
        gaps = np.isnan(out)
        if gaps.any():
            out[gaps] = np.broadcast_to(self.fill, out.shape)[gaps]
        out -= self.center
        out /= self.scale
        return out


def column_medians(x: np.ndarray, threads: int = 1) -> np.ndarray:
    """``np.nanmedian(x, axis=0)`` bit for bit (numpy takes each column's median of its numbers
    too), a column a thread on up to ``threads``: numpy's one pass over the matrix took 1.5 s at
    200,000 x 316 (0.62 s on two threads)."""

    def median(j: int) -> np.floating:
        column = x[:, j]
        numbers = column[~np.isnan(column)]
        return np.median(numbers) if numbers.size else np.float64(np.nan)

    dtype = np.result_type(x.dtype, np.float32) if x.dtype.kind == "f" else np.float64
    return np.array(each(median, range(x.shape[1]), threads), dtype=dtype)


# the fewest columns a thread's block of column_skew has: numpy reduces a block that wide down its
# rows in the order it reduces the whole matrix, where a block of one or two columns is summed
# otherwise (pairwise) and differs in the last bits (tests/features/test_outliers_threads.py)
SKEW_BLOCK = 32


def column_skew(x: np.ndarray, threads: int = 1) -> np.ndarray:
    """``scipy.stats.skew(x, axis=0)`` bit for bit, blocks of at least :data:`SKEW_BLOCK` columns
    on up to ``threads`` (numpy releases the interpreter's lock): one call took 1.46 s at 200,000
    x 309 float32, 0.62 s in 8 blocks on two threads."""
    from scipy.stats import skew

    blocks = min(x.shape[1] // SKEW_BLOCK, 4 * workers(threads))
    # a NaN anywhere (a feature missing from every fit row) sends scipy down another path for
    # every column, whose results differ in the last bits from a block's without it
    if blocks < 2 or workers(threads) < 2 or np.isnan(x).any():
        return np.asarray(skew(x, axis=0))
    bounds = [(part[0], part[-1] + 1) for part in np.array_split(np.arange(x.shape[1]), blocks)]
    return np.concatenate(each(lambda b: skew(x[:, b[0] : b[1]], axis=0), bounds, threads))


def _location_scale(z: np.ndarray, scale: str) -> tuple[np.ndarray, np.ndarray]:
    std = z.std(axis=0)
    if scale == "standard":
        center, spread = z.mean(axis=0), std
    else:  # robust: a few huge amounts must not squash every other row together
        q25, center, q75 = np.percentile(z, [25, 50, 75], axis=0)
        spread = np.where(q75 > q25, q75 - q25, std)
    spread = np.where(spread > 0, spread, 1.0)
    return center.astype(np.float32), spread.astype(np.float32)


def _lookup(levels: np.ndarray, shares: np.ndarray, column: np.ndarray) -> np.ndarray:
    if levels.size == 0:
        return np.zeros_like(column)
    at = np.minimum(np.searchsorted(levels, column), levels.size - 1)
    found = levels[at]
    hit = (found == column) | (np.isnan(found) & np.isnan(column))
    return np.where(hit, shares[at], np.float32(0.0))


# ------------------------------------------------------------------------------ inductive scorers


class EcdfScorer:
    """ECOD / COPOD scores from the empirical CDFs of the fit sample alone (see module doc).

    For a row x and feature j, with n fit rows: left tail -log((#{fit <= x} + 1) / (n + 1)), right
    tail -log((#{fit >= x} + 1) / (n + 1)) — exactly PyOD's ECDF of the fit rows plus x — combined
    by PyOD's rule for each method, using the skewness of the fit sample. Each feature keeps its
    distinct fit values and their cumulative counts; a compiled pass scores the rows
    (:mod:`challengers.features.ecdf_kernels`).
    """

    def __init__(self, fit: np.ndarray, method: Literal["ecod", "copod"], threads: int = 1) -> None:
        from challengers.features.ecdf_kernels import distinct_tables

        self.method = method
        # float32 fit values (the encoded matrix) kept as such: the kernel compares in float64,
        # which the conversion leaves exact, at half the memory of a float64 copy
        dtype = np.float32 if fit.dtype == np.float32 else np.float64
        columns = np.array(fit.T, dtype=dtype, order="C")  # (features, n): each sorted in place
        each(lambda part: part.sort(axis=1), np.array_split(columns, workers(threads)), threads)
        self.rows_ = columns.shape[1]
        self.values_, self.counts_, self.starts_, self.numbers_ = distinct_tables(columns)
        constant = columns[:, 0] == columns[:, -1] if columns.shape[1] else columns[:, :0].any(1)
        del columns
        # a constant column's skew is NaN (no tail: it counts as 0), but scipy warned on the
        # terminal of "catastrophic cancellation ... results may be unreliable" for each one
        skewness = np.zeros(fit.shape[1])
        if not constant.any():
            skewness = column_skew(fit, threads)
        elif not constant.all():
            skewness[~constant] = column_skew(fit[:, ~constant], threads)
        sign = np.sign(np.nan_to_num(skewness))
        # PyOD's skew-corrected tail, u_l * -sign(s - 1) + u_r * sign(s + 1), by its two weights
        self.left_weight_, self.right_weight_ = -np.sign(sign - 1), np.sign(sign + 1)
        n = self.rows_
        self.tail_ = -np.log((np.arange(n + 1) + 1) / (n + 1))  # by count: a lookup, not a log

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        from challengers.features.ecdf_kernels import ecdf_outlier_scores

        if x.shape[1] != self.starts_.size - 1:
            raise ValueError(
                f"{x.shape[1]} features to score; the detector was fitted on "
                f"{self.starts_.size - 1}"
            )
        return ecdf_outlier_scores(
            self.values_,
            self.counts_,
            self.starts_,
            self.numbers_,
            self.rows_,
            self.left_weight_,
            self.right_weight_,
            self.tail_,
            x,
            self.method == "copod",
        )


def hbos_scores(detector: Any, x: np.ndarray) -> np.ndarray:
    """PyOD's HBOS score of a fitted detector, vectorised (PyOD loops over rows for ``auto``)."""
    edges_all, hist_all = detector.bin_edges_, detector.hist_
    total = np.zeros(x.shape[0], dtype=np.float64)
    for j in range(x.shape[1]):
        edges = edges_all[j] if isinstance(edges_all, list) else edges_all[:, j]
        hist = hist_all[j] if isinstance(hist_all, list) else hist_all[:, j]
        logs = np.log2(hist + detector.alpha)
        bins = len(hist)
        col = x[:, j]
        at = np.digitize(col, edges, right=True)
        near_low = (edges[0] - col) <= (edges[1] - edges[0]) * detector.tol
        near_high = (col - edges[-1]) <= (edges[-1] - edges[-2]) * detector.tol
        low = np.where(near_low, logs[0], logs.min())
        high = np.where(near_high, logs[bins - 1], logs.min())
        inside = logs[np.clip(at - 1, 0, bins - 1)]
        total += np.where(at == 0, low, np.where(at == bins + 1, high, inside))
    return -total  # PyOD inverts: rare bins (low density) score high


# ------------------------------------------------------------------------------- fitted detectors


def detector_class(info: DetectorInfo) -> type:
    """Import the PyOD class; ImportError naming the missing optional dependency."""
    try:
        # PyOD prints "please install torch first" on stdout when an extra is missing
        with contextlib.redirect_stdout(io.StringIO()):
            module = importlib.import_module(f"pyod.models.{info.module}")
    except ImportError as exc:
        need = f"; it needs {info.requires} (pip install {info.requires})" if info.requires else ""
        raise ImportError(f"detector '{info.name}' cannot be imported: {exc}{need}") from exc
    cls: type = getattr(module, info.cls)
    return cls


def constructor_parameters(cls: type) -> list[str]:
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]
    return [p for p in signature.parameters if p not in ("self", "args", "kwargs")]


@dataclass
class FittedDetector:
    """A PyOD detector (or its inductive scorer) with the encoding of its inputs."""

    name: str
    encoding: Encoding
    scorer: Any
    fit_rows: int

    def score(self, x_raw: np.ndarray) -> np.ndarray:
        x = self.encoding.apply(x_raw)
        if self.name == "hbos" and self.scorer.n_bins == "auto":
            return hbos_scores(self.scorer, x)
        return np.asarray(self.scorer.decision_function(x), dtype=np.float64).ravel()


def fit_detector(
    x: np.ndarray,
    *,
    detector: str,
    params: dict[str, Any],
    categorical: Sequence[bool],
    scale: Scale,
    seed: int,
    threads: int,
) -> FittedDetector:
    """Fit the encoding and the detector on ``x`` (the fit sample, raw features with NaN)."""
    info = DETECTORS[detector]
    if x.shape[0] < MIN_FIT_ROWS:
        raise ValueError(
            f"{detector}: only {x.shape[0]} rows to fit on (at least {MIN_FIT_ROWS} needed); "
            "widen the training window or use fit_on: all"
        )
    scaling = ("robust" if info.scale else "none") if scale == "auto" else scale
    encoding = Encoding.fit(x, categorical, scaling, threads)
    z = encoding.apply(x)
    cls = detector_class(info)
    names = constructor_parameters(cls)
    injected = {"random_state": seed, "n_jobs": threads}
    kwargs = {**{k: v for k, v in injected.items() if k in names}, **params}
    neighbours = kwargs.get("n_neighbors")
    if isinstance(neighbours, int) and neighbours >= x.shape[0]:
        # scikit-learn's LOF fits with n_rows - 1 and warns, while the run logs the asked value
        raise ValueError(
            f"{detector}: n_neighbors is {neighbours}, but only {x.shape[0]} rows to fit on; "
            "lower n_neighbors or raise sample_size"
        )
    model = cls(**kwargs)  # PyOD checks its parameters here (contamination's range)
    if detector in ("ecod", "copod"):  # PyOD's scoring is transductive: see the module doc
        method: Literal["ecod", "copod"] = "ecod" if detector == "ecod" else "copod"
        # and PyOD's fit would only score the fit sample, which nothing reads: its CDFs of every
        # column, argsorts and float64 copies of the matrix took 22.8 s and 2.7 GB beyond the
        # matrix, a fit, on 200,000 rows x 309 features
        return FittedDetector(detector, encoding, EcdfScorer(z, method, threads), x.shape[0])
    model.fit(z)
    return FittedDetector(detector, encoding, model, x.shape[0])


def score_frame(
    fitted: FittedDetector,
    frame: pl.DataFrame,
    features: Sequence[str],
    rows: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Scores of ``frame`` (or of its ``rows``), ``CHUNK_ROWS`` rows at a time, ``threads`` chunks
    at once (the matrix build and the numpy scorers release the GIL; memory stays bounded at one
    chunk per thread)."""
    n = frame.height if rows is None else rows.size
    out = np.empty(n, dtype=np.float64)

    def score_chunk(start: int) -> None:
        stop = min(start + CHUNK_ROWS, n)
        if rows is None:
            x = to_matrix(frame.slice(start, stop - start), features)
        else:
            x = rows_matrix(frame, features, rows[start:stop])
        out[start:stop] = fitted.score(x)

    each(score_chunk, range(0, n, CHUNK_ROWS), threads)
    return out


def rows_matrix(frame: pl.DataFrame, features: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """The feature matrix of some rows, gathering only the feature columns."""
    return to_matrix(frame.select(features)[rows], features)


def sample_rows(eligible: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``size`` of the ``eligible`` row indices, uniformly without replacement, sorted."""
    if eligible.size <= size:
        return eligible
    return np.sort(rng.choice(eligible, size=size, replace=False))


def times(frame: pl.DataFrame, time: str) -> np.ndarray:
    """The ``time`` column's values as numbers for the folds: a datetime's microseconds, whatever
    unit the frame holds it in (Arrow batches from an engine may differ from the fit's)."""
    column = frame.get_column(time)
    if isinstance(column.dtype, pl.Datetime):
        column = column.dt.cast_time_unit("us")
    return column.to_physical().to_numpy()


def time_cuts(frame: pl.DataFrame, time: str, folds: int) -> np.ndarray:
    """The first time of each fold after the first: consecutive blocks of about equal size in
    time order, the time at rank ceil(k * rows / folds) beginning fold k."""
    ordered = np.sort(times(frame, time))
    if ordered.size == 0:
        return ordered
    starts = [min(-(-k * ordered.size // folds), ordered.size - 1) for k in range(1, folds)]
    return ordered[starts]


def folds_by_time(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """The fold of each time: how many of the ``cuts`` it has reached. Equal times share their
    fold, so a row's fold follows from its time alone, in any order and on any engine (a rank
    split a time's rows between two folds by their order in the frame)."""
    return np.searchsorted(cuts, values, side="right").astype(np.int32)


def time_folds(frame: pl.DataFrame, time: str, folds: int) -> np.ndarray:
    """Fold 0..folds-1 of every row (:func:`time_cuts`, :func:`folds_by_time`)."""
    return folds_by_time(times(frame, time), time_cuts(frame, time, folds))


def out_of_fold_scores(
    frame: pl.DataFrame,
    features: Sequence[str],
    *,
    fold: np.ndarray,
    eligible: np.ndarray,
    sample_size: int,
    seed: int,
    **fit: Any,
) -> tuple[np.ndarray, list[FittedDetector | None]]:
    """Each fold's rows scored by a detector fitted on a sample of the *other* folds' eligible
    rows; the scores, and each fold's detector (None: a fold without rows).

    ``eligible`` is a boolean mask (all rows, or the genuine ones). A row's score never comes from a
    detector that saw the row, so a model trained on these scores cannot learn the detector's
    memory of its own training rows (with ``fit_on: genuine``, that memory would be the label).
    """
    out = np.empty(frame.height, dtype=np.float64)
    detectors: list[FittedDetector | None] = []
    for k in range(int(fold.max()) + 1):
        rows = np.flatnonzero(fold == k)
        if rows.size == 0:  # equal cut times: no time falls in this fold
            detectors.append(None)
            continue
        rng = np.random.default_rng([seed, k + 1])
        fit_rows = sample_rows(np.flatnonzero(eligible & (fold != k)), sample_size, rng)
        fitted = fit_detector(rows_matrix(frame, features, fit_rows), seed=seed, **fit)
        out[rows] = score_frame(fitted, frame, features, rows, threads=fit.get("threads", 1))
        detectors.append(fitted)
        log.debug("fold %d: fitted on %d rows, scored %d", k, fit_rows.size, rows.size)
    return out, detectors


def scores_by_fold(
    detectors: Sequence[FittedDetector | None],
    cuts: np.ndarray,
    frame: pl.DataFrame,
    features: Sequence[str],
    time: str,
    threads: int = 1,
) -> np.ndarray:
    """Each row of ``frame`` scored by the detector of its time's fold (:func:`folds_by_time`):
    for training rows, the scores :func:`out_of_fold_scores` gave them."""
    fold = folds_by_time(times(frame, time), cuts)
    out = np.empty(frame.height, dtype=np.float64)
    for k, detector in enumerate(detectors):
        rows = np.flatnonzero(fold == k)
        if rows.size:
            assert detector is not None  # a fold with rows at fit time has its detector
            out[rows] = score_frame(detector, frame, features, rows, threads=threads)
    return out
