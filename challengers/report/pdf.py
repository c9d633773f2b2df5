"""report.pdf: headless Chromium's print of report.html (the same document; the stylesheet's print
rules start each section on a new page and hide the navigation). Written only where a Chromium is
installed; the run says so otherwise."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_BROWSER = (
    "report.pdf not written: no headless Chromium on PATH (install Debian's `chromium` for a PDF "
    "beside report.html)"
)


def browser() -> str | None:
    """The first Chromium-like browser on PATH."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def write_pdf(html: Path, pdf: Path, *, timeout_s: float = 180) -> str | None:
    """Print ``html`` to ``pdf``; returns None when written, else the one-line reason."""
    found = browser()
    if found is None:
        return NO_BROWSER
    with tempfile.TemporaryDirectory(prefix="challenge-chromium-") as profile:
        args = [
            found, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", html.resolve().as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"report.pdf not written: {found} failed ({type(exc).__name__})"
    if done.returncode != 0 or not pdf.exists():
        log.info("chromium stderr: %s", done.stderr[-2000:])
        return f"report.pdf not written: {found} exited {done.returncode}"
    return None
