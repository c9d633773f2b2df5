"""The note that says when the replicates are too few for a secondary metric's bootstrap test to
reach alpha after Holm (report/outcomes.py::resolution_note): the family is every secondary test,
DeLong's included."""

from __future__ import annotations

import pytest

from challengers.experiment_result import ExperimentResult
from challengers.report.outcomes import resolution_note
from challengers.results import DeltaResult, ModelResult
from tests.conftest import bare_result


def _challenger(name: str) -> ModelResult:
    m = ModelResult(name, "challenger", "lightgbm")
    m.delta_vs_champion = {
        "pr_auc": DeltaResult(0.1, (0.05, 0.15), 0.004, 0.008, "bootstrap:entity", primary=True),
        "roc_auc": DeltaResult(0.02, (0.01, 0.03), 1e-6, 1e-5, "delong", primary=False),
        "ks": DeltaResult(0.03, (0.01, 0.05), 0.005, 0.03, "bootstrap:entity"),
        "brier": DeltaResult(-0.001, (-0.002, 0.0), 0.005, 0.03, "bootstrap:entity"),
    }
    return m


def _result(bootstrap: int) -> ExperimentResult:
    champion = ModelResult("champ", "champion", "score")
    return bare_result(
        [champion, _challenger("a"), _challenger("b")],
        metric_keys=("pr_auc", "roc_auc", "ks", "brier"),
        lower_is_better=("brier",),
        bootstrap=bootstrap,
    )


@pytest.mark.parametrize(("bootstrap", "said"), [(200, True), (239, True), (240, False)])
def test_the_family_counts_every_secondary_test(bootstrap: int, said: bool) -> None:
    """Six secondary tests (four bootstrap, two DeLong): the smallest bootstrap p, 2 / (B + 1),
    times 6 reaches 0.05 below B = 240. Counting the four bootstrap tests alone kept quiet at 200
    replicates, where no secondary bootstrap test could be significant."""
    note = resolution_note(_result(bootstrap))
    assert bool(note) == said
    if said:
        assert "after Holm over the 6 secondary tests (4 of them bootstrap)" in note[0]
        assert "Set evaluation.bootstrap to at least 240" in note[0]
