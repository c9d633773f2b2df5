"""New local sqlite stores made from a copy of an empty store (tracking/template.py): the same
database MLflow's migrations make, and MLflow's own way whenever the copy is not usable.

Each test opens real stores through the tool (``open_mlflow``) in a cache of its own; a store made
by MLflow alone, in another directory, is the reference. A spy on MLflow's table creation (which
calls through to it) tells which way a store was made."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from challengers.tracking import open_mlflow
from challengers.tracking.template import template_file


@pytest.fixture
def migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The stores MLflow ran its migrations on (the engine's URL), in this test's own cache."""
    import mlflow.store.db.utils as db_utils

    monkeypatch.setenv("CHALLENGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CHALLENGE_STORE_TEMPLATE", raising=False)
    made: list[str] = []
    real = db_utils._initialize_tables

    def spy(engine: object) -> None:
        made.append(str(engine.url))  # type: ignore[attr-defined]
        real(engine)

    monkeypatch.setattr(db_utils, "_initialize_tables", spy)
    yield made


def _open(path: Path) -> str:
    uri = f"sqlite:///{path}"
    open_mlflow(uri)
    return uri


Schema = set[tuple[object, ...]]
Rows = dict[str, list[tuple[object, ...]]]


def _contents(path: Path) -> tuple[Schema, Rows]:
    """The schema (every table's columns in order, every table, index and trigger's definition)
    and every table's rows, sorted."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        entries = list(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        tables = [name for kind, name, _, _ in entries if kind == "table"]
        schema: Schema = {(kind, name, table, _clauses(sql)) for kind, name, table, sql in entries}
        schema |= {
            (t, *column) for t in tables for column in db.execute(f'PRAGMA table_info("{t}")')
        }
        rows = {t: sorted(db.execute(f'SELECT * FROM "{t}"'), key=repr) for t in tables}
    return schema, rows


def _clauses(sql: str | None) -> tuple[str, ...]:
    """A definition's clauses, sorted: MLflow's migrations write a table's constraints in an
    order that varies from one process to the next (a set of SQLAlchemy objects), so two stores
    it makes itself differ there too."""
    return tuple(sorted(line.strip().rstrip(",").strip() for line in (sql or "").splitlines()))


def _without_times(rows: Rows) -> Rows:
    # experiments: (id, name, artifact_location, lifecycle_stage, creation_time, last_update_time,
    # workspace): the times are each store's own
    return {**rows, "experiments": [(*r[:4], r[6]) for r in rows["experiments"]]}


def test_a_store_copied_from_the_template_is_the_store_mlflow_makes(
    migrations: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("first", "copied", "reference"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "first")
    _open(tmp_path / "first" / "mlflow.db")  # made by the migrations, then kept
    template = template_file()
    assert template is not None and template.is_file()
    assert len(migrations) == 1

    monkeypatch.chdir(tmp_path / "copied")  # MLflow's default artifact root follows the directory
    copied = _open(tmp_path / "copied" / "mlflow.db")
    assert len(migrations) == 1, "the copy ran MLflow's migrations"

    import mlflow

    reference = f"sqlite:///{tmp_path / 'reference' / 'mlflow.db'}"
    mlflow.MlflowClient(tracking_uri=reference).search_experiments()  # MLflow alone
    assert len(migrations) == 2
    schema, rows = _contents(tmp_path / "copied" / "mlflow.db")
    expected_schema, expected_rows = _contents(tmp_path / "reference" / "mlflow.db")
    assert schema == expected_schema
    assert _without_times(rows) == _without_times(expected_rows)
    # the Default experiment is the new store's: made by MLflow on opening it, not the first's
    (default,) = rows["experiments"]
    assert default[2] == str(tmp_path / "copied" / "mlruns" / "0")

    # the copy works as a store: the next experiment's id is the reference's, a run reads back
    ids = [
        mlflow.MlflowClient(tracking_uri=uri).create_experiment("e") for uri in (copied, reference)
    ]
    assert ids[0] == ids[1]
    client = mlflow.MlflowClient(tracking_uri=copied)
    run = client.create_run(ids[0])
    client.log_metric(run.info.run_id, "pr_auc", 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {"pr_auc": 0.5}


def test_the_template_holds_no_experiment_and_no_run(migrations: list[str], tmp_path: Path) -> None:
    _open(tmp_path / "first.db")
    template = template_file()
    assert template is not None
    _, rows = _contents(template)
    assert rows["experiments"] == [] and rows["runs"] == []
    # what the migrations wrote stays: their revision, MLflow's default workspace
    assert len(rows["alembic_version"]) == 1 and len(rows["workspaces"]) == 1


@pytest.mark.parametrize("damage", ["old schema revision", "not a database"])
def test_a_template_mlflow_refuses_is_replaced_and_the_store_made_by_the_migrations(
    migrations: list[str], tmp_path: Path, damage: str
) -> None:
    _open(tmp_path / "first.db")
    template = template_file()
    assert template is not None
    good = _contents(template)
    if damage == "not a database":
        template.write_bytes(b"this is no sqlite file " * 100)
    else:
        with contextlib.closing(sqlite3.connect(template)) as db:
            db.execute("UPDATE alembic_version SET version_num = '0123456789ab'")
            db.commit()

    uri = _open(tmp_path / "second.db")  # no error: MLflow's migrations made it
    assert len(migrations) == 2
    import mlflow

    (default,) = mlflow.MlflowClient(tracking_uri=uri).search_experiments()
    assert default.name == "Default"
    assert _contents(template) == good  # kept again, from the store the migrations made


def test_without_a_writable_cache_new_stores_are_made_as_before(
    migrations: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("CHALLENGE_CACHE_DIR", str(tmp_path / "a file" / "cache"))
    _open(tmp_path / "one.db")
    _open(tmp_path / "two.db")
    assert len(migrations) == 2


def test_templates_off_leaves_new_stores_to_mlflow(
    migrations: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHALLENGE_STORE_TEMPLATE", "off")
    _open(tmp_path / "one.db")
    _open(tmp_path / "two.db")
    assert len(migrations) == 2
    assert not (tmp_path / "cache").exists()


def test_without_a_home_directory_new_stores_are_made_as_before(
    migrations: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container user with no HOME and no entry in the user database: ``Path.home()`` raises."""

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("CHALLENGE_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert template_file() is None
    _open(tmp_path / "one.db")
    _open(tmp_path / "two.db")
    assert len(migrations) == 2
