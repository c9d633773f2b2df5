"""Whether this process draws figures: the report's and the models' plots, the audit's chart and
the tuning studies' plots alike."""

from __future__ import annotations

import os

NO_PLOTS_NOTE = "No plots: the environment sets CHALLENGE_PLOTS=off."


def plots_wanted() -> bool:
    """Unless the environment sets ``CHALLENGE_PLOTS=off``. The test suite does, but for the
    tests of the plots, the report and MLflow's artifacts: drawing was about a quarter of the
    CPU of a small run, and the audit's chart, drawn in a child process that imports matplotlib
    itself, about 0.4 CPU-s of every run."""
    return os.environ.get("CHALLENGE_PLOTS", "on") != "off"
