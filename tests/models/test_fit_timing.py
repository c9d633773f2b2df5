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


# a module the warm-up imports slowly: were the first fit to start before the warm-up is done, the
# imports would run beside it and take its cores (the handbook split's LightGBM champion measured
# 0.7-1.1 s of fit_seconds where its training alone takes 0.3-0.45)
SLOW_MODULE = "import time\ntime.sleep(1.5)\n"


def test_no_model_trains_while_the_warmup_still_imports(
    tmp_path: Path,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from challengers.config import load_config
    from challengers.models.base import BaseChallenger
    from challengers.pipeline import run as run_module
    from challengers.pipeline.run import RunOptions, run_experiment

    name = f"challenge_slow_warmup_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(SLOW_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(run_module, "_later_imports", lambda cfg: [name])
    warming_at_fit: list[bool] = []
    fit = BaseChallenger.fit

    def noted_fit(self: BaseChallenger, *args: Any, **kwargs: Any) -> BaseChallenger:
        warming = [t for t in threading.enumerate() if t.name == "challenge-warmup"]
        warming_at_fit.append(any(t.is_alive() for t in warming))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(BaseChallenger, "fit", noted_fit)
    try:
        cfg = load_config(write_config(sim_config(sim_parquet)))
        run_experiment(cfg, RunOptions(output_dir=tmp_path / "out", tracking_uri=tracking_uri))
    finally:
        sys.modules.pop(name, None)
    assert warming_at_fit and not any(warming_at_fit), warming_at_fit
