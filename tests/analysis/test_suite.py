"""The whole diagnostic suite on a synthetic world with planted truths: a champion whose signal
decays over the test weeks and who over-alerts genuine rows of segment B, a challenger whose scores
shift between training and test, and a feature that drifts. The findings must name each of them."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from functools import partial

import numpy as np
import polars as pl
import pytest

from challengers.analysis.budget import budget_from_rate
from challengers.analysis.suite import Analyses, AnalysisInput, Settings, analyse
from challengers.data.frames import DAY, DataSpec
from challengers.evaluation.curve import Cost
from challengers.evaluation.evaluate import TestRows as Rows
from challengers.evaluation.evaluate import evaluate_models
from challengers.evaluation.metrics import parse_metric
from challengers.findings import FindingContext, derive_findings
from challengers.findings.recommendations import recommendation
from challengers.results import ModelResult

TRAIN = (date(2024, 1, 1), date(2024, 1, 20))
TEST = (date(2024, 1, 29), date(2024, 2, 25))  # four whole weeks
PER_DAY = 300
METRICS = [parse_metric(m) for m in ("roc_auc", "pr_auc", "precision_at_alerts@0.05")]


def window(first: date, last: date, rng: np.random.Generator, *, test: bool) -> pl.DataFrame:
    days = (last - first).days + 1
    n = days * PER_DAY
    day_index = np.repeat(np.arange(days), PER_DAY)
    y = (rng.random(n) < 0.05).astype(np.int8)
    seg = np.where(rng.random(n) < 0.5, "A", "B")
    # the champion's signal fades over the test window; steady in training
    strength = 2.5 * (1 - day_index / days) if test else np.full(n, 2.5)
    logit = -3.5 + strength * y + rng.normal(0, 0.8, n)
    logit += np.where((seg == "B") & (y == 0), 0.9, 0.0)  # B's genuine rows look riskier
    challenger = 1.5 * y + rng.normal(0, 1, n) + (2.0 if test else 0.0)  # shifted in test
    start = datetime.combine(first, datetime.min.time())
    return pl.DataFrame(
        {
            "TX_FRAUD": y,
            "TX_DATETIME": [start + timedelta(days=int(d), hours=12) for d in day_index],
            "TX_AMOUNT": rng.gamma(2.0, 40.0, n),
            "CUSTOMER_ID": rng.integers(0, 800, n),
            "SEG": seg,
            "f_stable": rng.normal(0, 1, n),
            "f_shift": rng.normal(1.0 if test else 0.0, 1, n),
            "champ": 1 / (1 + np.exp(-logit)),
            "chall": challenger,
        }
    ).with_columns(pl.col("TX_DATETIME").dt.date().alias(DAY))


def analysis_input(**overrides: object) -> AnalysisInput:
    rng = np.random.default_rng(7)
    train, test = window(*TRAIN, rng, test=False), window(*TEST, rng, test=True)
    models = ("champ", "chall")
    inp = AnalysisInput(
        train=train,
        test=test,
        spec=DataSpec(
            target="TX_FRAUD",
            time="TX_DATETIME",
            features=("f_stable", "f_shift"),
            amount="TX_AMOUNT",
            entity="CUSTOMER_ID",
            segments=("SEG",),
        ),
        scores={m: test.get_column(m).to_numpy() for m in models},
        train_scores={m: train.get_column(m).to_numpy() for m in models},
        calibrated={"champ": True, "chall": False},
        models={},
        champion="champ",
        champion_inputs=("f_stable", "f_shift"),
        metrics=METRICS,
        cost=Cost(5.0, None),
        budget=budget_from_rate(test.height, 0.05),
        train_end=TRAIN[1],
        test_start=TEST[0],
        test_end=TEST[1],
        bootstrap=60,
        alpha=0.05,
        seed=3,
        settings=Settings(min_segment_rows=500, min_segment_positives=20),
    )
    return dataclasses.replace(inp, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def analyses() -> Analyses:
    return analyse(analysis_input())


def test_weekly_bands_and_savings_resample_the_run_unit() -> None:
    """evaluation.resample reaches the diagnostics: with rows as the unit, a week's band and the
    savings interval are exactly the evaluation's own with rows as the unit (they used entity
    blocks whatever the config said)."""
    inp = analysis_input(resample="row")
    got = analyse(inp)

    def evaluate(frame: pl.DataFrame, scores: dict, metrics: list, resample: str | None) -> dict:
        rows = Rows.from_frame(frame, target="TX_FRAUD", amount="TX_AMOUNT", entity="CUSTOMER_ID")
        return evaluate_models(
            rows, scores, inp.calibrated, champion="champ", metrics=metrics, cost=inp.cost,
            operating_rate=inp.budget.rate, bootstrap=60, alpha=0.05, seed=3, resample=resample,
        )  # fmt: skip

    first = np.flatnonzero(inp.test.get_column(DAY).to_numpy() < date(2024, 2, 5))
    week = {m: s[first] for m, s in inp.scores.items()}
    for resample, same in (("row", True), (None, False)):
        band = evaluate(inp.test[first], week, METRICS, resample)["champ"].ci["roc_auc"]
        assert (got.stability.weeks[0].ci["champ"]["roc_auc"] == pytest.approx(band)) == same
    cost = [parse_metric("expected_cost")]
    delta = evaluate(inp.test, inp.scores, cost, "row")["chall"].delta["expected_cost"]
    chall = next(m for m in got.operating_point.models if m.model == "chall")
    n = inp.test.height
    assert chall.savings_ci == pytest.approx((-delta.ci[1] * n, -delta.ci[0] * n))
    assert chall.savings_p_value == delta.p_value


def test_the_diagnostics_compute_no_paired_test_they_do_not_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A week's metrics and bands are the only figures the diagnostics read from a week's
    evaluation: its paired deltas (each challenger's DeLong test, built from every model's
    ranking) are not computed, and the bands are those of an evaluation that computes them."""
    from challengers.evaluation import evaluate

    built: list[str] = []
    for name in ("components_of_ranking", "cluster_components_of_ranking"):
        original = getattr(evaluate, name)

        def counted(*args: object, _name: str = name, _original: object = original) -> object:
            built.append(_name)
            return _original(*args)  # type: ignore[operator]

        monkeypatch.setattr(evaluate, name, counted)
    inp = analysis_input()
    got = analyse(inp)
    assert "roc_auc" in {m.key for m in METRICS} and inp.bootstrap > 0 and got.stability.weeks
    assert built == []  # before: a DeLong test per challenger and week
    rows = Rows.from_frame(inp.test, target="TX_FRAUD", amount="TX_AMOUNT", entity="CUSTOMER_ID")
    evaluated = partial(
        evaluate_models, rows, inp.scores, inp.calibrated, champion="champ", metrics=METRICS,
        cost=inp.cost, operating_rate=inp.budget.rate, bootstrap=40, alpha=0.05, seed=3,
    )  # fmt: skip
    full, bands = evaluated(), evaluated(deltas=False)
    assert built  # the full evaluation's DeLong test
    for name, e in bands.items():
        assert e.metrics == full[name].metrics and e.ci == full[name].ci and not e.delta
    assert full["chall"].delta["roc_auc"].method.startswith("delong")


def test_planted_decay_is_a_significant_negative_slope(analyses: Analyses) -> None:
    champ = analyses.stability.decay["champ"]["roc_auc"]
    assert champ.points == 28 and champ.ci[1] < 0 and champ.p_value < 0.001
    chall = analyses.stability.decay["chall"]["roc_auc"]
    assert chall.ci[0] < 0 < chall.ci[1]  # no decay planted in the challenger


def test_planted_drift_shows_in_psi(analyses: Analyses) -> None:
    s = analyses.stability
    assert s.score_psi["chall"] > 0.25 and s.score_psi["champ"] < 0.1
    assert s.feature_psi["f_shift"] > 0.25 and s.feature_psi["f_stable"] < 0.05
    # each test week of the challenger looks shifted against training, not against the week before
    assert min(s.score_psi_vs_train["chall"]) > 0.25
    assert max(s.score_psi_weekly["chall"][1:]) < 0.1


def test_weeks_cover_the_test_window_with_intervals(analyses: Analyses) -> None:
    weeks = analyses.stability.weeks
    assert [w.start for w in weeks] == ["2024-01-29", "2024-02-05", "2024-02-12", "2024-02-19"]
    assert sum(w.rows for w in weeks) == 28 * PER_DAY
    for w in weeks:
        lo, hi = w.ci["champ"]["roc_auc"]
        assert lo <= w.metrics["champ"]["roc_auc"] <= hi
    first, last = weeks[0].metrics["champ"]["roc_auc"], weeks[-1].metrics["champ"]["roc_auc"]
    assert first > last + 0.1


def test_planted_segment_disparity(analyses: Analyses) -> None:
    (column,) = analyses.segments
    b = next(r for r in column.rows if r.value == "B")
    assert b.fpr_ratio["champ"] < 0.8 and b.fpr_p["champ"] < 0.001
    assert b.fpr_ratio["chall"] > 0.8  # the challenger treats A and B alike


def test_operating_point_calibration_and_train_gap(analyses: Analyses) -> None:
    op = analyses.operating_point
    assert op.alerts == round(0.05 * 28 * PER_DAY)
    assert all(m.alerts == op.alerts for m in op.models)
    assert [c.assessed for c in analyses.calibration] == [True, False]
    s = analyses.stability
    assert s.train_metrics["champ"]["roc_auc"] > s.test_metrics["champ"]["roc_auc"]
    assert analyses.explanations.models == [] and analyses.explanations.sample_rows == 2000


def test_findings_name_each_planted_problem(analyses: Analyses) -> None:
    models = [
        ModelResult("champ", "champion", "score", features=["f_stable", "f_shift"]),
        ModelResult("chall", "challenger", "lightgbm"),
    ]
    ctx = FindingContext(
        models=models,
        higher_is_better={m.key: m.info.higher_is_better for m in METRICS},
        alpha=0.05,
        positives_test=400,
        gap_days=8,
        label_delay_days=7,
        analyses=analyses,
        metric_keys=tuple(m.key for m in METRICS),
    )
    found = {f.id: f for f in derive_findings(ctx)}
    assert found["drift-score-chall"].severity == "high"
    assert found["drift-features-high"].evidence.keys() == {"f_shift"}
    assert found["segment-SEG-champ"].severity == "medium"
    assert found["segment-SEG-champ"].metric == "fpr_ratio"
    assert found["decay-champ"].metric == "roc_auc" and found["decay-champ"].effect < 0
    assert "decay-chall" not in found and "segment-SEG-chall" not in found
    for f in found.values():
        assert f.metric and f.evidence and f.effect is not None, f.id


@pytest.mark.parametrize("threads", [1, 2])
def test_the_training_window_lets_each_models_scores_go_once_read(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """The in-sample step reads ``threads`` models' training scores at a time and lets each go
    before the next model's are ranked (the caller hands them over in ``train_scores``); the
    metrics and PSI bins are those of every model's scores read together, one at a time or not."""
    import weakref

    from challengers.analysis import suite

    inp = analysis_input(threads=threads)
    expected = {
        name: dict(e.metrics)
        for name, e in evaluate_models(
            Rows.from_frame(inp.train, target="TX_FRAUD", amount="TX_AMOUNT", entity="CUSTOMER_ID"),
            inp.train_scores,
            inp.calibrated,
            champion="champ",
            metrics=METRICS,
            cost=inp.cost,
            operating_rate=inp.budget.rate,
            bootstrap=0,
            alpha=0.05,
            seed=3,
        ).items()
    }
    edges = {name: suite.st.psi_edges(s) for name, s in inp.train_scores.items()}
    read: list[weakref.ref[np.ndarray]] = []
    alive_at_each_read: list[int] = []
    evaluate = suite._evaluate

    def watched(inp_: AnalysisInput, rows: Rows, scores: dict, **kwargs: object) -> dict:
        alive_at_each_read.append(sum(r() is not None for r in read))
        read.extend(weakref.ref(s) for s in scores.values())
        return evaluate(inp_, rows, scores, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(suite, "_evaluate", watched)
    training = suite.training_window(inp)
    # one thread: the first model's scores gone before the second's are read
    assert len(alive_at_each_read) == 2 and max(alive_at_each_read) <= threads - 1
    assert inp.train_scores == {}
    assert training.metrics == expected
    for name, reference in training.scores.items():
        np.testing.assert_array_equal(reference.edges, edges[name])


def test_a_model_that_bands_or_labels_rows_is_found(analyses: Analyses) -> None:
    """Planted: the champion's scores cut into 5 bands, and 0/1 labels (as XGBoost's
    binary:hinge gives). Each model's distinct test scores are counted as numpy counts them;
    labels delivered as the champion are a high finding (ask the first line for the score
    behind them), the same labels from a challenger (the validator's own model) and the bands
    a medium one, the continuous scores none."""
    inp = analysis_input()
    champ = inp.scores["champ"]
    labels = (champ > np.quantile(champ, 0.97)).astype(float)
    scores = {
        **inp.scores,
        "bands": np.digitize(champ, np.quantile(champ, [0.5, 0.8, 0.95, 0.99])).astype(float),
        "labels": labels,
        "hinge": labels.copy(),
    }
    result = analyse(dataclasses.replace(inp, scores=scores, calibrated={}))
    assert result.score_levels == {m: len(np.unique(s)) for m, s in scores.items()}
    assert result.score_levels["bands"] == 5 and result.score_levels["labels"] == 2
    ctx = FindingContext(
        models=[ModelResult("labels", "champion", "score")]
        + [ModelResult(m, "challenger", "lightgbm") for m in ("champ", "chall", "bands", "hinge")],
        higher_is_better={m.key: m.info.higher_is_better for m in METRICS},
        alpha=0.05,
        analyses=result,
        metric_keys=tuple(m.key for m in METRICS),
    )
    found = {f.id: f for f in derive_findings(ctx) if f.id.startswith("coarse-scores-")}
    assert {f: found[f].severity for f in found} == {
        "coarse-scores-labels": "high",
        "coarse-scores-bands": "medium",
        "coarse-scores-hinge": "medium",
    }
    assert found["coarse-scores-bands"].evidence == {"distinct_scores": 5, "limit": 20}
    advice = recommendation(found["coarse-scores-labels"])
    assert advice.startswith("Ask the first line for the continuous score behind 'labels'")
    assert recommendation(found["coarse-scores-hinge"]).startswith("Check the settings of 'hinge'")
