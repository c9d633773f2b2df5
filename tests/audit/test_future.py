"""Features computed with future data: a deliberately leaky recipe is caught, an honest one is not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pytest

from challengers.audit import ModelInputs
from challengers.models import registry
from challengers.models.abilities import DerivesFeatures, FeatureRecipe
from challengers.models.base import BaseChallenger
from challengers.models.params import ChallengerParams
from tests.audit.frames import FEATURES, audit, clean_frame, ids, thresholds

ENTITY = "CUSTOMER_ID"


@dataclass
class LeakyRecipe:
    """Customer aggregates over the whole table: what a careless batch job computes."""

    name: str = "leaky-customer-aggregates"
    inputs: tuple[str, ...] = (ENTITY, "TX_AMOUNT")

    def compute(self, rows: pl.DataFrame, *, time: str, target: str) -> pl.DataFrame:
        return rows.select(
            pl.len().over(ENTITY).alias("CUSTOMER_TOTAL_TX"),  # counts later rows too
            pl.col("TX_AMOUNT").shift(-1).over(ENTITY).alias("NEXT_AMOUNT"),
            pl.col("TX_AMOUNT").alias("AMOUNT_COPY"),  # honest: the row itself
        )


@dataclass
class HonestRecipe:
    """The same ideas computed from the past only."""

    name: str = "honest-customer-history"
    inputs: tuple[str, ...] = (ENTITY, "TX_AMOUNT")

    def compute(self, rows: pl.DataFrame, *, time: str, target: str) -> pl.DataFrame:
        return rows.select(
            pl.int_range(pl.len()).over(ENTITY).alias("CUSTOMER_PAST_TX"),
            pl.col("TX_AMOUNT").shift(1).over(ENTITY).alias("PREVIOUS_AMOUNT"),
            pl.col("TX_AMOUNT").cum_sum().over(ENTITY).alias("CUMULATIVE_AMOUNT"),
        )


class BatchKind(BaseChallenger, DerivesFeatures):
    """A kind whose features a careless batch job computes: the audit gets its recipe."""

    kind = "batch"

    class Params(ChallengerParams):
        kind: Literal["batch"]

    @classmethod
    def feature_recipe(cls, settings: Any, spec: Any) -> FeatureRecipe | None:
        return LeakyRecipe()


class HistoryKind(BaseChallenger, DerivesFeatures):
    kind = "history"

    class Params(ChallengerParams):
        kind: Literal["history"]

    @classmethod
    def feature_recipe(cls, settings: Any, spec: Any) -> FeatureRecipe | None:
        return HonestRecipe()


@pytest.fixture(autouse=True)
def kinds() -> Any:
    """The test kinds, registered for one test only."""
    with registry.registered(BatchKind), registry.registered(HistoryKind):
        yield


def test_leaky_recipe_is_caught(tmp_path: Path) -> None:
    models = [ModelInputs("champ", "batch", FEATURES)]
    result = audit(clean_frame(), tmp_path, models=models)
    found = ids(result)
    assert found["leak-future-champ-CUSTOMER_TOTAL_TX"] == "high"
    assert found["leak-future-champ-NEXT_AMOUNT"] == "high"
    assert "leak-future-champ-AMOUNT_COPY" not in found
    rows = {r["feature"]: r for r in result.tables["future_features"]}
    assert rows["AMOUNT_COPY"]["rows_changed"] == 0 < rows["AMOUNT_COPY"]["rows_compared"]
    assert rows["CUSTOMER_TOTAL_TX"]["rows_changed"] > 0


def test_honest_recipe_is_not_flagged(tmp_path: Path) -> None:
    result = audit(clean_frame(), tmp_path, models=[ModelInputs("champ", "history", FEATURES)])
    assert not [f for f in result.findings if f.id.startswith("leak-future")]
    assert {r["feature"] for r in result.tables["future_features"]} == {
        "CUSTOMER_PAST_TX",
        "PREVIOUS_AMOUNT",
        "CUMULATIVE_AMOUNT",
    }
    assert all(r["rows_compared"] > 1000 for r in result.tables["future_features"])


def test_the_recipe_receives_the_model_settings(tmp_path: Path) -> None:
    seen: list[Any] = []

    class Custom(BaseChallenger, DerivesFeatures):
        kind = "custom"

        class Params(ChallengerParams):
            kind: Literal["custom"]

        @classmethod
        def feature_recipe(cls, settings: Any, spec: Any) -> FeatureRecipe | None:
            seen.append(settings)  # returning None: nothing to check for these settings
            return None

    settings = {"windows_days": [1, 7]}
    with registry.registered(Custom):
        result = audit(
            clean_frame(),
            tmp_path,
            models=[ModelInputs("m", "custom", FEATURES, settings=settings)],
        )
    assert seen == [settings]
    assert result.tables["future_features"] == []


def test_kinds_without_recipe_are_not_checked(tmp_path: Path) -> None:
    result = audit(clean_frame(), tmp_path)
    assert result.tables["future_features"] == []


def test_small_budget_samples_whole_customers(tmp_path: Path) -> None:
    """One day holds about 300 rows; a budget of 150 samples customers within the last day."""
    models = [ModelInputs("champ", "batch", FEATURES)]
    result = audit(
        clean_frame(), tmp_path, models=models, findings=thresholds(recipe_sample_rows=150)
    )
    assert "leak-future-champ-CUSTOMER_TOTAL_TX" in ids(result)
    compared = {r["feature"]: r["rows_compared"] for r in result.tables["future_features"]}
    assert 0 < compared["AMOUNT_COPY"] < 3 * 300


def test_graph_challenger_features_pass_the_look_ahead_check(
    sim_parquet: Path, write_config: Any, tmp_path: Path
) -> None:
    """The graph kind derives features (its recipe is checked), and they use the past only."""
    from challengers.config import load_config
    from challengers.pipeline import RunOptions, audit_experiment
    from challengers.progress import SilentProgress
    from tests.conftest import sim_config

    cfg = sim_config(sim_parquet)
    cfg["challengers"] = [
        {
            "name": "graph",
            "kind": "graph",
            "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [1, 7]},
        }
    ]
    result = audit_experiment(
        load_config(write_config(cfg)), RunOptions(output_dir=tmp_path / "out"), SilentProgress()
    )
    rows = [r for r in result.tables["future_features"] if r["model"] == "graph"]
    assert rows, "the graph recipe was not checked"
    assert all(r["rows_compared"] > 0 for r in rows)
    assert sum(r["rows_changed"] for r in rows) == 0
    assert not [f for f in result.findings if f.id.startswith("leak-future-graph")]
