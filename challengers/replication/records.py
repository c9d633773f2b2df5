"""What a run records so that it can be replayed from the store alone, and reading it back.

Next to MLflow's params, metrics and tags, every parent run carries three artifacts:

- ``config.yaml``: the config text as the user wrote it, with the tag ``config_file`` (where it was,
  whose directory anchors its relative paths);
- ``config.resolved.yaml``: the validated config with every default filled in, paths absolute and
  ``threads`` set to the count the run used: what ``challenge replicate`` re-runs;
- ``fingerprint.json``: the data fingerprint with per-column and per-chunk digests and the row
  count of every window, so a replication can say which rows, columns and values differ.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from challengers.errors import ConfigError, first_line
from challengers.evaluation.metrics import parse_metric
from challengers.files import write_atomic, write_json
from challengers.replication.fingerprint import DataFingerprint
from challengers.tracking import (
    StoredRun,
    read_artifact_text,
    read_children,
    read_run,
    require_store,
)

CONFIG_ARTIFACT = "config.yaml"
RESOLVED_ARTIFACT = "config.resolved.yaml"
FINGERPRINT_ARTIFACT = "fingerprint.json"
TIMING_KEYS = frozenset({"fit_seconds", "predict_seconds"})  # wall-clock: never replicable


def write_replay_files(
    out: Path,
    fingerprint: DataFingerprint | None,
    config_text: str | None,
    config_file: str | None,
) -> dict[str, str]:
    """Write fingerprint.json and config.yaml into ``out``; return the parent-run tags."""
    tags: dict[str, str] = {}
    if fingerprint is not None:
        write_json(out / FINGERPRINT_ARTIFACT, fingerprint.to_json())
        tags["rows_loaded"] = str(fingerprint.rows)
    if config_text is not None:
        write_atomic(out / CONFIG_ARTIFACT, config_text)
    if config_file is not None:
        tags["config_file"] = config_file
    return tags


@dataclass
class LoggedModel:
    """A model's child run."""

    name: str
    role: str
    kind: str
    status: str
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> dict[str, str]:
        """Where an MLflow-sourced champion came from (``source.*``), as the run recorded it."""
        return {k: v for k, v in self.tags.items() if k.startswith("source.")}

    def value(self, key: str) -> float:
        return self.metrics.get(key, math.nan)

    def interval(self, key: str) -> tuple[float, float] | None:
        lo, hi = self.metrics.get(f"{key}_ci_low"), self.metrics.get(f"{key}_ci_high")
        return (lo, hi) if lo is not None and hi is not None else None

    def comparable(self) -> dict[str, float]:
        """Every logged metric a replication must reproduce (timings excluded)."""
        return {k: v for k, v in self.metrics.items() if k not in TIMING_KEYS}


@dataclass
class LoggedRun:
    """A parent run of `challenge run` and its model runs."""

    run: StoredRun
    models: list[LoggedModel]
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def metric_keys(self) -> list[str]:
        """The headline metric keys, in the config's order (from the ``metrics`` param)."""
        listed = self.run.params.get("metrics")
        if listed:
            try:
                return [parse_metric(m).key for m in listed.split(",") if m]
            except ConfigError:
                pass
        keys: dict[str, None] = {}
        for m in self.models:
            for k in m.comparable():
                if not (k.startswith("delta_") or k.endswith(("_ci_low", "_ci_high"))):
                    keys[k] = None
        return list(keys)

    @property
    def data_fingerprint(self) -> str | None:
        return self.run.tags.get("data_fingerprint")

    @property
    def config_hash(self) -> str | None:
        return self.run.tags.get("config_hash")

    @property
    def test_rows(self) -> str:
        """What its metrics were measured on: the test window, the known-fraud exclusion and the
        number of test rows ("?" for what the run did not log)."""
        rows = self.run.metrics.get("rows_test")
        exclusion = {"True": ", known frauds excluded", "False": ""}.get(
            self.run.params.get("exclude_known_frauds", ""), ""
        )
        counted = f"{rows:,.0f} rows" if rows is not None else "? rows"
        return f"{self.run.params.get('test', '?')} ({counted}{exclusion})"


@dataclass
class RunRecord(LoggedRun):
    """A logged run with what a replication needs: its configs and data fingerprint."""

    config_resolved: str | None = None
    config_text: str | None = None
    fingerprint: DataFingerprint | None = None
    # why ``fingerprint`` is None for a run that logged one: "is missing from its artifacts",
    # "is unreadable (...)"; the data is then checked against the data_fingerprint tag alone
    fingerprint_lost: str = ""

    @property
    def config_file(self) -> str | None:
        return self.run.tags.get("config_file")


def load_run(uri: str, run_id: str) -> LoggedRun:
    """A parent run and its model runs; a model run's id is followed to its parent."""
    require_store(uri)
    run, notes = _top_run(uri, read_run(uri, run_id), run_id)
    if "role" not in run.tags and set(EXPERIMENT_TAGS) <= set(run.tags):
        notes.append(
            f"run {run.run_id} has no tag role (removed since it was logged?); read as a "
            f"`challenge run`, which its tags {' and '.join(EXPERIMENT_TAGS)} say it is"
        )
    elif run.tags.get("role") != "experiment":
        raise ConfigError(
            f"run {run.run_id} was not logged by `challenge run` (no tag role=experiment); give "
            "the id of a challenge run"
        )
    if run.deleted:  # MLflow's UI hides it: said wherever it is shown
        notes.append(run.deleted_note(uri))
    children = read_children(uri, run)
    models = [_logged_model(c, notes) for c in children]
    notes += [
        f"model '{m.name}': " + c.deleted_note(uri, ", its logged values are read all the same")
        for m, c in zip(models, children, strict=True)
        if c.deleted and not run.deleted  # a deleted parent's note says it for all
    ]
    return LoggedRun(run, models, notes)


def _logged_model(child: StoredRun, notes: list[str]) -> LoggedModel:
    """A model run as logged; a tag of the model's name, role or status removed from it since is
    read again from what else the run holds (its name says the role and the model, 'challenger:
    lgbm'; its MLflow status the outcome), and said. Without it, replicate said 'challenger: lgbm:
    in the logged run, not in the replication' and 'lgbm: in the replication, not in the logged
    run', and a status '?' differing from 'ok'."""
    role, _, name = child.name.partition(": ")
    fallback = {
        "model": name if name else child.name,
        "role": role if name else "?",
        "status": STATUS_OF_RUN.get(child.status, "?"),
    }
    missing = [tag for tag in fallback if tag not in child.tags]
    if missing:
        notes.append(
            f"model run {child.run_id} ('{child.name}') has no tag {', '.join(missing)} (removed "
            "since it was logged?): read from its run name and status"
        )
    tags = {**fallback, **child.tags}
    return LoggedModel(
        name=tags["model"],
        role=tags["role"],
        kind=child.tags.get("kind", "?"),
        status=tags["status"],
        run_id=child.run_id,
        metrics=child.metrics,
        tags=child.tags,
    )


STATUS_OF_RUN = {"FINISHED": "ok", "FAILED": "failed"}  # a model run ends as its model did


# tags only a `challenge run` parent run carries (with role=experiment): the run's, where its
# role tag was removed (it was refused as 'not logged by `challenge run`')
EXPERIMENT_TAGS = ("config_hash", "data_fingerprint")

MAX_NESTING = 4  # a run, a model run, a tuning trial: deeper is a loop in edited tags


def _top_run(uri: str, run: StoredRun, given: str) -> tuple[StoredRun, list[str]]:
    """The `challenge run` parent above ``run`` (a model run, or a tuning trial under one), and
    the note saying so: a trial's id went up one level only, to its model run, refused as 'not
    logged by `challenge run`'."""
    chain: list[StoredRun] = []
    while run.parent_id and len(chain) < MAX_NESTING:
        chain.append(run)
        run = read_run(uri, run.parent_id)
    if not chain:
        return run, []
    if len(chain) == 1:
        return run, [
            f"{given} is the model run '{chain[0].name}'; using its parent run {run.run_id}"
        ]
    return run, [
        f"{given} is the run '{chain[0].name}' inside the model run '{chain[-1].name}' "
        f"({chain[-1].run_id}); using their parent run {run.run_id}"
    ]


def load_record(uri: str, run_id: str) -> RunRecord:
    """A parent run with its logged configs and data fingerprint; a deleted run is refused (its
    replication would be logged as the replication of a run the store hides)."""
    logged = load_run(uri, run_id)
    if logged.run.deleted:
        raise ConfigError(logged.run.deleted_note(uri, ", so it is not replicated"))
    fingerprint, lost = _read_fingerprint(uri, logged.run_id)
    return RunRecord(
        run=logged.run,
        models=logged.models,
        notes=logged.notes,
        config_resolved=read_artifact_text(uri, logged.run_id, RESOLVED_ARTIFACT),
        config_text=read_artifact_text(uri, logged.run_id, CONFIG_ARTIFACT),
        fingerprint=fingerprint,
        fingerprint_lost=lost if logged.run.tags.get("data_fingerprint") else "",
    )


def _read_fingerprint(uri: str, run_id: str) -> tuple[DataFingerprint | None, str]:
    """The run's logged fingerprint, or None and why: missing, or unreadable (a file cut short
    on disk: its data is still checked against the run's data_fingerprint tag, where the run
    was refused with no way to go on)."""
    text = read_artifact_text(uri, run_id, FINGERPRINT_ARTIFACT)
    if text is None:
        return None, "is missing from its artifacts"
    try:
        return DataFingerprint.from_json(json.loads(text)), ""
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"is unreadable ({type(exc).__name__}: {first_line(exc, limit=80)})"
