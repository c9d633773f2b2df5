"""The whole experiment: its sections, the checks across them, and its fingerprint."""

from __future__ import annotations

import hashlib
import json

from pydantic import (
    Field,
    model_validator,
)

from challengers.config.base import NAME_PATTERN, FieldError, Strict
from challengers.config.models import ChallengerConfig, ChampionConfig
from challengers.config.sections import (
    DataConfig,
    EngineConfig,
    EvaluationConfig,
    GovernanceConfig,
    SplitConfig,
    TrackingConfig,
)
from challengers.errors import ConfigError, did_you_mean
from challengers.evaluation.metrics import amount_needed
from challengers.models import registry


class ExperimentConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = Field(
        None, max_length=5000, description="what the validation is about: the experiment's note"
    )
    seed: int = Field(42, ge=0, le=2**63 - 1, description="seeds every model and the bootstrap")
    threads: int | None = Field(None, ge=1, description="threads per model; default: all cores")
    data: DataConfig
    split: SplitConfig
    champion: ChampionConfig
    challengers: list[ChallengerConfig] = []
    evaluation: EvaluationConfig = EvaluationConfig()
    tracking: TrackingConfig = TrackingConfig()
    engine: EngineConfig = EngineConfig()
    governance: GovernanceConfig = GovernanceConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> ExperimentConfig:
        names = [self.champion.name] + [c.name for c in self.challengers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            # the last model of a repeated name is where it was repeated
            last = [i for i, c in enumerate(self.challengers) if c.name == dupes[0]][-1]
            raise FieldError(
                ("challengers", last, "name"),
                f"model names must be unique; repeated: {', '.join(dupes)}",
            )
        # each name is a directory (models/<name>): on a file system that ignores case (macOS,
        # Windows) lgbm and LGBM are one, and one model's files would replace the other's
        folded = [n.casefold() for n in names]
        twin = next((i for i, n in enumerate(folded) if folded.index(n) < i), None)
        if twin is not None:
            first = names[folded.index(folded[twin])]
            raise FieldError(
                ("challengers", twin - 1, "name"),
                f"model names must differ by more than letter case: '{names[twin]}' and "
                f"'{first}' name one directory where case is ignored (macOS, Windows); rename one",
            )
        if self.split.exclude_known_frauds and not self.data.entity:
            raise FieldError(
                ("split", "exclude_known_frauds"),
                "split.exclude_known_frauds needs data.entity (the card/customer id)",
            )
        _check_metric_needs(self)
        _check_tuning(self)
        return self

    @property
    def weighs_by_amount(self) -> bool:
        """Whether a metric reads data.amount (value detection, or the cost of a missed fraud)."""
        cost_is_amount = self.evaluation.cost.false_negative == "amount"
        return amount_needed(self.evaluation.metric_specs, cost_is_amount=cost_is_amount)

    @property
    def cost_false_negative(self) -> float | None:
        fn = self.evaluation.cost.false_negative
        return None if fn == "amount" else float(fn)

    def challenger(self, name: str) -> ChallengerConfig:
        for c in self.challengers:
            if c.name == name:
                return c
        raise ConfigError(
            f"no challenger named '{name}'{did_you_mean(name, [c.name for c in self.challengers])}"
        )

    def resolved(self) -> ExperimentConfig:
        """This config with the machine-dependent defaults filled in (threads = all cores), so
        the resolved config a run logs replays on another machine with the same thread count."""
        if self.threads is not None:
            return self
        import os

        return self.model_copy(update={"threads": os.cpu_count() or 1})

    def with_engine(self, kind: str | None, master: str | None) -> ExperimentConfig:
        """This config with the command line's --engine/--master over its engine section
        (--master alone means Spark)."""
        if kind is None and master is None:
            return self
        kind = kind or "spark"
        if kind not in ("local", "spark"):
            raise ConfigError(f"--engine {kind}: use local or spark")
        if kind == "local":
            if master:
                raise ConfigError("--master needs --engine spark (or no --engine)")
            return self.model_copy(update={"engine": EngineConfig()})
        if self.engine.kind == "spark":  # its conf and training settings stay
            return self.model_copy(
                update={
                    "engine": self.engine.model_copy(
                        update={"master": master or self.engine.master}
                    )
                }
            )
        engine = EngineConfig(kind="spark", master=master)
        return self.model_copy(update={"engine": engine})

    def fingerprint(self) -> str:
        """A hash of the resolved config: equal configs give equal hashes. The engine is left out:
        the same experiment on Spark or locally reads the same data and champion scores, and
        replicates either way (challengers Spark trains distributed or on a sample differ);
        so are the governance block and the description (words, not settings), and an unset
        tracking.register or data.table (configs written before they existed keep their hash)."""
        dump = self.model_dump(mode="json", exclude={"engine", "governance", "description"})
        if dump["tracking"].get("register") is None:
            dump["tracking"].pop("register", None)
        if dump["data"].get("table") is None:
            dump["data"].pop("table", None)
        text = json.dumps(dump, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_metric_needs(cfg: ExperimentConfig) -> None:
    """What the metrics need (their records' ``needs``) must be in the data and the bootstrap."""
    specs = cfg.evaluation.metric_specs
    by_entity = [m.name for m in specs if "entity" in m.info.needs]
    if by_entity and not cfg.data.entity:
        raise FieldError(
            ("evaluation", "metrics"),
            f"metric {by_entity[0]} needs data.entity (the card/customer id)",
        )
    if cfg.evaluation.resample == "entity" and not cfg.data.entity:
        raise FieldError(
            ("evaluation", "resample"),
            "evaluation.resample 'entity' needs data.entity; or use day or row",
        )
    if cfg.evaluation.resample == "row" and by_entity:
        raise FieldError(
            ("evaluation", "resample"),
            f"{by_entity[0]} cannot be bootstrapped over single rows; "
            "set evaluation.resample to entity or day",
        )
    if cfg.data.amount:
        return
    by_amount = [m.name for m in specs if "amount" in m.info.needs]
    if by_amount:
        raise FieldError(("evaluation", "metrics"), f"metric {by_amount[0]} needs data.amount")
    if amount_needed(specs, cost_is_amount=cfg.evaluation.cost.false_negative == "amount"):
        raise FieldError(
            ("evaluation", "cost", "false_negative"),
            "evaluation.cost.false_negative is 'amount' but data.amount is not set; "
            "set data.amount or give a number",
        )


def _rebuild() -> None:
    """A kind registered or removed: the challenger union of the schema follows."""
    ExperimentConfig.model_rebuild(force=True)


registry.on_change(_rebuild)


def _check_tuning(cfg: ExperimentConfig) -> None:
    """Tuning needs room for its validation slices and label-delay gap inside the training window."""
    from challengers.data.split import validation_windows

    if cfg.champion.retrain is not None and cfg.champion.retrain.tune is not None:
        raise FieldError(
            ("champion", "retrain", "tune"),
            "champion.retrain.tune: the champion replicates the documented spec and is not tuned; "
            "remove tune, or add a tuned challenger of the same kind",
        )
    s = cfg.split
    for i, c in enumerate(cfg.challengers):
        tuned = c.tuning()
        if tuned is None:
            continue
        tune = tuned[0]
        # at the challenger's top level, or in its model: section (graph, anomaly hybrid)
        on_top = getattr(c, "tune", None) is tune
        where = ("challengers", i, "tune") if on_top else ("challengers", i, "model", "tune")
        try:
            validation_windows(
                s.train.start, s.train.end, s.label_delay_days, tune.validation_days, tune.folds
            )
        except ValueError as exc:
            raise FieldError(where, f"challenger '{c.name}' tune: {exc}") from None
