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


def test_the_processor_is_recorded_and_a_replication_on_another_says_so(tmp_path: Path) -> None:
    """LightGBM, XGBoost and numpy pick SIMD code paths by processor (sums round differently):
    an Intel-logged run replicated on an AMD machine is said as an environment difference, where
    the tags named only the architecture (x86_64 on both)."""
    from challengers.replication.environment import describe, differences

    now = describe(tmp_path)
    info = Path("/proc/cpuinfo")
    if info.exists():  # the first processor's model name, as the kernel lists it
        names = [
            line.split(":", 1)[1].strip()
            for line in info.read_text().splitlines()
            if line.startswith("model name")
        ]
        assert names and now["cpu"] == names[0]
    logged = {**now, "cpu": "Intel(R) Xeon(R) Processor"}
    assert f"cpu: Intel(R) Xeon(R) Processor logged, {now['cpu']} now" in differences(logged, now)
    assert differences(now, now) == []


def test_values_that_differ_with_the_data_and_environment_as_logged_name_the_rows_order() -> None:
    from challengers.pipeline.replicate import MetricCheck, Replication

    moved = MetricCheck("lgbm", "precision_at_alerts_0.02", 0.41, 0.436, headline=True)
    same = MetricCheck("lgbm", "pr_auc", 0.5, 0.5, headline=True)
    differs = Replication("a", "b", 1e-6, [moved, same])
    assert differs.unexplained is not None and "the rows' order" in differs.unexplained
    elsewhere = Replication("a", "b", 1e-6, [moved], environment=["cpu: X logged, Y now"])
    assert elsewhere.unexplained is None  # the environment line says why
    assert Replication("a", "b", 1e-6, [same]).unexplained is None
