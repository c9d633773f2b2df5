"""The validation report: plots (PNG), report.md, a self-contained report.html and its print,
report.pdf (where headless Chromium is installed).

:func:`write_report` is the one entry point; it renders a finished :class:`ExperimentResult` and
computes nothing. :func:`start_report` does the same but leaves the PDF printing (seconds, most of
them the browser starting) while the caller goes on; :meth:`Report.finish` collects it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from challengers.experiment_result import ExperimentResult
from challengers.figures import NO_PLOTS_NOTE, plots_wanted
from challengers.files import write_atomic
from challengers.report.document import Block

if TYPE_CHECKING:
    from challengers.report.pdf import PdfPrint


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
    with start_report(result, out, audit=audit, pdf=pdf) as report:
        return report.finish()


def start_report(
    result: ExperimentResult,
    out: Path,
    *,
    audit: Sequence[Block] = (),
    pdf: bool | None = None,
    figures: Callable[[], object] | None = None,
) -> Report:
    """:func:`write_report`, returning once report.html is written and its print has started;
    :meth:`Report.finish` waits for report.pdf and returns what to log. Use it as a context
    manager: leaving it stops a print that was not waited for. ``figures`` is called once the
    report's own plots are drawn, before the document is built: where the figures drawn
    elsewhere (the audit's chart) are waited for."""
    from challengers.report.html import to_html
    from challengers.report.markdown import to_markdown
    from challengers.report.plots import write_plots
    from challengers.report.sections import build_document

    plots = write_plots(result, out / "plots")
    if not plots_wanted():
        result.notes.append(NO_PLOTS_NOTE)
    result.plots = {name: f"plots/{path.name}" for name, path in plots.items()}
    if figures is not None:
        figures()
    doc = build_document(result, audit=audit)
    write_atomic(out / "report.md", to_markdown(doc))
    write_atomic(out / "report.html", to_html(doc, base=out))
    if pdf is None:
        pdf = os.environ.get("CHALLENGE_PDF", "auto") != "off"
    printing = None
    if pdf:
        from challengers.report.pdf import start_pdf

        printing = start_pdf(out / "report.html", out / "report.pdf")
    return Report(result, out, printing)


class Report:
    """A written report whose PDF may still be printing."""

    def __init__(self, result: ExperimentResult, out: Path, printing: PdfPrint | None) -> None:
        self._result, self._out, self._printing = result, out, printing

    def finish(self) -> list[Path]:
        """Wait for report.pdf (a note in ``result.notes`` when it is not written); the files
        to log."""
        out = self._out
        written = [out / "report.md", out / "report.html", out / "plots"]
        if self._printing is not None:
            missing = self._printing.wait()
            self._printing = None
            if missing:
                self._result.notes.append(missing)
            else:
                written.insert(2, out / "report.pdf")
        return written

    def close(self) -> None:
        """Stop a print still under way."""
        if self._printing is not None:
            self._printing.close()
            self._printing = None

    def __enter__(self) -> Report:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
