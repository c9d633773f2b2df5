"""The environment a run records: the installed packages' hash as importlib's full metadata tells it."""

from __future__ import annotations

import hashlib
from importlib.metadata import distributions
from pathlib import Path

import pytest

from challengers.replication.environment import installed_hash


def test_the_installed_hash_is_that_of_every_distributions_full_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a legacy egg-info that is a file, not a folder: importlib reads the file itself
    legacy = "Metadata-Version: 1.1\nName: Legacy-Pkg\nVersion: 1.0\n\nIts description.\n"
    (tmp_path / "legacy_pkg-1.0.egg-info").write_text(legacy)
    monkeypatch.syspath_prepend(str(tmp_path))
    # the reference: each distribution's metadata parsed whole (its description included), as
    # the runs logged before the headers were read alone
    names = sorted(
        f"{(d.metadata['Name'] or '').lower()}=={d.version}"
        for d in distributions()
        if d.metadata["Name"]
    )
    assert len(names) > 20  # this environment's packages, not an empty list hashed twice
    assert "legacy-pkg==1.0" in names
    expected = hashlib.sha256("\n".join(dict.fromkeys(names)).encode()).hexdigest()[:16]
    assert installed_hash() == expected
