"""The warm-up thread (tracking/store.py Warmup): it imports the modules later steps need with the
cyclic garbage collector off (it scanned the whole heap again and again as the modules' objects
piled up), and leaves the collector as it found it."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from challengers.tracking import Warmup

PROBE = "import gc\nenabled_while_imported = gc.isenabled()\n"


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"challenge_warmup_probe_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize("enabled", [True, False])
def test_imports_without_the_collector_then_leaves_it_as_it_was(
    probe: str, tmp_path: Path, enabled: bool
) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        Warmup(f"sqlite:///{tmp_path / 'mlflow.db'}", [probe]).wait()  # a new store: no open
        assert sys.modules[probe].enabled_while_imported is False
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


BLOCKING = (
    "import threading\n"
    "release = threading.Event()\n"
    "import builtins\n"
    "builtins.__dict__.setdefault('_challenge_probe_gates', []).append(release)\n"
    "assert release.wait(30)\n"
    "done = True\n"
)


def test_the_store_is_ready_before_the_modules_are_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wait_store returns once MLflow is imported while a module still imports; wait then
    waits for that module too."""
    import builtins

    name = f"challenge_warmup_slow_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(BLOCKING)
    monkeypatch.syspath_prepend(str(tmp_path))
    gates: list = builtins.__dict__.setdefault("_challenge_probe_gates", [])
    try:
        warmup = Warmup(f"sqlite:///{tmp_path / 'mlflow.db'}", [name])
        warmup.wait_store()
        assert "mlflow" in sys.modules
        for _ in range(300):  # the module's import has started, and waits for its gate
            if gates:
                break
            threading.Event().wait(0.1)
        assert gates and not hasattr(sys.modules[name], "done")  # still importing
        gates[-1].set()
        warmup.wait()
        assert sys.modules[name].done
    finally:
        for gate in gates:
            gate.set()
        builtins.__dict__.pop("_challenge_probe_gates", None)
        sys.modules.pop(name, None)


def test_a_store_that_cannot_be_opened_fails_wait_store_and_wait(tmp_path: Path) -> None:
    import sqlite3

    from challengers.errors import EnvironmentFailure

    path = tmp_path / "broken.db"  # MLflow's tables, at a schema version MLflow does not know
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num TEXT)")
        db.execute("INSERT INTO alembic_version VALUES ('not-a-revision')")
        db.execute("CREATE TABLE experiments (experiment_id INTEGER)")
    warmup = Warmup(f"sqlite:///{path}")
    with pytest.raises(EnvironmentFailure) as first:
        warmup.wait_store()
    with pytest.raises(EnvironmentFailure) as second:
        warmup.wait()
    assert "cannot be opened" in str(first.value) and first.value is second.value


def test_the_first_modules_are_imported_before_mlflow(tmp_path: Path) -> None:
    """``first`` (the row hashes' kernels, which the loading waits for) is imported before MLflow,
    not beside it: two imports at once share the interpreter's lock. A fresh interpreter: this
    one imported MLflow long ago."""
    import subprocess

    (tmp_path / "first_probe.py").write_text(
        "import sys\nmlflow_already = 'mlflow' in sys.modules\n"
    )
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from challengers.tracking import Warmup\n"
        "assert 'mlflow' not in sys.modules\n"
        f"Warmup('sqlite:///{tmp_path / 'mlflow.db'}', first=['first_probe']).wait()\n"
        "import first_probe\n"
        "assert 'mlflow' in sys.modules and not first_probe.mlflow_already\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_paused_waits_for_the_import_under_way_and_holds_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``paused`` (around the fits) returns once the import under way is done, and no later
    import starts before the block is left; the rest are imported after it."""
    import builtins

    stem = f"challenge_warmup_later_{abs(hash(tmp_path)) % 10**8}"
    gated, next_ = f"{stem}_gated", f"{stem}_next"
    (tmp_path / f"{gated}.py").write_text(BLOCKING)
    (tmp_path / f"{next_}.py").write_text("done = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    gates: list = builtins.__dict__.setdefault("_challenge_probe_gates", [])
    entered = threading.Event()
    inside: list[bool] = []
    try:
        warmup = Warmup(f"sqlite:///{tmp_path / 'mlflow.db'}", later=[gated, next_])
        for _ in range(300):  # the gated module's import has started, and waits for its gate
            if gates:
                break
            threading.Event().wait(0.1)
        assert gates

        def fits() -> None:
            with warmup.paused():
                entered.set()
                threading.Event().wait(0.5)  # a later import would start meanwhile
                inside.append(next_ in sys.modules)

        fitting = threading.Thread(target=fits)
        fitting.start()
        assert not entered.wait(0.5)  # the import under way is not cut short
        gates[-1].set()
        assert entered.wait(30)
        fitting.join(30)
        assert inside == [False]  # held while the fits ran
        warmup.wait()
        assert sys.modules[gated].done and sys.modules[next_].done
    finally:
        for gate in gates:
            gate.set()
        builtins.__dict__.pop("_challenge_probe_gates", None)
        sys.modules.pop(gated, None)
        sys.modules.pop(next_, None)


def test_the_imported_modules_are_left_out_of_the_collectors_passes(tmp_path: Path) -> None:
    """Once imported, the modules' objects are frozen (``gc.freeze``): the collector's first pass
    after the warm-up scanned them all again. A fresh interpreter, the collector on."""
    import subprocess

    code = (
        "import gc\n"
        "from challengers.tracking import Warmup\n"
        "before = gc.get_freeze_count()\n"
        f"Warmup('sqlite:///{tmp_path / 'mlflow.db'}', ['xgboost']).wait()\n"
        "print(gc.isenabled(), before, gc.get_freeze_count() - before > 100_000)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "0", "True"]
