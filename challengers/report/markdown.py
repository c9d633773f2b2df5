"""The validation report as Markdown. Renders results; computes nothing."""

from __future__ import annotations

import math

from challengers.report import audit_section
from challengers.results import SEVERITIES, ExperimentResult, ModelResult


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def interval(ci: tuple[float, float] | None) -> str:
    if not ci:
        return ""
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def verdict(result: ExperimentResult) -> str:
    """One sentence a committee can read first."""
    better = [f for f in result.findings if f.id.startswith("outcome-better-")]
    high = [f for f in result.findings if f.severity == "high"]
    champ = result.champion.name
    if better:
        names = ", ".join(f.title.split("'")[1] for f in better)
        lead = f"The champion '{champ}' is significantly outperformed by: {names}."
    else:
        lead = f"No challenger significantly outperforms the champion '{champ}'."
    return f"{lead} {len(high)} high-severity finding(s)."


def _cell(model: ModelResult, key: str, higher_is_better: bool) -> str:
    value = model.metrics.get(key)
    text = f"{fmt(value)} {interval(model.ci.get(key))}".strip()
    delta = model.delta_vs_champion.get(key)
    if delta is not None:
        mark = ""
        if math.isfinite(delta.p_value) and delta.p_value < 0.05:
            mark = " ▲" if (delta.value > 0) == higher_is_better else " ▼"
        text += f"<br>Δ {delta.value:+.4f} {interval(delta.ci)} p={fmt(delta.p_value, 3)}{mark}"
    return text


def comparison_table(result: ExperimentResult) -> list[str]:
    ok = [m for m in result.models if m.status == "ok"]
    header = "| metric | " + " | ".join(f"{m.name} ({m.role})" for m in ok) + " |"
    lines = [header, "|---" * (len(ok) + 1) + "|"]
    for key in result.metric_keys:
        hib = result.higher_is_better.get(key, True)
        cells = " | ".join(_cell(m, key, hib) for m in ok)
        arrow = "↑" if hib else "↓"
        lines.append(f"| {key} {arrow} | {cells} |")
    return lines


def twin_section(result: ExperimentResult) -> list[str]:
    """Each model with a twin (the same tree without its kind's added features), paired."""
    twinned = [m for m in result.models if m.twin is not None]
    if not twinned:
        return []
    lines = [
        "## Added value of detector / graph features: each model against its twin",
        "",
        "The twin is the same tree, same parameters and seed, without the features the kind adds; "
        "both are scored on the same test rows and compared by the same paired bootstrap. "
        "Δ is model minus twin.",
        "",
    ]
    for m in twinned:
        assert m.twin is not None
        lines += [f"**{m.name}** against {m.twin.label}:", ""]
        lines += ["| metric | model | twin | Δ (model − twin) |", "|---|---|---|---|"]
        for key in result.metric_keys:
            d = m.twin.delta.get(key)
            delta = f"{d.value:+.4f} {interval(d.ci)} p={fmt(d.p_value, 3)}" if d else ""
            own = f"{fmt(m.metrics.get(key))} {interval(m.ci.get(key))}".strip()
            twin = f"{fmt(m.twin.metrics.get(key))} {interval(m.twin.ci.get(key))}".strip()
            lines.append(f"| {key} | {own} | {twin} | {delta} |")
        lines.append("")
    return lines


def render(result: ExperimentResult) -> str:
    d = result.data
    lines = [
        f"# Validation report: {result.experiment}",
        "",
        f"**Verdict.** {verdict(result)}",
        "",
        "## Scope and data",
        "",
        f"- Data: `{d.source}`, fingerprint `{d.fingerprint}`",
        f"- Training window {d.windows.get('train', '')}: {d.rows_train:,} rows, "
        f"{d.positives_train:,} frauds",
        f"- Test window {d.windows.get('test', '')}: {d.rows_test:,} rows, "
        f"{d.positives_test:,} frauds"
        + (
            f" (after removing {d.excluded_known_fraud_rows:,} rows of entities already known "
            f"fraudulent, {d.excluded_known_fraud_positives:,} of them frauds)"
            if d.excluded_known_fraud_rows
            else ""
        ),
        f"- Label delay: {d.windows.get('label_delay_days', '?')} days",
        f"- Config hash `{result.config_hash}`; MLflow run `{result.run_id}`",
        "",
        "## Outcomes: champion vs challengers on the same test rows",
        "",
        f"Values with {100 * (1 - result.alpha):.0f}% paired bootstrap intervals "
        f"({result.bootstrap} replicates); Δ is challenger minus champion with its interval and "
        "p-value; ▲/▼ marks a significant improvement/deterioration. ↑ higher is better, "
        f"↓ lower is better. Operating point: top {100 * result.operating_alert_rate:g}% of rows.",
        "",
        *comparison_table(result),
        "",
    ]
    failed = result.failed
    if failed:
        lines += ["Failed models:", ""] + [f"- **{m.name}** ({m.kind}): {m.error}" for m in failed]
        lines.append("")
    lines += twin_section(result)
    lines += ["## Findings", ""]
    if not result.findings:
        lines.append("No findings.")
    for severity in SEVERITIES:
        for f in (f for f in result.findings if f.severity == severity):
            lines.append(f"- **{severity.upper()}** [{f.area}] {f.title}: {f.detail}")
    if result.audit is not None:
        lines += ["", *audit_section.markdown(result.audit)]
    lines += ["", "## Replication of claimed figures", ""]
    if result.claimed:
        lines += ["| metric | claimed | measured | interval |", "|---|---|---|---|"]
        champ = result.champion
        for key, claimed in result.claimed.items():
            measured = champ.metrics.get(key)
            lines.append(f"| {key} | {claimed} | {fmt(measured)} | {interval(champ.ci.get(key))} |")
    else:
        lines.append("The champion's documentation claims no figures (champion.claimed).")
    lines += ["", "## Models", ""]
    for m in result.models:
        lines.append(
            f"- **{m.name}** ({m.role}, {m.kind}, {m.status}): {len(m.features)} features; fit "
            f"{m.fit_seconds:.1f}s, scoring {m.predict_seconds:.1f}s"
        )
        top = sorted(m.importance.items(), key=lambda kv: -kv[1])[:5]
        if top:
            lines.append("  - top features: " + ", ".join(f"{k} ({v:.2f})" for k, v in top))
    lines += ["", "## Environment", ""]
    lines += [f"- {k}: `{v}`" for k, v in sorted(result.environment.items())]
    return "\n".join(lines) + "\n"
