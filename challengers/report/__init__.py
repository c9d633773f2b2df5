"""The validation report: plots (PNG), report.md, a self-contained report.html and its print,
report.pdf (where headless Chromium is installed).

:func:`write_report` is the one entry point; it renders a finished :class:`ExperimentResult` and
computes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from challengers.experiment_result import ExperimentResult
from challengers.files import write_atomic
from challengers.report.document import Block


def write_report(
    result: ExperimentResult, out: Path, *, audit: Sequence[Block] = (), pdf: bool | None = None
) -> list[Path]:
    """Write ``plots/``, ``report.md``, ``report.html`` and (where headless Chromium is installed)
    ``report.pdf`` under ``out``; return what to log. Why a PDF is missing goes to
    ``result.notes``. ``pdf=None`` prints unless the environment sets ``CHALLENGE_PDF=off`` (the
    test suite does: a browser per run would double its time).

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
    written = [out / "report.md", out / "report.html", out / "plots"]
    if pdf is None:
        pdf = os.environ.get("CHALLENGE_PDF", "auto") != "off"
    if pdf:
        from challengers.report.pdf import write_pdf

        missing = write_pdf(out / "report.html", out / "report.pdf")
        if missing:
            result.notes.append(missing)
        else:
            written.insert(2, out / "report.pdf")
    return written
