"""The environment a run records: the installed packages' hash as importlib's full metadata tells it."""

from __future__ import annotations

import hashlib
from importlib.metadata import distributions

from challengers.replication.environment import installed_hash


def test_the_installed_hash_is_that_of_every_distributions_full_metadata() -> None:
    # the reference: each distribution's metadata parsed whole (its description included), as
    # the runs logged before the headers were read alone
    names = sorted(
        f"{(d.metadata['Name'] or '').lower()}=={d.version}"
        for d in distributions()
        if d.metadata["Name"]
    )
    assert len(names) > 20  # this environment's packages, not an empty list hashed twice
    expected = hashlib.sha256("\n".join(dict.fromkeys(names)).encode()).hexdigest()[:16]
    assert installed_hash() == expected
