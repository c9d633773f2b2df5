"""Finished models survive an interrupted run; ``--resume`` reuses them.

As soon as a model has been fitted and has scored the test rows, its directory
``<output>/models/<name>/`` gets everything the rest of the run needs from it:

- the fitted model in its native format (LightGBM ``model.txt``, XGBoost ``model.json``), when the
  kind has one;
- ``predictions.parquet``: the test rows' id (or row number) and the model's score (and its twin's);
- ``arrays.npz``: any other per-row output of the fit (e.g. training-window scores), when present;
- ``checkpoint.json``, written last and atomically, so its presence means the rest is complete: the
  config hash, data fingerprint and champion model's digest of the run, the fit time, the params,
  the feature importance; and in a narrow run, for a model the executors score only by receiving
  it whole (an anomaly detector), its in-sample metrics and score reference
  (:mod:`challengers.pipeline.insample`), which nothing could compute again once it is restored
  (an older checkpoint without them resumes too, that model without those diagnostics).

``challenge run --resume --output DIR`` reads them back instead of training: a model whose checkpoint
matches is restored (no pickle: scores from parquet, the booster from its native file), everything
else is trained. Checkpoints of another config, other data or another champion model (a file
replaced at the same path: the config is the same) are refused (exit 2), never mixed in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from challengers.errors import ConfigError, DataError, EnvironmentFailure, ModelError, first_line
from challengers.files import atomic_path, environment_failure, write_json, write_parquet_atomic
from challengers.interrupts import deferred
from challengers.models import trees
from challengers.models.base import BaseChallenger
from challengers.pipeline.restored import restore
from challengers.pipeline.resume import ARRAYS, CHECKPOINT, PREDICTIONS, model_dir

if TYPE_CHECKING:
    from challengers.pipeline.fitting import Fitted
    from challengers.pipeline.plan import ModelPlan
    from challengers.pipeline.prepare import Prepared
    from challengers.progress import Progress

log = logging.getLogger(__name__)

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
    "in_sample",
}


@dataclass
class Checkpoints:
    """The checkpoints of one output directory, for one config, one dataset and one champion."""

    out: Path
    config_hash: str
    data_fingerprint: str
    # the champion's ``source.*`` record (its file's or MLflow model's path and digest)
    champion: Mapping[str, str] = field(default_factory=dict)
    found: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> checkpoint.json
    run_id: str | None = None  # the MLflow parent run writing new checkpoints
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        out: Path,
        *,
        config_hash: str,
        data_fingerprint: str,
        resume: bool,
        champion: Mapping[str, str] | None = None,
    ) -> Checkpoints:
        """The store; with ``resume``, the valid checkpoints found (mismatches: exit 2)."""
        store = cls(out, config_hash, data_fingerprint, dict(champion or {}))
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
        self._check_champion(state, where)
        return state

    @property
    def champion_digest(self) -> str | None:
        return self.champion.get("source.digest")

    def _check_champion(self, state: dict[str, Any], where: str) -> None:
        """The champion's file (or MLflow model) must be the one the checkpoint was made with: the
        config names it by its path only, so a model replaced there would be reused as the old
        one's scores. A checkpoint of a release that did not record it cannot be checked."""
        if "champion_digest" not in state or state["champion_digest"] == self.champion_digest:
            return
        there, now = str(state["champion_digest"])[:12], str(self.champion_digest)[:12]
        raise ModelError(
            f"{where} was made with another champion model: "
            f"{self.champion.get('source.uri', 'champion.model')} changed (sha256 {there} there, "
            f"{now} now); restore the model of the interrupted run, or start afresh with another "
            "--output"
        )

    def resumed_runs(self) -> list[str]:
        """The MLflow parent runs that wrote the checkpoints this run reuses."""
        return sorted({str(s.get("run_id")) for s in self.found.values() if s.get("run_id")})

    def tags(self) -> dict[str, str]:
        """Parent-run tags saying where the checkpoints are (what a replication of an unfinished
        run tells to resume), what this run reused and from which runs."""
        tags = {"output_dir": str(self.out.resolve())}
        if not self.found:
            return tags
        return {
            **tags,
            "resumed_models": ",".join(sorted(self.found)),
            "resumed_from": ",".join(self.resumed_runs()),
        }

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
            return restore(state, model_dir(self.out, mp.name), mp, _keys(prepared))
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
            champion_digest=self.champion_digest,
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
        "in_sample": None if fitted.in_sample is None else fitted.in_sample.to_state(),
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
