"""Registering a run's challengers in the MLflow registry (``--register``, ``tracking.register``).

Every challenger whose model was logged becomes a version of the registered model; the alias
(``challenger`` by default) goes to the challenger the findings name best, when one is: the
challenger significantly better than the champion with the most severe finding, then the largest
recall gain at the champion's budget. Never the ``champion`` alias: promotion is a person's
decision (``challenge promote``).
"""

from __future__ import annotations

from challengers.config import ExperimentConfig
from challengers.config.sections import RegisterConfig
from challengers.results import SEVERITIES, Finding

BETTER = "outcome-better-"


def registration(cfg: ExperimentConfig, register: bool | None) -> RegisterConfig | None:
    """What to register: ``tracking.register``, or under the experiment's name with
    ``--register``; nothing when ``register`` is False (a replication registers nothing)."""
    if register is False:
        return None
    chosen = cfg.tracking.register
    if chosen is None and register:
        chosen = RegisterConfig(name=cfg.name)
    return chosen


def best_challenger(findings: list[Finding]) -> str | None:
    """The challenger the findings name best, or None when no challenger beats the champion."""
    better = [f for f in findings if f.id.startswith(BETTER)]
    if not better:
        return None

    def rank(f: Finding) -> tuple[int, float, float]:
        gain = f.evidence.get("relative_recall_gain_at_budget")
        gain = float(gain) if isinstance(gain, int | float) else float("-inf")
        return (SEVERITIES.index(f.severity), -gain, -abs(f.effect or 0.0))

    return min(better, key=rank).id.removeprefix(BETTER)
