"""An MLflow server as a child process tree that starts fast and stops whole.

``mlflow server`` is a launcher: it starts uvicorn (a master and its workers when there are
several), and job consumers unless job execution is off. A terminal's Ctrl-C reaches all of them
at once, and each prints its own traceback; SIGTERM sent to the launcher alone leaves the rest.
So the tree runs in a session of its own: the caller's signal reaches the caller only, which then
stops the tree, process group and stragglers alike (found by scanning ``/proc``).

Used by ``challenge ui`` and by the tests that need a real server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from challengers.errors import EnvironmentFailure


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def process_tree(root: int) -> set[int]:
    """``root``'s descendants and every process of its process group (Linux ``/proc``)."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # after "(command name)"
            if fields[0] == "Z":
                continue  # a zombie is gone; its parent only has to reap it
            parents[int(entry.name)] = int(fields[1])
            groups[int(entry.name)] = int(fields[2])
    found = {pid for pid, group in groups.items() if group == root}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    found.discard(os.getpid())
    return found


class MlflowServer:
    """``mlflow server`` on ``host:port`` over the store ``uri``, in its own session."""

    def __init__(
        self,
        uri: str,
        *,
        host: str = "127.0.0.1",
        port: int = 5000,
        workers: int = 1,
        artifacts: Path | None = None,
        log: IO[str] | None = None,
    ) -> None:
        self.uri = uri
        self.host = host
        self.port = port
        self.workers = workers
        self.artifacts = artifacts
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.uri]
        command += ["--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        if self.artifacts is not None:
            command += ["--artifacts-destination", str(self.artifacts)]
        return command

    def start(self) -> MlflowServer:
        # job execution (GenAI judges and scorers) is of no use to a validator: off, two fewer
        # processes and a faster start
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen(
            self.command(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
            start_new_session=True,  # the caller's Ctrl-C is the caller's to handle
        )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Seconds until ``/health`` answered; EnvironmentFailure when the server died or hung."""
        assert self.process is not None, "start() first"
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise EnvironmentFailure(
                    f"the MLflow server stopped at start (exit {self.process.returncode}): "
                    f"{self._log_tail() or 'no message'}; is port {self.port} free?"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{self.url}/health", timeout=1) as response,
            ):
                if response.status == 200:
                    return time.monotonic() - started
            time.sleep(0.2)
        self.stop()
        raise EnvironmentFailure(f"the MLflow server did not answer within {timeout_s:.0f} s")

    def _log_tail(self) -> str:
        """The server log's last line, when the log is a file that can be read back."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            assert self.log is not None
            self.log.flush()
            self.log.seek(0)
            lines = [line.strip() for line in self.log.read().splitlines() if line.strip()]
            return lines[-1][:300] if lines else ""
        return ""

    def wait(self, poll_s: float = 0.5) -> int:
        """Until the server exits by itself (in short sleeps, so signals are handled)."""
        assert self.process is not None
        while self.process.poll() is None:
            time.sleep(poll_s)
        return int(self.process.returncode)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM to the whole tree, SIGKILL to what is left after ``grace_s``; reaped."""
        if self.process is None:
            return
        root = self.process.pid
        _signal_all(process_tree(root), signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and process_tree(root):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.1)
        _signal_all(process_tree(root), signal.SIGKILL)  # uvicorn's master may ignore SIGTERM
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_all(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
