"""From a config to a plan: which columns to read, which features each model gets, checked against
the data's schema before a single row is read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from challengers.config import ChallengerConfig, ExperimentConfig
from challengers.data.frames import (
    INTERNAL,
    DataSpec,
    check_feature_types,
    check_whole_ids,
    default_features,
    is_numeric,
    read_as_numbers,
    require_columns,
    scan,
    schema_of,
)
from challengers.data.split import Windows
from challengers.engine.base import DataSource, Engine
from challengers.engine.local import local_path
from challengers.errors import ConfigError, DataError, control_character, did_you_mean
from challengers.models import champion as champ
from challengers.models import registry
from challengers.models.abilities import ReadsColumns
from challengers.models.tree import Tunable


@dataclass(frozen=True)
class ModelPlan:
    name: str
    role: str
    kind: str
    features: tuple[str, ...]
    settings: Any = None  # the model's config section
    extra_columns: tuple[str, ...] = ()  # non-feature columns the kind reads (entities)
    lookback_days: int = 0  # history needed before the training window
    source: dict[str, str] = field(default_factory=dict)  # a champion's lineage, file digest


@dataclass
class Plan:
    lf: pl.LazyFrame
    schema: pl.Schema
    spec: DataSpec
    windows: Windows
    champion: ModelPlan
    challengers: list[ModelPlan]
    notes: list[str] = field(default_factory=list)

    @property
    def named(self) -> list[str]:
        """The columns the data section names (label, time, id, amount, entity, segments,
        scenario), each once."""
        s = self.spec
        named = [s.target, s.time, s.id, s.amount, s.entity, *s.segments, s.scenario]
        return list(dict.fromkeys(c for c in named if c))

    @property
    def columns(self) -> list[str]:
        """Every column the run reads, each once."""
        cols = list(self.named)
        for m in [self.champion, *self.challengers]:
            cols += [*m.features, *m.extra_columns]
        return list(dict.fromkeys(cols))


def windows_of(cfg: ExperimentConfig) -> Windows:
    s = cfg.split
    return Windows(
        train_start=s.train.start,
        train_end=s.train.end,
        test_start=s.test.start,
        test_end=s.test.end,
        label_delay_days=s.label_delay_days,
        exclude_known_frauds=s.exclude_known_frauds,
    )


# predictions.parquet: the row's id (or its number), its day and label, then one score column per
# model under its own prefix (model names cannot hold ':'), so no model replaces a data column
ROW, DAY_COLUMN, SCORE_PREFIX = "row", "day", "score:"
# characters LightGBM (JSON specials) or XGBoost ('[', ']', '<') refuse in a feature name
TREE_UNSAFE = '[]<,:"{}'


def check_column_names(cfg: ExperimentConfig, schema: pl.Schema) -> None:
    """Column names the tool cannot work with, refused with one line before anything is read."""
    d = cfg.data
    reserved = next((c for c in schema.names() if c.startswith(INTERNAL)), None)
    if reserved is not None:
        raise DataError(
            f"data: the column '{reserved}' uses the prefix '{INTERNAL}' the tool keeps for its "
            "own columns; rename it"
        )
    if cfg.champion.score is not None and cfg.champion.score == d.target:
        raise ConfigError(
            f"champion.score: '{d.target}' is the target column (data.target); name the column "
            "holding the production model's scores"
        )
    kept = [d.id or ROW, DAY_COLUMN, d.target]
    clash = next((c for c in kept if kept.count(c) > 1 or c.startswith(SCORE_PREFIX)), None)
    if clash is not None:
        raise ConfigError(
            f"data: the column name '{clash}' clashes with predictions.parquet's own columns "
            f"({', '.join(kept[:2])}, '{SCORE_PREFIX}<model>'); rename the column"
        )


def answer_columns(cfg: ExperimentConfig) -> dict[str, str]:
    """The columns that hold the answer a model is judged against, which no feature list may
    name, each with what it is."""
    d = cfg.data
    named = {d.target: "the label (data.target)"}
    if d.scenario:
        named[d.scenario] = "the fraud's scenario (data.scenario), the label by another name"
    if cfg.champion.score:
        named[cfg.champion.score] = "the production model's score (champion.score)"
    return named


def check_not_answers(features: Sequence[str], named: Mapping[str, str], where: str) -> None:
    """A model that reads the label scores its own answer: a challenger listing the target among
    its features was a perfect model (pr_auc 1.0) that beat the champion, with no finding."""
    read = next((f for f in features if f in named), None)
    if read is not None:
        raise ConfigError(
            f"{where}: '{read}' is {named[read]}, which a model must not read: it would be "
            "judged against its own input; leave it out"
        )


def check_printable_names(features: Sequence[str]) -> None:
    """A feature named with a line break or an escape: every line quoting it (errors, findings,
    the report's tables) broke in two or sent the escape to the terminal. The config cannot name
    such a column (it refuses control characters), so the fix is the data's name or the list."""
    for name in features:
        bad = control_character(name)
        if bad is not None:
            raise DataError(
                f"data: the column {name!r} holds the control character {bad!r} in its name; "
                "rename the column, or list the columns to read in data.features"
            )


def check_tree_features(features: Sequence[str], where: str) -> None:
    """LightGBM and XGBoost refuse some characters in feature names, late and obscurely."""
    for name in features:
        bad = next((ch for ch in name if ch in TREE_UNSAFE), None)
        if bad is not None:
            raise DataError(
                f"{where}: the column '{name}' has '{bad}' in its name, which LightGBM/XGBoost "
                f"do not accept in a feature name ({' '.join(TREE_UNSAFE)}); rename the column "
                "or leave it out (data.drop)"
            )


def base_spec(cfg: ExperimentConfig, schema: pl.Schema) -> DataSpec:
    d = cfg.data
    check_column_names(cfg, schema)
    named = {
        ("data.target", d.target),
        ("data.time", d.time),
        *(("data.id", c) for c in [d.id] if c),
        *(("data.amount", c) for c in [d.amount] if c),
        *(("data.entity", c) for c in [d.entity] if c),
        *(("data.segments", c) for c in d.segments),
        *(("data.scenario", c) for c in [d.scenario] if c),
        *(("data.drop", c) for c in d.drop),
        *(("data.features", c) for c in d.features or []),
    }
    if cfg.champion.score:
        named.add(("champion.score", cfg.champion.score))
    require_columns(schema, [(col, where) for where, col in sorted(named)])
    score = cfg.champion.score
    if score and not is_numeric(schema[score]):
        raise DataError(
            f"champion.score: column '{score}' is {schema[score]}; production scores must be "
            "numbers (higher = riskier)"
        )
    exclude = {d.target, d.time, *d.drop, *d.segments, *([d.scenario] if d.scenario else [])}
    exclude |= {c for c in (d.id, d.entity, cfg.champion.score) if c}
    # The amount is named for cost metrics but is also the most basic fraud feature: keep it.
    features = tuple(d.features) if d.features is not None else default_features(schema, exclude)
    check_not_answers(features, answer_columns(cfg), "data.features")
    check_printable_names(features)
    check_feature_types(schema, features, "data.features")
    return DataSpec(
        target=d.target,
        time=d.time,
        features=features,
        id=d.id,
        amount=d.amount,
        entity=d.entity,
        segments=tuple(d.segments),
        scenario=d.scenario,
        scenario_names=tuple((str(k), v) for k, v in d.scenario_names.items()),
        label_delay_days=cfg.split.label_delay_days,
    )


def make_plan(
    cfg: ExperimentConfig,
    *,
    only: Sequence[str] = (),
    allow_pickle: bool = False,
    tracking_uri: str | None = None,
    champion_source: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> Plan:
    """``champion_source``: the lineage a run recorded for an MLflow champion (``source.*``);
    a replication fetches that version, not what the URI names today. ``engine``: the engine
    that reads a catalog table (``data.table``: its rows are queried through it); files are
    scanned here."""
    try:
        lf = _rows(cfg, engine)
    except DataError as exc:
        if cfg.data.source is None:
            raise
        raise DataError(f"{exc}; the data comes from: {cfg.data.source}") from exc
    stored = schema_of(lf)
    # Decimals read as numbers here, once, for every query of the rows (frames.number_types)
    lf = read_as_numbers(lf, stored)
    schema = schema_of(lf)
    spec = base_spec(cfg, schema)
    champion = _champion_plan(cfg, spec, schema, allow_pickle, tracking_uri, champion_source)
    answers = answer_columns(cfg)
    challengers = [_challenger_plan(c, spec, schema, answers) for c in _selected(cfg, only)]
    check_whole_ids(stored, _ids(spec, challengers))
    lookback = max(m.lookback_days for m in [champion, *challengers])
    plan = Plan(
        lf=lf,
        schema=schema,
        spec=spec,
        windows=replace(windows_of(cfg), history_days=lookback),
        champion=champion,
        challengers=challengers,
    )
    check_derived_names(plan)
    if not spec.features and not plan.challengers:
        plan.notes.append("no feature columns found: only the champion will be evaluated")
    plan.notes += _zone_notes(schema, spec.time)
    return plan


def check_derived_names(plan: Plan) -> None:
    """The features a kind derives (a graph's ``<entity>_tx_7d``, ...) are named after the data's
    columns: one named like a column the run reads failed the challenger at training ("graph
    features would overwrite the data column ..."), after `check` had passed and the audit had
    run; one holding a character the tree libraries refuse (an entity 'CUST[ID]') failed it in the
    library. Both are refused here, before any row is read."""
    read = set(plan.columns)
    for mp in plan.challengers:
        cls = registry.kind_class(mp.kind)
        if not issubclass(cls, Tunable) or not cls.trains_tree(mp.settings):
            continue
        model = registry.create(mp.kind, mp.settings, seed=0, threads=None)
        assert isinstance(model, Tunable)
        for planned in model.planned_trees(plan.spec.with_features(mp.features)):
            derived = planned.features[len(mp.features) :]  # after the data's, as fit adds them
            what = getattr(model, "derived", "derived features")
            clash = next((f for f in derived if f in read), None)
            if clash is not None:
                raise DataError(
                    f"challengers.{mp.name}: its {what} include '{clash}', the name of a column "
                    "the run reads, which they would replace; rename the column, or leave it out "
                    "(data.drop)"
                )
            bad = next(((f, ch) for f in derived for ch in f if ch in TREE_UNSAFE), None)
            if bad is not None:
                raise DataError(
                    f"challengers.{mp.name}: its {what} include '{bad[0]}', named after a column "
                    f"holding '{bad[1]}', which LightGBM/XGBoost do not accept in a feature name "
                    f"({' '.join(TREE_UNSAFE)}); rename the column"
                )


def _zone_notes(schema: pl.Schema, time: str) -> list[str]:
    """A time column in a zone other than UTC is read in UTC (frames.time_expr): the windows, the
    days and the label delay are UTC days, not the data's local ones (a probe's Paris-time rows:
    142 of 5,718 fell on another day than their local date)."""
    dtype = schema.get(time)
    zone = dtype.time_zone if isinstance(dtype, pl.Datetime) else None
    if zone is None or zone.upper() in ("UTC", "ETC/UTC", "Z"):
        return []
    return [
        f"data.time: '{time}' is in {zone}; the windows, days and label delay are cut at UTC "
        "midnight: to cut them at local midnight, store the local time without a zone"
    ]


def _ids(spec: DataSpec, challengers: Sequence[ModelPlan]) -> list[tuple[str, str]]:
    """The columns that name things (the row's id, the entities), with where they are named:
    their values are compared and grouped, never computed on."""
    ids = [(c, key) for c, key in ((spec.id, "data.id"), (spec.entity, "data.entity")) if c]
    return ids + [(c, f"challengers.{m.name}") for m in challengers for c in m.extra_columns]


def _rows(cfg: ExperimentConfig, engine: Engine | None) -> pl.LazyFrame:
    """The data as a lazy frame: a scan of the files, or a table or URI queried through the
    engine."""
    source = data_source(cfg)
    if not source.spark_only or engine is None:
        return scan(local_path(source))  # a table or a URI on the local engine: refused there
    return engine.lazy(source)


def data_source(cfg: ExperimentConfig) -> DataSource:
    return DataSource(path=cfg.data.path, table=cfg.data.table)


def _selected(cfg: ExperimentConfig, only: Sequence[str]) -> list[ChallengerConfig]:
    names = [c.name for c in cfg.challengers]
    for name in only:
        if name not in names:
            raise ConfigError(
                f"--only {name}: no such challenger{did_you_mean(name, names)}; "
                f"challengers: {', '.join(names) or 'none'}"
            )
    return [c for c in cfg.challengers if not only or c.name in only]


def _challenger_plan(
    c: ChallengerConfig, spec: DataSpec, schema: pl.Schema, answers: Mapping[str, str]
) -> ModelPlan:
    cls = registry.kind_class(c.kind)  # unknown or not-yet-available kinds stop here
    features = tuple(c.features) if c.features is not None else spec.features
    where = f"challengers.{c.name}.features"
    if not features:
        raise ConfigError(
            f"{where}: the challenger has no features (data.features is empty or every column "
            "is named elsewhere); list its features"
        )
    check_not_answers(features, answers, where)
    require_columns(schema, [(f, where) for f in features])
    check_feature_types(schema, features, where)
    if issubclass(cls, Tunable) and cls.trains_tree(c):
        check_tree_features(features, where if c.features is not None else "data.features")
    extra: tuple[str, ...] = ()
    if issubclass(cls, ReadsColumns):
        named = cls.extra_columns(c)
        for col, key in named:  # a detector's categorical columns, a graph's entities
            check_not_answers([col], answers, f"challengers.{c.name}.{key}")
        require_columns(schema, [(col, f"challengers.{c.name}.{key}") for col, key in named])
        extra = tuple(dict.fromkeys(col for col, _ in named))
    cls.check_settings(c, features)
    lookback = cls.lookback_days(c)
    if lookback:  # history is read with its labels: reach back the label delay further
        lookback += spec.label_delay_days
    return ModelPlan(c.name, "challenger", c.kind, features, c, extra, lookback)


def _champion_plan(
    cfg: ExperimentConfig,
    spec: DataSpec,
    schema: pl.Schema,
    allow_pickle: bool,
    tracking_uri: str | None,
    recorded: Mapping[str, str] | None = None,
) -> ModelPlan:
    c = cfg.champion
    if c.production_score is None and c.score:
        return ModelPlan(c.name, "champion", "score", (), c, (c.score,))
    production = (c.production_score,) if c.production_score else ()  # re-scored against
    if c.retrain:
        registry.kind_class(c.retrain.kind)
        features = tuple(c.features) if c.features else spec.features
        check_not_answers(features, answer_columns(cfg), "champion.features")
        require_columns(schema, [(f, "champion.features") for f in features])
        check_feature_types(schema, features, "champion.features")
        check_tree_features(features, "champion.features" if c.features else "data.features")
        return ModelPlan(c.name, "champion", c.retrain.kind, features, c.retrain, production)
    assert c.model is not None
    model, source = load_champion_model(
        c.model, c.features, schema, allow_pickle, tracking_uri, recorded
    )
    model.threads = cfg.threads  # its scoring and explanations on the run's threads
    features = tuple(model.features or ())
    check_feature_types(schema, features, "champion features")
    kind = f"{model.library}-file"
    return ModelPlan(c.name, "champion", kind, features, model, production, source=source)


def load_champion_model(
    source: str,
    features: Sequence[str] | None,
    schema: pl.Schema,
    allow_pickle: bool,
    tracking_uri: str | None,
    recorded: Mapping[str, str] | None = None,
) -> tuple[champ.NativeModelChampion, dict[str, str]]:
    """The champion's model and where it came from (``source.*``: an MLflow model's lineage, a
    file's path and sha256)."""
    from challengers import tracking

    if tracking.is_mlflow_uri(source):
        pinned = tracking.ModelSource.from_record(recorded or {})
        fetched = tracking.fetch_champion(source, tracking.resolve_uri(tracking_uri), pinned)
        model = champ.from_mlflow_uri(
            source,
            features=features,
            schema=schema,
            download=lambda u: (fetched.directory, fetched.flavors),
            allow_pickle=allow_pickle,
        )
        return model, fetched.source.record()
    # its path and sha256 (checked first when replicating: a replaced file is named as such)
    recorded_file = tracking.file_source(source, tracking.ModelSource.from_record(recorded or {}))
    model = champ.load_model_file(
        source, features=features, schema=schema, allow_pickle=allow_pickle
    )
    return model, recorded_file
