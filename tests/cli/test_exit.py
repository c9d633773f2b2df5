"""The end of a command: the process leaves without the interpreter's teardown (seconds after a
run), yet what a normal exit does still happens: the output flushed, the exit handlers run, the exit
code kept, and a thread still working waited for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import atexit, os, sys, threading, time
marks = sys.argv[1]

def mark(name):
    with open(os.path.join(marks, name), "w"):
        pass

class Teardown:
    # runs when the interpreter frees the module, at a normal exit (what it calls is bound here:
    # by then the module's globals may be gone)
    def __del__(self, _open=open, _path=os.path.join(marks, "teardown")):
        _open(_path, "w").close()

kept = Teardown()
atexit.register(mark, "atexit")
print("before the command")  # stdout is a pipe: buffered, lost unless flushed
if "--thread" in sys.argv:
    threading.Thread(target=lambda: (time.sleep(0.5), mark("thread"))).start()
from challengers.cli.main import main
sys.argv = ["challenge", *sys.argv[2:]]
sys.argv = [a for a in sys.argv if a != "--thread"]
main()
"""


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    marks = tmp_path / "marks"
    marks.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(marks), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, {p.name for p in marks.iterdir()}


def test_a_command_leaves_at_once_with_its_output_exit_code_and_exit_handlers(
    tmp_path: Path,
) -> None:
    done, marks = _run(tmp_path, "--version")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["before the command", "challenge 0.1.0"]
    assert "atexit" in marks  # the exit handlers ran
    assert "teardown" not in marks  # the interpreter was not torn down


def test_an_error_keeps_its_exit_code_and_line(tmp_path: Path) -> None:
    done, marks = _run(tmp_path, "check", str(tmp_path / "missing.yaml"))
    assert done.returncode == 2
    assert "missing.yaml" in done.stderr and "Traceback" not in done.stderr
    assert "atexit" in marks and "teardown" not in marks


def test_a_thread_still_working_is_waited_for(tmp_path: Path) -> None:
    done, marks = _run(tmp_path, "--thread", "--version")
    assert done.returncode == 0
    assert "thread" in marks  # the normal exit waited for it
    assert "atexit" in marks
