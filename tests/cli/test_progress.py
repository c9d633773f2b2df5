"""The terminal progress bar takes a new description while it runs (a tuning's best value)."""

from __future__ import annotations

import pytest

from challengers.cli import output


def test_the_finished_stage_line_shows_the_last_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with output.RichProgress().stage("Tuning lgbm (pr_auc)", total=3) as advance:
        advance(1, description="Tuning lgbm (pr_auc): best 0.2100 (trial 0)")
        advance(1, description="Tuning lgbm (pr_auc): best 0.2300 (trial 1)")
        advance(1)
    assert "✓ Tuning lgbm (pr_auc): best 0.2300 (trial 1)" in capsys.readouterr().err
