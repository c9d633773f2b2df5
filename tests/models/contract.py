"""The contract every challenger kind honours, as a test base class.

A kind's test module subclasses :class:`ChallengerContract`, sets ``kind``, and implements
``make_model`` (and, when the kind needs more than the default features, ``make_spec``; kinds that
read other columns or a transaction history override ``make_frame`` and ``make_history``). The suite
checks the shape and finiteness of scores, seeded determinism, rebuilding from ``get_params()``, the
not-fitted error, that inputs are left untouched, a quality floor on easy synthetic data, and that
the kind's YAML section, ``from_config`` and ``get_params()`` agree key for key (so do the MLflow
params, which are ``get_params()``). ``make_model`` passes every key of the section (defaults too).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from challengers.analysis import explain
from challengers.data.frames import DataSpec
from challengers.evaluation.curve import Curve, Ranked
from challengers.evaluation.metrics import roc_auc
from challengers.models.base import BaseChallenger, NotFittedError
from challengers.models.params import NOT_MODEL_KEYS

EASY_FEATURES = ("signal", "noise_a", "noise_b", "weak")


def easy_frame(rows: int = 4000, seed: int = 0) -> pl.DataFrame:
    """Planted truth: the fraud probability rises steeply with ``signal``; ``weak`` helps a little."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    weak = rng.normal(size=rows)
    logit = -4.0 + 2.5 * signal + 0.5 * weak
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pl.DataFrame(
        {
            "signal": signal.astype(np.float32),
            "noise_a": rng.normal(size=rows).astype(np.float32),
            "noise_b": rng.integers(0, 5, rows).astype(np.float64),
            "weak": weak,
            "y": y,
            "t": pl.datetime_range(
                pl.datetime(2024, 1, 1),
                pl.datetime(2024, 1, 1) + pl.duration(minutes=rows - 1),
                "1m",
                eager=True,
            ),
        }
    )


def _plain(params: dict[str, Any]) -> Any:
    """As YAML (and MLflow) hold them: tuples are lists."""
    return json.loads(json.dumps(params))


def auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc(Curve(Ranked.build(y, s)))[0])


class ChallengerContract:
    kind: ClassVar[str]
    quality_floor: ClassVar[float] = 0.85

    def make_model(self, seed: int = 0) -> BaseChallenger:
        raise NotImplementedError

    def make_spec(self) -> DataSpec:
        return DataSpec(target="y", time="t", features=EASY_FEATURES)

    @classmethod
    def make_frame(cls, rows: int, seed: int) -> pl.DataFrame:
        """The easy data; kinds that need more columns (entities) add them here."""
        return easy_frame(rows, seed=seed)

    def make_history(self, train: pl.DataFrame, test: pl.DataFrame) -> pl.DataFrame | None:
        """The ``history`` passed to fit and predict_score (None: the kind reads none)."""
        return None

    def fit(self, model: BaseChallenger, train: pl.DataFrame, test: pl.DataFrame) -> BaseChallenger:
        return model.fit(train, self.make_spec(), history=self.make_history(train, test))

    def score(self, model: BaseChallenger, train: pl.DataFrame, test: pl.DataFrame) -> np.ndarray:
        return model.predict_score(test, history=self.make_history(train, test))

    @pytest.fixture(scope="class")
    @classmethod
    def train(cls) -> pl.DataFrame:
        return cls.make_frame(4000, seed=1)

    @pytest.fixture(scope="class")
    @classmethod
    def test(cls) -> pl.DataFrame:
        return cls.make_frame(3000, seed=2)

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, train: pl.DataFrame, test: pl.DataFrame) -> BaseChallenger:
        suite = cls()
        return suite.fit(suite.make_model(seed=0), train, test)

    def test_kind_matches_registry(self) -> None:
        from challengers.models import registry

        assert registry.kind_class(self.kind) is type(self.make_model())

    def test_yaml_section_from_config_and_get_params_agree(self) -> None:
        """YAML keys = get_params() (= MLflow params): the model's params, written as its section,
        validate (no key unknown to the YAML), build the same model, and every key of the section
        that builds a model is a constructor argument."""
        model = self.make_model(seed=5)
        cls = type(model)
        params = model.get_params()
        run = {"seed": params.pop("seed"), "threads": params.pop("threads")}
        section = cls.Params.model_validate({"name": "m", "kind": self.kind, **params})
        assert set(params) == set(cls.Params.model_fields) - NOT_MODEL_KEYS
        assert section.model_params() == _plain(params)
        assert _plain(cls.from_config(section, **run).get_params()) == _plain({**params, **run})

    def test_scores_one_finite_float_per_row(
        self, fitted: BaseChallenger, train: pl.DataFrame, test: pl.DataFrame
    ) -> None:
        scores = self.score(fitted, train, test)
        assert scores.shape == (test.height,)
        assert scores.dtype == np.float64
        assert np.all(np.isfinite(scores))

    def test_higher_scores_mean_fraud_quality_floor(
        self, fitted: BaseChallenger, train: pl.DataFrame, test: pl.DataFrame
    ) -> None:
        value = auc(test.get_column("y").to_numpy(), self.score(fitted, train, test))
        assert value >= self.quality_floor, f"AUC {value:.3f} below the floor {self.quality_floor}"

    def test_same_seed_same_scores(self, train: pl.DataFrame, test: pl.DataFrame) -> None:
        a = self.score(self.fit(self.make_model(seed=3), train, test), train, test)
        b = self.score(self.fit(self.make_model(seed=3), train, test), train, test)
        np.testing.assert_array_equal(a, b)

    def test_rebuilds_from_get_params(
        self, fitted: BaseChallenger, train: pl.DataFrame, test: pl.DataFrame
    ) -> None:
        params: dict[str, Any] = fitted.get_params()
        rebuilt = type(fitted)(**params)
        assert rebuilt.get_params() == params
        assert not rebuilt.is_fitted
        again = self.score(self.fit(rebuilt, train, test), train, test)
        np.testing.assert_allclose(again, self.score(fitted, train, test), rtol=1e-6, atol=1e-9)

    def test_not_fitted_is_a_clear_error(self, test: pl.DataFrame) -> None:
        with pytest.raises(NotFittedError, match="not fitted"):
            self.make_model().predict_score(test, history=self.make_history(test, test))

    def test_model_inputs_are_what_the_native_model_scores(
        self, fitted: BaseChallenger, train: pl.DataFrame, test: pl.DataFrame
    ) -> None:
        """The explanations' matrix of a sample of the test rows (``model_inputs``, what SHAP
        reads) gives each sampled row the score the model gave it among all the test rows: the
        native booster's raw margin on it is the score's log-odds (a hybrid's detector score
        and a graph's features included). Kinds without a native booster have no such matrix."""
        booster = fitted.native_model()
        if explain.library_of(booster) is None:
            return
        sample = np.sort(np.random.default_rng(0).choice(test.height, 300, replace=False))
        x, names = fitted.model_inputs(test[sample], history=self.make_history(train, test))
        margin = explain.raw_margin(booster, x, names, threads=1)
        scores = self.score(fitted, train, test)[sample]
        np.testing.assert_allclose(1 / (1 + np.exp(-margin)), scores, rtol=1e-5, atol=1e-7)

    def test_inputs_untouched(self, train: pl.DataFrame, test: pl.DataFrame) -> None:
        train_copy, test_copy = train.clone(), test.clone()
        history = self.make_history(train, test)
        history_copy = history.clone() if history is not None else None
        model = self.fit(self.make_model(), train, test)
        self.score(model, train, test)
        assert train.equals(train_copy) and test.equals(test_copy)
        assert history is None or (history_copy is not None and history.equals(history_copy))
