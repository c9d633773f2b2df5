"""report.pdf: headless Chromium's print of report.html (the same document; the stylesheet's print
rules start each section on a new page and hide the navigation). Written only where a Chromium is
installed; the run says so otherwise.

The print takes half a second to a second, most of it the browser starting: :func:`start_pdf`
starts it and returns at once, so that a run logs its models to MLflow meanwhile;
:meth:`PdfPrint.wait` collects the result."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

log = logging.getLogger(__name__)

# Chromium's headless shell first: the same Blink and Skia print (the same pages, the same text)
# without the full browser's start. The handbook fixed-cost run's report: 0.50 s wall and about
# 0.6 CPU-s against chromium's 1.0-1.2 s and 2.0 (an empty page: 0.21 s against 0.71)
BROWSERS = (
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
NO_BROWSER = (
    "report.pdf not written: no headless Chromium on PATH (install Debian's "
    "`chromium-headless-shell`, or `chromium`, for a PDF beside report.html)"
)


def browser() -> str | None:
    """The first Chromium-like browser on PATH, in the order of ``BROWSERS``."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


class PdfPrint:
    """A print of ``html`` to ``pdf`` under way in a headless browser (or one that could not
    start: :meth:`wait` then says why). Closing it (``with``) stops a print not waited for."""

    def __init__(self, html: Path, pdf: Path, *, timeout_s: float = 180) -> None:
        self.pdf = pdf
        self._found = browser()
        self._failure: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._deadline = time.monotonic() + timeout_s
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._output: IO[bytes] | None = None
        if self._found is None:
            self._failure = NO_BROWSER
            return
        self._profile = tempfile.TemporaryDirectory(prefix="challenge-chromium-")
        # the browser's output goes to a file: a pipe nobody reads until the end can fill and
        # stall it
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        args = [
            self._found, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={self._profile.name}",
            "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.resolve().as_uri(),
        ]  # fmt: skip
        try:
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=self._output, stderr=self._output
            )
        except OSError as exc:
            self._failure = f"report.pdf not written: {self._found} failed ({type(exc).__name__})"

    def wait(self) -> str | None:
        """Wait for the print; None when ``pdf`` is written, else the one-line reason."""
        try:
            if self._failure is not None or self._process is None:
                return self._failure
            try:
                code = self._process.wait(timeout=max(self._deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired as exc:
                return f"report.pdf not written: {self._found} failed ({type(exc).__name__})"
            if code != 0 or not self.pdf.exists():
                assert self._output is not None
                self._output.seek(0)
                stderr = self._output.read().decode("utf-8", "replace")
                log.info("chromium stderr: %s", stderr[-2000:])
                return f"report.pdf not written: {self._found} exited {code}"
            return None
        finally:
            self.close()

    def close(self) -> None:
        """Stop the browser if it still runs; remove its profile."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._output is not None:
            self._output.close()
        if self._profile is not None:
            with contextlib.suppress(OSError):
                self._profile.cleanup()

    def __enter__(self) -> PdfPrint:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_pdf(html: Path, pdf: Path, *, timeout_s: float = 180) -> PdfPrint:
    """Start printing ``html`` to ``pdf``; returns at once."""
    return PdfPrint(html, pdf, timeout_s=timeout_s)


def write_pdf(html: Path, pdf: Path, *, timeout_s: float = 180) -> str | None:
    """Print ``html`` to ``pdf``; returns None when written, else the one-line reason."""
    return start_pdf(html, pdf, timeout_s=timeout_s).wait()
