"""LightGBM and XGBoost imported without their scikit-learn wrappers.

Both libraries try ``import sklearn`` when they are imported (their ``compat`` modules), for their
scikit-learn estimator classes (``LGBMClassifier``, ``XGBClassifier``). The tool trains and scores
with their core APIs (``lightgbm.train``, ``xgboost.train``, boosters, MLflow's flavours of
boosters) and never uses those classes, but scikit-learn imports SciPy's statistics: 1.0 of the
1.1 CPU-s that importing the two libraries took in a run (the handbook's fixed-cost run spends
13-15 CPU-s in all). Both libraries support scikit-learn being absent (their estimator classes then
refuse to be created); :func:`hide_sklearn_from_tree_libraries` makes that the case for their own
import only: scikit-learn stays importable by everything else (PyOD, a test's reference).

The CLI hides them (one command a process); a run on the Spark engine, whose XGBoost estimator is
one of those classes, shows them again first thing. No champion needs them: a pickled one is never
loaded (models/champion.py). A program using the library directly keeps the libraries as they are.
"""

from __future__ import annotations

import sys
from types import FrameType, ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

HIDDEN_FROM = ("lightgbm", "xgboost")  # the packages whose ``import sklearn`` fails
HIDDEN = "sklearn"


class _HideSklearn:
    """Fails ``import sklearn...`` made by a module of :data:`HIDDEN_FROM`, as if scikit-learn
    were not installed; every other import goes on to the next finder. (A meta path finder by
    its method; not importlib.abc's subclass, whose import takes 11 ms of the CLI's start.)"""

    def find_spec(
        self,
        fullname: str,
        path: object = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] == HIDDEN and _importer(sys._getframe(1)) in HIDDEN_FROM:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _importer(frame: FrameType | None) -> str:
    """The top-level package of the first frame outside the import machinery: who imports."""
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if not name.startswith(("importlib", "_frozen_importlib")) and name != __name__:
            return name.partition(".")[0]
        frame = frame.f_back
    return ""


_FINDER = _HideSklearn()


def hide_sklearn_from_tree_libraries() -> None:
    """LightGBM and XGBoost, when this process imports them next, without scikit-learn's API (a
    library already imported keeps what it has). Idempotent."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def show_sklearn_to_tree_libraries() -> None:
    """Undo :func:`hide_sklearn_from_tree_libraries` (for libraries imported from now on)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
