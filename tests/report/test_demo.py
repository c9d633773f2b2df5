"""The demo tells its story: the graph challenger's gain over the champion is significant after
Holm, and the frauds only it catches are the shared-device rings and compromised terminals the
simulator planted (read from the scenario column, which is not a feature)."""

from __future__ import annotations

from pathlib import Path

import pytest

from challengers.config import load_config
from challengers.experiment_result import ExperimentResult
from tests.conftest import DEMO_RUN

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


@DEMO_RUN
@pytest.mark.slow
def test_the_demo_finds_the_graph_challengers_gain_on_rings_and_terminals(
    demo_run: tuple[ExperimentResult, str],
) -> None:
    """On the suite's one demo run (tests/conftest.py: every challenger of the demo, so the
    graph challenger's p-values are Holm-adjusted across all three)."""
    result, _ = demo_run
    cfg = load_config(DEMO)
    assert "TX_FRAUD_SCENARIO" in cfg.data.drop and cfg.data.scenario == "TX_FRAUD_SCENARIO"
    graph = next(m for m in result.models if m.name == "graph-lgbm")
    assert "TX_FRAUD_SCENARIO" not in graph.features
    ids = {f.id: f for f in result.findings}
    better = ids["outcome-better-graph-lgbm"]
    assert better.severity == "high" and "Holm-adjusted" in better.detail
    assert graph.delta_vs_champion["pr_auc"].p_value_adjusted < cfg.evaluation.alpha
    gain = ids["scenario-gain-graph-lgbm"]
    assert "shared-device ring" in gain.title and "compromised terminal" in gain.title
    assert gain.recommendation
    cells = {o.name: o for o in result.operating_point.scenarios if o.challenger == graph.name}
    for scenario in ("shared-device ring", "compromised terminal"):
        o = cells[scenario]
        assert o.only_challenger > 5 * max(1, o.only_champion)
        assert o.p_value_adjusted < cfg.evaluation.alpha
