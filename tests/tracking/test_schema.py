"""A sqlite store whose schema is not the installed MLflow's: one line that says which way it is
off and the fix (MLflow calls every other revision 'out-of-date' and says to upgrade it)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from challengers.errors import EnvironmentFailure
from challengers.tracking import check_reachable, open_mlflow


def _mark(uri: str, revision: str) -> None:
    with contextlib.closing(sqlite3.connect(uri.removeprefix("sqlite:///"))) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        db.commit()


def _mlflow_version() -> str:
    import mlflow

    return str(mlflow.__version__)


def test_a_store_of_a_newer_mlflow_is_not_told_to_upgrade(tracking_uri: str) -> None:
    """'Detected out-of-date database schema ... run mlflow db upgrade', which fails on it."""
    _mark(tracking_uri, "ffffffffffff")
    with pytest.raises(EnvironmentFailure) as refused:
        open_mlflow(tracking_uri)
    assert str(refused.value) == (
        f"tracking store {tracking_uri} cannot be opened: its schema (revision ffffffffffff) is "
        f"not one MLflow {_mlflow_version()} knows: a newer MLflow made or upgraded it (or it is "
        "not MLflow's); open it with that MLflow release, or pass --tracking-uri another store"
    )


def test_a_store_of_an_older_mlflow_is_told_the_whole_upgrade_command(
    tmp_path: Path, empty_store: Path
) -> None:
    """MLflow's own message, cut to one line, ended at 'please consult your databa'."""
    import mlflow

    older = "1b5f0d9ad7c1"  # an MLflow 2 revision (params longer than 500 characters)
    scripts = Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"
    assert any(p.name.startswith(f"{older}_") for p in scripts.iterdir())
    store = tmp_path / "my store.db"  # a space: the command quotes it
    shutil.copyfile(empty_store, store)
    uri = f"sqlite:///{store}"
    _mark(uri, older)
    with pytest.raises(EnvironmentFailure) as refused:
        open_mlflow(uri)
    assert str(refused.value) == (
        f"tracking store {uri} cannot be opened: its schema (revision {older}) is older than "
        f"MLflow {_mlflow_version()}'s; back the file up, then upgrade it with "
        f"`mlflow db upgrade 'sqlite:///{store}'`"
    )


def test_the_ui_on_a_store_of_a_newer_mlflow_says_so_before_starting_a_server(
    tracking_uri: str,
) -> None:
    """It started `mlflow server`, which stopped: 'Detected out-of-date database schema ...
    run mlflow db upgrade ...; is port 5000 free?'."""
    from typer.testing import CliRunner

    from challengers.cli.main import app

    _mark(tracking_uri, "ffffffffffff")
    outcome = CliRunner().invoke(app, ["ui", "--tracking-uri", tracking_uri, "--port", "0"])
    assert outcome.exit_code == 3, outcome.output
    assert outcome.stderr.strip() == (
        f"error: tracking store {tracking_uri} cannot be opened: its schema (revision "
        f"ffffffffffff) is not one MLflow {_mlflow_version()} knows: a newer MLflow made or "
        "upgraded it (or it is not MLflow's); open it with that MLflow release, or pass "
        "--tracking-uri another store"
    )


def _tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_database_of_another_application_is_not_made_a_store(tmp_path: Path) -> None:
    """MLflow added its tables to it (`compare` too, a reading command), then said the run was
    not found."""
    from typer.testing import CliRunner

    from challengers.cli.main import app

    path = tmp_path / "crm.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        for table in ("customers", "orders", "payments", "refunds"):
            db.execute(f"CREATE TABLE {table} (id INTEGER)")
        db.commit()
    uri = f"sqlite:///{path}"
    outcome = CliRunner().invoke(app, ["compare", "0123abcd", "--tracking-uri", uri])
    assert outcome.exit_code == 3, outcome.output
    assert outcome.stderr.strip() == (
        f"error: tracking store {uri} cannot be opened: {path} is a sqlite database of another "
        "application (tables customers, orders, payments, ...; none of MLflow's), which MLflow "
        "would add its tables to; pass --tracking-uri the store's file, or a new one"
    )
    assert _tables(path) == {"customers", "orders", "payments", "refunds"}


def test_a_damaged_store_is_said_damaged_with_the_fix(tmp_path: Path, empty_store: Path) -> None:
    """A store cut short (a failed copy): MLflow's 'database disk image is malformed' alone."""
    path = tmp_path / "mlflow.db"
    path.write_bytes(empty_store.read_bytes()[:100])  # the sqlite header, then nothing
    uri = f"sqlite:///{path}"
    with pytest.raises(EnvironmentFailure) as refused:
        check_reachable(uri)
    assert str(refused.value) == (
        f"tracking store {uri} cannot be opened: the file is damaged (database disk image is "
        "malformed); restore it from a backup, or pass --tracking-uri another store"
    )


def test_a_store_another_run_is_writing_is_not_called_damaged(tracking_uri: str) -> None:
    """A write transaction holds the lock longer than sqlite's wait: 'database is locked' is
    another run at work, not a damaged file (MLflow waits for it)."""
    path = tracking_uri.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        try:
            from challengers.tracking import store

            assert store._contents_problem(Path(path)) is None
        finally:
            writer.execute("ROLLBACK")
