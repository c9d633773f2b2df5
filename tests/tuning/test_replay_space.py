"""The resolved config a run logs (and `challenge replicate` replays) searches the space the run
searched: a tuned tree's class weighting the config left to the search is not written as set
(written, it was fixed at 'none' and not searched, so every replay of a tuned run differed)."""

from __future__ import annotations

from pathlib import Path

import yaml

from challengers.config import ExperimentConfig
from challengers.pipeline.outputs import resolved_config
from challengers.tuning.search import fixed_params
from tests.conftest import sim_config

TUNE = {"trials": 2}


def _searched_fixed(cfg: ExperimentConfig) -> list[frozenset[str]]:
    out = []
    for c in cfg.challengers:
        tuned = c.tuning()
        assert tuned is not None
        out.append(fixed_params(tuned[1]))
    return out


def test_the_replayed_config_fixes_what_the_run_fixed() -> None:
    challengers = [
        {"name": "lgbm", "kind": "lightgbm", "tune": TUNE},
        {"name": "fixed", "kind": "xgboost", "imbalance": "none", "tune": TUNE},
        {
            "name": "graph",
            "kind": "graph",
            "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [1, 7]},
            "model": {"kind": "lightgbm", "tune": TUNE},
        },
        {"name": "ecod", "kind": "anomaly", "detector": "ecod", "hybrid": "lightgbm", "tune": TUNE},
        {
            "name": "ecod-model",
            "kind": "anomaly",
            "detector": "ecod",
            "hybrid": "lightgbm",
            "model": {"kind": "lightgbm", "params": {"num_leaves": 15}},
            "tune": TUNE,
        },
    ]
    cfg = ExperimentConfig.model_validate(sim_config(Path("x.parquet"), challengers=challengers))
    replayed = ExperimentConfig.model_validate(yaml.safe_load(yaml.safe_dump(resolved_config(cfg))))
    assert _searched_fixed(replayed) == _searched_fixed(cfg)
    assert _searched_fixed(cfg)[:2] == [frozenset(), frozenset({"imbalance"})]
    # every other default is still written out
    assert resolved_config(cfg)["challengers"][0]["params"] == {}
    assert replayed.challengers[0].imbalance == "none"  # type: ignore[union-attr]


def test_a_replication_compares_the_tuning_it_ran_with_the_logged_one() -> None:
    """The tuned model's logged tune_validation_<metric> is compared with the replication's (it
    was compared with nothing: '—', a difference of ∞, and the replication of any tuned run
    'differed')."""
    from challengers.pipeline.replicate import compare_results
    from challengers.replication.records import LoggedModel, RunRecord
    from challengers.results import ModelResult
    from challengers.tracking.reading import StoredRun
    from tests.conftest import bare_result

    logged = {"pr_auc": 0.2, "tune_validation_pr_auc": 0.3}
    record = RunRecord(
        run=StoredRun("r", "run", "x", "FINISHED", 0),
        models=[LoggedModel("lgbm", "challenger", "lightgbm", "ok", "c", metrics=logged)],
    )
    tuning = {"metric": "pr_auc", "best_value": 0.3}
    now = ModelResult("lgbm", "challenger", "lightgbm", metrics={"pr_auc": 0.2}, tuning=tuning)
    checks, changes = compare_results(record, bare_result([now]), tolerance=1e-9)
    assert not changes
    assert {c.key: (c.logged, c.now) for c in checks} == {
        "pr_auc": (0.2, 0.2),
        "tune_validation_pr_auc": (0.3, 0.3),
    }
