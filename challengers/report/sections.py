"""The report's sections in the order of a model-risk validation document. Renders results;
computes nothing (sums and comparisons of figures already in the result only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from challengers.experiment_result import ExperimentResult
from challengers.findings.comparison import MIN_FRAUDS_TO_CLAIM
from challengers.findings.conclusion import about_champion
from challengers.report import diagnostics as diag
from challengers.report import governance as gov
from challengers.report import outcomes as out
from challengers.report.document import (
    Block,
    Bullets,
    Document,
    Findings,
    Section,
    Table,
    Text,
    code,
    fmt,
    interval,
    pct,
    plain,
)
from challengers.results import SEVERITIES, Finding, ModelResult

SOUNDNESS_AREAS = (
    "data",
    "leakage",
    "audit",
    "privacy",
    "representativeness",
    "integrity",
    "drift",
    "bias",
)


def build_document(result: ExperimentResult, *, audit: Sequence[Block] = ()) -> Document:
    """Every section, in order; ``audit`` blocks (the data audit) go under conceptual soundness."""
    return Document(
        title=f"Validation report: {result.experiment}",
        subtitle=f"Champion '{result.champion.name}' against {len(result.challengers)} "
        f"challenger(s) · run {result.run_id or 'n/a'}",
        sections=[
            summary(result),
            gov.conclusion(result),
            gov.governance(result),
            scope(result),
            gov.champion(result),
            soundness(result, audit),
            out.outcomes(result),
            out.calibration(result),
            diag.stability(result),
            diag.segments(result),
            diag.explanations(result),
            replication(result),
            findings(result),
            gov.model_limitations(result),
            gov.monitoring(result),
            limitations(result),
            environment(result),
        ],
    )


def verdict(result: ExperimentResult) -> str:
    """The sentence a committee reads first."""
    champ, primary = result.champion.name, result.primary_key
    better = [f for f in result.findings if f.id.startswith("outcome-better-")]
    counts = {s: sum(f.severity == s for f in result.findings) for s in SEVERITIES}
    untested = next((f for f in result.findings if f.id == "outcome-untested"), None)
    few_units = next((f for f in result.findings if f.id == "data-few-fraud-units"), None)
    if result.challengers and all(m.status != "ok" for m in result.challengers):
        lead = f"No verdict: no challenger finished (see the findings); the champion is '{champ}'."
    elif untested is not None:
        why = "no bootstrap replicates" if untested.evidence.get("bootstrap") == 0 else "no test"
        value = untested.evidence.get("champion_value")
        if isinstance(value, float) and math.isnan(value):
            why = f"the champion's {primary} is n/a"
        lead = (
            f"No verdict: the challengers were not tested against the champion '{champ}' on the "
            f"primary metric {primary} ({why}; see the finding)."
        )
    elif result.challengers and result.data.positives_test < MIN_FRAUDS_TO_CLAIM:
        lead = (
            f"No verdict: the test window holds {result.data.positives_test} fraud(s), fewer than "
            f"the {MIN_FRAUDS_TO_CLAIM} a paired test needs to call a winner (see the findings)."
        )
    elif result.challengers and few_units is not None:
        lead = (
            f"No verdict: the test window's {result.data.positives_test:,} frauds fall on "
            f"{few_units.evidence.get('fraud_units')} resampling unit(s), fewer than the "
            f"{MIN_FRAUDS_TO_CLAIM} a paired test needs to call a winner (see the findings)."
        )
    elif better:
        names = ", ".join(f"'{f.models[0]}' ({f.severity})" for f in better if f.models)
        lead = (
            f"The champion '{champ}' is significantly outperformed on the primary metric "
            f"{primary} by {names}."
        )
    else:
        lead = (
            f"No challenger significantly outperforms the champion '{champ}' on the primary "
            f"metric {primary}."
        )
    leaking = [f.models[0] for f in result.findings if f.id.startswith("outcome-leaking-")]
    if leaking:
        names = ", ".join(f"'{name}'" for name in leaking)
        lead += f" Left out of the verdict, ahead through a leaking input: {names}."
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"
    return f"{lead} Findings: {tally}."


TOP_FINDINGS = 8  # the summary's list: the rest are in the Findings section


def top_findings(result: ExperimentResult) -> tuple[list[Finding], int]:
    """The summary's high and medium findings, those on the champion or the data first at each
    severity (the ones the overall rating reads: a challenger's own overfitting does not push the
    champion's decay or miscalibration out of the list), and how many high and medium there are."""
    champion = result.champion.name
    serious = [f for f in result.findings if f.severity in ("high", "medium")]
    ranked = sorted(
        serious,
        key=lambda f: (SEVERITIES.index(f.severity), not about_champion(f, champion)),
    )
    return ranked[:TOP_FINDINGS], len(serious)


def summary(result: ExperimentResult) -> Section:
    top, serious = top_findings(result)
    blocks: list[Block] = [Text(f"**Verdict.** {verdict(result)}", "verdict")]
    if result.conclusion is not None:
        blocks.append(Text(f"**{result.conclusion.sentence}** (see Overall conclusion)"))
    op = result.operating_point
    if op is not None:
        champ = next(m for m in op.models if m.model == op.champion)
        best = max(
            (m for m in op.models if m.model != op.champion), key=lambda m: m.recall, default=None
        )
        line = (
            f"At the champion's budget of {op.alerts:,} alerts ({pct(op.rate, 2)} of test rows) "
            f"the champion catches {champ.true_positives:,} of {result.data.positives_test:,} "
            f"frauds (recall {fmt(champ.recall, 3)}, precision {fmt(champ.precision, 3)})"
        )
        if best is not None:
            line += (
                f"; the best challenger at that budget, '{best.model}', catches "
                f"{best.true_positives:,} (recall {fmt(best.recall, 3)})"
            )
        blocks.append(Text(line + "."))
    if top:
        shown = f"{len(top)} of {serious} high and medium; " if serious > len(top) else ""
        blocks += [
            Text(f"**Top findings** ({shown}all findings: see Findings below)."),
            Findings(top),
        ]
    else:
        blocks.append(Text("No high or medium severity findings."))
    return Section("summary", "Summary", blocks)


def _champion_source(result: ExperimentResult) -> list[str]:
    """Where the champion came from: an MLflow URI as given and what it resolved to; a model
    file with its sha256 (what `replicate` and `--resume` check it against)."""
    s = result.champion_source
    if not s:
        return []
    mlflow = any(k in s for k in ("source.registered_model", "source.model_id", "source.run_id"))
    if not mlflow and s.get("source.digest"):
        return [
            f"Champion model: {code(str(s.get('source.uri')))} (sha256 `{s['source.digest'][:12]}`)"
        ]
    parts = []
    if s.get("source.registered_model"):
        parts.append(
            f"registered model {code(s['source.registered_model'])} version {s.get('source.version')}"
        )
    if s.get("source.model_id"):
        parts.append(f"model id `{s['source.model_id']}`")
    if s.get("source.run_id"):
        parts.append(f"logged by run `{s['source.run_id']}`")
    if s.get("source.digest"):
        parts.append(f"files digest `{s['source.digest'][:12]}`")
    resolved = f" resolved to {', '.join(parts)}" if parts else ""
    return [f"Champion model: {code(str(s.get('source.uri')))}{resolved}"]


def scope(result: ExperimentResult) -> Section:
    d = result.data
    excluded = (
        f"; {d.excluded_known_fraud_rows:,} rows of entities already known fraudulent removed "
        f"({d.excluded_known_fraud_positives:,} of them frauds)"
        if d.excluded_known_fraud_rows
        else ""
    )
    models = [
        [
            m.name,
            m.role,
            m.kind,
            m.status,
            str(len(m.features)),
            f"{m.fit_seconds:.1f}s",
            f"{m.predict_seconds:.2f}s",
        ]
        for m in result.models
    ]
    op = result.operating_point
    return Section(
        "scope",
        "Scope and data",
        [
            Bullets(
                [
                    f"Data: {code(d.source)}, fingerprint `{d.fingerprint}`",
                    *_champion_source(result),
                    f"Training window {d.windows.get('train', '')}: {d.rows_train:,} rows, "
                    f"{d.positives_train:,} frauds",
                    f"Test window {d.windows.get('test', '')}: {d.rows_test:,} rows, "
                    f"{d.positives_test:,} frauds{excluded}",
                    f"Label delay: {d.windows.get('label_delay_days', '?')} days",
                    f"Metrics: {', '.join(result.metric_keys)}; {result.bootstrap:,} bootstrap "
                    f"replicates, alpha {result.alpha}",
                    f"Operating point: {op.alerts:,} alerts ({pct(op.rate, 2)} of test rows)"
                    if op
                    else f"Operating point: top {pct(result.operating_alert_rate, 2)} of rows",
                ]
            ),
            Table(["model", "role", "kind", "status", "features", "fit", "scoring"], models),
            *_training(result),
            *_tuning(result),
        ],
    )


def _training(result: ExperimentResult) -> list[Block]:
    """How a distributed engine trained each challenger: on every row, or on a sample."""
    lines = [f"**{m.name}** {m.training}" for m in result.models if m.training]
    return [Bullets(lines)] if lines else []


def _tuning(result: ExperimentResult) -> list[Block]:
    """One line per tuned challenger: the search, its validation slice, what it gained there,
    the refit, and the search's time (not in the model's fit time)."""
    lines = [_tuned(m) for m in result.models if m.tuning]
    return [Bullets(lines)] if lines else []


def _tuned(m: ModelResult) -> str:
    t = m.tuning
    failed = t.get("failed", 0)
    error = f" (the first: {plain(t['first_error'])})" if failed and t.get("first_error") else ""
    best = "lowest" if t.get("direction") == "minimize" else "highest"
    # a distributed engine may have trained it on a sample: _training's line says so
    rows = "as trained above" if m.training else "on the whole training window"
    seconds = t.get("search_seconds")
    return (
        f"**{m.name}** tuned (Optuna): {t['trials'] + failed} trials: "
        f"{t['trials'] - t['pruned']} complete, {t['pruned']} pruned, {failed} failed{error}; "
        f"{best} validation {t['metric']} {fmt(t['best_value'])} at trial {t['best_trial']}, "
        f"library defaults {fmt(t['defaults_value'])}; {'; '.join(t['folds'])}; refit {rows} "
        f"with {t['best_params'].get('rounds')} rounds"
        + (f"; search {seconds:.1f} s, not in the model's fit time" if seconds else "")
        + _timed_out(t)
    )


def _timed_out(t: dict[str, Any]) -> str:
    """Said when the time budget, not the trials asked for, ended the search."""
    if not t.get("timed_out"):
        return ""
    return (
        f"; **the time budget (tune.timeout_s: {t['timeout_s']:g} s) ended the search after "
        f"{t['trials']:,} of the {t['trials_asked']:,} trials asked for**"
    )


def soundness(result: ExperimentResult, audit: Sequence[Block]) -> Section:
    champ = result.champion
    inputs = set(champ.features)
    blocks: list[Block] = [
        Text(
            f"The champion '{champ.name}' reads {len(champ.features)} feature(s): "
            + (", ".join(code(f) for f in champ.features) or "unknown (production scores only)")
            + "."
        )
    ]
    extra = [
        f"**{m.name}** also uses " + ", ".join(code(f) for f in m.features if f not in inputs)
        for m in result.challengers
        if inputs and any(f not in inputs for f in m.features)
    ]
    if extra:
        blocks.append(Bullets(extra))
    related = [f for f in result.findings if f.area in SOUNDNESS_AREAS]
    if related:
        blocks += [Text("Data and leakage findings:"), Findings(related)]
    if not audit and result.audit is not None:
        from challengers.report import audit_section

        audit = audit_section.blocks(result.audit, result.data)
    blocks += list(audit) or [
        Text(
            "No data audit in this run; `challenge audit CONFIG` checks integrity, leakage, "
            "drift and privacy.",
            "note",
        )
    ]
    return Section("soundness", "Conceptual soundness", blocks)


def replication(result: ExperimentResult) -> Section:
    if not result.claimed:
        return Section(
            "replication",
            "Replication of claimed figures",
            [Text("The champion's documentation claims no figures (champion.claimed).", "note")],
        )
    champ = result.champion
    found = {f.id: f for f in result.findings}
    rows = []
    for key, claimed in result.claimed.items():
        ci = champ.ci.get(key)
        rows.append(
            [
                key,
                f"{claimed:g}",
                fmt(champ.metrics.get(key)),
                interval(ci),
                _reproduced(key, found),
            ]
        )
    return Section(
        "replication",
        "Replication of claimed figures",
        [
            Text(
                "The champion's documented figures against ours on the same test window. A "
                "claim is reproduced when our interval reaches it, read to its own rounding (a "
                "figure in 0..1 to two decimals at least: 0.90 stands for 0.895-0.905)."
            ),
            Table(["metric", "claimed", "measured", "interval", "reproduced"], rows),
        ],
    )


def _reproduced(key: str, found: dict[str, Finding]) -> str:
    """The claim's verdict as its finding gives it (none: reproduced)."""
    if f"claim-unchecked-{key}" in found:
        return "not checked"
    claim = found.get(f"claim-{key}")
    if claim is None:
        return "yes"
    return "no (inflated)" if "inflated" in claim.title else "no (understated)"


def findings(result: ExperimentResult) -> Section:
    if not result.findings:
        return Section("findings", "Findings", [Text("No findings.")])
    blocks: list[Block] = []
    for severity in SEVERITIES:
        group: list[Finding] = [f for f in result.findings if f.severity == severity]
        if group:
            blocks.append(Findings(group))
    return Section("findings", "Findings", blocks)


def limitations(result: ExperimentResult) -> Section:
    exact = f"Headline metrics are exact on all {result.data.rows_test:,} test rows"
    items = [
        f"{exact}; intervals come from {result.bootstrap:,} paired bootstrap replicates, "
        f"{out.unit_text(result)}."
        if result.bootstrap
        else f"{exact}; no intervals and no paired tests: the run drew no bootstrap replicates "
        "(evaluation.bootstrap: 0), so the comparison rests on point estimates."
    ]
    deltas = [d for m in result.challengers for d in m.delta_vs_champion.values()]
    if deltas and not any(d.p_value_adjusted is not None for d in deltas):
        items.append("p-values are not corrected for the number of challengers.")
    items += out.resolution_note(result)
    ex = result.explanations
    if ex is not None:
        items.append(
            f"Explanations use a seeded sample of {ex.sample_rows:,} of {ex.test_rows:,} test rows "
            f"(seed {ex.seed}); the only sampled diagnostic."
        )
        items += [f"No explanation for '{m}': {why}." for m, why in ex.skipped.items()]
    items += [
        f"Calibration not assessed for '{c.model}': {c.reason}."
        for c in result.calibration
        if not c.assessed
    ]
    s = result.stability
    if s is not None and s.weeks:
        last = s.weeks[-1]
        rest = (
            f"Weekly intervals rest on one week of rows each and {s.weekly_bootstrap:,} replicates"
            if s.weekly_bootstrap
            else "Weekly figures are point estimates, without replicates, on one week of rows each"
        )
        items.append(
            f"{rest} (the last week, {last.start}..{last.end}, has {last.positives:,} "
            "frauds); a short test window gives a noisy decay slope."
            + (
                " Under day blocks a week's interval rests on at most 7 blocks, too few to hold "
                "its coverage."
                if result.resampling.get("unit") == "day"
                else ""
            )
        )
    items.append(
        "At the operating point, rows tied at the budget boundary are ordered at random (seeded)"
        + ("; the savings interval treats such ties pro rata." if result.bootstrap else ".")
    )
    delivered = result.champion.delivered
    items.append(
        "The train/test gap compares in-sample with out-of-time figures"
        + (
            "; a delivered champion may have been trained on other data than this training window."
            if delivered
            else "."
        )
    )
    small = [plain(f"{c.column}={r.value}") for c in result.segments for r in c.rows if r.small]
    if small:
        items.append(
            "Segments too small to judge (shown, not used as reference): " + ", ".join(small) + "."
        )
    items += [f"Model '{m.name}' failed and is missing from the comparison." for m in result.failed]
    return Section("limitations", "Limitations of the analysis", [Bullets(items)])


def environment(result: ExperimentResult) -> Section:
    items = [
        f"MLflow run `{result.run_id}`; config hash `{result.config_hash}`; data fingerprint "
        f"`{result.data.fingerprint}`",
        *(f"{k}: {code(str(v))}" for k, v in sorted(result.environment.items())),
    ]
    return Section("environment", "Environment", [Bullets(items)])
