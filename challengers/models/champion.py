"""The champion, from whichever source the first line handed over.

- a score column of the data (the production scores),
- a native model file: LightGBM ``.txt`` or XGBoost ``.json``/``.ubj`` (no pickle),
- an MLflow model URI (``models:/name/1``, ``runs:/id/path``) whose flavour stores a native file,
- a retrain spec (kind + params + features), trained here on the training window.

Pickled models (``.pkl``, ``.joblib``, MLflow's sklearn flavour) run arbitrary code when loaded, so they
are refused unless the user passes ``--allow-pickle``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from challengers.data.frames import DataSpec, to_matrix
from challengers.errors import DataError, ModelError, closest, first_line
from challengers.models.base import BaseChallenger

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".cloudpickle")
LIGHTGBM_SUFFIXES = (".txt", ".lgb", ".model")
XGBOOST_SUFFIXES = (".json", ".ubj", ".xgb", ".bst")


class ScoreColumnChampion(BaseChallenger):
    """Production scores already in the data."""

    kind = "score"

    def __init__(self, column: str) -> None:
        self.column = column

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        scores = train.get_column(self.column)
        self.calibrated = _looks_like_probability(scores)

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        scores = frame.get_column(self.column)
        nulls = scores.null_count()
        if nulls:
            raise DataError(
                f"champion.score: column '{self.column}' has {nulls} null scores in the test "
                "window; every test row needs the production score"
            )
        return scores.cast(pl.Float64).to_numpy()


class NativeModelChampion(BaseChallenger):
    """A LightGBM or XGBoost booster loaded from its native file; nothing is learned here."""

    kind = "model"
    library: ClassVar[str] = ""
    calibrated = True  # binary boosters output probabilities; the evaluation checks the range

    def __init__(self, path: str, features: Sequence[str] | None = None) -> None:
        self.path = path
        self.features = features

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        # the champion is fixed: "fit" only checks that the data can feed it
        pass

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        return np.asarray(self.booster_predict(to_matrix(frame, self.features_)))

    def booster_predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def classes(self) -> int:
        """How many classes the model predicts (2 for a binary model)."""
        return 2


class LightGBMFileChampion(NativeModelChampion):
    library = "lightgbm"
    flavor = "lightgbm"

    def load(self) -> list[str]:
        import lightgbm as lgb

        try:
            self.booster_ = lgb.Booster(model_file=self.path)
        except Exception as exc:
            raise ModelError(
                f"champion.model: {self.path} is not a readable LightGBM model: "
                f"{first_line(exc)}; export it with booster.save_model()"
            ) from exc
        return list(self.booster_.feature_name())

    def booster_predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.predict(x))

    def classes(self) -> int:
        per_round = int(self.booster_.num_model_per_iteration())
        return per_round if per_round > 1 else 2

    def native_model(self) -> Any:
        return self.booster_


class XGBoostFileChampion(NativeModelChampion):
    library = "xgboost"
    flavor = "xgboost"

    def load(self) -> list[str]:
        import xgboost as xgb

        try:
            self.booster_ = xgb.Booster(model_file=self.path)
        except Exception as exc:
            raise ModelError(
                f"champion.model: {self.path} is not a readable XGBoost model: "
                f"{first_line(exc)}; export it with booster.save_model('model.json')"
            ) from exc
        return list(self.booster_.feature_names or [])

    def booster_predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.inplace_predict(x, validate_features=False))

    def classes(self) -> int:
        import json

        learner = json.loads(self.booster_.save_config())["learner"]
        return max(int(learner["learner_model_param"].get("num_class", 0) or 0), 2)

    def native_model(self) -> Any:
        return self.booster_


def load_model_file(
    path: str,
    *,
    features: Sequence[str] | None,
    schema: pl.Schema,
    allow_pickle: bool = False,
) -> NativeModelChampion:
    """Open a native model file and check the data holds every feature it needs."""
    file = Path(path)
    if not file.exists():
        raise ModelError(f"champion.model: file not found: {path}; check the path in the config")
    suffix = file.suffix.lower()
    if suffix in PICKLE_SUFFIXES or _is_pickle(file):
        raise ModelError(  # no flag loads one: suggesting --allow-pickle would only lead on
            f"champion.model: {path} is a pickle, which runs code when loaded and is not "
            "supported; ask the first line for a native export (LightGBM .txt, XGBoost .json)"
        )
    champion: NativeModelChampion
    if suffix in LIGHTGBM_SUFFIXES:
        champion = LightGBMFileChampion(path, features)
    elif suffix in XGBOOST_SUFFIXES:
        champion = XGBoostFileChampion(path, features)
    else:
        raise ModelError(
            f"champion.model: cannot tell the library of {path} from '{suffix}'; use .txt "
            "(LightGBM) or .json/.ubj (XGBoost)"
        )
    _check_content(file, champion.library)
    model_features = champion.load()
    classes = champion.classes()
    if classes > 2:
        raise ModelError(
            f"champion.model: {path} predicts {classes} classes; the champion must be a binary "
            "fraud model (one score per row); export the binary model"
        )
    champion.features = list(features) if features else model_features
    if not champion.features:
        raise ModelError(
            f"champion.model: {path} stores no feature names; list them in champion.features"
        )
    if model_features and features and len(features) != len(model_features):
        raise ModelError(
            f"champion.features lists {len(features)} features but {path} was trained on "
            f"{len(model_features)}; list exactly the model's inputs, in order"
        )
    _require_features(champion.features, schema, source=path)
    return champion


def _head(file: Path, size: int = 16) -> bytes:
    try:
        with file.open("rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise ModelError(f"champion.model: cannot read {file}: {exc.strerror or exc}") from exc


def _is_pickle(file: Path) -> bool:
    """A pickle by its content (protocol 2-5 opcode), whatever its name says."""
    head = _head(file)
    return len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5


def _check_content(file: Path, library: str) -> None:
    """Tell a model saved by the other library (or not a model) before its loader fails."""
    head = _head(file).lstrip()
    if not head:
        raise ModelError(f"champion.model: {file} is empty; export the model again")
    if library == "lightgbm" and head.startswith(b"{"):
        raise ModelError(
            f"champion.model: {file} holds JSON (an XGBoost model?), not a LightGBM text model; "
            "if it is XGBoost, name it .json"
        )
    if library == "xgboost" and head.startswith(b"tree"):
        raise ModelError(
            f"champion.model: {file} holds a LightGBM text model, not an XGBoost model; "
            "name it .txt"
        )


def _require_features(features: Sequence[str], schema: pl.Schema, *, source: str) -> None:
    missing = [f for f in features if f not in schema]
    if missing:
        hints = []
        for name in missing[:10]:
            near = closest(name, list(schema.names()))
            hints.append(f"'{name}'" + (f" (closest: '{near}')" if near else ""))
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ModelError(
            f"champion.model: {source} needs {len(missing)} feature(s) missing from the data: "
            f"{', '.join(hints)}{more}; add them to the data or fix champion.features"
        )


def from_mlflow_uri(
    uri: str,
    *,
    features: Sequence[str] | None,
    schema: pl.Schema,
    download: Callable[[str], tuple[Path, dict[str, Any]]],
    allow_pickle: bool = False,
) -> NativeModelChampion:
    """Load a champion logged to MLflow with the lightgbm or xgboost flavour, natively."""
    local_dir, flavors = download(uri)
    for flavor in ("lightgbm", "xgboost"):
        conf = flavors.get(flavor)
        if not conf:
            continue
        data = local_dir / str(conf.get("data", ""))
        if flavor == "lightgbm" and str(conf.get("model_class", "")).endswith("Booster"):
            return load_model_file(str(data), features=features, schema=schema)
        if flavor == "xgboost" and str(conf.get("model_class", "")).endswith("Booster"):
            return load_model_file(str(data), features=features, schema=schema)
    kinds = ", ".join(sorted(flavors)) or "none"
    hint = " (pickled flavours are not supported: they run code when loaded)"
    raise ModelError(
        f"champion.model: {uri} has flavours [{kinds}]; only native LightGBM/XGBoost boosters can "
        f"be loaded{hint}"
    )


def _looks_like_probability(scores: pl.Series) -> bool:
    lo, hi = scores.min(), scores.max()
    return lo is not None and hi is not None and float(lo) >= 0.0 and float(hi) <= 1.0  # type: ignore[arg-type]
