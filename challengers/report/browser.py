"""A headless Chromium started before the report exists, so that printing report.pdf costs the
print alone (a fraction of a second) instead of the browser's start (most of a second of wall time
and of CPU, which a run's last step waited for).

:func:`launch` starts the browser and returns at once; a thread then opens a page in it over the
DevTools protocol on ``--remote-debugging-pipe`` (file descriptors 3 and 4, no port). Once the
report is written, :meth:`Browser.print` loads report.html in that page and prints it with the
parameters of ``--headless --print-to-pdf --no-pdf-header-footer`` (the same PDF: only its dates
differ). Whatever goes wrong with the browser or the protocol, the print is done again the way
:mod:`challengers.report.pdf` does it, by a browser started for it, which reports what fails.

The thread only talks to the browser over its own pipe and writes report.pdf; it touches nothing of
the run's.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

from challengers.files import atomic_path
from challengers.report.pdf import NO_BROWSER, PdfPrint, browser, chromium_switches

log = logging.getLogger(__name__)

# Page.printToPDF as headless Chromium's --print-to-pdf --no-pdf-header-footer calls it
PRINT = {
    "displayHeaderFooter": False,
    "generateTaggedPDF": True,
    "printBackground": True,
    "preferCSSPageSize": True,
}


PROFILE = "challenge-chromium-"  # + the run's process id + "-": the browser's profile directory


def _remove_stale_profiles() -> None:
    """Remove the profiles of runs killed outright (SIGKILL: no clean-up ran; their browser ended
    when the run's end of its pipe closed), which are named after a process that is gone."""
    for path in Path(tempfile.gettempdir()).glob(f"{PROFILE}*-*"):
        pid = path.name.removeprefix(PROFILE).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


class ProtocolError(Exception):
    """The browser closed its pipe or answered a command with an error."""


class _Pipe:
    """DevTools messages over the browser's pipe: JSON, each ended by a NUL byte."""

    def __init__(self, send: int, receive: int) -> None:
        self._send, self._receive = send, receive
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []  # received while waiting for an answer

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._send, data) :]
        except OSError as exc:
            raise ProtocolError(f"{method}: {exc}") from exc
        while True:
            answer = self.receive()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise ProtocolError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            self.events.append(answer)

    def receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            try:
                chunk = os.read(self._receive, 1 << 20)
            except OSError as exc:
                raise ProtocolError(str(exc)) from exc
            if not chunk:
                raise ProtocolError("the browser closed its pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def event(self, method: str, **params: Any) -> dict[str, Any]:
        """The first event ``method`` whose params hold ``params`` (received already, or next)."""

        def matches(message: dict[str, Any]) -> bool:
            got = message.get("params", {})
            return message.get("method") == method and all(
                got.get(k) == v for k, v in params.items()
            )

        for i, message in enumerate(self.events):
            if matches(message):
                return self.events.pop(i)
        while not matches(message := self.receive()):
            pass
        return message


class Browser:
    """A headless Chromium started ahead of the print (or none: :meth:`print` then says why).
    Closing it (``with``) stops the browser and removes its profile."""

    def __init__(self, *, timeout_s: float = 180) -> None:
        self._found = browser()
        self._timeout_s = timeout_s
        self._pid: int | None = None
        self._fds: list[int] = []
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._job: Future[tuple[Path, Path]] = Future()
        self._done: Future[None] = Future()  # the print written, or why not (an exception)
        self._thread: threading.Thread | None = None
        if self._found is None:
            return
        _remove_stale_profiles()
        # named after this process: a run killed outright leaves it, the next run removes it
        self._profile = tempfile.TemporaryDirectory(prefix=f"{PROFILE}{os.getpid()}-")
        try:
            pipe = self._spawn()
        except OSError as exc:
            log.info("chromium did not start: %s", exc)
            return
        self._thread = threading.Thread(
            target=self._converse, args=(pipe,), name="challenge-browser", daemon=True
        )
        self._thread.start()

    def _spawn(self) -> _Pipe:
        """Start the browser with its end of two pipes as descriptors 3 (it reads commands) and 4
        (it writes answers); posix_spawn, not a fork of this multi-threaded process."""
        commands, to_browser = os.pipe()
        from_browser, answers = os.pipe()
        self._fds = [to_browser, from_browser]
        # above 4 first: a pipe already numbered 3 or 4 is not overwritten by the other one
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands, answers)]
        output = os.open(os.devnull, os.O_WRONLY)
        try:
            assert self._found is not None and self._profile is not None
            args = [self._found, *chromium_switches(self._profile.name), "--remote-debugging-pipe"]
            self._pid = os.posix_spawn(
                self._found,
                [*args, "about:blank"],
                os.environ,
                # a process group of its own, which close() ends whole (a Ctrl-C ends the run,
                # which closes it; a run killed outright closes the pipe, and the browser ends)
                setpgroup=0,
                # as subprocess does: what this process ignores (SIGPIPE) is the default again
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, output, 1),
                    (os.POSIX_SPAWN_DUP2, output, 2),
                    (os.POSIX_SPAWN_DUP2, high[0], 3),
                    (os.POSIX_SPAWN_DUP2, high[1], 4),
                ],
            )
        finally:
            for fd in (commands, answers, output, *high):
                os.close(fd)
        return _Pipe(to_browser, from_browser)

    def _converse(self, pipe: _Pipe) -> None:
        """Open a page, wait for the report, load it, print it, write the PDF, close the browser."""
        try:
            pipe.call("Browser.getVersion")
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            pipe.call("Page.enable", session=session)
            pipe.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
            html, pdf = self._job.result()  # (a cancelled job raises: the run stopped)
            pipe.events.clear()  # about:blank's own lifecycle
            loader = pipe.call("Page.navigate", {"url": html.resolve().as_uri()}, session=session)
            if loader.get("errorText"):
                raise ProtocolError(f"Page.navigate: {loader['errorText']}")
            pipe.event("Page.lifecycleEvent", name="load", loaderId=loader.get("loaderId"))
            data = pipe.call("Page.printToPDF", PRINT, session=session)["data"]
            with atomic_path(pdf) as tmp:
                tmp.write_bytes(base64.b64decode(data))
            self._done.set_result(None)
            with contextlib.suppress(ProtocolError):
                pipe.call("Browser.close")
        except BaseException as exc:  # the print is done again by a browser of its own
            if not self._done.done():
                self._done.set_exception(exc)

    def print(self, html: Path, pdf: Path) -> BrowserPrint:
        """Print ``html`` to ``pdf`` in this browser (one print a browser); returns at once."""
        if self._job.done() and not self._job.cancelled():
            raise RuntimeError("this browser has printed its report; launch another one")
        return BrowserPrint(self, html, pdf)

    def _start(self, html: Path, pdf: Path) -> None:
        if not self._job.done():
            self._job.set_result((html, pdf))

    def _wait(self, html: Path, pdf: Path) -> str | None:
        """The print's outcome: None when ``pdf`` is written, else the one-line reason."""
        if self._found is None:
            return NO_BROWSER
        try:
            if self._thread is None:
                raise ProtocolError("the browser did not start")
            self._done.result(timeout=self._timeout_s)
            return None
        except Exception as exc:
            log.info("printing over the DevTools pipe failed (%s); printing again", exc)
            self.close()
            return PdfPrint(html, pdf, timeout_s=self._timeout_s).wait()

    def close(self) -> None:
        """Stop the browser: once it printed, it was asked to close and has a moment to end by
        itself; otherwise (the run stopped) it is killed. Its profile is removed."""
        self._job.cancel()  # a thread still waiting for the report stops
        pid, self._pid = self._pid, None
        if pid is not None:
            printed = self._done.done() and self._done.exception() is None
            deadline = time.monotonic() + (2 if printed else 0)
            ended = os.WEXITED | os.WNOHANG | os.WNOWAIT  # (not reaped: its group stays its own)
            while os.waitid(os.P_PID, pid, ended) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            with contextlib.suppress(OSError):  # the browser and every helper process it started
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if self._thread is not None:
            self._thread.join(timeout=5)  # the browser gone, its pipe is at its end
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        if self._profile is not None:
            with contextlib.suppress(OSError):
                self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BrowserPrint:
    """A print under way in a :class:`Browser`, with :class:`~challengers.report.pdf.PdfPrint`'s
    interface. The browser's owner closes it; closing a print not waited for (the run stopped)
    stops the browser."""

    def __init__(self, browser: Browser, html: Path, pdf: Path) -> None:
        self._browser, self._html, self.pdf = browser, html, pdf
        self._waited = False
        browser._start(html, pdf)

    def wait(self) -> str | None:
        """Wait for the print; None when the PDF is written, else the one-line reason."""
        self._waited = True
        return self._browser._wait(self._html, self.pdf)

    def close(self) -> None:
        if not self._waited:
            self._browser.close()

    def __enter__(self) -> BrowserPrint:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def launch(*, timeout_s: float = 180) -> Browser:
    """Start a headless Chromium for a print to come; returns at once."""
    return Browser(timeout_s=timeout_s)
