"""The audit's chart: rows and fraud rate per day and per week, the windows shaded."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from challengers.data.split import Windows
from challengers.files import atomic_path


def label_rate_chart(
    daily: list[dict[str, Any]], weekly: list[dict[str, Any]], windows: Windows, path: Path
) -> Path | None:
    """Write a PNG (matplotlib's Agg canvas, without pyplot: no global state, and pyplot's
    import is a fraction of a second more); None when there is nothing to draw."""
    if not daily:
        return None
    from matplotlib.figure import Figure

    days = [date.fromisoformat(r["day"]) for r in daily]
    weeks = [max(date.fromisoformat(r["day"]), days[0]) for r in weekly]  # first week: partial
    fig = Figure(figsize=(10, 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.bar(days, [r["rows"] for r in daily], width=1.0, color="#9db4c0")
    top.set_ylabel("rows per day")
    bottom.plot(days, [100 * r["rate"] for r in daily], lw=0.8, color="#5c6b73", label="day")
    bottom.step(
        [*weeks, weeks[-1] + timedelta(days=7)],
        [100 * r["rate"] for r in weekly] + [100 * weekly[-1]["rate"]],
        where="post",
        lw=1.8,
        color="#c0392b",
        label="week",
    )
    bottom.set_ylabel("fraud rate (%)")
    bottom.legend(loc="upper right", fontsize=8)
    for ax in (top, bottom):
        for _name, start, end, color in (
            ("train", windows.train_start, windows.train_end, "#2e86de"),
            ("test", windows.test_start, windows.test_end, "#e67e22"),
        ):
            ax.axvspan(start, end + timedelta(days=1), color=color, alpha=0.12, label=None)
    top.set_title("Rows and fraud rate over time (blue: training window, orange: test)")
    fig.autofmt_xdate()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
