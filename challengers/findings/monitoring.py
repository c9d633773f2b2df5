"""The ongoing-monitoring plan: the metrics, thresholds and cadence that would catch, in
production, what this validation found (drifting inputs, the alert rate, the weekly metric bands,
and whatever the findings flagged).

Computed from the run's diagnostics and findings; the report renders it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from challengers.results import Finding

if TYPE_CHECKING:
    from challengers.analysis.operating import OperatingPoint
    from challengers.analysis.stability import Stability
    from challengers.config import FindingsConfig


@dataclass(frozen=True)
class MonitorItem:
    metric: str  # what to measure
    threshold: str  # when to act
    cadence: str
    observed: str  # what this run measured
    findings: tuple[str, ...] = ()  # ids of the findings it would catch


def _related(findings: Sequence[Finding], *prefixes: str) -> tuple[str, ...]:
    return tuple(f.id for f in findings if f.id.startswith(prefixes))


def monitoring_plan(
    stability: Stability,
    op: OperatingPoint,
    findings: Sequence[Finding],
    thresholds: FindingsConfig,
    *,
    champion: str,
    champion_inputs: Sequence[str],
    primary: str,
    label_delay_days: int,
    fraud_rates: tuple[float, float],
    primary_higher_is_better: bool = True,
) -> list[MonitorItem]:
    """One item per signal worth watching on the champion, with this run's value beside it.
    ``champion_inputs``: the champion's inputs, empty where unknown (production scores only:
    the diagnostics' feature PSI is then the data's features')."""
    s, t = stability, thresholds
    psi = sorted(s.feature_psi.items(), key=lambda kv: -kv[1] if math.isfinite(kv[1]) else 0)
    drifting = [(k, v) for k, v in psi if math.isfinite(v) and v >= t.psi_medium] or psi[:3]
    whose = (
        "the champion's inputs"
        if champion_inputs
        else "the data's features (the champion's inputs are unknown)"
    )
    items = [
        MonitorItem(
            f"PSI of {whose} against the training window: " + ", ".join(k for k, _ in drifting),
            f"investigate at PSI >= {t.psi_medium:g}, act at >= {t.psi_high:g}",
            "monthly",
            ", ".join(f"{k} {v:.3f}" for k, v in drifting) + " (on the rows evaluated)",
            _related(findings, "drift-features-", "drift-feature"),
        ),
        MonitorItem(
            "PSI of the champion's scores against the training window",
            f"investigate at PSI >= {t.psi_medium:g}, act at >= {t.psi_high:g}",
            "weekly",
            f"{s.score_psi.get(champion, math.nan):.3f}",
            _related(findings, f"drift-score-{champion}"),
        ),
    ]
    ratio = t.audit.label_rate_ratio  # the same tolerance as the fraud rate's
    items.append(
        MonitorItem(
            "alert rate (share of transactions alerted) at the production threshold",
            f"outside {100 * op.rate / ratio:.2f}%..{100 * op.rate * ratio:.2f}% of transactions",
            "daily",
            f"{100 * op.rate:.2f}% ({op.alerts:,} alerts over the test window)",
        )
    )
    train_rate, test_rate = fraud_rates
    items.append(
        MonitorItem(
            f"fraud rate of labelled transactions (labels mature after {label_delay_days} days)",
            f"a ratio to the training rate beyond {t.audit.label_rate_ratio:g} either way",
            "weekly",
            f"training {100 * train_rate:.2f}%, test {100 * test_rate:.2f}% (rows evaluated, "
            "after the known-fraud exclusion)",
            _related(findings, "drift-label-rate"),
        )
    )
    items += _weekly_band(
        s, findings, champion, primary, label_delay_days, primary_higher_is_better
    )
    items += _from_findings(findings, t, champion)
    return items


def _weekly_band(
    stability: Stability,
    findings: Sequence[Finding],
    champion: str,
    primary: str,
    delay: int,
    higher_is_better: bool = True,
) -> list[MonitorItem]:
    """The band the champion's weekly primary metric stayed in during the test window, without
    the week a finding singled out (``unstable-week-<champion>``): a band that holds the week
    that collapsed would let a repeat of it pass."""
    weeks = stability.weeks
    unstable = next(
        (f for f in findings if f.id == f"unstable-week-{champion}" and f.metric == primary), None
    )
    left_out = None if unstable is None else unstable.evidence["week"]
    kept = [w for w in weeks if w.start != left_out]
    intervals = [w.ci.get(champion, {}).get(primary, (math.nan, math.nan)) for w in kept]
    lows = [lo for lo, _ in intervals if math.isfinite(lo)]
    highs = [hi for _, hi in intervals if math.isfinite(hi)]
    if not lows or not highs:
        return []
    values = [w.metrics.get(champion, {}).get(primary, math.nan) for w in weeks]
    observed = ", ".join(f"{w.start} {v:.4f}" for w, v in zip(weeks, values, strict=True))
    basis = "the weekly intervals of the test window"
    if unstable is not None:
        end = unstable.evidence["end"]
        basis += f" but the week {left_out}..{end}, out of line with all the others"
    return [
        MonitorItem(
            f"weekly {primary} of the champion, {delay} days after the week ends",
            # worse is below the band, or above it for a cost-like metric
            f"{'below' if higher_is_better else 'above'} the band {min(lows):.4f}..{max(highs):.4f} "
            f"({basis})",
            "weekly",
            observed,
            _related(findings, f"decay-{champion}", f"unstable-week-{champion}"),
        )
    ]


def _from_findings(
    findings: Sequence[Finding], t: FindingsConfig, champion: str
) -> list[MonitorItem]:
    """Signals the findings on the champion call for: calibration, segments."""
    mine = [f for f in findings if champion in f.models]
    items = []
    calibration = [f for f in mine if f.id.startswith("calibration-")]
    if calibration:
        items.append(
            MonitorItem(
                "mean score / fraud rate of the champion (calibration)",
                f"beyond {t.calibration_ratio:g} or below {1 / t.calibration_ratio:.2f}",
                "monthly",
                calibration[0].title,
                tuple(f.id for f in calibration),
            )
        )
    segments = [f for f in mine if f.id.startswith("segment-") and "small" not in f.id]
    if segments:
        items.append(
            MonitorItem(
                "recall and false-positive rate by segment at the operating point",
                f"a ratio to the best-served segment below {t.disparity_ratio:g}",
                "monthly",
                "; ".join(f.title for f in segments),
                tuple(f.id for f in segments),
            )
        )
    return items
