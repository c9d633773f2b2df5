"""The data-audit part of the validation report, as document blocks. Renders; computes nothing.

Only column names, counts and statistics reach the report: the audit never puts a value of a
column holding personal data into its tables (segments of such columns are listed by rank).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from challengers.report.document import Block, Figure, Heading, Table, Text, code, plain

if TYPE_CHECKING:
    from challengers.audit import AuditResult
    from challengers.results import DataSummary

TOP = 10


def blocks(audit: AuditResult, data: DataSummary | None = None) -> list[Block]:
    """The data audit: summary, chart, and the audit's key tables. With the run's ``data``, the
    rows-per-window table also gives the counts after the known-fraud exclusion."""
    t = audit.tables
    header = ["window", "rows (before exclusion)", "frauds (before exclusion)", "fraud rate"]
    after = (
        {}
        if data is None
        else {
            "train": (data.rows_train, data.positives_train),
            "test": (data.rows_test, data.positives_test),
        }
    )
    if after:
        header += ["rows evaluated (after exclusion)", "frauds evaluated"]
    rows = []
    for r in t.get("rows_per_window", []):
        row = [r["window"], _n(r["rows"]), _n(r["positives"]), _pct(r["rate"])]
        if after:
            n, p = after.get(r["window"], (None, None))
            row += ["" if n is None else _n(n), "" if p is None else _n(p)]
        rows.append(row)
    caption = "Before exclusion: every row of the data in the window, as delivered. " + (
        f"After exclusion: the rows the models were evaluated on; the test window drops "
        f"{data.excluded_known_fraud_rows:,} rows ({data.excluded_known_fraud_positives:,} "
        "frauds) of entities already known fraudulent (split.exclude_known_frauds)."
        if data is not None
        else "The known-fraud exclusion of the run is not applied here."
    )
    unlabelled = [r for r in t.get("rows_per_window", []) if r.get("unlabelled")]
    if unlabelled:  # the gap's, where nothing of the run reads them (data/checks.py)
        caption += (
            " Rows without a label ("
            + ", ".join(f"{r['window']}: {r['unlabelled']:,}" for r in unlabelled)
            + ") are left out of the fraud rate."
        )
    return [
        *_summary(audit),
        *_table(f"Rows per window. {caption}", header, rows),
        *_leakage(t),
        *_drift(t),
        *_privacy(t),
        *_segments(t),
    ]


def _summary(audit: AuditResult) -> list[Block]:
    s = audit.summary
    lines: list[Block] = [
        Heading("Data audit"),
        Text(
            f"{s.get('rows', 0):,} rows, {s.get('columns', 0)} columns, "
            f"{s.get('first_day')}..{s.get('last_day')}; seeded samples of up to "
            f"{s.get('sample_rows', 0):,} rows per window where exact answers are not needed. "
            + ", ".join(f"{n} {sev}" for sev, n in audit.counts().items())
            + " finding(s), listed under Findings (areas integrity, leakage, drift, privacy, bias)."
        ),
    ]
    for chart in audit.charts:
        lines.append(Figure(f"audit-{chart}", chart, "Rows and fraud rate per day and week"))
    return lines


def _leakage(t: dict[str, list[dict[str, Any]]]) -> list[Block]:
    lines = _table(
        "Leakage: strongest single columns on the training window",
        ["column", "AUC alone", "how", "missingness AUC", "used by"],
        [
            [code(r["column"]), _f(r["auc"], 3), _how(r), _f(r["missing_auc"], 3), _used(r)]
            for r in t.get("column_auc", [])[:TOP]
        ],
    )
    lines += _table(
        "Entities present in both windows",
        [
            "entity",
            "test entities",
            "seen in training",
            "test frauds",
            "on entities known fraudulent",
        ],
        [
            [
                code(r["entity"]),
                _n(r["test_entities"]),
                _n(r["test_entities_seen_in_train"]),
                _n(r["test_frauds"]),
                _n(r["test_frauds_on_known_fraud_entities"]),
            ]
            for r in t.get("entities", [])
        ],
    )
    return lines + _table(
        "Features recomputed without the future",
        ["model", "feature", "rows compared", "rows changed"],
        _future_rows(t.get("future_features", [])),
    )


def _future_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """A row per feature that changed; a model's unchanged features in one row (the demo's graph
    challenger listed 94 rows of "0 changed", one per feature it derives)."""
    rows: list[list[str]] = []
    for model in dict.fromkeys(r["model"] for r in records):
        own = [r for r in records if r["model"] == model]
        changed = [r for r in own if r["rows_changed"]]
        rows += [
            [model, code(r["feature"]), _n(r["rows_compared"]), _n(r["rows_changed"])]
            for r in changed
        ]
        same = [r for r in own if not r["rows_changed"]]
        if len(same) == 1:
            r = same[0]
            rows.append([model, code(r["feature"]), _n(r["rows_compared"]), "0"])
        elif same:
            what = "every feature it derives" if not changed else "its other features"
            compared = sorted({_n(r["rows_compared"]) for r in same})
            rows.append([model, f"{what} ({len(same)})", " or ".join(compared), "0"])
    return rows


def _privacy(t: dict[str, list[dict[str, Any]]]) -> list[Block]:
    return _table(
        "Personal data (values never shown)",
        ["column", "holds", "role", "used by"],
        [
            [
                code(r["column"]),
                ", ".join(r["kinds"]) or "by its name only",
                r["role"] or "-",
                _users(r) or "-",
            ]
            for r in t.get("personal_data", [])
        ],
    )


def _drift(t: dict[str, list[dict[str, Any]]]) -> list[Block]:
    lines = _table(
        f"Drift between training and test (top {TOP} features by PSI; each window's rows as "
        "delivered, before any known-fraud exclusion)",
        ["rank", "feature", "PSI", "KS", "KS p-value"],
        [
            [
                str(r["rank"]),
                code(r["feature"]),
                _f(r["psi"], 3),
                _f(r["ks"], 3),
                _p(r["ks_p_value"]),
            ]
            for r in t.get("feature_drift", [])[:TOP]
        ],
    )
    for r in t.get("label_rate_shift", []):
        lines.append(
            Text(
                f"Fraud rate: training {_pct(r['train_rate'])}, test {_pct(r['test_rate'])} "
                f"(ratio {_f(r['ratio'], 2)}, p = {_p(r['p_value'])})."
            )
        )
    mix = t.get("segment_mix", [])
    if mix:
        lines.append(
            Text(
                "Segment mix PSI: "
                + ", ".join(f"{code(r['segment'])} {_f(r['psi'], 3)}" for r in mix)
            )
        )
    return lines


def _segments(t: dict[str, list[dict[str, Any]]]) -> list[Block]:
    return _table(
        "Segments: volume and fraud rate",
        [
            "segment",
            "value",
            "train rows",
            "train fraud rate",
            "test rows",
            "test frauds",
            "test fraud rate",
            "evaluable",
        ],
        [
            [
                code(r["segment"]),
                plain(str(r["value"])),
                _n(r["train_rows"]),
                _pct(r["train_rate"]),
                _n(r["test_rows"]),
                _n(r["test_frauds"]),
                _pct(r["test_rate"]),
                "yes" if r["evaluable"] else "**no**",
            ]
            for r in t.get("segments", [])
        ],
    )


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[Block]:
    return [Table(header, rows, caption=title)] if rows else []


def _how(row: dict[str, Any]) -> str:
    return ", ".join(x for x in (row.get("method"), row.get("direction")) if x) or "-"


def _used(row: dict[str, Any]) -> str:
    return _users(row) or "not a feature"


def _users(row: dict[str, Any]) -> str:
    """The models that read the row's column; those that failed in training (a run's audit
    runs before it) marked so, as the findings' texts mark them."""
    return ", ".join([*row["used_by"], *(f"{m} (failed)" for m in row.get("failed", []))])


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _f(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if _finite(value) else "n/a"


def _p(value: Any) -> str:
    return f"{value:.2g}" if _finite(value) else "n/a"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}%" if _finite(value) else "n/a"
