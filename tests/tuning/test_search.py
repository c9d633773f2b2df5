"""Optuna tuning: the validation metric is exact, the search is seeded, pruning stops bad trials,
the budget holds, and an interrupted study resumes without losing finished trials."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from challengers.config import ExperimentConfig, SearchRange, TuneConfig
from challengers.data.frames import DAY
from challengers.data.split import tuning_folds
from challengers.errors import ModelError
from challengers.evaluation import evaluate
from challengers.evaluation.curve import Cost
from challengers.evaluation.metrics import parse_metric
from challengers.models.base import BaseChallenger
from challengers.models.tree import LightGBMChallenger, TreeChallenger, XGBoostChallenger
from challengers.pipeline import Prepared, RunOptions, prepare
from challengers.progress import SilentProgress
from challengers.report.sections import _tuning
from challengers.results import ModelResult
from challengers.tuning.records import TuneResult, TuneTask
from challengers.tuning.search import fixed_params, tune
from challengers.tuning.space import DEFAULT_SPACES, baseline, search_space
from challengers.tuning.study import optuna_module
from tests.conftest import bare_result, sim_config

FAST: dict[str, Any] = {
    "trials": 6,
    "max_rounds": 60,
    "eval_every": 5,
    "early_stopping_rounds": 20,
    "space": {"num_leaves": {"low": 4, "high": 32, "int": True, "log": True}},
}


@pytest.fixture(scope="module")
def prepared(sim_parquet: Path) -> Prepared:
    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet))
    return prepare(cfg, RunOptions(), SilentProgress())


def make_task(prepared: Prepared, directory: Path, **tune: Any) -> TuneTask:
    settings = {**FAST, **tune}
    return TuneTask(
        name="lgbm",
        config=TuneConfig.model_validate(settings),
        train=prepared.split.train,
        spec=prepared.plan.spec,
        windows=prepared.plan.windows,
        directory=directory,
        history=prepared.history,
        cost=Cost(5.0, None),
        seed=7,
    )


def lgbm() -> LightGBMChallenger:
    return LightGBMChallenger({}, seed=7, threads=1)


def validation_metric(
    prepared: Prepared, model: BaseChallenger, task: TuneTask, metric: str = "pr_auc"
) -> float:
    """An independent check: fit on the fold's fit rows, score its validation rows, compute."""
    ((_, part),) = tuning_folds(
        prepared.split.train,
        prepared.plan.windows,
        validation_days=task.config.validation_days,
        folds=1,
        target="TX_FRAUD",
        entity="CUSTOMER_ID",
    )
    spec = task.spec
    history = prepared.history.filter(pl.col(DAY) <= prepared.plan.windows.train_end)
    scores = model.fit(part.train, spec, history=history).predict_score(part.test, history=history)
    rows = evaluate.TestRows.from_frame(
        part.test, target="TX_FRAUD", amount="TX_AMOUNT", entity="CUSTOMER_ID"
    )
    spec_m = parse_metric(metric)
    ranked = evaluate.rank_scores(rows, scores, calibrated=model.calibrated)
    return evaluate.headline(ranked, [spec_m], cost=task.cost, operating_rate=task.operating_rate)[
        spec_m.key
    ]


class Recorder(SilentProgress):
    """Records stage totals and descriptions; can interrupt after ``stop_after`` finished trials."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.stop_after = stop_after
        self.descriptions: list[str] = []
        self.count = 0

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[Any]:
        def advance(n: int = 1, *, description: str | None = None) -> None:
            self.count += n
            if description:
                self.descriptions.append(description)
            if self.stop_after is not None and self.count >= self.stop_after:
                raise KeyboardInterrupt

        yield advance


@pytest.mark.parametrize(
    ("make", "metric"),
    [
        (lgbm, "pr_auc"),
        (lambda: XGBoostChallenger({}, seed=7, threads=1), "precision_at_alerts@0.02"),
    ],
)
def test_the_best_value_is_the_refit_models_validation_metric(
    prepared: Prepared, tmp_path: Path, make: Any, metric: str
) -> None:
    """Known answer: the running scores, the round bookkeeping and the metric agree with a plain
    fit of the best parameters on the same fold."""
    task = make_task(prepared, tmp_path, metric=metric, trials=4, space={})
    result = tune(make(), task, SilentProgress())
    assert isinstance(result.model, TreeChallenger)
    assert result.model.params is not None
    assert result.model.params["n_estimators"] == result.best_params["rounds"]
    expected = validation_metric(prepared, result.model, task, metric)
    assert result.best_value == pytest.approx(expected, rel=1e-9)


KINDS_WITH_A_TREE = [
    {
        "name": "graph",
        "kind": "graph",
        "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [1, 7]},
        "model": {"kind": "lightgbm"},
    },
    {"name": "hybrid", "kind": "anomaly", "detector": "hbos", "hybrid": "xgboost"},
]


@pytest.mark.parametrize("settings", KINDS_WITH_A_TREE, ids=lambda s: s["name"])
def test_kinds_around_a_tree_are_tuned_through_it(
    sim_parquet: Path, tmp_path: Path, settings: dict[str, Any]
) -> None:
    """Known answer for the graph kind and the anomaly hybrid: the kind rebuilt around the best
    tree, fitted on the fold as fit() does it (derived features included), scores the best value."""
    from challengers.models import registry

    cfg = ExperimentConfig.model_validate(sim_config(sim_parquet, challengers=[settings]))
    prepared = prepare(cfg, RunOptions(), SilentProgress())
    plan = prepared.plan.challengers[0]
    model = registry.create(plan.kind, plan.settings, seed=7, threads=1)
    task = make_task(prepared, tmp_path, trials=3, space={})
    task = TuneTask(**{**vars(task), "spec": prepared.plan.spec.with_features(plan.features)})
    result = tune(model, task, SilentProgress())
    assert type(result.model) is type(model)
    tuned = result.model.get_params()
    tree = tuned["model"]  # the graph kind's and the hybrid's inner tree, as in their YAML
    assert tree["params"]["n_estimators"] == result.best_params["rounds"]
    assert tree["imbalance"] == result.best_params["imbalance"]
    expected = validation_metric(prepared, result.model, task)
    assert result.best_value == pytest.approx(expected, rel=1e-9)


def test_the_same_seed_gives_the_same_study(prepared: Prepared, tmp_path: Path) -> None:
    first = tune(lgbm(), make_task(prepared, tmp_path / "a"), SilentProgress())
    second = tune(lgbm(), make_task(prepared, tmp_path / "b"), SilentProgress())
    assert first.best_params == second.best_params
    assert [(t.params, t.value) for t in first.trials] == [
        (t.params, t.value) for t in second.trials
    ]
    third = tune(lgbm(), make_task(prepared, tmp_path / "c", trials=6), SilentProgress())
    assert [t.params for t in third.trials] == [t.params for t in first.trials]


def test_the_first_trial_is_the_untuned_model_and_tuning_beats_it(
    prepared: Prepared, tmp_path: Path
) -> None:
    task = make_task(prepared, tmp_path, trials=8, space={})
    result = tune(lgbm(), task, SilentProgress())
    first = result.trials[0]
    assert first.params == baseline(search_space("lightgbm", {}, frozenset()))
    assert first.params["num_leaves"] == 31 and first.params["imbalance"] == "none"
    untuned = validation_metric(prepared, LightGBMChallenger({}, seed=7, threads=1), task)
    assert result.best_value > untuned


def test_interrupted_tuning_resumes_where_it_stopped(prepared: Prepared, tmp_path: Path) -> None:
    task = make_task(prepared, tmp_path, trials=7)
    with pytest.raises(KeyboardInterrupt):
        tune(lgbm(), task, Recorder(stop_after=3))
    optuna = optuna_module()
    storage = f"sqlite:///{task.study_path}"
    before = optuna.load_study(study_name="lgbm", storage=storage).trials
    assert [t.state.name for t in before] == ["COMPLETE"] * 3

    progress = Recorder()
    resumed = tune(lgbm(), TuneTask(**{**vars(task), "resume": True}), progress)
    assert resumed.resumed_trials == 3
    assert progress.count == 7  # the bar starts at 3 and counts on
    assert [t.number for t in resumed.trials] == list(range(7))
    for old, new in zip(before, resumed.trials, strict=False):  # nothing lost or redone
        assert (old.params, old.value) == (new.params, new.value)
    drawn = [tuple(sorted(t.params.items())) for t in resumed.trials]
    assert len(set(drawn)) == 7  # the resumed sampler does not replay the first draws

    # a killed process leaves its trial RUNNING: on resume it counts as failed, not pending
    optuna.load_study(study_name="lgbm", storage=storage).ask()
    again = tune(lgbm(), TuneTask(**{**vars(task), "resume": True}), SilentProgress())
    assert [t.state for t in again.trials] == [t.state for t in resumed.trials] + ["FAIL"]
    assert again.best_params == resumed.best_params  # budget reached: no new trial ran

    restarted = tune(lgbm(), task, SilentProgress())  # without resume: a fresh study
    assert restarted.resumed_trials == 0 and len(restarted.trials) == 7


def test_resume_with_other_settings_starts_over_with_a_note(
    prepared: Prepared, tmp_path: Path
) -> None:
    tune(lgbm(), make_task(prepared, tmp_path, trials=3), SilentProgress())
    progress = SilentProgress()
    changed = make_task(prepared, tmp_path, trials=3, metric="roc_auc")
    result = tune(lgbm(), TuneTask(**{**vars(changed), "resume": True}), progress)
    assert result.resumed_trials == 0 and len(result.trials) == 3
    assert any("other settings" in n for n in progress.notes)


def test_timeout_stops_within_the_budget_plus_one_trial(prepared: Prepared, tmp_path: Path) -> None:
    import lightgbm  # noqa: F401  first imports are not part of the budget
    import optuna.visualization.matplotlib  # noqa: F401

    task = make_task(prepared, tmp_path, trials=10_000, timeout_s=3.0, pruning=False)
    result = tune(lgbm(), task, SilentProgress())
    assert 1 <= len(result.trials) < 10_000
    # no trial starts after the budget: every trial but the last began before it ran out (the
    # whole search's wall time against its budget is measured in bench/bench_tuning.py, not here)
    assert sum(t.seconds for t in result.trials[:-1]) <= 3.0 + 0.5
    # and says so: the report's line, comparison.json, the checkpoint and MLflow
    summary = result.summary()
    assert summary["timed_out"] and summary["trials_asked"] == 10_000
    assert summary["timeout_s"] == 3.0 and result.mlflow_params()["tune.timed_out"] is True
    finished = summary["trials"]
    model = ModelResult("lgbm", "challenger", "lightgbm", tuning=summary)
    (block,) = _tuning(bare_result([model]))
    (line,) = block.items  # type: ignore[attr-defined]
    assert (
        f"the time budget (tune.timeout_s: 3 s) ended the search after {finished:,} of the "
        "10,000 trials asked for"
    ) in line
    assert TuneResult.from_state(result.to_state(), result.model).summary() == summary
    # a search its trials ended says nothing of the kind
    enough = make_task(prepared, tmp_path / "enough", trials=2, timeout_s=600.0, pruning=False)
    ended = tune(lgbm(), enough, SilentProgress()).summary()
    assert not ended["timed_out"] and ended["trials"] == 2


def test_pruning_stops_bad_trials_early(prepared: Prepared, tmp_path: Path) -> None:
    """Tiny learning rates trail the median: their trials stop before early stopping would."""
    fixed = frozenset(DEFAULT_SPACES["lightgbm"]) - {"learning_rate"}
    space = {"learning_rate": {"low": 1e-4, "high": 0.3, "log": True}}
    task = make_task(prepared, tmp_path / "p", trials=12, max_rounds=100, space=space)
    task = TuneTask(**{**vars(task), "fixed": fixed})
    result = tune(lgbm(), task, SilentProgress())
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, [(t.state, t.params) for t in result.trials]
    for t in pruned:
        last = t.steps[-1][0]
        best = max(t.steps, key=lambda s: s[1])[0]
        assert last < 100 and last - best < task.config.early_stopping_rounds

    config = task.config.model_copy(update={"pruning": False})
    unpruned = tune(
        lgbm(),
        TuneTask(**{**vars(task), "config": config, "directory": tmp_path / "u"}),
        SilentProgress(),
    )
    assert all(t.state == "COMPLETE" for t in unpruned.trials)
    rounds = sum(t.steps[-1][0] for t in result.trials)
    assert rounds < sum(t.steps[-1][0] for t in unpruned.trials)


def test_progress_shows_the_best_value_so_far(prepared: Prepared, tmp_path: Path) -> None:
    progress = Recorder()
    result = tune(lgbm(), make_task(prepared, tmp_path, trials=4), progress)
    assert progress.count == 4
    assert progress.descriptions[-1] == (
        f"Tuning lgbm (pr_auc): 4 trials, best {result.best_value:.4f} (trial {result.best_trial})"
    )


def test_every_trial_failing_is_one_clear_error(prepared: Prepared, tmp_path: Path) -> None:
    space = {"num_leaves": {"low": 0, "high": 1, "int": True}}  # LightGBM needs at least 2
    task = make_task(prepared, tmp_path, trials=2, space=space)
    with pytest.raises(
        ModelError, match=r"no tuning trial finished; the first failure: .*num_leaves"
    ):
        tune(lgbm(), task, SilentProgress())


def test_a_kind_without_a_tree_cannot_be_tuned(prepared: Prepared, tmp_path: Path) -> None:
    from challengers.models.champion import ScoreColumnChampion

    with pytest.raises(ModelError, match="cannot be tuned"):
        tune(ScoreColumnChampion("TX_AMOUNT"), make_task(prepared, tmp_path), SilentProgress())


def test_fixed_parameters_are_not_searched() -> None:
    cfg = ExperimentConfig.model_validate(
        sim_config(
            Path("x.parquet"),
            challengers=[
                {
                    "name": "lgbm",
                    "kind": "lightgbm",
                    "params": {"reg_alpha": 0.5, "learning_rate": 0.05},
                    "imbalance": "none",
                    "tune": {"space": {"learning_rate": {"low": 0.01, "high": 0.2, "log": True}}},
                }
            ],
        )
    )
    fixed = fixed_params(cfg.challengers[0])
    assert fixed == {"reg_alpha", "learning_rate", "imbalance"}
    space = search_space("lightgbm", cfg.challengers[0].tune.space, fixed)  # type: ignore[union-attr]
    assert "lambda_l1" not in space  # fixed under its alias
    assert "imbalance" not in space
    assert space["learning_rate"].low == 0.01  # the explicit range wins over the fixed value
    assert space["learning_rate"].default == 0.1  # still inside: tried first
    assert search_space("xgboost", {"gamma": SearchRange(low=0, high=5)}, set())["gamma"].high == 5


def test_with_params_replaces_round_aliases() -> None:
    tree = LightGBMChallenger({"num_iterations": 500, "num_leaves": 7}, seed=3, threads=1)
    copy = tree.with_params({"n_estimators": 40}, imbalance="sqrt", threads=2)
    assert copy.get_params() == {
        "params": {"num_leaves": 7, "n_estimators": 40},
        "imbalance": "sqrt",
        "seed": 3,
        "threads": 2,
    }
    assert tree.params == {"num_iterations": 500, "num_leaves": 7}


def test_watched_training_reports_the_running_scores() -> None:
    """The running validation scores equal a prediction of the model trained so far."""
    from challengers.models.tree import Watch
    from tests.models.contract import EASY_FEATURES, easy_frame

    train, valid = easy_frame(2000, seed=1), easy_frame(800, seed=2)
    x = train.select(EASY_FEATURES).to_numpy().astype(np.float32)
    xv = valid.select(EASY_FEATURES).to_numpy().astype(np.float32)
    y, yv = train["y"].to_numpy(), valid["y"].to_numpy()
    for cls in (LightGBMChallenger, XGBoostChallenger):
        seen: dict[int, np.ndarray] = {}

        def record(rounds: int, scores: np.ndarray, seen: dict = seen) -> bool:
            seen[rounds] = scores.copy()
            return rounds >= 30

        tree = cls({}, seed=1, threads=1)
        tree.train_watched(x, y, xv, yv, 100, Watch(10, record))
        assert sorted(seen) == [10, 20, 30]
        from challengers.data.frames import DataSpec

        spec = DataSpec(target="y", time="t", features=EASY_FEATURES)
        plain = tree.with_params({"n_estimators": 20}).fit(train, spec).predict_score(valid)
        np.testing.assert_allclose(seen[20], plain, rtol=1e-5, atol=1e-7)
