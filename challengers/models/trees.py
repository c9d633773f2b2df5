"""The tree libraries, one entry each: everything the tool does with a LightGBM or XGBoost booster.

Per library: its MLflow flavour (and the options it is logged with), its native file (name for the
models the tool saves, suffixes it recognises in a champion file, how to tell its content from the
other library's), loading, scoring with the best iteration early stopping kept, saving, SHAP
contributions and the raw margin (``pred_contrib``), its feature names, and the pip package to name
in an install hint or an MLflow requirement. The champion loader, the tree challengers, checkpoints,
tracking (through the pipeline) and explanations all go through :data:`LIBRARIES`, so a third library
is one more entry here. The libraries themselves are imported only when a booster is used.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from challengers.threads import workers


@dataclass(frozen=True)
class FileFacts:
    """What a model file says of its booster's inputs and outputs, read without the library."""

    features: tuple[str, ...]  # the feature names it stores, in order (may be empty)
    classes: int  # 2 for a binary model
    inputs: int  # how many features a row must give it (in the order of its names, if any)
    outputs: int  # how many scores it gives a row: 1 for a binary model, one a class otherwise
    # as the file names it (None: not told); the booster may spell it otherwise (LightGBM's
    # header says "multiclass num_class:2"), so it is not part of the facts a booster must match
    objective: str | None = field(default=None, compare=False)


class TreeLibrary:
    """One tree library; subclasses fill in the class attributes and the booster operations."""

    name: ClassVar[str]  # also the challenger kind and the MLflow flavour
    title: ClassVar[str]  # as people write it: "LightGBM"
    flavor: ClassVar[str]
    flavor_options: ClassVar[dict[str, Any]] = {}  # extra arguments of mlflow.<flavor>.log_model
    native_file: ClassVar[str]  # the file name the tool saves its boosters under
    suffixes: ClassVar[tuple[str, ...]]  # champion files recognised as this library's
    package: ClassVar[str]  # the pip distribution (install hints, MLflow requirements)
    export_hint: ClassVar[str]  # how the first line exports a booster this tool can read
    # the objectives whose predictions are probabilities (any other: a margin, a label, a value)
    probability_objectives: ClassVar[frozenset[str]]
    # the multiclass objectives: one score per class and row, whatever the number of classes
    # (XGBoost's multi:softprob with num_class 2 is two scores a row, not a binary model)
    multiclass_objectives: ClassVar[frozenset[str]]
    binary_objective: ClassVar[str]  # the objective a champion's export should name

    def owns(self, booster: object) -> bool:
        """Whether ``booster`` is this library's Booster."""
        kind = type(booster)
        return kind.__name__ == "Booster" and kind.__module__.startswith(self.name)

    def looks_foreign(self, head: bytes) -> str | None:
        """Why the first bytes of a file show another library's model, or None."""
        return None

    def load(self, path: str | Path) -> Any:
        """The booster of a native file (its content checked first: :meth:`read`)."""
        return self.booster(self.kept(self.read(path)), path)

    def read(self, path: str | Path) -> Any:
        """The file's content, checked to be safe for the library to read (its trees are trees),
        without importing the library; ValueError (or OSError) saying what is wrong."""
        raise NotImplementedError

    def facts(self, content: Any) -> FileFacts:
        """The feature names and classes of :meth:`read`'s content, as the library's booster
        reports them (:meth:`feature_names`, :meth:`classes`)."""
        raise NotImplementedError

    def facts_of(self, booster: Any) -> FileFacts:
        """The same facts, from a booster."""
        return FileFacts(
            tuple(self.feature_names(booster)),
            self.classes(booster),
            self.inputs(booster),
            self.outputs(booster),
            self.objective(booster),
        )

    def placeholder_names(self, names: Sequence[str]) -> bool:
        """Whether ``names`` are the ones the library makes up for a model trained without
        names (they say nothing of which column is which)."""
        return False

    def booster(self, content: Any, path: str | Path) -> Any:
        """The library's booster of the file ``read`` checked (this imports the library);
        ``content`` is what :meth:`kept` kept of it."""
        raise NotImplementedError

    def kept(self, content: Any) -> Any:
        """What :meth:`booster` needs of ``read``'s content, held until the booster is built."""
        return content

    def save(self, booster: Any, path: str | Path) -> None:
        booster.save_model(str(path))

    def feature_names(self, booster: Any) -> list[str]:
        raise NotImplementedError

    def predict(self, booster: Any, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Probabilities for the rows of ``x``, with the trees up to the best iteration."""
        raise NotImplementedError

    def classes(self, booster: Any) -> int:
        """How many classes the booster predicts (2 for a binary model)."""
        raise NotImplementedError

    def inputs(self, booster: Any) -> int:
        """How many features the booster reads from a row."""
        raise NotImplementedError

    def outputs(self, booster: Any) -> int:
        """How many scores the booster gives a row (1 for a binary model)."""
        raise NotImplementedError

    def limit_threads(self, booster: Any, threads: int | None) -> None:
        """Make ``booster`` predict with ``threads`` threads (default: every core) where the
        library reads the count from the booster rather than from each call."""

    def contributions(
        self, booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
    ) -> np.ndarray:
        """Per-row SHAP contributions, shape (rows, features + 1); the last column is the bias."""
        raise NotImplementedError

    def raw_margin(
        self, booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
    ) -> np.ndarray:
        """The model's raw output (log-odds) for each row."""
        raise NotImplementedError

    def hyperparameters(self, booster: Any) -> tuple[dict[str, Any], str]:
        """(hyperparameters, where they come from) as far as the saved booster tells them."""
        raise NotImplementedError

    def objective(self, booster: Any) -> str | None:
        """The objective the booster was trained with, as its file names it (None: not told)."""
        raise NotImplementedError

    def gives_probabilities(self, booster: Any) -> bool:
        """Whether ``predict`` returns probabilities, told by the booster's objective: a
        ``binary:logitraw`` model scores log-odds and a ``binary:hinge`` one 0/1 labels, which
        the Brier score and the calibration must not read as probabilities (0/1 labels pass a
        range check). A booster that does not name its objective is taken at its word."""
        objective = self.objective(booster)
        return objective is None or objective in self.probability_objectives

    def requirement(self) -> str:
        """``package==version`` of the installed library (an MLflow model's pip requirement)."""
        from importlib.metadata import version

        return f"{self.package}=={version(self.package)}"


class LightGBMLibrary(TreeLibrary):
    name = "lightgbm"
    title = "LightGBM"
    flavor = "lightgbm"
    native_file = "model.txt"
    suffixes = (".txt", ".lgb", ".model")
    package = "lightgbm"
    export_hint = "export it with booster.save_model()"
    probability_objectives = frozenset({"binary", "cross_entropy", "xentropy"})
    multiclass_objectives = frozenset(
        {"multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr"}
    )
    binary_objective = "binary"

    def looks_foreign(self, head: bytes) -> str | None:
        if head.startswith(b"{"):
            return "holds JSON (an XGBoost model?), not a LightGBM text model; if it is XGBoost, name it .json"
        return None

    def read(self, path: str | Path) -> Any:
        """The text model, its trees checked: LightGBM trusts the file, and a damaged one can
        loop forever or crash it."""
        from challengers.models.lightgbm_text import check_model

        model = Path(path).read_text(encoding="utf-8")
        check_model(model)
        return model

    def facts(self, content: Any) -> FileFacts:
        """From the header, read as LightGBM reads it: ``feature_names`` split at spaces,
        ``max_feature_idx`` + 1 inputs, ``num_tree_per_iteration`` (else ``num_class``) trees (and
        scores) a round, and the objective's name before its options."""
        from challengers.models.lightgbm_text import header_fields

        header = header_fields(content)
        names = header.get("feature_names", "")
        per_round = int(header.get("num_tree_per_iteration", header.get("num_class", "1")))
        objective = header.get("objective", "").split()
        return FileFacts(
            tuple(names.split(" ")) if names else (),
            max(per_round, 2),
            int(header["max_feature_idx"]) + 1,  # check_model read it
            per_round,
            objective[0] if objective else None,
        )

    def booster(self, content: Any, path: str | Path) -> Any:
        """Its trees read one after the other: with the header's ``tree_sizes`` LightGBM reads
        them in parallel at those offsets, and offsets that miss a tree (a line lost or moved in
        the file) stop it inside its parallel loop, which ends the process (``abort``: no error,
        no line). Without them a damaged file is a LightGBMError. The same booster either way;
        reading 300 trees one by one takes milliseconds."""
        import lightgbm as lgb

        return lgb.Booster(model_str=without_tree_sizes(content))

    def feature_names(self, booster: Any) -> list[str]:
        return list(booster.feature_name())

    def classes(self, booster: Any) -> int:
        return max(int(booster.num_model_per_iteration()), 2)  # one tree per class a round

    def inputs(self, booster: Any) -> int:
        return int(booster.num_feature())

    def outputs(self, booster: Any) -> int:
        return int(booster.num_model_per_iteration())

    def placeholder_names(self, names: Sequence[str]) -> bool:
        # a model trained on an unnamed matrix stores Column_0, Column_1, ...
        return list(names) == [f"Column_{i}" for i in range(len(names))]

    def predict(self, booster: Any, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        # LightGBM predicts with the best iteration by itself (and saves only up to it)
        return np.asarray(booster.predict(x, num_threads=workers(threads)))

    def contributions(
        self, booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
    ) -> np.ndarray:
        contrib = booster.predict(x, pred_contrib=True, num_threads=workers(threads))
        return np.asarray(contrib, dtype=np.float64)

    def raw_margin(
        self, booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
    ) -> np.ndarray:
        margin = booster.predict(x, raw_score=True, num_threads=workers(threads))
        return np.asarray(margin, dtype=np.float64)

    def objective(self, booster: Any) -> str | None:
        objective = (getattr(booster, "params", None) or {}).get("objective")
        return str(objective) if objective else None

    def hyperparameters(self, booster: Any) -> tuple[dict[str, Any], str]:
        text = booster.model_to_string()
        section = text.partition("parameters:")[2].partition("end of parameters")[0]
        params: dict[str, Any] = {
            k.strip("[ "): v.strip("] ")
            for k, _, v in (line.partition(":") for line in section.splitlines() if ":" in line)
        }
        params["boosted_rounds"] = booster.num_trees()
        return params, "the model file's parameters section"


def without_tree_sizes(model: str) -> str:
    """A LightGBM text model without the ``tree_sizes`` lines of its header (before its first
    tree), which only tell LightGBM where to read the trees in parallel."""
    head, tree, trees = model.partition("\nTree=")
    kept = [line for line in head.split("\n") if not line.startswith("tree_sizes=")]
    return "\n".join(kept) + tree + trees


class XGBoostLibrary(TreeLibrary):
    name = "xgboost"
    title = "XGBoost"
    flavor = "xgboost"
    flavor_options: ClassVar[dict[str, Any]] = {"model_format": "json"}
    native_file = "model.json"
    suffixes = (".json", ".ubj", ".xgb", ".bst")
    package = "xgboost-cpu"
    export_hint = "export it with booster.save_model('model.json')"
    probability_objectives = frozenset({"binary:logistic", "reg:logistic"})
    multiclass_objectives = frozenset({"multi:softprob", "multi:softmax"})
    binary_objective = "binary:logistic"

    def looks_foreign(self, head: bytes) -> str | None:
        if head.startswith(b"tree"):
            return "holds a LightGBM text model, not an XGBoost model; name it .txt"
        return None

    def read(self, path: str | Path) -> Any:
        """The model document of a .json or .ubj file, its trees checked: XGBoost checks the
        file's arrays, not that its trees are trees (one whose root is its own child made its
        prediction loop forever, one whose parents held -1 crashed its reader)."""
        from challengers.models.xgboost_json import check_trees

        document = _document(Path(path))
        check_trees(document)
        return document

    def facts(self, content: Any) -> FileFacts:
        """From the document's learner, as XGBoost reads it (``num_class`` 0 for binary)."""
        learner = content["learner"]
        names = learner.get("feature_names") or []
        param = learner["learner_model_param"]
        objective = learner.get("objective")
        objective = objective.get("name") if isinstance(objective, dict) else None
        return FileFacts(
            tuple(str(n) for n in names),
            max(int(param.get("num_class", 0) or 0), 2),
            int(param["num_feature"]),  # check_trees read it
            _outputs(param),
            str(objective) if objective else None,
        )

    def booster(self, content: Any, path: str | Path) -> Any:
        import xgboost as xgb

        return xgb.Booster(model_file=str(path))

    def kept(self, content: Any) -> Any:
        """Nothing: XGBoost reads the file itself, and the document (3.4 times the JSON file's
        size as Python objects) is not held through the data's loading."""
        return None

    def feature_names(self, booster: Any) -> list[str]:
        return list(booster.feature_names or [])

    def classes(self, booster: Any) -> int:
        learner = _learner(booster)["learner_model_param"]
        return max(int(learner.get("num_class", 0) or 0), 2)  # num_class is 0 for binary

    def inputs(self, booster: Any) -> int:
        return int(booster.num_features())

    def outputs(self, booster: Any) -> int:
        return _outputs(_learner(booster)["learner_model_param"])

    def _best(self, booster: Any) -> dict[str, Any]:
        """XGBoost keeps every round and stores early stopping's best in an attribute (saved with
        the model): without this, a booster predicts with the rounds after the best too."""
        best = booster.attr("best_iteration")
        return {} if best is None else {"iteration_range": (0, int(best) + 1)}

    def predict(self, booster: Any, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        if _linear(booster):  # XGBoost predicts a linear booster from a DMatrix only
            out = booster.predict(self._matrix(x, None), validate_features=False)
            return np.asarray(out)
        return np.asarray(
            booster.inplace_predict(x, validate_features=False, **self._best(booster))
        )

    def _matrix(self, x: np.ndarray, names: Sequence[str] | None) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(x, feature_names=None if names is None else list(names))

    def limit_threads(self, booster: Any, threads: int | None) -> None:
        # XGBoost predicts (inplace, from a matrix, contributions) with the booster's nthread: a
        # champion file has none, and used every core whatever the run's threads said
        booster.set_param({"nthread": workers(threads)})

    def contributions(
        self, booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
    ) -> np.ndarray:
        out = booster.predict(
            self._matrix(x, names),
            pred_contribs=True,
            validate_features=False,
            **self._best(booster),
        )
        return np.asarray(out, dtype=np.float64)

    def raw_margin(
        self, booster: Any, x: np.ndarray, names: Sequence[str], threads: int | None = None
    ) -> np.ndarray:
        out = booster.predict(
            self._matrix(x, names),
            output_margin=True,
            validate_features=False,
            **self._best(booster),
        )
        return np.asarray(out, dtype=np.float64)

    def objective(self, booster: Any) -> str | None:
        objective = _learner(booster).get("objective", {}).get("name")
        return str(objective) if objective else None

    def hyperparameters(self, booster: Any) -> tuple[dict[str, Any], str]:
        import json

        learner = _learner(booster)
        trees = booster.get_dump(dump_format="json")
        params = {
            "objective": learner["objective"]["name"],
            "booster": learner["learner_train_param"].get("booster"),
            "boosted_rounds": booster.num_boosted_rounds(),
            "max_tree_depth_observed": max((_depth(json.loads(t)) for t in trees), default=0),
            "features": booster.num_features(),
        }
        best = self._best(booster).get("iteration_range")
        if best is not None:  # early stopping's best: the rounds the champion is scored with
            params["rounds_scored"] = f"{best[1]} (early stopping's best iteration, {best[1] - 1})"
        return params, (
            "the model file; XGBoost does not store training hyperparameters such as the "
            "learning rate: ask the first line for them"
        )


def _document(path: Path) -> Any:
    """The model document of an XGBoost file, read as XGBoost reads it: .json as JSON, .ubj as
    UBJSON, any other name as whichever its content looks like."""
    import json

    from challengers.models.ubjson import read_ubjson

    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix != ".ubj" and data[1:2] in (b'"', b" ", b"\n", b"\r", b"\t")):
        return json.loads(data)
    return read_ubjson(data)


def _outputs(param: dict[str, Any]) -> int:
    """The scores an XGBoost model gives a row, from its ``learner_model_param``: one a class
    (``num_class``: 0 for binary), one a target (``num_target``: a multi-output model)."""
    classes = int(param.get("num_class", 0) or 0)
    targets = int(param.get("num_target", 1) or 1)
    return max(classes, 1) * max(targets, 1)


_LINEAR: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _linear(booster: Any) -> bool:
    """Whether ``booster`` is a linear model (``booster: gblinear``), read once per booster: its
    configuration is a JSON document, and a champion is scored in many blocks."""
    known = _LINEAR.get(booster)
    if known is None:
        known = _LINEAR[booster] = _learner(booster)["gradient_booster"]["name"] == "gblinear"
    return known


def _learner(booster: Any) -> dict[str, Any]:
    """The ``learner`` section of an XGBoost booster's configuration (a JSON document)."""
    import json

    learner: dict[str, Any] = json.loads(booster.save_config())["learner"]
    return learner


def _depth(node: dict[str, Any]) -> int:
    children = node.get("children") or []
    return 1 + max((_depth(c) for c in children), default=-1) if children else 0


LIBRARIES: dict[str, TreeLibrary] = {lib.name: lib for lib in (LightGBMLibrary(), XGBoostLibrary())}


def library(name: str) -> TreeLibrary:
    """The library called ``name`` (a tree kind, a flavour); KeyError for anything else."""
    return LIBRARIES[name]


def library_of(booster: object) -> TreeLibrary | None:
    """The library whose Booster ``booster`` is, or None (not a tree booster)."""
    return next((lib for lib in LIBRARIES.values() if lib.owns(booster)), None)


def library_for_file(suffix: str) -> TreeLibrary | None:
    """The library whose native files end in ``suffix`` (lower case, with the dot), or None."""
    return next((lib for lib in LIBRARIES.values() if suffix in lib.suffixes), None)
