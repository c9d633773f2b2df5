"""The one place that sees the whole config: config → data → audit → split → models → evaluation
→ diagnostics → findings → tracking and report.

- :mod:`.preflight`: what a run needs from its environment, checked by `check` and `run` before
  training (names that fit the file system), and the lock a run holds on its output directory;
- :mod:`.prepare`: options, loading and checking the data (`challenge check`);
- :mod:`.auditing`: the data audit (`challenge audit`, and the start of every run);
- :mod:`.fitting`: the champion and the challengers, fitted and scored;
- :mod:`.checkpoint`: each finished model kept on disk as soon as it has scored;
  :mod:`.restored`: read back by `--resume`; :mod:`.resume`: the resume command and messages;
- :mod:`.run`: `challenge run` from start to finish;
- :mod:`.outputs`: files, the report and the MLflow runs a run leaves behind.
"""

from challengers.pipeline.auditing import audit_experiment
from challengers.pipeline.fitting import Fitted
from challengers.pipeline.prepare import (
    Prepared,
    RunOptions,
    check_experiment,
    default_output_dir,
    prepare,
)
from challengers.pipeline.run import run_experiment

__all__ = [
    "Fitted",
    "Prepared",
    "RunOptions",
    "audit_experiment",
    "check_experiment",
    "default_output_dir",
    "prepare",
    "run_experiment",
]
