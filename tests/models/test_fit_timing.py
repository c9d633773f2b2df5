"""`fit_seconds` times training, not the import of the model's library.

``import lightgbm`` alone pulls in pandas and scikit-learn where they are installed (seconds, more
than training 100 trees on the handbook split): a validator comparing models' fit times would
compare imports. Checked structurally, not by timing: in a fresh interpreter (the library not yet
imported), the clock ``fit`` reads when it starts its timer records whether the library is already
in ``sys.modules`` at that moment.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sim_config

PROBE = """
import sys, time
from challengers.models import base
from challengers.models.tree import LightGBMChallenger, XGBoostChallenger
from tests.models.contract import EASY_FEATURES, easy_frame
from challengers.data.frames import DataSpec

library = sys.argv[1]
assert library not in sys.modules, "the probe needs a fresh interpreter"
loaded_at_start = []

class Clock:
    '''time, whose perf_counter also notes whether the library is imported yet.'''
    def __getattr__(self, name):
        return getattr(time, name)
    def perf_counter(self):
        loaded_at_start.append(library in sys.modules)
        return time.perf_counter()

base.time = Clock()
cls = LightGBMChallenger if library == "lightgbm" else XGBoostChallenger
model = cls({"n_estimators": 5}, seed=0, threads=1)
model.fit(easy_frame(500), DataSpec(target="y", time="t", features=EASY_FEATURES))
print(loaded_at_start[0], model.fit_seconds_ > 0)
"""


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_the_library_is_imported_before_the_fit_timer_starts(library: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, library], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


# modules the warm-up imports, each saying when its import is done: were a fit to start while one
# still imports, the import would take its cores (the handbook split's LightGBM champion measured
# 0.7-1.1 s of fit_seconds where its training alone takes 0.3-0.45). The library's import ends
# only once the run is about to fit (its gate), so that the later module's would start right then.
LIBRARY_MODULE = "import builtins\nassert builtins._challenge_fit_gate.wait(60)\ndone = True\n"
LATER_MODULE = "import time\ntime.sleep(2.0)\ndone = True\n"


def test_no_model_trains_while_the_warmup_imports(
    tmp_path: Path,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The models' libraries are imported before the first fit; what only the outputs need is
    not imported beside the fits either, but held until they are done (and then imported)."""
    import builtins

    from challengers.config import load_config
    from challengers.models.base import BaseChallenger
    from challengers.pipeline import run as run_module
    from challengers.pipeline.run import RunOptions, run_experiment
    from challengers.tracking import Warmup

    stem = f"challenge_slow_warmup_{abs(hash(tmp_path)) % 10**8}"
    library, later = f"{stem}_library", f"{stem}_later"
    (tmp_path / f"{library}.py").write_text(LIBRARY_MODULE)
    (tmp_path / f"{later}.py").write_text(LATER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(run_module, "_model_imports", lambda cfg: [library])
    monkeypatch.setattr(run_module, "PLOT_IMPORTS", (later,))
    gate = threading.Event()
    monkeypatch.setattr(builtins, "_challenge_fit_gate", gate, raising=False)
    paused = Warmup.paused

    def gated(self: Warmup) -> Any:
        gate.set()  # the run is about to fit: the library's import may end
        return paused(self)

    monkeypatch.setattr(Warmup, "paused", gated)
    at_fit: list[tuple[bool, bool]] = []  # (the library imported, no later import under way)
    fit = BaseChallenger.fit

    def noted_fit(self: BaseChallenger, *args: Any, **kwargs: Any) -> BaseChallenger:
        held = sys.modules.get(later)
        at_fit.append((hasattr(sys.modules.get(library), "done"), held is None or held.done))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(BaseChallenger, "fit", noted_fit)
    try:
        cfg = load_config(write_config(sim_config(sim_parquet)))
        run_experiment(cfg, RunOptions(output_dir=tmp_path / "out", tracking_uri=tracking_uri))
        for thread in threading.enumerate():
            if thread.name == "challenge-warmup":
                thread.join(30)
        assert at_fit and all(library_done and quiet for library_done, quiet in at_fit), at_fit
        assert sys.modules[later].done  # imported once the fits were done
    finally:
        gate.set()
        sys.modules.pop(library, None)
        sys.modules.pop(later, None)
