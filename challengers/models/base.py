"""The one interface every model kind implements: :class:`BaseChallenger`, which also does the
shared work.

A kind is one class: ``kind`` (its name in the config), ``Params`` (the pydantic model of its YAML
section, :mod:`challengers.models.params`), ``from_config`` (the unfitted model from that section),
``_fit`` and ``_predict``. Its constructor only stores its arguments (scikit-learn's rule), and they
are the section's keys (``Params.model_params()``) plus ``seed`` and ``threads``, so ``get_params()``
equals the YAML and the MLflow params. Learned state ends in ``_``; ``fit`` returns ``self`` and never
mutates its inputs; ``predict_score`` is higher-is-riskier. Optional abilities are mixins
(:mod:`challengers.models.abilities`).
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from challengers.allocator import drop_read_pages, reused_blocks
from challengers.data.frames import DataSpec, to_matrix
from challengers.models.params import ChallengerParams

# rows scored at a time: the float32 block of 2**20 rows is 4 MB a feature, where the test window's
# whole matrix was 0.77 GB at 100M transactions (17.4M rows, 11 features)
SCORE_BLOCK = 1 << 20


def predict_in_blocks(
    frame: pl.DataFrame,
    features: Sequence[str],
    predict: Callable[[np.ndarray], np.ndarray],
    *,
    rows: int | None = None,
) -> np.ndarray:
    """``predict`` of the features' float32 matrix, one block of ``rows`` rows (default
    :data:`SCORE_BLOCK`) at a time, written into one array of the scores' own dtype and shape.

    The same numbers as ``predict(to_matrix(frame, features))``, to the last bit: a booster scores
    each row on its own (every tree, in order), whatever rows it is given with. A frame of one
    block is scored exactly that way."""
    step = rows or SCORE_BLOCK
    if frame.height <= step:
        return np.asarray(predict(to_matrix(frame, features)))
    first = np.asarray(predict(to_matrix(frame.slice(0, step), features)))
    # the library's dtype and shape (a column per class, if any), filled block by block
    scores = np.empty((frame.height, *first.shape[1:]), dtype=first.dtype)
    scores[:step] = first
    for start in range(step, frame.height, step):
        drop_read_pages()  # the block before is scored: its pages (a spilled window's) let go of
        scores[start : start + step] = predict(to_matrix(frame.slice(start, step), features))
    return scores


class NotFittedError(RuntimeError):
    """predict_score, save or importance called before fit."""


class BaseChallenger:
    """Shared plumbing: parameter round-trip, fitted checks, timing, feature bookkeeping.

    Subclasses implement ``_fit`` and ``_predict`` and set ``kind``. A kind whose fitted model is a
    tree booster returns it from ``native_model``: its library (``models/trees.py``) says how it is
    saved, restored, explained and logged to MLflow.
    """

    kind: ClassVar[str] = "base"
    Params: ClassVar[type[ChallengerParams]] = ChallengerParams  # its YAML section
    calibrated: bool = False
    in_sample_wanted_: bool = False  # fit(in_sample=True): keep the training rows' scores
    in_sample_: np.ndarray | None = None  # those scores, float32 or float64 as made

    @classmethod
    def from_config(cls, settings: Any, *, seed: int, threads: int | None) -> Self:
        """The unfitted model of a config section (an instance of ``Params``, or a tree spec):
        its model keys are the constructor's arguments. Champions, built from the champion
        section, override it."""
        arguments: dict[str, Any] = {**settings.model_params(), "seed": seed, "threads": threads}
        return cls(**arguments)

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments: the section's model keys, seed and threads; equal to the MLflow
        params; ``type(m)(**m.get_params())`` rebuilds the model unfitted."""
        import inspect

        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        return {name: getattr(self, name) for name in names}

    def fit_identity(self, spec: DataSpec) -> Hashable | None:
        """What decides this model's fit on a run's training rows with ``spec``: two models with
        equal identities, fitted on the same rows, are the same model to the last bit. None: not
        known (the run never reuses such a fit)."""
        return None

    def libraries(self) -> tuple[str, ...]:
        """The modules ``_fit`` imports. ``fit`` imports them before its timer starts, so that
        ``fit_seconds_`` times training, not an import (``import lightgbm`` pulls in pandas and
        scikit-learn where they are installed: seconds, against a fraction of that to train)."""
        return ()

    def fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        *,
        valid: pl.DataFrame | None = None,
        history: pl.DataFrame | None = None,
        in_sample: bool = False,
    ) -> Self:
        """Train on ``train``. ``in_sample``: keep the scores of ``train`` where the fit computes
        them anyway (see :meth:`take_in_sample_scores`)."""
        for module in self.libraries():  # imported before the timer: fit_seconds_ is training
            with contextlib.suppress(ImportError):  # _fit raises it with its install hint
                importlib.import_module(module)
        started = time.perf_counter()
        self.features_ = tuple(spec.features)
        self.spec_ = spec
        self.in_sample_wanted_, self.in_sample_ = in_sample, None
        with reused_blocks():  # the library's buffers of each round from the heaps
            self._fit(train, spec, valid, history)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def take_in_sample_scores(self) -> np.ndarray | None:
        """The scores of the rows the last ``fit(..., in_sample=True)`` trained on, equal to
        ``predict_score`` of them to the last bit, where training computed them anyway (a booster
        updates every training row's score each round): predicting them again cost as much as a
        third of the fit. Handed over once (a window's worth of float64 is not kept with the
        model). None: predict them."""
        scores, self.in_sample_ = self.in_sample_, None
        return None if scores is None else np.asarray(scores, dtype=np.float64)

    def predict_score(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> np.ndarray:
        self._check_fitted()
        scores = np.asarray(self._predict(frame, history), dtype=np.float64).ravel()
        if scores.shape[0] != frame.height:
            raise RuntimeError(f"{self.kind}: {scores.shape[0]} scores for {frame.height} rows")
        return scores

    def training_columns(self) -> tuple[str, ...]:
        """The columns :meth:`training_score` reads."""
        return tuple(self.features_)

    def training_score(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> np.ndarray:
        """The scores of the model's own training rows ``frame`` as it trained on them (the
        in-sample diagnostics): its scores of any row, unless the kind trained on inputs built
        apart for its training rows (an anomaly hybrid's out-of-fold detector scores)."""
        return self.predict_score(frame, history=history)

    def release_training_inputs(self) -> None:
        """Let go of what only :meth:`training_score` needs, once the run has scored the
        training rows (an anomaly hybrid's fold detectors)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "features_")

    def feature_importance(self) -> dict[str, float]:
        """Gain importance per feature, normalised to sum to 1 (empty when not applicable)."""
        return {}

    def native_model(self) -> Any:
        """The fitted booster (None: the kind has none; logged and checkpointed as scores only)."""
        self._check_fitted()
        return None

    def model_inputs(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """The matrix ``native_model()`` reads for these rows, and its column names (used for
        SHAP explanations). Kinds that derive their own features override this."""
        self._check_fitted()
        return to_matrix(frame, self.features_), list(self.features_)

    def save(self, directory: Path) -> Path:
        """Write the fitted model in its native format; returns the file."""
        raise NotImplementedError(f"{self.kind} cannot be saved")

    @classmethod
    def lookback_days(cls, settings: Any) -> int:
        """Days of history before the training window this kind needs (time-aware features).

        Counted in transactions; the plan adds the label delay, so that the labels of those days
        are known too.
        """
        return 0

    @classmethod
    def check_settings(cls, settings: Any, features: Sequence[str]) -> None:
        """Plan-time checks of the config section that need its features or a heavy import.

        Raises ConfigError; runs before any row is read, so a bad config fails before training.
        """

    # subclasses
    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        raise NotImplementedError

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        raise NotImplementedError
