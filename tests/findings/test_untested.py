"""Challengers never tested against the champion (no bootstrap): a finding, and a report that says
so instead of "no challenger significantly outperforms the champion"."""

from __future__ import annotations

from pathlib import Path

import pytest

from challengers.experiment_result import ExperimentResult
from challengers.findings.comparison import untested_comparison
from challengers.findings.context import FindingContext
from challengers.report.sections import limitations, verdict
from challengers.results import DeltaResult, ModelResult
from tests.conftest import bare_result, run_config, sim_config


def _context(*challengers: ModelResult, bootstrap: int | None = 0) -> FindingContext:
    champion = ModelResult("champ", "champion", "score")
    champion.metrics = {"pr_auc": 0.2158}
    return FindingContext(
        models=[champion, *challengers],
        higher_is_better={"pr_auc": True},
        alpha=0.05,
        positives_test=500,
        rows_test=50_000,
        metric_keys=("pr_auc",),
        bootstrap=bootstrap,
    )


def _challenger(name: str, value: float, tested: bool = False) -> ModelResult:
    m = ModelResult(name, "challenger", "lightgbm")
    m.metrics = {"pr_auc": value}
    if tested:
        m.delta_vs_champion = {"pr_auc": DeltaResult(value - 0.2158, (0.1, 0.9), 0.001)}
    return m


def _result(models: list[ModelResult], positives: int) -> ExperimentResult:
    return bare_result(models, positives=positives)


def test_untested_challengers_are_a_finding_naming_the_best_point_estimate() -> None:
    (found,) = untested_comparison(_context(_challenger("a", 0.30), _challenger("b", 0.95)))
    assert (found.id, found.severity, found.models) == ("outcome-untested", "medium", ())
    assert "the run drew no bootstrap replicates (evaluation.bootstrap: 0)" in found.detail
    assert "the best challenger on pr_auc is 'b' at 0.9500 against the champion's 0.2158" in (
        found.detail
    )


def test_a_primary_metric_the_champion_has_no_value_for_leaves_the_challengers_untested() -> None:
    """brier as the primary metric of a champion whose scores are not probabilities: n/a for the
    champion, a NaN delta, and the verdict read "no challenger significantly outperforms"."""
    context = _context(_challenger("a", 0.9), bootstrap=1000)
    context.champion.metrics["pr_auc"] = float("nan")
    context.models[1].delta_vs_champion = {
        "pr_auc": DeltaResult(float("nan"), (float("nan"), float("nan")), float("nan"))
    }
    (found,) = untested_comparison(context)
    assert "the champion's pr_auc is n/a on this run" in found.detail
    result = _result(context.models, positives=500)
    result.findings = [found]
    assert verdict(result).startswith(
        "No verdict: the challengers were not tested against the champion 'champ' on the "
        "primary metric pr_auc (the champion's pr_auc is n/a; see the finding)."
    )


@pytest.mark.parametrize(
    "challengers",
    [[], [_challenger("a", 0.9, tested=True), _challenger("b", 0.3)]],
    ids=["no-challenger", "tested"],
)
def test_no_finding_without_challengers_or_with_a_test(challengers: list[ModelResult]) -> None:
    assert untested_comparison(_context(*challengers, bootstrap=1000)) == []


def test_a_run_without_bootstrap_says_it_has_no_verdict(
    tmp_path: Path, sim_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHALLENGE_PLOTS", "off")
    config = sim_config(
        sim_parquet,
        threads=1,
        challengers=[{"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 10}}],
    )
    config["evaluation"]["bootstrap"] = 0
    result = run_config(config, tmp_path)
    assert "outcome-untested" in [f.id for f in result.findings]
    assert verdict(result).startswith(
        f"No verdict: the challengers were not tested against the champion 'champ' on the "
        f"primary metric {result.primary_key} (no bootstrap replicates; see the finding)."
    )
    text = " ".join(str(block) for block in limitations(result).blocks)
    assert "no intervals and no paired tests" in text and "p-values are not corrected" not in text
    assert "trained on other data" not in text  # the champion was retrained on this window
    assert "significantly outperforms" not in verdict(result)
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.count("No verdict:") == 1
    # nothing speaks of intervals the run did not compute
    for stale in (
        "0 paired bootstrap",
        "bootstrap interval",
        "pro rata",
        "0 replicates",
    ):
        assert stale not in report, stale
    assert "Point estimates: the run drew no bootstrap replicates" in report


def test_a_test_window_with_too_few_frauds_gives_no_verdict() -> None:
    """Below MIN_FRAUDS_TO_CLAIM no paired test calls a winner (the findings say why); the verdict
    read "no challenger significantly outperforms the champion" as if one had been run."""
    champ = ModelResult("champ", "champion", "score", metrics={"pr_auc": 0.2})
    result = _result([champ, _challenger("lgbm", 0.6, tested=True)], positives=6)
    assert verdict(result).startswith(
        "No verdict: the test window holds 6 fraud(s), fewer than the 10 a paired test needs"
    )
    result.data.positives_test = 60
    assert verdict(result).startswith("No challenger significantly outperforms")


def test_a_run_whose_challengers_all_failed_gives_no_verdict() -> None:
    failed = _challenger("lgbm", float("nan"))
    failed.status = "failed"
    champ = ModelResult("champ", "champion", "score", metrics={"pr_auc": 0.2})
    result = _result([champ, failed], positives=60)
    assert verdict(result).startswith("No verdict: no challenger finished (see the findings)")


def test_frauds_on_too_few_cards_give_no_verdict_and_say_why() -> None:
    """500 frauds on 3 cards are 3 pieces of evidence for a paired test (entity blocks): two
    equally good models read significantly different on pr_auc in 17 of 40 windows of 14 frauds
    on 2 cards, and the verdict named a winner. The verdict is withheld, a high finding says why
    and the report's lead says so; on 10 cards the verdict stands."""
    import dataclasses

    from challengers.findings import derive_findings
    from tests.findings.test_comparison import context

    few = derive_findings(dataclasses.replace(context(p=0.0), fraud_units=3))
    ids = {f.id for f in few}
    assert "outcome-better-chall" not in ids
    (unit,) = [f for f in few if f.id == "data-few-fraud-units"]
    assert unit.severity == "high" and unit.evidence == {"positives_test": 500, "fraud_units": 3}
    assert "The 500 test frauds fall on 3 of the bootstrap's independent units" in unit.detail
    enough = {f.id for f in derive_findings(dataclasses.replace(context(p=0.0), fraud_units=10))}
    assert "outcome-better-chall" in enough and "data-few-fraud-units" not in enough

    champ = ModelResult("champ", "champion", "score", metrics={"pr_auc": 0.2})
    result = _result([champ, _challenger("lgbm", 0.6, tested=True)], positives=500)
    result.findings = [unit]
    assert verdict(result).startswith(
        "No verdict: the test window's 500 frauds fall on 3 resampling unit(s), fewer than the 10"
    )


def test_fraud_units_count_the_resampling_units_holding_a_fraud() -> None:
    import numpy as np

    from challengers.evaluation.evaluate import TestRows, fraud_units

    y = np.array([1, 1, 0, 1, 0, 1], dtype=np.int8)
    rows = TestRows(y=y, entity=np.array([0, 0, 1, 2, 2, 0]), day=np.array([0, 1, 1, 1, 2, 2]))
    assert fraud_units(rows, "entity") == 2  # cards 0 and 2
    assert fraud_units(rows, "day") == 3
    assert fraud_units(rows, "row") == 4
