"""A finished model read back from its checkpoint, for ``--resume``: its test scores from
parquet, its per-row arrays from npz, its booster from the native file (never a pickle), and the
in-sample numbers kept for a model no native file scores."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from challengers.models import trees
from challengers.models.base import BaseChallenger
from challengers.pipeline.insample import InSample
from challengers.pipeline.resume import ARRAYS, PREDICTIONS

if TYPE_CHECKING:
    from challengers.pipeline.fitting import Fitted
    from challengers.pipeline.plan import ModelPlan
    from challengers.tuning.records import TuneResult


def restore(state: dict[str, Any], directory: Path, mp: ModelPlan, keys: pl.DataFrame) -> Fitted:
    """The model of ``state`` (a checkpoint.json) as the run's Fitted; its predictions must be
    for the test rows ``keys`` (ValueError when they are not)."""
    from challengers.evaluation.twins import TwinScores
    from challengers.pipeline.fitting import Fitted

    frame = pl.read_parquet(directory / PREDICTIONS)
    if frame.height != keys.height or not frame.select(keys.columns).equals(keys):
        raise ValueError("its predictions are for other test rows")
    scores = frame.get_column("score").to_numpy()
    twin = None
    if state.get("twin") is not None:
        twin = TwinScores(
            label=state["twin"]["label"],
            scores=frame.get_column("twin_score").to_numpy(),
            calibrated=bool(state["twin"]["calibrated"]),
        )
    arrays: dict[str, np.ndarray] = {}
    if state.get("arrays"):
        with np.load(directory / ARRAYS, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in state["arrays"]}
    model = RestoredModel(state, directory)
    fitted = Fitted(
        plan=mp,
        model=model,
        scores=scores,
        fit_seconds=float(state["fit_seconds"]),
        predict_seconds=float(state["predict_seconds"]),
        twin=twin,
        tuning=_restore_tuning(state.get("tuning"), model),
        training=state.get("training"),
        in_sample=InSample.from_state(state.get("in_sample")),  # absent from older checkpoints
    )
    for name, values in arrays.items():  # per-row outputs other parts of the run added
        setattr(fitted, name, values)
    return fitted


def _restore_tuning(state: dict[str, Any] | None, model: BaseChallenger) -> TuneResult | None:
    if state is None:
        return None
    from challengers.tuning.records import TuneResult

    return TuneResult.from_state(state, model)


class RestoredModel(BaseChallenger):
    """A finished model read back from its checkpoint: what the rest of the run needs of it
    (params, importance, calibration, the native booster for MLflow and explanations), without
    training and without unpickling anything."""

    def __init__(self, state: dict[str, Any], directory: Path) -> None:
        self.state = state
        self.directory = directory
        self.calibrated = bool(state["calibrated"])
        self.features_ = tuple(state["features"])
        self.fit_seconds_ = float(state["fit_seconds"])
        self.finished_at = str(state["finished_at"])

    # what is a class attribute of a real kind is per instance here
    @property
    def kind(self) -> str:  # type: ignore[override]
        return str(self.state["kind"])

    def get_params(self) -> dict[str, Any]:
        return dict(self.state["params"])

    def feature_importance(self) -> dict[str, float]:
        return dict(self.state["importance"])

    def native_model(self) -> Any:
        if not hasattr(self, "booster_"):
            self.booster_ = self._load_booster()
        return self.booster_

    def _library(self) -> trees.TreeLibrary | None:
        flavor = self.state.get("flavor")
        return next((lib for lib in trees.LIBRARIES.values() if lib.flavor == flavor), None)

    def _load_booster(self) -> Any:
        name, lib = self.state.get("native_file"), self._library()
        if name is None or lib is None:
            return None
        return lib.load(self.directory / name)

    def save(self, directory: Path) -> Path:
        name = self.state.get("native_file")
        if name is None:
            raise NotImplementedError(f"{self.kind} has no native model file")
        source, target = self.directory / name, Path(directory) / name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        return target

    def model_inputs(
        self, frame: pl.DataFrame, *, history: pl.DataFrame | None = None
    ) -> tuple[np.ndarray, list[str]]:
        self._require_data_inputs()
        return super().model_inputs(frame, history=history)

    def _require_data_inputs(self) -> None:
        if not self.state.get("native_reads_features"):
            raise NotImplementedError(
                f"{self.kind}: restored from its checkpoint; its features are derived at fit "
                "time, so only its stored scores exist"
            )

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        from challengers.data.frames import to_matrix

        self._require_data_inputs()
        lib = self._library()
        assert lib is not None  # a native file that reads the data: a tree booster
        threads = self.state["params"].get("threads")
        return lib.predict(self.native_model(), to_matrix(frame, self.features_), threads)
