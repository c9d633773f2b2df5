"""The terminal progress bar takes a new description while it runs (a tuning's best value)."""

from __future__ import annotations

from challengers.cli import output


def test_the_finished_stage_line_shows_the_last_description() -> None:
    stage = output.RichProgress().stage("Tuning lgbm (pr_auc)", total=3)
    with output.err_console.capture() as captured, stage as advance:
        advance(1, description="Tuning lgbm (pr_auc): best 0.2100 (trial 0)")
        advance(1, description="Tuning lgbm (pr_auc): best 0.2300 (trial 1)")
        advance(1)
    text = captured.get()
    assert "✓ Tuning lgbm (pr_auc): best 0.2300 (trial 1)" in text
