"""The demo tells its story: the graph challenger's gain over the champion is significant after
Holm, and the frauds only it catches are the shared-device rings and compromised terminals the
simulator planted (read from the scenario column, which is not a feature)."""

from __future__ import annotations

from pathlib import Path

import pytest

from challengers.config import load_config
from challengers.pipeline import RunOptions, run_experiment

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


@pytest.mark.slow
def test_the_demo_finds_the_graph_challengers_gain_on_rings_and_terminals(tmp_path: Path) -> None:
    cfg = load_config(DEMO)
    # fewer replicates and a smaller SHAP sample: the findings, not their third decimal
    diagnostics = cfg.evaluation.diagnostics.model_copy(
        update={"explain_rows": 200, "weekly_bootstrap": 50}
    )
    evaluation = cfg.evaluation.model_copy(update={"bootstrap": 200, "diagnostics": diagnostics})
    cfg = cfg.model_copy(update={"evaluation": evaluation})
    assert "TX_FRAUD_SCENARIO" in cfg.data.drop and cfg.data.scenario == "TX_FRAUD_SCENARIO"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_experiment(
        cfg, RunOptions(output_dir=tmp_path / "out", tracking_uri=uri, only=("graph-lgbm",))
    )
    graph = next(m for m in result.models if m.name == "graph-lgbm")
    assert "TX_FRAUD_SCENARIO" not in graph.features
    ids = {f.id: f for f in result.findings}
    better = ids["outcome-better-graph-lgbm"]
    assert better.severity == "high" and "Holm-adjusted" in better.detail
    assert graph.delta_vs_champion["pr_auc"].p_value_adjusted < cfg.evaluation.alpha
    gain = ids["scenario-gain-graph-lgbm"]
    assert "shared-device ring" in gain.title and "compromised terminal" in gain.title
    assert gain.recommendation
    cells = {o.name: o for o in result.operating_point.scenarios}
    for scenario in ("shared-device ring", "compromised terminal"):
        o = cells[scenario]
        assert o.only_challenger > 5 * max(1, o.only_champion)
        assert o.p_value_adjusted < cfg.evaluation.alpha
