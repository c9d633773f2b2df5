"""The PyOD detectors the ``anomaly`` kind accepts, and their parameter checks.

This module imports no PyOD (importing PyOD costs seconds): the table below names each detector's
module and class, so a config is validated, and a misspelt detector or parameter rejected with the
closest valid name, before anything heavy loads. A test checks the table against the installed
PyOD, so an upgrade that adds or renames a detector fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from challengers.errors import did_you_mean

LINEAR_SAMPLE = 200_000  # default fit sample of detectors whose cost is linear in rows
QUADRATIC_SAMPLE = 10_000  # ... and of neighbour/kernel detectors, quadratic to fit, slow to query
RESERVED = {
    "n_jobs": "set by the run's `threads`",
    "random_state": "set by the run's `seed`",
    "novelty": "always true: the detector scores rows it was not fitted on",
}


@dataclass(frozen=True)
class DetectorInfo:
    """Where a PyOD detector lives and what it needs."""

    name: str
    module: str
    cls: str
    scale: bool = True  # distance/density based: features must share a scale
    quadratic: bool = False  # cost grows with fit rows x scored rows: small default sample
    requires: str | None = None  # an optional dependency PyOD needs for it

    @property
    def default_sample(self) -> int:
        return QUADRATIC_SAMPLE if self.quadratic else LINEAR_SAMPLE

    @property
    def path(self) -> str:
        return f"pyod.models.{self.module}:{self.cls}"


def _d(name: str, cls: str, **kw: Any) -> tuple[str, DetectorInfo]:
    return name, DetectorInfo(name, kw.pop("module", name), cls, **kw)


DETECTORS: dict[str, DetectorInfo] = dict(
    [
        # the four that score 10M rows: rank/tree/histogram based, scale-free
        _d("iforest", "IForest", scale=False),
        _d("ecod", "ECOD", scale=False),
        _d("copod", "COPOD", scale=False),
        _d("hbos", "HBOS", scale=False),
        # neighbour and kernel methods: fitted on a small sample
        _d("lof", "LOF", quadratic=True),
        _d("knn", "KNN", quadratic=True),
        _d("abod", "ABOD", quadratic=True),
        _d("kde", "KDE", quadratic=True),
        _d("kpca", "KPCA", quadratic=True),
        _d("ocsvm", "OCSVM", quadratic=True),
        _d("qmcd", "QMCD", quadratic=True),
        _d("rod", "ROD", quadratic=True),
        _d("hdbscan", "HDBSCAN", quadratic=True),
        # linear in rows, scale-sensitive
        _d("pca", "PCA"),
        _d("mcd", "MCD"),
        _d("gmm", "GMM"),
        _d("cblof", "CBLOF"),
        _d("inne", "INNE"),
        _d("loda", "LODA"),
        _d("sampling", "Sampling"),
        # need optional dependencies PyOD does not install
        _d("feature_bagging", "FeatureBagging", quadratic=True, requires="combo"),
        _d("suod", "SUOD", quadratic=True, requires="combo"),
        _d("auto_encoder", "AutoEncoder", requires="torch"),
        _d("vae", "VAE", requires="torch"),
        _d("deep_svdd", "DeepSVDD", requires="torch"),
        _d("so_gaal", "SO_GAAL", requires="torch"),
        _d("mo_gaal", "MO_GAAL", requires="torch"),
        _d("alad", "ALAD", requires="torch"),
        _d("anogan", "AnoGAN", requires="torch"),
        _d("ae1svm", "AE1SVM", requires="torch"),
        _d("dif", "DIF", requires="torch"),
        _d("lunar", "LUNAR", requires="torch"),
    ]
)

# PyOD detectors that cannot be a challenger here, and why (a config naming one gets the reason).
UNSUITABLE: dict[str, str] = {
    "cof": "it scores each batch against itself (transductive, quadratic in the batch)",
    "sos": "it scores each batch against itself (transductive)",
    "loci": "it scores each batch against itself (transductive, quadratic)",
    "lmdd": "it scores each batch against itself (transductive)",
    "sod": "it finds each row's neighbours within the batch being scored (transductive)",
    "rgraph": "it refits on training plus each batch (transductive, quadratic)",
    "xgbod": "it is supervised; use a lightgbm or xgboost challenger",
    "devnet": "it is semi-supervised on labels; use a lightgbm or xgboost challenger",
    "lscp": "it combines a list of fitted detectors, which a config cannot give",
    "cd": "it needs a regression target as the last column",
    "mad": "it is univariate; transaction data has several features",
}
CORE = ("iforest", "ecod", "copod", "hbos", "lof", "knn")


def canonical(name: str) -> str:
    """The table key of a detector given by module name or class name, in any case."""
    key = name.strip().lower()
    by_class = {d.cls.lower(): d.name for d in DETECTORS.values()}
    key = by_class.get(key, key)
    if key in DETECTORS:
        return key
    if key in UNSUITABLE:
        raise ValueError(f"detector '{name}' cannot be used: {UNSUITABLE[key]}")
    raise ValueError(
        f"unknown detector '{name}'{did_you_mean(key, list(DETECTORS))}; "
        f"valid detectors: {', '.join(DETECTORS)}"
    )


# ------------------------------------------------------------------ parameters of the core detectors


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    contamination: float = Field(0.1, gt=0, le=0.5)  # sets PyOD's label threshold, not the score


Fraction = Annotated[float, Field(gt=0, le=1)]
PositiveInt = Annotated[int, Field(ge=1)]


class IForestParams(_Params):
    n_estimators: PositiveInt = 100
    max_samples: Literal["auto"] | PositiveInt | Fraction = "auto"
    max_features: PositiveInt | Fraction = 1.0
    bootstrap: bool = False


class ECODParams(_Params):
    pass


class HBOSParams(_Params):
    n_bins: Annotated[int, Field(ge=2)] | Literal["auto"] = 10
    alpha: float = Field(0.1, gt=0, lt=1)
    tol: float = Field(0.5, gt=0, lt=1)


class _NeighbourParams(_Params):
    leaf_size: PositiveInt = 30
    metric: str = "minkowski"
    p: float = Field(2, ge=1)
    metric_params: dict[str, Any] | None = None


class LOFParams(_NeighbourParams):
    n_neighbors: PositiveInt = 20
    algorithm: Literal["auto", "ball_tree", "kd_tree", "brute"] = "auto"


class KNNParams(_NeighbourParams):
    n_neighbors: PositiveInt = 5
    method: Literal["largest", "mean", "median"] = "largest"
    radius: float = Field(1.0, gt=0)
    # PyOD deprecates any other neighbour search for KNN (a FutureWarning on each build)
    algorithm: Literal["auto", "ball_tree"] = "auto"


CORE_PARAMS: dict[str, type[_Params]] = {
    "iforest": IForestParams,
    "ecod": ECODParams,
    "copod": ECODParams,
    "hbos": HBOSParams,
    "lof": LOFParams,
    "knn": KNNParams,
}


def check_params(detector: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate ``params`` of ``detector``; ValueError naming the parameter, the value and the fix.

    The core detectors' parameters are checked fully here; the others' names are checked against
    the class signature when the run is planned (that needs importing PyOD).
    """
    for key in params:
        if key in RESERVED:
            raise ValueError(f"do not set '{key}': it is {RESERVED[key]}")
    model = CORE_PARAMS.get(detector)
    if model is None:
        return params
    try:
        model.model_validate(params)
    except ValidationError as exc:
        raise ValueError(_describe(exc, detector, list(model.model_fields))) from None
    return params


def _describe(exc: ValidationError, detector: str, valid: list[str]) -> str:
    problems = []
    for err in exc.errors():
        key = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            problems.append(
                f"'{key}' is not a parameter of {detector}{did_you_mean(key, valid)}; "
                f"valid: {', '.join(valid)}"
            )
        else:
            problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return " | ".join(dict.fromkeys(problems))


def check_signature(detector: str, params: dict[str, Any], parameters: list[str]) -> None:
    """Unknown keyword arguments of a non-core detector, given its constructor's parameter names."""
    for key in params:
        if key not in parameters:
            raise ValueError(
                f"'{key}' is not a parameter of {detector}{did_you_mean(key, parameters)}; "
                f"valid: {', '.join(p for p in parameters if p not in RESERVED)}"
            )
