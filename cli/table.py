"""The run's comparison on the terminal, readable from 80 columns up.

Two layouts of the same cells. Where the terminal is wide enough, models are columns and metrics
rows (the report's table). Where it is not (80 columns: a CI log, a split pane, a redirected file),
one block per metric with a row per model, so every metric name is shown in full with its
parameter and no number is cut or wrapped. Wider block layouts add the delta's interval and the
raw p-value. Marks: ▲ significantly better than the champion, ▼ significantly worse, by the
Holm-adjusted p-value (the report's rule).
"""

from __future__ import annotations

import math

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from challengers.experiment_result import ExperimentResult
from challengers.results import DeltaResult, ModelResult

WIDE_BLOCKS = 110  # from this width the block layout adds the delta interval and the raw p


def num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def pvalue(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None or not math.isfinite(ci[0]) else f"[{num(ci[0])}, {num(ci[1])}]"


def decision_p(d: DeltaResult) -> float:
    """The p-value a verdict rests on: Holm-adjusted when the run corrected, else the raw one."""
    return d.p_value_adjusted if d.p_value_adjusted is not None else d.p_value


def mark(result: ExperimentResult, key: str, d: DeltaResult | None) -> str:
    """▲ significantly better than the champion, ▼ significantly worse, else blank."""
    if d is None or not math.isfinite(d.value):
        return ""
    p = decision_p(d)
    if not (math.isfinite(p) and p < result.alpha):
        return ""
    return "▲" if (d.value > 0) == result.higher_is_better.get(key, True) else "▼"


def _style(m: str) -> str:
    return {"▲": "green", "▼": "red"}.get(m, "dim")


def title(result: ExperimentResult) -> str:
    basis = "Holm-adjusted p" if _corrected(result) else "p (uncorrected)"
    rows = f"{result.data.rows_test:,} test rows ({result.data.positives_test:,} frauds)"
    # two lines that each fit 80 columns (a long title would break mid-phrase)
    if not result.bootstrap:  # no interval, delta or p-value to explain: say why there is none
        return (
            f"{result.experiment}: champion vs challengers on {rows}\n"
            "point estimates only: no bootstrap, so no intervals, tests or verdict"
        )
    return (
        f"{result.experiment}: champion vs challengers on {rows}, "
        f"{100 * (1 - result.alpha):.0f}% intervals\n"
        f"Δ = challenger - champion, {basis}; ▲/▼ significantly better/worse"
    )


def _key(result: ExperimentResult, key: str) -> str:
    """The metric, its direction, and whether it decides the verdict (primary) or not."""
    role = "primary" if key == result.primary_key else "secondary"
    return f"{key} {'↑' if result.higher_is_better.get(key, True) else '↓'} {role}"


def _grid_cell(result: ExperimentResult, m: ModelResult, key: str) -> Text:
    text = Text(num(m.metrics.get(key)))
    ci = interval(m.ci.get(key))
    if ci:
        text.append("\n" + ci, style="dim")
    d = m.delta_vs_champion.get(key)
    if d is not None and math.isfinite(d.value):
        sign = mark(result, key, d)
        text.append(f"\nΔ {d.value:+.4f} p={pvalue(decision_p(d))} {sign}".rstrip(), _style(sign))
    return text


def grid(result: ExperimentResult) -> Table:
    """Models as columns, metrics as rows: the report's layout, for wide terminals."""
    ok = [m for m in result.models if m.status == "ok"]
    table = Table(show_lines=True, box=box.ROUNDED)
    table.add_column("metric", style="bold", no_wrap=True)
    for m in ok:
        table.add_column(f"{m.name}\n{m.role} · {m.kind}", justify="right", no_wrap=True)
    for key in result.metric_keys:
        table.add_row(_key(result, key), *(_grid_cell(result, m, key) for m in ok))
    return table


def _block_rows(result: ExperimentResult, key: str, wide: bool) -> list[list[str | Text]]:
    rows: list[list[str | Text]] = []
    for m in (m for m in result.models if m.status == "ok"):
        d = m.delta_vs_champion.get(key)
        d = d if d is not None and math.isfinite(d.value) else None
        sign = mark(result, key, d)
        cells: list[str | Text] = [
            Text(f"  {m.name}", style="bold" if m.role == "champion" else ""),
            num(m.metrics.get(key)),
            Text(interval(m.ci.get(key)), style="dim"),
            "" if d is None else f"{d.value:+.4f}",
        ]
        if wide:
            cells += [
                Text("" if d is None else interval(d.ci), style="dim"),
                "" if d is None else pvalue(d.p_value),
            ]
        cells += ["" if d is None else pvalue(decision_p(d)), Text(sign, style=_style(sign))]
        rows.append(cells)
    return rows


def blocks(result: ExperimentResult, width: int) -> Group:
    """One block per metric, a row per model: fits 80 columns whatever the number of models.

    The metric's name heads its block on a line of its own (never cut); the blocks share fixed
    column widths so their numbers line up."""
    wide = width >= WIDE_BLOCKS
    header = ["model", "value", "interval", "Δ"]
    header += ["Δ interval", "p"] if wide else []
    header += ["p Holm" if _corrected(result) else "p", ""]
    rows = {key: _block_rows(result, key, wide) for key in result.metric_keys}
    widths = [
        max([len(header[i])] + [len(str(r[i])) for rs in rows.values() for r in rs])
        for i in range(len(header))
    ]
    gaps = 2 * (len(header) - 1)
    widths[0] = max(8, min(widths[0], width - gaps - sum(widths[1:])))

    def table(show_header: bool) -> Table:
        t = Table(box=None, show_header=show_header, pad_edge=False, padding=(0, 2, 0, 0))
        for i, name in enumerate(header):
            t.add_column(
                name,
                width=widths[i],
                justify="left" if i in (0, 2) or name == "Δ interval" else "right",
                overflow="fold" if i == 0 else "ignore",
                no_wrap=i != 0,
            )
        return t

    parts: list[RenderableType] = [table(True)]
    for key in result.metric_keys:
        t = table(False)
        for r in rows[key]:
            t.add_row(*r)
        parts += [Text(_key(result, key), style="bold"), t]
    return Group(*parts)


def _corrected(result: ExperimentResult) -> bool:
    return any(
        d.p_value_adjusted is not None
        for m in result.challengers
        for d in m.delta_vs_champion.values()
    )


def fits(table: Table, width: int) -> bool:
    """Whether ``table`` shows whole in ``width`` columns: rich cuts a table that does not fit
    (a pipe or a file gets 80), every value to "0.21…"."""
    return Console(width=10_000).measure(table).maximum <= width


def comparison(result: ExperimentResult, width: int) -> RenderableType:
    """The layout that fits ``width``: the grid when it does, else the blocks."""
    head = Text(title(result), style="bold")
    table = grid(result)
    if fits(table, width):
        return Group(head, table)
    return Group(head, blocks(result, width))
