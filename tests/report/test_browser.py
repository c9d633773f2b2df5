"""A browser started before the report exists prints the PDF a browser started for the print
prints, and leaves no process and no profile behind, however the run ends."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from challengers.report.browser import PROFILE, launch
from challengers.report.pdf import NO_BROWSER, write_pdf

chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium")

PAGE = (
    "<html><head><style>section { break-before: page }</style></head><body>"
    "<section><h1>Summary</h1><p>the champion holds</p></section>"
    "<section><h1>Findings</h1><p>none high</p></section></body></html>"
)


def _page(tmp_path: Path) -> Path:
    html = tmp_path / "report.html"
    html.write_text(PAGE)
    return html


def _undated(pdf: Path) -> bytes:
    return re.sub(rb"/(CreationDate|ModDate) \(D:[^)]*\)", b"", pdf.read_bytes())


def _processes_using(profile: Path) -> list[int]:
    """The processes whose command line names ``profile`` (the browser and its helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(profile).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _gone(profile: Path, seconds: float = 5) -> bool:
    """No process of that browser left (its helpers end a moment after it), no profile."""
    deadline = time.monotonic() + seconds
    while _processes_using(profile) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _processes_using(profile) and not profile.exists()


@chromium
def test_a_browser_started_ahead_prints_what_the_command_line_prints(tmp_path: Path) -> None:
    html = _page(tmp_path)
    with launch() as browser:
        assert browser._profile is not None
        profile = Path(browser._profile.name)
        assert browser.print(html, tmp_path / "ahead.pdf").wait() is None
    assert write_pdf(html, tmp_path / "started-for-it.pdf") is None
    ahead = tmp_path / "ahead.pdf"
    assert ahead.read_bytes().startswith(b"%PDF")
    # the same document, page for page and byte for byte but for its dates
    assert _undated(ahead) == _undated(tmp_path / "started-for-it.pdf")
    assert _gone(profile)


def test_a_browser_prints_one_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second print would have answered with the first one's outcome, printing nothing."""
    monkeypatch.setenv("PATH", str(tmp_path))  # (no browser needed to refuse it)
    html = _page(tmp_path)
    with launch() as browser:
        browser.print(html, tmp_path / "report.pdf")
        with pytest.raises(RuntimeError, match="has printed its report"):
            browser.print(html, tmp_path / "again.pdf")


@chromium
def test_a_browser_closed_before_the_report_is_stopped_and_its_profile_removed(
    tmp_path: Path,
) -> None:
    """The run stopped (Ctrl-C, a failure) before its report: nothing is printed, nothing left."""
    browser = launch()
    assert browser._pid is not None and browser._profile is not None
    pid, profile = browser._pid, Path(browser._profile.name)
    time.sleep(0.5)  # started, page opening or open
    browser.close()
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(pid, os.WNOHANG)
    assert _gone(profile)


@chromium
def test_a_print_not_waited_for_stops_the_browser(tmp_path: Path) -> None:
    html = _page(tmp_path)
    with launch() as browser:
        assert browser._profile is not None
        profile = Path(browser._profile.name)
        with browser.print(html, tmp_path / "report.pdf"):
            pass  # the run stopped while the report printed
        assert browser._pid is None
    assert _gone(profile)


@chromium
def test_a_browser_that_died_leaves_the_print_to_a_browser_of_its_own(tmp_path: Path) -> None:
    html = _page(tmp_path)
    with launch() as browser:
        assert browser._pid is not None
        os.kill(browser._pid, signal.SIGKILL)
        assert browser.print(html, tmp_path / "report.pdf").wait() is None
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


@chromium
def test_profiles_left_by_runs_killed_outright_are_removed_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen(["true"])
    ended.wait()  # a process id that is gone
    stale = tmp_path / f"{PROFILE}{ended.pid}-x1y2z3"
    running = tmp_path / f"{PROFILE}{os.getpid()}-a1b2c3"  # a run still going
    other = tmp_path / "challenge-chromium-q1w2e3"  # not named after a process: left alone
    for directory in (stale, running, other):
        (directory / "Default").mkdir(parents=True)
    with launch() as browser:
        assert browser._profile is not None
        own = Path(browser._profile.name)
        assert own.name.startswith(f"{PROFILE}{os.getpid()}-") and own.parent == tmp_path
        assert not stale.exists() and running.is_dir() and other.is_dir()
    assert not own.exists()


def test_no_browser_on_the_path_no_pdf_and_the_usual_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on it
    html = _page(tmp_path)
    with launch() as browser:
        assert browser.print(html, tmp_path / "report.pdf").wait() == NO_BROWSER
    assert not (tmp_path / "report.pdf").exists()
