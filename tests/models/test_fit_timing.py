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

import pytest

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
