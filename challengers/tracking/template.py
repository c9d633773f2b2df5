"""A new local sqlite store started from a copy of an empty one, not from MLflow's migrations.

MLflow makes a new store's tables by running its schema migrations one after the other (dozens,
many of them copying a table to alter it): 1.5-1.8 CPU-seconds before a new store takes its first
run. The first store made with a given MLflow (SQLAlchemy, alembic) is kept in the user's cache,
without its Default experiment: the schema and the rows the migrations wrote, nothing else. A
later new store starts as a copy of it, and MLflow, opening it, adds the Default experiment (its
artifact location the new store's, its time now) as it does right after its migrations.

MLflow checks the copy's schema revision when it opens it; a copy it refuses is emptied and the
template removed, and that store is made by the migrations (and becomes the new template). Where
the copy cannot be made (no hard links, no cache), MLflow makes the store as before.
``CHALLENGE_CACHE_DIR`` moves the cache (default ``$XDG_CACHE_HOME/challenge``, else
``~/.cache/challenge``); ``CHALLENGE_STORE_TEMPLATE=off`` leaves new stores to MLflow.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from importlib import metadata
from pathlib import Path

# the packages that decide what MLflow's migrations write
_SCHEMA_PACKAGES = ("mlflow", "sqlalchemy", "alembic")


def template_file() -> Path | None:
    """Where the empty store of the installed MLflow is kept; None when templates are off."""
    if os.environ.get("CHALLENGE_STORE_TEMPLATE", "on").lower() == "off":
        return None
    cache = os.environ.get("CHALLENGE_CACHE_DIR")
    if cache:
        folder = Path(cache)
    else:
        try:
            base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        except RuntimeError:  # no HOME and no home directory in the user database
            return None
        folder = Path(base) / "challenge"
    try:
        versions = "-".join(f"{p}{metadata.version(p)}" for p in _SCHEMA_PACKAGES)
    except metadata.PackageNotFoundError:
        return None
    return folder / f"empty-store-{versions}.db"


def copy_template(store: Path) -> bool:
    """Make the new store ``store`` a copy of the template; False (and nothing made) when there is
    no template or ``store`` appeared meanwhile. The copy is whole before it is linked into place:
    a run stopped half-way leaves no half store."""
    template = template_file()
    if template is None or not template.is_file():
        return False
    draft = store.with_name(f".{store.name}.{os.getpid()}.draft")
    try:
        shutil.copyfile(template, draft)
        os.link(draft, store)  # fails if the store exists: never over another's store
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            draft.unlink()
    return True


def keep_template(store: Path) -> None:
    """Keep the store MLflow has just made (its migrations, then the Default experiment) as the
    template, without that experiment. Quietly nothing when the cache cannot be written, or
    ``store`` holds more than a new store does."""
    template = template_file()
    if template is None or template.exists():
        return
    draft = None
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=template.parent, suffix=".draft")
        os.close(handle)
        draft = Path(name)
        with (
            contextlib.closing(sqlite3.connect(store)) as source,
            contextlib.closing(sqlite3.connect(draft)) as copy,
        ):
            source.backup(copy)  # a consistent snapshot, whatever MLflow's connection holds
            if not _only_the_default_experiment(copy):
                return
            copy.execute("DELETE FROM experiments")
            copy.commit()
        draft.replace(template)
        draft = None
    except (OSError, sqlite3.Error):
        return
    finally:
        if draft is not None:
            with contextlib.suppress(OSError):
                draft.unlink()


def forget_template() -> None:
    """Remove the template (MLflow refused a store copied from it)."""
    template = template_file()
    if template is not None:
        with contextlib.suppress(OSError):
            template.unlink()


def _only_the_default_experiment(db: sqlite3.Connection) -> bool:
    experiments = db.execute("SELECT experiment_id FROM experiments").fetchall()
    tagged = db.execute("SELECT count(*) FROM experiment_tags").fetchone()
    runs = db.execute("SELECT count(*) FROM runs").fetchone()
    return experiments == [(0,)] and tagged == (0,) and runs == (0,)
