"""The validation report: plots (PNG), report.md and a self-contained report.html.

:func:`write_report` is the one entry point; it renders a finished :class:`ExperimentResult` and
computes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from challengers.experiment_result import ExperimentResult
from challengers.files import write_atomic
from challengers.report.document import Block


def write_report(result: ExperimentResult, out: Path, *, audit: Sequence[Block] = ()) -> list[Path]:
    """Write ``plots/``, ``report.md`` and ``report.html`` under ``out``; return what to log.

    Records the plot files in ``result.plots`` (paths relative to ``out``), so comparison.json
    names them too. ``audit`` blocks are placed under "Conceptual soundness".
    """
    from challengers.report.html import to_html
    from challengers.report.markdown import to_markdown
    from challengers.report.plots import write_plots
    from challengers.report.sections import build_document

    plots = write_plots(result, out / "plots")
    result.plots = {name: f"plots/{path.name}" for name, path in plots.items()}
    doc = build_document(result, audit=audit)
    write_atomic(out / "report.md", to_markdown(doc))
    write_atomic(out / "report.html", to_html(doc, base=out))
    return [out / "report.md", out / "report.html", out / "plots"]
