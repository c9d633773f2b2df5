"""Run ids as a validator pastes them: MLflow's are 32 lower-case hex digits."""

from __future__ import annotations

import pytest

from challengers.errors import ConfigError
from challengers.tracking import read_run


def test_a_run_id_in_upper_case_finds_the_run_whole_or_by_its_first_characters(
    tracking_uri: str,
) -> None:
    """It was 'not found' (MLflow compares ids as text), though the store holds it."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    run_id = client.create_run(client.create_experiment("sim")).info.run_id
    for given in (run_id.upper(), run_id[:8].upper(), run_id[:8].upper().swapcase()):
        assert read_run(tracking_uri, given).run_id == run_id
    with pytest.raises(ConfigError) as unknown:
        read_run(tracking_uri, "F" * 32)
    assert str(unknown.value).startswith(f"run '{'F' * 32}' not found in {tracking_uri}")
