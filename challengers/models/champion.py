"""The champion, from whichever source the first line handed over.

- a score column of the data (the production scores),
- a native model file: LightGBM ``.txt`` or XGBoost ``.json``/``.ubj`` (no pickle),
- an MLflow model URI (``models:/name/1``, ``runs:/id/path``) whose flavour stores a native file,
- a retrain spec (kind + params + features), trained here on the training window.

Pickled models (``.pkl``, ``.joblib``, MLflow's sklearn flavour) run arbitrary code when loaded, so they
are refused (``--allow-pickle`` loads none either: the refusal does not suggest it). A champion must be
binary: a multiclass booster (even of two classes) is refused when it loads, not when its scores
outnumber the rows.

A booster reads its inputs by position. A file that stores its feature names is fed in that order,
whatever the order of ``champion.features`` (which must name the same columns): fed in the list's
order, two names swapped made another model of it, with other scores and no error. A file without
names is fed in the list's order, the only information there is, and the list must have the file's
feature count.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from challengers.data.frames import DataSpec
from challengers.errors import DataError, ModelError, closest, first_line
from challengers.models import trees
from challengers.models.base import BaseChallenger, predict_in_blocks
from challengers.threads import in_background

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".cloudpickle")


class ScoreColumnChampion(BaseChallenger):
    """Production scores already in the data."""

    kind = "score"

    def __init__(self, column: str) -> None:
        self.column = column

    @classmethod
    def from_config(cls, settings: Any, *, seed: int, threads: int | None) -> Self:
        """The champion section's ``score`` column."""
        return cls(settings.score)

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
    """A LightGBM or XGBoost booster loaded from its native file; nothing is learned here.

    Opening the file (:meth:`open`) reads and checks it and learns the model's inputs and classes
    without the library; the booster itself is built by :meth:`ready`, or in a thread from
    :meth:`start_loading` on: importing XGBoost or LightGBM takes a second or more (their
    scikit-learn and pandas), which a run hides behind the data's loading."""

    kind = "model"
    # the file's objective says, once the booster is built (:meth:`ready`); the evaluation also
    # checks the scores' range
    calibrated = True

    booster_: Any = None  # built by ready()
    facts_: trees.FileFacts | None = None  # what the file says (open())
    threads: int | None = None  # the run's (the plan sets it); None: every core
    _content: Any = None  # the checked content, until the booster is built from it
    _pending: Callable[[], Any] | None = None  # the booster being built in a thread

    def __init__(self, path: str, features: Sequence[str] | None = None) -> None:
        self.path = path
        self.features = features

    @classmethod
    def from_config(cls, settings: Any, *, seed: int, threads: int | None) -> Self:
        """The champion section's ``model`` file and ``features``, opened when fitted (the plan
        opens it earlier, with ``load_model_file``, to check its features against the data)."""
        return cls(settings.model, settings.features)

    @property
    def library(self) -> str:
        """The tree library, told by the file's suffix (``load_model_file`` checked it)."""
        return self._library().name

    def _library(self) -> trees.TreeLibrary:
        lib = trees.library_for_file(Path(self.path).suffix.lower())
        if lib is None:
            raise ModelError(f"champion.model: cannot tell the library of {self.path}")
        return lib

    def open(self) -> trees.FileFacts:
        """Read the file and check it is safe to hand to its library; its feature names (may be
        empty) and classes."""
        lib = self._library()
        with self._readable(lib):
            content = lib.read(self.path)
            facts = lib.facts(content)
            if facts.features and len(facts.features) != facts.inputs:
                # which name goes with which input cannot be told: a damaged header
                raise ValueError(
                    f"it names {len(facts.features)} features and reads {facts.inputs}"
                )
            if facts.outputs < 1:
                raise ValueError(f"it gives {facts.outputs} scores a row")
        self.facts_, self._content = facts, lib.kept(content)
        return facts

    def start_loading(self) -> None:
        """Build the booster in a thread from now on (:meth:`ready` waits for it)."""
        if self.booster_ is None and self._pending is None:
            self._pending = in_background(self._build, self._content, name="challenge-champion")

    def ready(self) -> None:
        """The booster built (or its error raised): the one :meth:`start_loading` began, else
        built now. The library must read the file as :meth:`open` did: a file whose header and
        trees disagree is refused, not scored with other inputs than the plan checked."""
        if self.booster_ is not None:
            return
        pending, self._pending = self._pending, None
        lib = self._library()
        with self._readable(lib):
            booster = pending() if pending is not None else self._build(self._content)
        read = lib.facts_of(booster)
        if read != self.facts_:
            raise ModelError(
                f"champion.model: {self.path} is not a readable {lib.title} model: the file "
                f"says {_told(self.facts_)}, {lib.title} reads {_told(read)}; {lib.export_hint}"
            )
        lib.limit_threads(booster, self.threads)
        self.booster_, self._content = booster, None
        self.calibrated = lib.gives_probabilities(booster)

    def _build(self, content: Any) -> Any:
        if self.facts_ is None:  # not opened (a champion made from the config alone)
            self.open()
            content = self._content
        return self._library().booster(content, self.path)

    @contextlib.contextmanager
    def _readable(self, lib: trees.TreeLibrary) -> Iterator[None]:
        """The library's or the checks' error as the one line of a file that cannot be read."""
        try:
            yield
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"champion.model: {self.path} is not a readable {lib.title} model: "
                f"{first_line(exc)}; {lib.export_hint}"
            ) from exc

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        # the champion is fixed: "fit" only reads it, and checks that the data can feed it
        self.ready()
        assert self.facts_ is not None  # ready() opened the file
        self.features_ = tuple(self.inputs())

    def inputs(self) -> list[str]:
        """The columns the booster reads, in the order it reads them: the file's names (which
        ``champion.features`` must name, in any order), else ``champion.features`` as listed."""
        facts = self.facts_ or self.open()
        lib = self._library()
        named = () if lib.placeholder_names(facts.features) else facts.features
        if not self.features:
            if not facts.features:
                raise ModelError(
                    f"champion.model: {self.path} stores no feature names; list them in "
                    "champion.features"
                )
            return list(facts.features)  # a placeholder name the data lacks is refused later
        if named:
            _require_same_names(self.features, named, self.path)
            return list(named)
        if len(self.features) != facts.inputs:
            raise ModelError(
                f"champion.model: {self.path} reads {facts.inputs} features and stores no names, "
                f"but champion.features lists {len(self.features)}; list the model's "
                f"{facts.inputs} inputs there, in the order it was trained on"
            )
        return list(self.features)

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        lib = self._library()
        threads = self.threads
        return predict_in_blocks(
            frame, self.features_, lambda x: lib.predict(self.booster_, x, threads)
        )

    def classes(self) -> int:
        """How many classes the model predicts (2 for a binary model), as its file says."""
        return (self.facts_ or self.open()).classes

    def native_model(self) -> Any:
        self.ready()
        return self.booster_


def _told(facts: trees.FileFacts | None) -> str:
    if facts is None:
        return "nothing"
    return (
        f"{len(facts.features)} feature names, {facts.inputs} features and {facts.outputs} "
        "score(s) a row"
    )


def _require_same_names(listed: Sequence[str], named: Sequence[str], path: str) -> None:
    """``champion.features`` names the file's features, in any order; else the first
    difference, with what to do (under champion.model: the list, or the file, may be the wrong
    one)."""
    unknown = [f for f in listed if f not in named]
    left_out = [f for f in named if f not in listed]
    if not unknown and not left_out and len(listed) == len(named):
        return
    if unknown:
        near = closest(unknown[0], left_out or list(named))  # a misspelling of one left out
        hint = f" (closest: '{near}')" if near else ""
        problem = f"'{unknown[0]}'{hint} is not one of the file's"
    elif left_out:
        problem = f"the file's '{left_out[0]}' is not listed"
    else:  # the config refuses a name listed twice; a champion made in code may not
        twice = next(f for f in listed if list(listed).count(f) > 1)
        problem = f"'{twice}' is listed twice"
    raise ModelError(
        f"champion.model: {path} was trained on {len(named)} features and champion.features "
        f"lists {len(listed)}: {problem}; list the file's own feature names in champion.features "
        "(in any order: the file's order is used) or leave it out"
    )


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
    lib = trees.library_for_file(suffix)
    if lib is None:
        raise ModelError(
            f"champion.model: cannot tell the library of {path} from '{suffix}'; use .txt "
            "(LightGBM) or .json/.ubj (XGBoost)"
        )
    _check_content(file, lib)
    champion = NativeModelChampion(path, features)
    facts = champion.open()  # the booster is built later (ready(), or start_loading())
    _require_binary(facts, lib, path)
    if not features and not facts.features:
        champion.ready()  # a file its library refuses says so first: the truer message
    champion.features = champion.inputs()  # in the order the booster reads them
    _require_features(champion.features, schema, source=path)
    return champion


def _require_binary(facts: trees.FileFacts, lib: trees.TreeLibrary, path: str) -> None:
    """One score a row, of a binary objective: a multiclass booster of two classes gives two a
    row (XGBoost's multi:softprob, LightGBM's multiclass), which the run found only once it had
    scored the test rows ("34446 scores for 17223 rows")."""
    multiclass = facts.objective in lib.multiclass_objectives
    if facts.outputs == 1 and not multiclass:
        return
    objective = f" ({facts.objective})" if facts.objective else ""
    gives = (
        f"predicts {facts.classes} classes"
        if multiclass or facts.classes > 2
        else f"gives {facts.outputs} scores a row"
    )
    raise ModelError(
        f"champion.model: {path} {gives}{objective}; the champion must be a binary fraud model "
        f"(one score per row): export the binary model ({lib.binary_objective})"
    )


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


def _check_content(file: Path, lib: trees.TreeLibrary) -> None:
    """Tell a model saved by the other library (or not a model) before its loader fails."""
    head = _head(file).lstrip()
    if not head:
        raise ModelError(f"champion.model: {file} is empty; export the model again")
    foreign = lib.looks_foreign(head)
    if foreign:
        raise ModelError(f"champion.model: {file} {foreign}")


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
    for lib in trees.LIBRARIES.values():
        conf = flavors.get(lib.flavor)
        if conf and str(conf.get("model_class", "")).endswith("Booster"):
            data = local_dir / str(conf.get("data", ""))
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
