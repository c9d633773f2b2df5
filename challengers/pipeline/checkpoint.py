"""Finished models survive an interrupted run; ``--resume`` reuses them.

As soon as a model has been fitted and has scored the test rows, its directory
``<output>/models/<name>/`` gets everything the rest of the run needs from it:

- the fitted model in its native format (LightGBM ``model.txt``, XGBoost ``model.json``), when the
  kind has one;
- ``predictions.parquet``: the test rows' id (or row number) and the model's score (and its twin's);
- ``arrays.npz``: any other per-row output of the fit (e.g. training-window scores), when present;
- ``checkpoint.json``, written last and atomically, so its presence means the rest is complete: the
  config hash and data fingerprint of the run, the fit time, the params, the feature importance.

``challenge run --resume --output DIR`` reads them back instead of training: a model whose checkpoint
matches is restored (no pickle: scores from parquet, the booster from its native file), everything
else is trained. Checkpoints of another config or other data are refused (exit 2), never mixed in.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from challengers.errors import (
    ChallengeError,
    ConfigError,
    DataError,
    EnvironmentFailure,
    RunInterrupted,
    first_line,
)
from challengers.files import atomic_path, environment_failure, write_json, write_parquet_atomic
from challengers.models import trees
from challengers.models.base import BaseChallenger
from challengers.pipeline.interrupts import deferred, signal_name

if TYPE_CHECKING:
    from challengers.pipeline.fitting import Fitted
    from challengers.pipeline.plan import ModelPlan
    from challengers.pipeline.prepare import Prepared
    from challengers.progress import Progress
    from challengers.tuning.records import TuneResult

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.json"
PREDICTIONS = "predictions.parquet"
ARRAYS = "arrays.npz"
FORMAT = 1
# Fitted fields the checkpoint knows how to store; a model whose Fitted carries anything else
# is not checkpointed and is simply trained again on resume.
KNOWN = {
    "plan",
    "model",
    "scores",
    "error",
    "fit_seconds",
    "predict_seconds",
    "twin",
    "tuning",
    "training",
}


def model_dir(out: Path, name: str) -> Path:
    return out / "models" / name


def require_resumable(output_dir: Path | None) -> Path:
    """--resume needs the directory of the interrupted run."""
    if output_dir is None:
        raise ConfigError("--resume needs --output DIR: the output directory of the run to resume")
    if not output_dir.is_dir():
        raise ConfigError(
            f"--resume: {output_dir} does not exist; give the --output directory of the "
            "interrupted run, or drop --resume to start a new run"
        )
    return output_dir


def finished_models(out: Path) -> list[str]:
    """The models of ``out`` whose checkpoint is complete (what --resume would reuse)."""
    return sorted(p.parent.name for p in (out / "models").glob(f"*/{CHECKPOINT}"))


def resume_command(out: Path, config_file: str | None, tracking_uri: str | None) -> str:
    """The command that continues the run in ``out``, in the same tracking store."""
    store = f" --tracking-uri {tracking_uri}" if tracking_uri else ""
    return f"challenge run {config_file or 'CONFIG'} --resume --output {out}{store}"


def interrupted_error(
    exc: KeyboardInterrupt, out: Path, config_file: str | None, tracking_uri: str | None = None
) -> RunInterrupted:
    """The one line after Ctrl-C/SIGTERM/SIGHUP: what was kept, and the command that resumes
    (naming the store when it came from the command line or the environment: without it the
    resumed run would log to another store)."""
    kept = finished_models(out)
    return RunInterrupted(
        f"interrupted ({signal_name(exc)}): the MLflow run is marked KILLED; "
        f"{len(kept)} finished model(s) kept in {out}/models ({', '.join(kept) or 'none'}); "
        f"resume with: {resume_command(out, config_file, tracking_uri)}"
    )


def with_resume_hint(
    exc: ChallengeError, out: Path, config_file: str | None, tracking_uri: str | None
) -> ChallengeError:
    """A failure after models finished: the same error, saying which models are kept and how to
    resume once the cause is fixed (nothing trained is lost)."""
    kept = finished_models(out)
    if not kept:
        return exc
    hint = (
        f"; {len(kept)} finished model(s) kept in {out}/models ({', '.join(kept)}); after fixing "
        f"this, resume with: {resume_command(out, config_file, tracking_uri)}"
    )
    exc.args = (str(exc) + hint,)
    return exc


@dataclass
class Checkpoints:
    """The checkpoints of one output directory, for one config and one dataset."""

    out: Path
    config_hash: str
    data_fingerprint: str
    found: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> checkpoint.json
    run_id: str | None = None  # the MLflow parent run writing new checkpoints
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls, out: Path, *, config_hash: str, data_fingerprint: str, resume: bool
    ) -> Checkpoints:
        """The store; with ``resume``, the valid checkpoints found (mismatches: exit 2)."""
        store = cls(out, config_hash, data_fingerprint)
        if resume:
            for path in sorted((out / "models").glob(f"*/{CHECKPOINT}")):
                state = store._read(path)
                if state is not None:
                    store.found[state["name"]] = state
        return store

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if state.get("format") != FORMAT or state.get("name") != path.parent.name:
                raise ValueError("not a checkpoint of this version")
        except (OSError, ValueError, AttributeError) as exc:
            self.notes.append(f"{path} is unreadable ({exc}); that model is trained again")
            return None
        where = f"--resume: {path.parent}"
        if state.get("config_hash") != self.config_hash:
            raise ConfigError(
                f"{where} was made with another config (hash {state.get('config_hash')} there, "
                f"{self.config_hash} now); resume with the config of the interrupted run, or start "
                "afresh with another --output"
            )
        if state.get("data_fingerprint") != self.data_fingerprint:
            raise DataError(
                f"{where} was made from other data (fingerprint "
                f"{str(state.get('data_fingerprint'))[:12]} there, {self.data_fingerprint[:12]} "
                "now); restore the data of the interrupted run, or start afresh with another "
                "--output"
            )
        return state

    def tags(self) -> dict[str, str]:
        """Parent-run tags saying what this run reused and from which runs."""
        if not self.found:
            return {}
        runs = sorted({str(s.get("run_id")) for s in self.found.values() if s.get("run_id")})
        return {"resumed_models": ",".join(sorted(self.found)), "resumed_from": ",".join(runs)}

    # ---------------------------------------------------------------------------------- reuse

    def reuse(
        self, mp: ModelPlan, prepared: Prepared, progress: Progress | None = None
    ) -> Fitted | None:
        """The model restored from its checkpoint, or None when it must be trained."""
        fitted = self._restored(mp, prepared)
        if progress is not None:
            while self.notes:
                progress.note(self.notes.pop(0))
            if fitted is not None:
                progress.note(f"{mp.name}: reused from {model_dir(self.out, mp.name)} (--resume)")
        return fitted

    def _restored(self, mp: ModelPlan, prepared: Prepared) -> Fitted | None:
        state = self.found.get(mp.name)
        if state is None:
            return None
        try:
            return _restore(state, model_dir(self.out, mp.name), mp, prepared)
        except Exception as exc:  # damaged or partial: the model is simply trained again
            self.notes.append(
                f"checkpoint of '{mp.name}' is incomplete ({first_line(exc)}); trained again"
            )
            return None

    # ----------------------------------------------------------------------------------- keep

    def keep(self, fitted: Fitted, prepared: Prepared) -> Fitted:
        """Write the checkpoint of a model that finished; failed models are not kept (they are
        tried again on resume). Signals wait until the checkpoint is whole."""
        directory = model_dir(self.out, fitted.plan.name)
        unknown = [
            f.name
            for f in fields(fitted)
            if f.name not in KNOWN and not _is_array_or_none(getattr(fitted, f.name))
        ]
        if fitted.scores is None or fitted.model is None or unknown:
            log.debug("%s: not checkpointed (%s)", fitted.plan.name, ", ".join(unknown))
            (directory / CHECKPOINT).unlink(missing_ok=True)  # an older run's: not this model
            return fitted
        with deferred():
            try:
                self._write(fitted, prepared, directory)
            except EnvironmentFailure:
                raise
            except Exception as exc:  # the model is fine: writing it failed (disk, permissions)
                (directory / CHECKPOINT).unlink(missing_ok=True)
                failure = environment_failure(exc)
                if failure is not None:
                    raise failure from exc
                raise EnvironmentFailure(
                    f"cannot write the checkpoint of '{fitted.plan.name}' to {directory}: "
                    f"{first_line(exc)}; check the --output directory"
                ) from exc
        return fitted

    def _write(self, fitted: Fitted, prepared: Prepared, directory: Path) -> None:
        (directory / CHECKPOINT).unlink(missing_ok=True)  # stale until the new one is whole
        directory.mkdir(parents=True, exist_ok=True)
        model = fitted.model
        assert model is not None and fitted.scores is not None
        native = _save_native(model, directory)
        frame = _keys(prepared).with_columns(pl.Series("score", fitted.scores))
        if fitted.twin is not None:
            frame = frame.with_columns(pl.Series("twin_score", fitted.twin.scores))
        write_parquet_atomic(frame, directory / PREDICTIONS)
        arrays = {
            f.name: getattr(fitted, f.name)
            for f in fields(fitted)
            if f.name not in KNOWN and isinstance(getattr(fitted, f.name), np.ndarray)
        }
        if arrays:
            _write_arrays(arrays, directory / ARRAYS)
        state = _state(fitted, model, native)
        state.update(
            config_hash=self.config_hash,
            data_fingerprint=self.data_fingerprint,
            run_id=self.run_id,
            arrays=sorted(arrays),
            rows_test=len(fitted.scores),
        )
        write_json(directory / CHECKPOINT, state)


def _is_array_or_none(value: object) -> bool:
    return value is None or isinstance(value, np.ndarray)


def _keys(prepared: Prepared) -> pl.DataFrame:
    test, key = prepared.split.test, prepared.plan.spec.id
    return test.select(key) if key else pl.DataFrame({"row": np.arange(test.height)})


def _state(fitted: Fitted, model: BaseChallenger, native: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": fitted.plan.name,
        "role": fitted.plan.role,
        "kind": fitted.plan.kind,
        "finished_at": datetime.now(UTC).isoformat(),
        "fit_seconds": fitted.fit_seconds,
        "predict_seconds": fitted.predict_seconds,
        "calibrated": bool(model.calibrated),
        "flavor": _flavor(model),
        "params": json.loads(json.dumps(model.get_params(), default=str)),
        "importance": model.feature_importance(),
        "features": list(model.features_),
        "native_file": native,
        "native_reads_features": native is not None and _reads_data(model, fitted.plan.features),
        "twin": None
        if fitted.twin is None
        else {"label": fitted.twin.label, "calibrated": fitted.twin.calibrated},
        "tuning": None if fitted.tuning is None else fitted.tuning.to_state(),
        "training": fitted.training,
    }


def _flavor(model: BaseChallenger) -> str | None:
    lib = trees.library_of(model.native_model())
    return None if lib is None else lib.flavor


def _save_native(model: BaseChallenger, directory: Path) -> str | None:
    """The fitted model's native file name in ``directory``, or None for kinds without one."""
    try:
        return model.save(directory).name
    except NotImplementedError:
        pass
    booster = model.native_model()  # a loaded champion file: saved as the library saves it
    lib = trees.library_of(booster)
    if lib is None:
        return None
    lib.save(booster, directory / lib.native_file)
    return lib.native_file


def _reads_data(model: BaseChallenger, columns: tuple[str, ...]) -> bool:
    """Whether the native model reads data columns only (not features the kind derives, such as
    graph features or a detector's score), so the restored booster can score new rows."""
    booster = model.native_model()
    lib = trees.library_of(booster)
    names = lib.feature_names(booster) if lib is not None else []
    features = list(model.features_)
    return names == features and set(features) <= set(columns)


def _write_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    # through a handle: given a path, numpy would add .npz to the temporary name
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ restore


def _restore(state: dict[str, Any], directory: Path, mp: ModelPlan, prepared: Prepared) -> Fitted:
    from challengers.evaluation.twins import TwinScores
    from challengers.pipeline.fitting import Fitted

    frame = pl.read_parquet(directory / PREDICTIONS)
    keys = _keys(prepared)
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
