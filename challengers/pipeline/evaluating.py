"""Every model on the same test rows, at the champion's budget: the evaluation (metrics,
intervals, paired tests), the diagnostics (operating point, stability, segments, calibration,
explanations) and the twin comparisons; the numbers the run's findings and result are built from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from challengers.allocator import release_freed_memory
from challengers.analysis.budget import Budget, resolve_budget
from challengers.analysis.suite import (
    Analyses,
    AnalysisInput,
    Settings,
    analyse,
    training_window,
)
from challengers.config import ExperimentConfig
from challengers.evaluation.curve import Cost
from challengers.evaluation.evaluate import (
    ModelEvaluation,
    TestRows,
    evaluate_models,
    rank_all,
    resampling,
)
from challengers.evaluation.twins import adjust_twins, compare_with_twin
from challengers.pipeline.distributed import (
    explain_sample_on_engine,
    test_bin_counts_on_engine,
)
from challengers.pipeline.fitting import Fitted
from challengers.pipeline.insample import InSampleSettings, training_window_on_engine
from challengers.pipeline.outputs import INPUT_EXAMPLE_ROWS, model_result
from challengers.pipeline.plan import Plan
from challengers.pipeline.prepare import Prepared
from challengers.progress import Progress
from challengers.results import ModelResult


@dataclass
class Evaluated:
    """The numbers of a run, before they become an ExperimentResult."""

    rows: TestRows
    budget: Budget
    evaluations: dict[str, ModelEvaluation]
    analyses: Analyses
    models: list[ModelResult]
    resampling: dict[str, str]  # {unit, reason} of every interval and test of the run


def evaluate(
    cfg: ExperimentConfig, prepared: Prepared, fitted: list[Fitted], progress: Progress
) -> Evaluated:
    """Every model on the same test rows, at the champion's budget; diagnostics; twins.

    Once their in-sample numbers are taken, the training rows and scores are let go:
    ``prepared.split`` keeps the window's counts and a few rows, ``fitted`` no training scores
    (each model's go once read)."""
    plan, e = prepared.plan, cfg.evaluation
    champion, ok = fitted[0], [f for f in fitted if f.scores is not None]
    assert champion.scores is not None  # a champion that cannot score stops the run
    cost = Cost(e.cost.false_positive, cfg.cost_false_negative)
    rows = TestRows.from_frame(
        prepared.split.test,
        target=plan.spec.target,
        amount=plan.spec.amount,
        entity=plan.spec.entity,
    )
    test = prepared.split.test.drop(_read_no_more(prepared.plan), strict=False)
    prepared.split = replace(prepared.split, test=test)
    budget = budget_of(cfg, champion.scores)
    calibrated = {f.plan.name: bool(f.model and f.model.calibrated) for f in ok}
    inputs = _analysis_input(cfg, prepared, ok, budget)
    _hand_over_training_scores(fitted)  # ``inputs.train_scores`` holds them, one let go at a time
    with progress.stage("Diagnostics: in-sample metrics of the training window"):
        # a narrow run (the training rows stayed on the engine): the in-sample numbers come from there
        known = {f.plan.name: f.in_sample for f in ok if f.in_sample is not None}
        settings = InSampleSettings.of(cfg, budget)
        inputs.training = training_window_on_engine(
            prepared, inputs, settings, inputs.models, known
        )
        if inputs.training is None:
            # before the test window's rankings exist: the training window's rankings (more
            # rows) are never held beside them (the diagnostics' memory peak, 1.91 -> 1.78 GB at
            # 10M rows); the training frame goes as soon as it is read, before the first of them
            let_go = partial(_let_go_of_training_rows, prepared, inputs)
            inputs.training = training_window(inputs, let_go=let_go)
        inputs.test_bin_counts = test_bin_counts_on_engine(prepared, inputs.training.features)
        inputs.explain_sample = explain_sample_on_engine(
            prepared, inputs.settings.explain_rows, cfg.seed
        )
    release_freed_memory()
    with progress.stage(f"Evaluating ({e.bootstrap} bootstrap replicates)"):
        scores = {f.plan.name: f.scores for f in ok if f.scores is not None}
        # sorted once, read by the evaluation and the diagnostics
        ranked = rank_all(rows, scores, calibrated, cfg.threads)
        evaluations = evaluate_models(
            rows,
            scores,
            calibrated,
            champion=champion.plan.name,
            metrics=e.metric_specs,
            cost=cost,
            operating_rate=budget.rate,
            bootstrap=e.bootstrap,
            alpha=e.alpha,
            seed=cfg.seed,
            resample=e.resample,
            resample_force=e.resample_force,
            primary=e.primary_key,
            threads=cfg.threads,
            ranked=ranked,
        )
        for r in ranked.values():
            r.forget_entity_days()
    release_freed_memory()  # the bootstrap's buffers and card precision's cells, before the diagnostics
    with progress.stage("Diagnostics: operating point, stability, segments, explanations"):
        _with_evaluations(inputs, evaluations)
        inputs.test_rows, inputs.ranked = rows, ranked
        analyses = analyse(inputs)
    del ranked, inputs  # the rankings are not needed past the diagnostics
    release_freed_memory()
    models = [model_result(f, evaluations.get(f.plan.name)) for f in fitted]
    for f, m in zip(fitted, models, strict=True):
        if f.twin is not None and f.scores is not None:
            with progress.stage(f"Comparing {f.plan.name} with its twin"):
                m.twin = compare_with_twin(
                    rows,
                    f.scores,
                    f.twin,
                    calibrated=calibrated[f.plan.name],
                    metrics=e.metric_specs,
                    cost=cost,
                    operating_rate=budget.rate,  # the same budget as the champion comparison
                    bootstrap=e.bootstrap,
                    alpha=e.alpha,
                    seed=cfg.seed,
                    resample=e.resample,
                    resample_force=e.resample_force,
                )
    adjust_twins({m.name: m.twin for m in models if m.twin is not None}, e.primary_key)
    return Evaluated(rows, budget, evaluations, analyses, models, _unit(cfg, rows))


def budget_of(cfg: ExperimentConfig, champion_scores: np.ndarray) -> Budget:
    """How many test rows every model alerts: ``evaluation.alert_rate`` of them, or the share
    the champion alerts at ``evaluation.operating_point.threshold``."""
    e = cfg.evaluation
    return resolve_budget(champion_scores, rate=e.alert_rate, threshold=e.operating_point.threshold)


def _read_no_more(plan: Plan) -> list[str]:
    """The test frame's columns nothing reads once the evaluation starts: the rows' timestamps
    (the audit and the fits read them last), keys and entities (the outputs that read them are
    written before: ``write_test_outputs``; the entities' codes are in ``TestRows``), unless a
    model reads one: 24 bytes a test row less through the evaluation's and the diagnostics'
    peaks. A model that derives features over time (a graph's windows) reads the timestamps
    again: its explanations derive them for their sample of the test rows."""
    s = plan.spec
    read = {s.target, s.amount, s.scenario, *s.segments}  # the diagnostics read these
    for m in [plan.champion, *plan.challengers]:
        read |= {*m.features, *m.extra_columns, *([s.time] if m.lookback_days else [])}
    return [c for c in (s.time, s.id, s.entity) if c and c not in read]


def _let_go_of_training_rows(prepared: Prepared, inputs: AnalysisInput) -> None:
    """Drop every reference to the training frame: what is left of it is the split's counts and
    the input examples (and what ``training_window`` took)."""
    target = prepared.plan.spec.target
    prepared.split = prepared.split.without_training(target, INPUT_EXAMPLE_ROWS)
    inputs.train = None
    release_freed_memory()


def _hand_over_training_scores(fitted: list[Fitted]) -> None:
    """Drop the models' references to their training scores once the diagnostics' inputs hold
    them: ``training_window`` lets each model's go as soon as it has read them (at 100M rows in
    the file, 0.25 GB a model), instead of holding every model's until the last is read."""
    for f in fitted:
        f.train_scores = None


def _unit(cfg: ExperimentConfig, rows: TestRows) -> dict[str, str]:
    """The unit every interval and test of the run resampled, and why (none without bootstrap)."""
    e = cfg.evaluation
    if e.bootstrap <= 0:
        return {}
    chosen = resampling(rows, e.resample, force=e.resample_force)
    return {"unit": chosen.unit, "reason": chosen.reason}


def _analysis_input(
    cfg: ExperimentConfig, prepared: Prepared, ok: list[Fitted], budget: Budget
) -> AnalysisInput:
    """The diagnostics' plain inputs: frames, scores, fitted models, sizes and thresholds."""
    plan, e = prepared.plan, cfg.evaluation
    d, t = e.diagnostics, e.findings
    return AnalysisInput(
        train=prepared.split.train,
        test=prepared.split.test,
        spec=plan.spec,
        scores={f.plan.name: f.scores for f in ok if f.scores is not None},
        train_scores={f.plan.name: f.train_scores for f in ok if f.train_scores is not None},
        calibrated={f.plan.name: bool(f.model and f.model.calibrated) for f in ok},
        models={f.plan.name: f.model for f in ok if f.model is not None},
        champion=plan.champion.name,
        champion_inputs=plan.champion.features,
        metrics=e.metric_specs,
        cost=Cost(e.cost.false_positive, cfg.cost_false_negative),
        budget=budget,
        train_end=cfg.split.train.end,
        test_start=cfg.split.test.start,
        test_end=cfg.split.test.end,
        bootstrap=e.bootstrap,
        alpha=e.alpha,
        seed=cfg.seed,
        resample=e.resample,
        resample_force=e.resample_force,
        settings=Settings(
            **d.model_dump(),
            **t.model_dump(include=set(Settings.__dataclass_fields__) - set(d.model_dump())),
        ),
        history=prepared.history,
        threads=cfg.threads,
    )


def _with_evaluations(inputs: AnalysisInput, evaluations: dict[str, ModelEvaluation]) -> None:
    """The evaluation's numbers the diagnostics reuse instead of computing them again."""
    inputs.test_metrics = {n: dict(ev.metrics) for n, ev in evaluations.items()}
    inputs.cost_deltas = {  # reused for the savings interval when the run has expected_cost
        n: ev.delta["expected_cost"] for n, ev in evaluations.items() if "expected_cost" in ev.delta
    }
