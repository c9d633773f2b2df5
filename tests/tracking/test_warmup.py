"""The warm-up thread (tracking/store.py Warmup): it imports the modules later steps need with the
cyclic garbage collector off (it scanned the whole heap again and again as the modules' objects
piled up), and leaves the collector as it found it."""

from __future__ import annotations

import gc
import sys
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
