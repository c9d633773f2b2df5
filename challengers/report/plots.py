"""The report's plots as PNG files (matplotlib's Agg canvas, no pyplot state). Draws results;
computes nothing.

Each plot function takes the finished :class:`ExperimentResult` and a matplotlib figure factory and
returns a figure, or None when the run has nothing to draw for it (no segments, no calibrated model,
no tree model to explain...). :func:`write_plots` saves them and returns name -> file.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from challengers.errors import EnvironmentFailure
from challengers.experiment_result import ExperimentResult
from challengers.figures import plots_wanted
from challengers.files import atomic_path
from challengers.report.document import written_out

DPI = 100
CHAMPION_COLOR = "#1f1f1f"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _colors(result: ExperimentResult) -> dict[str, str]:
    out, i = {}, 0
    for m in result.models:
        if m.role == "champion":
            out[m.name] = CHAMPION_COLOR
        else:
            out[m.name] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def _figure(width: float = 7.5, height: float = 4.2, **kwargs: Any) -> tuple[Any, Any]:
    """A figure without pyplot: no global state, rendered by the Agg canvas on save."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    return fig, fig.subplots(**kwargs)


def _lay_out(fig: Any) -> None:
    """Fit ``fig``'s axes, their labels and its suptitle into the figure, above its figure-level
    legends (placed at the bottom: ``fig.legend(loc="lower center")``).

    Matplotlib's tight layout with the legends' band kept free: it measures each axes' labels
    once, where constrained layout measures them twice and savefig would run it once more
    (creating and measuring the axes' ticks was most of a figure's time: 2.97 of 5.4 s for a
    run's 21 figures under cProfile)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.layout_engine import TightLayoutEngine

    # the renderer the layout measures the text with, and savefig draws with (same size and
    # dpi); it shares one math-text parser with every other figure's: matplotlib caches parsed
    # math text (the log axes' 10^k labels) per parser, and each renderer makes its own, so
    # every figure parsed its labels again (about 50 ms a log-scale figure)
    renderer = FigureCanvasAgg(fig).get_renderer()
    renderer.mathtext_parser = _PARSERS.setdefault("agg", renderer.mathtext_parser)
    legends_top = max(
        (legend.get_window_extent(renderer).y1 for legend in fig.legends), default=0.0
    )
    # a rect makes the layout measure every axes twice: only where a legend needs its band
    engine = TightLayoutEngine(pad=0.6)
    if legends_top:
        engine = TightLayoutEngine(pad=0.6, rect=(0.0, legends_top / fig.bbox.height, 1.0, 1.0))
    engine.execute(fig)


_PARSERS: dict[str, Any] = {}  # the first Agg renderer's math-text parser, shared by the others
# a forked child (report/apart.py) makes its own: the parser holds the parent's fonts, whose open
# font files share their read offset with the parent's, which draws at the same time ("failed to
# load glyph"); matplotlib forgets its own cached fonts in a child the same way
os.register_at_fork(after_in_child=_PARSERS.clear)


LOG_MINOR_TICKS = (2.0, 5.0)  # minor ticks of a log axis, in each decade
"""Matplotlib puts eight; each tick is its own artists (two marks, a grid line, two labels), and
creating them was a third of a run's plotting time (776 of its 21 figures' 1,189 ticks were log
axes' minor ticks). Use as ``ax.set_xscale("log", subs=LOG_MINOR_TICKS)``."""


LABEL_CHARS = (
    40  # a name from the data longer than this is cut in a plot (the tables show it whole)
)


def shown(text: str) -> str:
    """A name or value from the data as a plot's label: as given, not math text (matplotlib
    reads text between two '$' as TeX: an amount band '$10-$20' was drawn in italics, and one
    TeX cannot parse ended the run with a traceback), and cut past :data:`LABEL_CHARS` (a
    300-character feature name squeezed the axes away)."""
    text = "".join(written_out(ch) for ch in text)
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _label(result: ExperimentResult, name: str) -> str:
    return f"{name} (champion)" if name == result.champion.name else name


def roc(result: ExperimentResult) -> Any:
    if result.curves is None:
        return None
    colors = _colors(result)
    fig, ax = _figure()
    for name, c in result.curves.roc_pr.items():
        auc = next((m.metrics.get("roc_auc") for m in result.models if m.name == name), None)
        extra = f", AUC {auc:.3f}" if auc is not None and math.isfinite(auc) else ""
        ax.step(c.fpr, c.tpr, where="post", color=colors[name], label=_label(result, name) + extra)
    negatives = result.data.rows_test - result.data.positives_test
    if result.operating_point is not None and negatives > 0:
        for m in result.operating_point.models:
            ax.plot(m.false_positives / negatives, m.recall, "o", color=colors[m.model], ms=5)
    ax.set_xscale("log", subs=LOG_MINOR_TICKS)
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate (log scale)")
    ax.set_ylabel("recall (true-positive rate)")
    ax.set_title("ROC curves on the test window (dots: operating point)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr(result: ExperimentResult) -> Any:
    if result.curves is None:
        return None
    colors = _colors(result)
    fig, ax = _figure()
    for name, c in result.curves.roc_pr.items():
        ap = next((m.metrics.get("pr_auc") for m in result.models if m.name == name), None)
        extra = f", AP {ap:.3f}" if ap is not None and math.isfinite(ap) else ""
        ax.plot(c.recall, c.precision, color=colors[name], label=_label(result, name) + extra)
    if result.operating_point is not None:
        for m in result.operating_point.models:
            ax.plot(m.recall, m.precision, "o", color=colors[m.model], ms=5)
    base = result.data.positives_test / max(result.data.rows_test, 1)
    ax.axhline(base, color="grey", ls=":", lw=1, label=f"fraud rate {base:.4f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall curves on the test window (dots: operating point)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _grid(n: int, columns: int = 3) -> tuple[Any, list[Any]]:
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = _figure(3.4 * cols, 2.7 * rows, nrows=rows, ncols=cols, squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def scores(result: ExperimentResult) -> Any:
    if result.curves is None or not result.curves.scores:
        return None
    fig, axes = _grid(len(result.curves.scores))
    for ax, (name, h) in zip(axes, result.curves.scores.items(), strict=True):
        ax.stairs(h.genuine, h.edges, color="#7f7f7f", label="genuine", fill=True, alpha=0.4)
        ax.stairs(h.fraud, h.edges, color="#d62728", label="fraud", lw=1.5)
        if h.log_scale:
            ax.set_xscale("log", subs=LOG_MINOR_TICKS)
        ax.set_title(_label(result, name), fontsize=9)
        ax.set_xlabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("share of rows", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle("Score distributions on the test window, frauds vs genuine", fontsize=10)
    return fig


def reliability(result: ExperimentResult) -> Any:
    assessed = [c for c in result.calibration if c.assessed and c.curve is not None]
    if not assessed:
        return None
    colors = _colors(result)
    fig, ax = _figure(6.0, 5.0)
    positive = [
        v for c in assessed if c.curve for v in (*c.curve.mean_score, *c.curve.observed) if v > 0
    ]
    lo = max(min(positive, default=1e-4) / 2, 1e-6)
    ax.plot([lo, 1], [lo, 1], color="grey", ls=":", lw=1, label="perfect calibration")
    for c in assessed:
        assert c.curve is not None
        r = c.curve
        observed = [o if o > 0 else math.nan for o in r.observed]  # a log axis has no zero
        err = [
            [max(o - low, 0) for o, low in zip(r.observed, r.observed_low, strict=True)],
            [max(high - o, 0) for o, high in zip(r.observed, r.observed_high, strict=True)],
        ]
        ax.errorbar(
            r.mean_score,
            observed,
            yerr=err,
            marker="o",
            ms=4,
            capsize=2,
            color=colors[c.model],
            label=f"{_label(result, c.model)}, ECE {c.ece:.4f}",
        )
    ax.set_xscale("log", subs=LOG_MINOR_TICKS)
    ax.set_yscale("log", subs=LOG_MINOR_TICKS)
    ax.set_xlim(lo, 1)
    ax.set_ylim(lo, 1)
    ax.set_xlabel("mean score in bin (log scale)")
    ax.set_ylabel("observed fraud rate (log scale)")
    ax.set_title("Reliability (equal-mass bins, Wilson 95% intervals)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def weekly(result: ExperimentResult) -> Any:
    s = result.stability
    if s is None or not s.weeks:
        return None
    colors = _colors(result)
    keys = [
        k
        for k in result.metric_keys
        if any(k in w.metrics.get(result.champion.name, {}) for w in s.weeks)
    ]
    if not keys:
        return None
    fig, axes = _grid(len(keys))
    x = list(range(len(s.weeks)))
    labels = [f"{w.start[5:]}" for w in s.weeks]
    for ax, key in zip(axes, keys, strict=True):
        for name in s.weeks[0].metrics:
            values = [w.metrics.get(name, {}).get(key, math.nan) for w in s.weeks]
            lo = [w.ci.get(name, {}).get(key, (math.nan, math.nan))[0] for w in s.weeks]
            hi = [w.ci.get(name, {}).get(key, (math.nan, math.nan))[1] for w in s.weeks]
            ax.plot(x, values, marker="o", ms=3, color=colors[name], label=_label(result, name))
            ax.fill_between(x, lo, hi, color=colors[name], alpha=0.12)
        ax.set_title(key, fontsize=9)
        ax.set_xticks(x, labels, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    bands = "with bootstrap bands" if s.weekly_bootstrap else "(point estimates)"
    fig.suptitle(f"Metrics per test week (week start) {bands}", fontsize=10)
    return fig


def cost(result: ExperimentResult) -> Any:
    op = result.operating_point
    if op is None:
        return None
    colors = _colors(result)
    panels = 2 if op.curve.cost else 1
    fig, axes = _figure(5.2 * panels, 4.0, ncols=panels, squeeze=False)
    axes = list(axes.ravel())
    for name, recall in op.curve.recall.items():
        axes[-1].plot(op.curve.budgets, recall, color=colors[name], label=_label(result, name))
    axes[-1].set_ylabel("recall")
    axes[-1].set_title("Recall by alert budget", fontsize=10)
    if op.curve.cost:
        for name, values in op.curve.cost.items():
            axes[0].plot(op.curve.budgets, values, color=colors[name], label=_label(result, name))
        axes[0].set_ylabel("cost over the test window")
        axes[0].set_title(f"Cost by alert budget ({op.cost_basis})", fontsize=8)
    for ax in axes:
        ax.axvline(op.rate, color="grey", ls="--", lw=1)
        ax.set_xscale("log", subs=LOG_MINOR_TICKS)
        ax.set_xlabel("alert budget (share of test rows, log scale; dashed: operating point)")
        ax.xaxis.label.set_size(8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def overlap(result: ExperimentResult) -> Any:
    op = result.operating_point
    if op is None or not op.overlaps:
        return None
    fig, ax = _figure(7.5, 1.2 + 0.6 * len(op.overlaps))
    names = [o.challenger for o in op.overlaps]
    parts = (
        ("both", "#7f7f7f", "caught by both"),
        ("only_champion", CHAMPION_COLOR, "only the champion"),
        ("only_challenger", "#1f77b4", "only the challenger"),
    )
    left = [0.0] * len(names)
    widest = max(o.both + o.only_champion + o.only_challenger for o in op.overlaps) or 1
    for attr, color, label in parts:
        values = [getattr(o, attr) for o in op.overlaps]
        ax.barh(names, values, left=left, color=color, label=label)
        for i, v in enumerate(values):
            if v >= 0.05 * widest:  # only where the number fits in its bar
                ax.text(
                    left[i] + v / 2, i, str(v), ha="center", va="center", color="white", fontsize=8
                )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel(f"frauds alerted at the champion's budget ({op.alerts:,} alerts)")
    ax.set_title("Which frauds each challenger and the champion catch", fontsize=10)
    fig.legend(fontsize=7, loc="lower center", ncols=3)
    ax.invert_yaxis()
    return fig


def segments(result: ExperimentResult) -> Any:
    columns = [c for c in result.segments if c.rows]
    if not columns:
        return None
    colors = _colors(result)
    limit = result.thresholds.get("disparity_ratio", 0.8)
    fig, axes = _figure(10, 2.6 * len(columns) + 0.6, nrows=len(columns), ncols=2, squeeze=False)
    for row, column in zip(axes, columns, strict=True):
        models = list(column.rows[0].fpr)
        width = 0.8 / max(len(models), 1)
        for j, (ax, attr, title) in enumerate(
            ((row[0], "fpr_ratio", "FPR ratio"), (row[1], "recall_ratio", "recall ratio"))
        ):
            for i, name in enumerate(models):
                values = [getattr(r, attr)[name] for r in column.rows]
                xs = [k + (i - (len(models) - 1) / 2) * width for k in range(len(column.rows))]
                hatch = ["//" if r.small else "" for r in column.rows]
                bars = ax.bar(
                    xs,
                    [0 if math.isnan(v) else v for v in values],
                    width,
                    color=colors[name],
                    label=_label(result, name) if j == 0 else None,
                )
                for bar, h in zip(bars, hatch, strict=True):
                    bar.set_hatch(h)
            ax.axhline(limit, color="#d62728", ls="--", lw=1)
            ax.set_xticks(
                range(len(column.rows)),
                [shown(r.value) for r in column.rows],
                fontsize=7,
                rotation=30,
            )
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{shown(column.column)}: {title} vs best segment", fontsize=9)
            ax.tick_params(labelsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncols=len(labels))
    fig.suptitle(
        f"Segment disparity at the operating point (dashed: {limit}; hatched: small)", fontsize=10
    )
    return fig


def contributions(result: ExperimentResult) -> Any:
    ex = result.explanations
    if ex is None or not ex.models:
        return None
    colors = _colors(result)
    best: dict[str, float] = {}
    for m in ex.models:
        for f, share in m.shares().items():
            best[f] = max(best.get(f, 0.0), share)
    features = sorted(best, key=lambda f: -best[f])[:12]
    fig, ax = _figure(7.5, 1.0 + 0.35 * len(features) * max(1, len(ex.models)) ** 0.5)
    height = 0.8 / len(ex.models)
    for i, m in enumerate(ex.models):
        shares = m.shares()
        ys = [k + (i - (len(ex.models) - 1) / 2) * height for k in range(len(features))]
        ax.barh(
            ys,
            [shares.get(f, 0.0) for f in features],
            height,
            color=colors[m.model],
            label=_label(result, m.model),
        )
    ax.set_yticks(range(len(features)), [shown(f) for f in features], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"share of mean |SHAP contribution| ({ex.sample_rows:,}-row sample)")
    ax.set_title("Feature contributions, top features of every model", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return fig


PLOTS: dict[str, Callable[[ExperimentResult], Any]] = {
    "roc": roc,
    "pr": pr,
    "scores": scores,
    "reliability": reliability,
    "weekly": weekly,
    "cost": cost,
    "overlap": overlap,
    "segments": segments,
    "contributions": contributions,
}


def write_plots(
    result: ExperimentResult,
    directory: Path,
    plots: dict[str, Callable[[ExperimentResult], Any]] = PLOTS,
) -> dict[str, Path]:
    """Draw every plot the run has data for into ``directory``; returns name -> PNG file (none
    where :func:`plots_wanted` says no)."""
    if not plots_wanted():
        return {}
    import matplotlib

    written = {}
    style: Any = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context(style), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for name, draw in plots.items():
                fig = draw(result)
                if fig is not None:
                    _lay_out(fig)
                    with atomic_path(directory / f"{name}.png") as tmp:
                        fig.savefig(tmp, dpi=DPI, format="png")
                    written[name] = directory / f"{name}.png"
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write the plots in {directory}: {exc}") from exc
    missing = _missing_glyphs(caught)
    if missing:
        note = (
            f"the plots draw {' '.join(missing)} as empty boxes (no installed font has them); "
            "the report's tables and comparison.json name them as given"
        )
        if note not in result.notes:
            result.notes.append(note)
    return written


_GLYPH = re.compile(r"Glyph (\d+) .*missing from font")


def _missing_glyphs(caught: list[warnings.WarningMessage]) -> list[str]:
    """The characters matplotlib's fonts lack (names in CJK scripts on a machine without CJK
    fonts); it warned once per character and figure, 24 lines on the terminal for one column
    name. Other warnings are passed on."""
    missing: dict[str, None] = {}
    for w in caught:
        glyph = _GLYPH.match(str(w.message))
        if glyph is None:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif chr(int(glyph.group(1))).isprintable():
            missing[chr(int(glyph.group(1)))] = None
    return list(missing)
