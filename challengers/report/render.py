"""The run's figures drawn in a process of their own, while the run writes its other outputs and logs
to MLflow.

Drawing is Python (matplotlib) and holds the interpreter for seconds; a second process draws on
the other core meanwhile. The jobs: each model's own plots (``model_plots.py``, for its MLflow
child run, the first one needed), then the report's (``plots.py``). The child process reads the
pickled result and the jobs on stdin and prints one JSON line per finished job.

Nothing is lost when the process cannot help: whatever goes wrong with it (it cannot start, dies,
cannot read the result) is drawn here instead, as before, so an error in a plot is raised here as
it always was; a directory that cannot be written is the same one-line error either way. The
process ignores Ctrl-C (the run decides, and stops it on the way out).
"""

from __future__ import annotations

import json
import logging
import pickle
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from challengers.errors import EnvironmentFailure
from challengers.experiment_result import ExperimentResult

log = logging.getLogger(__name__)

Job = tuple[str, str, str]  # ("model", name, directory) or ("report", "", directory)


def _draw(result: ExperimentResult, job: Job) -> dict[str, str]:
    """One job's files (name -> path)."""
    from challengers.report.model_plots import write_model_plots
    from challengers.report.plots import write_plots

    what, name, directory = job
    if what == "model":
        return {p.stem: str(p) for p in write_model_plots(result, name, Path(directory))}
    return {k: str(p) for k, p in write_plots(result, Path(directory)).items()}


class Figures:
    """A child process that imports matplotlib at once (while the run evaluates), then draws
    ``models``' plots and the report's when :meth:`draw` gives it the result; ask for each
    job's files when needed."""

    def __init__(self) -> None:
        self._result: ExperimentResult | None = None
        self._jobs: list[Job] = []
        self._done: dict[int, dict[str, Any]] = {}
        self._process: subprocess.Popen[bytes] | None = None
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "challengers.report.render"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.debug("figures drawn in this process: %s", exc)

    def draw(self, result: ExperimentResult, out: Path, models: Sequence[str]) -> None:
        """Start drawing: each of ``models``' own plots, then the report's."""
        self._result = result
        self._jobs = [("model", m, str(out / "models" / m / "plots")) for m in models]
        self._jobs.append(("report", "", str(out / "plots")))
        if self._process is None or self._process.stdin is None:
            return
        try:
            payload = pickle.dumps((result, self._jobs), protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.write(payload)
            self._process.stdin.close()
        except (OSError, pickle.PicklingError, AttributeError, TypeError) as exc:
            log.debug("figures drawn in this process: %s", exc)
            self.close()

    def model(self, name: str) -> list[Path]:
        """``name``'s plot files (none when it has nothing to draw)."""
        index = next(i for i, job in enumerate(self._jobs) if job[:2] == ("model", name))
        return [Path(p) for p in self._files(index).values()]

    def report(self) -> dict[str, Path]:
        """The report's plots, name -> file."""
        return {k: Path(p) for k, p in self._files(len(self._jobs) - 1).items()}

    def _files(self, index: int) -> dict[str, str]:
        self._read_until(index)
        answer = self._done.get(index)
        if answer is None or "failed" in answer:  # drawn here: any error is raised as it was
            assert self._result is not None, "draw() first"
            return _draw(self._result, self._jobs[index])
        if "unwritable" in answer:
            raise EnvironmentFailure(answer["unwritable"])
        return dict(answer["files"])

    def _read_until(self, index: int) -> None:
        process = self._process
        while index not in self._done and process is not None and process.stdout is not None:
            line = process.stdout.readline()
            if not line:  # the process ended early: the rest is drawn here
                self.close()
                return
            try:
                answer = json.loads(line)
                self._done[int(answer["job"])] = answer
            except (ValueError, KeyError, TypeError):
                self.close()
                return

    def close(self) -> None:
        """Stop the process (a run that stops early does not wait for its figures)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Figures:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _serve(source: IO[bytes], sink: IO[str]) -> None:
    """The child process: draw every job, one JSON line each."""
    result, jobs = pickle.loads(source.read())
    for index, job in enumerate(jobs):
        try:
            answer: dict[str, Any] = {"job": index, "files": _draw(result, job)}
        except EnvironmentFailure as exc:
            answer = {"job": index, "unwritable": str(exc)}
        except Exception as exc:
            answer = {"job": index, "failed": f"{type(exc).__name__}: {exc}"}
        sink.write(json.dumps(answer) + "\n")
        sink.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run decides what a Ctrl-C stops
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401

    import challengers.report.model_plots  # noqa: F401

    _serve(sys.stdin.buffer, sys.stdout)
