"""The metric records drive everything that used to list metric names: what the bootstrap kernels
measure, which config keys a metric needs, which alert rate is the operating point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from challengers.config import parse_config
from challengers.errors import ConfigError
from challengers.evaluation.bootstrap import _Plan
from challengers.evaluation.metrics import (
    METRICS,
    Metric,
    Need,
    amount_needed,
    parse_metric,
    precision_at_alerts,
)
from tests.conftest import sim_config


def _register(
    monkeypatch: pytest.MonkeyPatch, name: str, needs: frozenset[Need] = frozenset()
) -> None:
    """A test-only alert-rate metric (precision at alerts under another name) needing ``needs``."""
    formula = METRICS["precision_at_alerts"].formula
    record = Metric(name, precision_at_alerts, formula, True, param="alert_rate", needs=needs)
    monkeypatch.setitem(METRICS, name, record)


def _config_error(
    tmp_path: Path, metrics: list[str], *, without: str | None = None, resample: str = "day"
) -> str:
    """The config's one-line error for ``metrics``, with data key ``without`` left out."""
    cfg = sim_config(tmp_path / "data.parquet")
    cfg["split"]["exclude_known_frauds"] = False
    cfg["evaluation"].update(metrics=metrics, resample=resample)
    if without is not None:
        cfg["data"].pop(without)
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(cfg), tmp_path / "experiment.yaml")
    return str(info.value)


def test_every_record_is_consistent() -> None:
    for name, m in METRICS.items():
        assert m.name == name
        assert m.param in (None, "fpr", "alert_rate", "k"), name
        assert m.needs <= {"amount", "entity", "calibrated", "operating_point", "amount_cost"}, name


def test_a_false_positive_rate_is_not_an_alert_rate() -> None:
    """recall_at_fpr's limit and precision_at_alerts' budget are different kinds: different kernel
    columns, and only an alert rate can be the operating point."""
    metrics = [parse_metric(m) for m in ("recall_at_fpr@0.01", "precision_at_alerts@0.02")]
    plan = _Plan.of(metrics, operating_rate=0.005)
    assert plan.limits.tolist() == [0.01]
    assert plan.rates.tolist() == [0.02]  # no metric is evaluated at the operating point
    assert plan.ks.size == 0 and not plan.calibrated


def test_the_plan_follows_kinds_and_needs() -> None:
    names = ("expected_cost", "value_detection_at_alerts@0.03", "entity_precision_at@50", "brier")
    plan = _Plan.of([parse_metric(m) for m in names], operating_rate=0.005)
    assert plan.rates.tolist() == [0.005, 0.03]  # the operating point for expected_cost
    assert plan.ks.tolist() == [50.0]
    assert plan.calibrated and plan.limits.size == 0


def test_a_new_alert_rate_metric_is_planned_and_can_be_the_operating_point(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _register(monkeypatch, "hits_at_alerts")
    spec = parse_metric("hits_at_alerts@0.04")
    assert spec.key == "hits_at_alerts_0.04"
    assert _Plan.of([spec], 0.01).rates.tolist() == [0.04]
    cfg = sim_config(tmp_path / "data.parquet")
    cfg["evaluation"]["metrics"] = ["roc_auc", "recall_at_fpr@0.01", "hits_at_alerts@0.04"]
    parsed = parse_config(yaml.safe_dump(cfg), tmp_path / "experiment.yaml")
    assert parsed.evaluation.alert_rate == 0.04  # the first alert-rate metric, not the FPR limit


def test_an_amount_need_is_checked_by_the_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _register(monkeypatch, "amount_at_alerts", needs=frozenset({"amount"}))
    message = _config_error(tmp_path, ["amount_at_alerts@0.01"], without="amount")
    assert "metric amount_at_alerts needs data.amount" in message
    assert amount_needed([parse_metric("amount_at_alerts@0.01")], cost_is_amount=False)


def test_an_entity_need_is_checked_by_the_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _register(monkeypatch, "entities_at", needs=frozenset({"entity"}))
    message = _config_error(tmp_path, ["entities_at@0.01"], without="entity")
    assert "metric entities_at needs data.entity" in message
    message = _config_error(tmp_path, ["entities_at@0.01"], resample="row")
    assert "entities_at cannot be bootstrapped over single rows" in message


def test_the_cost_of_a_missed_fraud_needs_amounts_only_when_it_is_the_amount(
    tmp_path: Path,
) -> None:
    cost = [parse_metric("expected_cost")]
    assert amount_needed(cost, cost_is_amount=True)
    assert not amount_needed(cost, cost_is_amount=False)
    message = _config_error(tmp_path, ["expected_cost"], without="amount")
    assert "evaluation.cost.false_negative is 'amount' but data.amount is not set" in message


def test_metrics_without_needs_need_nothing() -> None:
    plain = [parse_metric(m) for m in ("roc_auc", "pr_auc", "ks", "recall_at_fpr@0.1")]
    assert not amount_needed(plain, cost_is_amount=True)
    assert all(not m.info.needs for m in plain)
    assert np.isclose(parse_metric("expected_cost").argument(0.007) or 0, 0.007)
