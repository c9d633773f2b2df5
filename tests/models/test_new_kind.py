"""Adding a kind is its class, one registry line and its tests: a kind defined here, in a few lines,
runs end to end through ``run_experiment`` while it is registered, and is unknown again after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import pytest

from challengers.data.frames import DataSpec
from challengers.errors import ConfigError
from challengers.models import registry
from challengers.models.base import BaseChallenger
from challengers.models.params import ChallengerParams
from tests.models.contract import ChallengerContract


class ColumnScore(BaseChallenger):
    """Test-only kind: rows ranked by one of their columns, nothing learned."""

    kind = "column_score"

    class Params(ChallengerParams):
        kind: Literal["column_score"]
        column: str
        sign: float = 1.0

    def __init__(
        self, column: str, sign: float = 1.0, *, seed: int = 42, threads: int | None = None
    ) -> None:
        self.column, self.sign, self.seed, self.threads = column, sign, seed, threads

    def _fit(
        self,
        train: pl.DataFrame,
        spec: DataSpec,
        valid: pl.DataFrame | None,
        history: pl.DataFrame | None,
    ) -> None:
        pass

    def _predict(self, frame: pl.DataFrame, history: pl.DataFrame | None) -> np.ndarray:
        return self.sign * frame.get_column(self.column).cast(pl.Float64).to_numpy()


@pytest.fixture
def column_score() -> Iterator[type[BaseChallenger]]:
    with registry.registered(ColumnScore) as cls:
        yield cls


@pytest.mark.usefixtures("column_score")
class TestColumnScoreContract(ChallengerContract):
    kind = "column_score"

    def make_model(self, seed: int = 0) -> BaseChallenger:
        return ColumnScore("signal", 1.0, seed=seed, threads=1)


@pytest.mark.slow  # a whole run, about 30 s on 2 busy cores
@pytest.mark.usefixtures("column_score")
def test_a_test_only_kind_runs_end_to_end(
    sim_parquet: Path, write_config: Callable[..., Path], tmp_path: Path, tracking_uri: str
) -> None:
    """From YAML to comparison.json and MLflow: its scores are the column, its params the YAML."""
    from mlflow import MlflowClient

    from challengers.config import load_config
    from challengers.pipeline import RunOptions, run_experiment
    from tests.conftest import sim_config

    section = {"name": "amount", "kind": "column_score", "column": "TX_AMOUNT", "sign": 1.0}
    config = sim_config(sim_parquet, challengers=[section])
    config["evaluation"]["bootstrap"] = 20
    out = tmp_path / "out"
    result = run_experiment(
        load_config(write_config(config)), RunOptions(output_dir=out, tracking_uri=tracking_uri)
    )
    (model,) = [m for m in result.models if m.name == "amount"]
    assert model.status == "ok" and model.kind == "column_score"
    assert model.params == {"column": "TX_AMOUNT", "sign": 1.0, "seed": 7, "threads": 1}
    predictions = pl.read_parquet(out / "predictions.parquet")
    ids = predictions.get_column("TRANSACTION_ID")
    rows = pl.read_parquet(sim_parquet).filter(pl.col("TRANSACTION_ID").is_in(ids.implode()))
    amounts = dict(zip(rows["TRANSACTION_ID"], rows["TX_AMOUNT"], strict=True))
    expected = np.array([amounts[i] for i in ids], dtype=np.float64)
    np.testing.assert_array_equal(predictions.get_column("score:amount").to_numpy(), expected)
    assert 0.5 < model.metrics["roc_auc"] < 1.0  # the simulator's amount scenario: some signal
    logged = MlflowClient(tracking_uri=tracking_uri).get_run(model.run_id).data.params
    assert set(logged) == {*model.params, "features"}  # MLflow params = get_params = the YAML


def test_the_kind_is_known_only_while_registered(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    from challengers.config import load_config
    from tests.conftest import sim_config

    section = {"name": "amount", "kind": "column_score", "column": "TX_AMOUNT"}
    path = write_config(sim_config(sim_parquet, challengers=[section]))
    with registry.registered(ColumnScore):
        assert load_config(path).challengers[0].model_params() == {
            "column": "TX_AMOUNT",
            "sign": 1.0,
        }
    with pytest.raises(ConfigError, match="unknown challenger kind 'column_score'"):
        load_config(path)


def test_a_kind_without_its_own_params_is_refused() -> None:
    class Nameless(BaseChallenger):
        kind = "nameless"

    with pytest.raises(TypeError, match=r"kind: Literal\['nameless'\]"):
        registry.register(Nameless)
    assert "nameless" not in registry.KINDS
