"""An anomaly hybrid's twin (the same tree without the detector's score) is not trained again when
the run already fitted that very model: the demo's ``lgbm`` is ``lgbm-ecod``'s twin. Reused, the
twin's numbers are the ones a twin trained on its own gives, to the last bit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challengers.config import load_config
from challengers.models.tree import LightGBMChallenger
from challengers.pipeline.run import RunOptions, run_experiment
from challengers.progress import SilentProgress
from tests.conftest import sim_config

TREE = {"num_leaves": 15, "n_estimators": 40}
SAID = "'lgbm-ecod': its twin is 'lgbm', the same model on the same rows (not trained again)"


def hybrid(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "lgbm-ecod",
        "kind": "anomaly",
        "detector": "ecod",
        "hybrid": "lightgbm",
        "model": {"kind": "lightgbm", "params": params},
    }


def run(
    tmp_path: Path,
    data: Path,
    write_config: Callable[..., Path],
    uri: str,
    challengers: list[dict[str, Any]],
    threads: int,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Any, int, list[str]]:
    """The run's result, how many LightGBM models it trained and its notes for the user."""
    trained = 0
    fit = LightGBMChallenger._fit

    def counted(self: LightGBMChallenger, *args: Any, **kwargs: Any) -> None:
        nonlocal trained
        # the run's models learn TX_FRAUD; the plan's check that LightGBM accepts their params
        # (models/library_check.py) fits them for a round on a tiny frame of its own
        trained += args[1].target == "TX_FRAUD"
        fit(self, *args, **kwargs)

    monkeypatch.setattr(LightGBMChallenger, "_fit", counted)
    config = sim_config(data, challengers=challengers, threads=threads)
    config["evaluation"]["bootstrap"] = 30
    name = f"run-{len(list(tmp_path.iterdir()))}"
    cfg = load_config(write_config(config, f"{name}.yaml"))
    progress = SilentProgress()
    options = RunOptions(output_dir=tmp_path / name, tracking_uri=uri)
    result = run_experiment(cfg, options, progress)
    monkeypatch.setattr(LightGBMChallenger, "_fit", fit)
    return result, trained, progress.notes


def model(result: Any, name: str) -> Any:
    return next(m for m in result.models if m.name == name)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_twin_is_the_runs_identical_model_with_the_same_numbers(
    tmp_path: Path,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    threads: int,
) -> None:
    plain = {"name": "lgbm", "kind": "lightgbm", "params": TREE}
    both, trained, notes = run(
        tmp_path, sim_parquet, write_config, tracking_uri, [plain, hybrid(TREE)], threads,
        monkeypatch,
    )  # fmt: skip
    # the champion, lgbm and the hybrid's tree; the twin is lgbm (a fourth fit before)
    assert trained == 3
    alone, trained_alone, notes_alone = run(
        tmp_path, sim_parquet, write_config, tracking_uri, [hybrid(TREE)], threads, monkeypatch
    )
    assert trained_alone == 3  # the champion, the hybrid's tree, its twin
    twin, reference = model(both, "lgbm-ecod").twin, model(alone, "lgbm-ecod").twin
    assert twin is not None and reference is not None
    # the twin trained on its own and the one reused: the same metrics, intervals and deltas
    assert twin.metrics == reference.metrics
    assert twin.ci == reference.ci
    assert twin.delta == reference.delta
    assert twin.metrics == model(both, "lgbm").metrics  # it is lgbm
    assert SAID in notes and not any("its twin is" in n for n in notes_alone)
    assert model(both, "lgbm-ecod").metrics == model(alone, "lgbm-ecod").metrics


def test_a_tree_with_other_params_is_not_taken_for_the_twin(
    tmp_path: Path,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = {"name": "lgbm", "kind": "lightgbm", "params": {**TREE, "num_leaves": 7}}
    result, trained, notes = run(
        tmp_path, sim_parquet, write_config, tracking_uri, [plain, hybrid(TREE)], 1, monkeypatch
    )
    assert trained == 4  # the champion, lgbm, the hybrid's tree and its own twin
    twin = model(result, "lgbm-ecod").twin
    assert twin is not None and twin.metrics != model(result, "lgbm").metrics
    assert not any("its twin is" in n for n in notes)


def test_a_twin_listed_after_its_hybrid_is_fitted_first_and_taken(
    tmp_path: Path,
    sim_parquet: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``lgbm`` listed after ``lgbm-ecod``: it is trained before the hybrid (which takes it), and
    the results keep the listed order."""
    plain = {"name": "lgbm", "kind": "lightgbm", "params": TREE}
    result, trained, notes = run(
        tmp_path, sim_parquet, write_config, tracking_uri, [hybrid(TREE), plain], 1, monkeypatch
    )
    assert trained == 3  # the champion, lgbm and the hybrid's tree: not the twin again
    assert [m.name for m in result.models][1:] == ["lgbm-ecod", "lgbm"]
    twin = model(result, "lgbm-ecod").twin
    assert twin is not None and twin.metrics == model(result, "lgbm").metrics
    assert SAID in notes
