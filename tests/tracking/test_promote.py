"""`challenge promote` and the registry's alias rule, on a real sqlite store without a run: a
parent run and a registered version tagged as `challenge run --register` tags them.

MLflow refused a reserved or malformed alias (and a quote in --name broke its filter) with a
traceback and exit 1; a run's own tracking.register.alias was refused only after the run had
trained and registered its versions; a failed run justified a promotion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from challengers.errors import ConfigError
from challengers.tracking.registry import MODEL_TAG, RUN_TAG, alias_problem, register_models
from tests.reliability.conftest import invoke

REGISTERED = "fraud"


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _model_files(folder: Path) -> str:
    """A version's files: the MLmodel file every logged model has (promote looks for it)."""
    (folder / "model").mkdir(exist_ok=True)
    (folder / "model" / "MLmodel").write_text("flavors: {}\n")
    return str(folder / "model")


def _registered_run(uri: str, folder: Path, status: str, model_run: str | None = None) -> str:
    """A parent run ended with ``status`` whose 'lgbm' is a version of ``fraud`` (logged by the
    run ``model_run``, else by the parent itself)."""
    client = _client(uri)
    experiment = client.create_experiment(f"sim-{status.lower()}")
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id, status)
    if not client.search_registered_models(f"name = '{REGISTERED}'"):
        client.create_registered_model(REGISTERED)
    client.create_model_version(
        REGISTERED,
        _model_files(folder),
        run_id=model_run or run_id,
        tags={RUN_TAG: run_id, MODEL_TAG: "lgbm"},
    )
    return run_id


def _aliases(uri: str) -> dict[str, int]:
    return dict(_client(uri).get_registered_model(REGISTERED).aliases)


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--alias", "bad alias"], "--alias: alias 'bad alias' holds characters other than"),
        (["--alias", "v1"], "--alias: alias 'v1' is reserved by the MLflow registry"),
        (["--alias", "V12"], "alias 'V12' is reserved by the MLflow registry"),
        (["--alias", "latest"], "'latest' names the newest version); choose another alias"),
        (["--alias", "LATEST"], "alias 'LATEST' is reserved by the MLflow registry"),
        (["--alias", ""], "--alias: the alias is empty; give one"),
        (["--alias", "a" * 256], "--alias: the alias is 256 characters long"),
        (["--name", "it's"], "--name: 'it's' is not a name `challenge run` registers under"),
        (["--name", ""], "--name: '' is not a name `challenge run` registers under"),
    ],
    ids=["space", "v1", "V12", "latest", "LATEST", "empty", "too-long", "quote-in-name", "no-name"],
)
def test_an_alias_or_name_the_registry_refuses_is_one_line_before_the_store(
    args: list[str], expect: str, tracking_uri: str, tmp_path: Path
) -> None:
    run_id = _registered_run(tracking_uri, tmp_path, "FINISHED")
    outcome = invoke(["promote", run_id, "lgbm", *args, "--tracking-uri", tracking_uri])
    outcome.error(2, expect)
    assert _aliases(tracking_uri) == {}


def test_an_alias_is_refused_before_a_missing_store_is_named(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    invoke(["promote", "0123abcd", "lgbm", "--alias", "v2", "--tracking-uri", missing]).error(
        2, "--alias: alias 'v2' is reserved"
    )


@pytest.mark.parametrize("status", ["FAILED", "KILLED", "RUNNING"])
def test_a_run_that_did_not_finish_justifies_no_promotion(
    status: str, tracking_uri: str, tmp_path: Path
) -> None:
    run_id = _registered_run(tracking_uri, tmp_path, status)
    outcome = invoke(["promote", run_id[:8], "lgbm", "--tracking-uri", tracking_uri])
    outcome.error(
        2, f"run {run_id} is {status}, not FINISHED: a run that did not finish justifies no"
    )
    assert _aliases(tracking_uri) == {}
    version = _client(tracking_uri).get_model_version(REGISTERED, "1")
    assert "challenge.promoted_by_run" not in version.tags


def test_a_finished_run_promotes_with_the_same_rule(tracking_uri: str, tmp_path: Path) -> None:
    """The aliases MLflow takes pass, a digit first included (the config refused it)."""
    run_id = _registered_run(tracking_uri, tmp_path, "FINISHED")
    for alias in ("champion", "2025-q1_reviewed"):
        outcome = invoke(["promote", run_id, "lgbm", "--alias", alias, "--name", REGISTERED,
                          "--tracking-uri", tracking_uri])  # fmt: skip
        assert outcome.code == 0, outcome.stderr
        assert outcome.stdout.startswith(f"{REGISTERED}@{alias} -> version 1 (new alias)")
    assert _aliases(tracking_uri) == {"champion": 1, "2025-q1_reviewed": 1}


def test_a_quote_in_the_run_id_is_a_run_not_found(tracking_uri: str) -> None:
    invoke(["promote", "ab'cd", "lgbm", "--tracking-uri", tracking_uri]).error(
        2, "run 'ab'cd' not found in", "check the id"
    )


def test_registering_under_a_reserved_alias_registers_nothing(tracking_uri: str) -> None:
    """A library caller past the config's check: refused before the first version."""
    with pytest.raises(ConfigError) as refused:
        register_models(
            tracking_uri, REGISTERED, {"lgbm": "m-0123"}, run_id="0" * 32, alias="latest",
            best="lgbm",
        )  # fmt: skip
    assert str(refused.value).startswith("tracking.register.alias: alias 'latest' is reserved")
    assert _client(tracking_uri).search_registered_models() == []


@pytest.mark.parametrize(
    ("alias", "ok"),
    [
        ("challenger", True),
        ("champion", True),
        ("_2025-q1", True),
        ("v", True),
        ("v1a", True),
        ("latest2", True),
        ("v1", False),
        ("V007", False),
        ("Latest", False),
        ("", False),
        ("a b", False),
        ("café", False),
        pytest.param("a" * 255, True, id="255-characters"),
        pytest.param("a" * 256, False, id="256-characters"),
    ],
)
def test_the_alias_rule_is_mlflows(alias: str, ok: bool) -> None:
    """What MLflow's own validators say of an alias (ASCII: the rule's message names letters and
    digits), before any store is asked."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import (
        _validate_model_alias_name,
        _validate_model_alias_name_reserved,
    )

    assert (alias_problem(alias) is None) == ok
    if ok:
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
    elif alias.isascii():
        with pytest.raises(MlflowException):
            _validate_model_alias_name(alias)
            _validate_model_alias_name_reserved(alias)


def _two_registered_runs(uri: str, folder: Path) -> list[str]:
    """Two finished runs, each with its 'lgbm' registered: versions 1 and 2 of ``fraud``."""
    client = _client(uri)
    experiment = client.create_experiment("sim-two")
    client.create_registered_model(REGISTERED)
    runs = []
    for _ in range(2):
        run_id = client.create_run(experiment).info.run_id
        client.set_terminated(run_id, "FINISHED")
        client.create_model_version(
            REGISTERED,
            _model_files(folder),
            run_id=run_id,
            tags={RUN_TAG: run_id, MODEL_TAG: "lgbm"},
        )
        runs.append(run_id)
    return runs


def test_the_version_an_alias_leaves_no_longer_claims_it(tracking_uri: str, tmp_path: Path) -> None:
    """The champion moved from version 1 to 2: version 1 kept challenge.promoted_to=champion, so
    both versions claimed it. Promoting version 2 again said '(from version 2)'."""
    first, second = _two_registered_runs(tracking_uri, tmp_path)
    args = ["lgbm", "--tracking-uri", tracking_uri]
    assert invoke(["promote", first, *args]).stdout.startswith(
        f"{REGISTERED}@champion -> version 1 (new alias)"
    )
    moved = invoke(["promote", second, *args])
    assert moved.code == 0, moved.stderr
    assert moved.stdout.strip() == (
        f"{REGISTERED}@champion -> version 2 (from version 1); justified by run {second}"
    )
    client = _client(tracking_uri)
    left, now = (client.get_model_version(REGISTERED, v).tags for v in ("1", "2"))
    assert now["challenge.promoted_to"] == "champion"
    assert now["challenge.promoted_by_run"] == second
    assert "challenge.promoted_to" not in left and "challenge.promoted_by_run" not in left
    assert left["challenge.superseded"] == (
        f"champion moved to version 2, justified by run {second}; this version's promotion was "
        f"justified by run {first}"
    )
    again = invoke(["promote", second, *args])
    assert again.code == 0, again.stderr
    assert again.stdout.strip() == (
        f"{REGISTERED}@champion -> version 2 (unchanged: it pointed there already); justified "
        f"by run {second}"
    )
    assert _aliases(tracking_uri) == {"champion": 2}


def test_the_promotion_of_another_alias_is_left_on_the_version(
    tracking_uri: str, tmp_path: Path
) -> None:
    """Version 1 promoted to champion, then to challenger (its tags say challenger): the champion
    leaving it leaves them."""
    first, second = _two_registered_runs(tracking_uri, tmp_path)
    args = ["lgbm", "--tracking-uri", tracking_uri]
    assert invoke(["promote", first, *args]).code == 0
    assert invoke(["promote", first, *args, "--alias", "challenger"]).code == 0
    assert invoke(["promote", second, *args]).code == 0  # champion leaves version 1
    left = _client(tracking_uri).get_model_version(REGISTERED, "1").tags
    assert left["challenge.promoted_to"] == "challenger"  # what it still is
    assert "challenge.superseded" not in left


def test_a_deleted_run_justifies_no_promotion(tracking_uri: str, tmp_path: Path) -> None:
    run_id = _registered_run(tracking_uri, tmp_path, "FINISHED")
    _client(tracking_uri).delete_run(run_id)
    outcome = invoke(["promote", run_id[:8], "lgbm", "--tracking-uri", tracking_uri])
    outcome.error(
        2,
        f"run {run_id} is deleted in the tracking store {tracking_uri}, so it justifies no "
        f"promotion; restore it with `MLFLOW_TRACKING_URI={tracking_uri} mlflow runs restore "
        f"--run-id {run_id}`",
    )
    assert _aliases(tracking_uri) == {}


def test_a_deleted_model_run_justifies_no_promotion(tracking_uri: str, tmp_path: Path) -> None:
    """The model's own run deleted (its parent not): the alias moved to its version."""
    client = _client(tracking_uri)
    model_run = client.create_run(client.create_experiment("models")).info.run_id
    run_id = _registered_run(tracking_uri, tmp_path, "FINISHED", model_run=model_run)
    client.delete_run(model_run)
    outcome = invoke(["promote", run_id, "lgbm", "--tracking-uri", tracking_uri])
    outcome.error(
        2,
        f"model 'lgbm' of run {run_id}: run {model_run} is deleted in the tracking store "
        f"{tracking_uri}, so it justifies no promotion; restore it with `MLFLOW_TRACKING_URI="
        f"{tracking_uri} mlflow runs restore --run-id {model_run}`",
    )
    assert _aliases(tracking_uri) == {}


def test_a_version_whose_files_are_gone_is_not_promoted(tracking_uri: str, tmp_path: Path) -> None:
    """The model's files deleted on disk: the alias moved to a version no run can load, and
    `challenge run` with champion models:/fraud@champion failed later."""
    run_id = _registered_run(tracking_uri, tmp_path, "FINISHED")
    (tmp_path / "model" / "MLmodel").unlink()
    outcome = invoke(["promote", run_id, "lgbm", "--tracking-uri", tracking_uri])
    outcome.error(
        2,
        f"model 'lgbm' of run {run_id}: version 1 of '{REGISTERED}' has no model files at "
        f"{tmp_path / 'model'} (deleted or moved), so the alias would name a model that cannot "
        "be loaded; nothing was moved: put the files back there, or register the run's models "
        "again with `challenge run --register`",
    )
    assert _aliases(tracking_uri) == {}
