"""One model's own plots, for its MLflow child run: its ROC and PR curves, its reliability curve
and its SHAP summary, drawn by the report's plot functions on a view of the run that holds only
that model's curves (the colours stay those of the report)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from challengers.experiment_result import ExperimentResult
from challengers.report.plots import contributions, pr, reliability, roc, write_plots

MODEL_PLOTS: dict[str, Callable[[ExperimentResult], Any]] = {
    "roc": roc,
    "pr": pr,
    "calibration": reliability,
    "shap_summary": contributions,
}


def only(result: ExperimentResult, name: str) -> ExperimentResult:
    """The run as seen by one model's plots: the curves, calibration and explanations of
    ``name`` alone."""
    curves = result.curves
    if curves is not None:
        curves = dataclasses.replace(
            curves,
            roc_pr={k: v for k, v in curves.roc_pr.items() if k == name},
            scores={k: v for k, v in curves.scores.items() if k == name},
        )
    point = result.operating_point
    if point is not None:
        point = dataclasses.replace(point, models=[m for m in point.models if m.model == name])
    explanations = result.explanations
    if explanations is not None:
        explanations = dataclasses.replace(
            explanations, models=[m for m in explanations.models if m.model == name]
        )
    return dataclasses.replace(
        result,
        curves=curves,
        operating_point=point,
        calibration=[c for c in result.calibration if c.model == name],
        explanations=explanations,
    )


def write_model_plots(result: ExperimentResult, name: str, directory: Path) -> list[Path]:
    """Draw ``name``'s plots into ``directory``; returns the files (a model without SHAP
    contributions or a calibration curve has no such plot)."""
    return list(write_plots(only(result, name), directory, MODEL_PLOTS).values())
