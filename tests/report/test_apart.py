"""Drawing in a child process (report/apart.py): the child's files, and the parent drawing them
itself where the child cannot (fork off) or fails (the real error then raised here)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from challengers.errors import EnvironmentFailure
from challengers.report.apart import draw_apart


def _writer(path: Path) -> object:
    def draw() -> None:
        path.write_text(str(os.getpid()))

    return draw


def test_the_child_draws_while_the_parent_goes_on(tmp_path: Path) -> None:
    target = tmp_path / "drawn.txt"
    with draw_apart(_writer(target)) as drawing:
        assert drawing.forked
        drawing.wait()
    assert int(target.read_text()) != os.getpid()  # written by another process


def test_fork_off_draws_here_when_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHALLENGE_FORK", "off")
    target = tmp_path / "drawn.txt"
    with draw_apart(_writer(target)) as drawing:
        assert not drawing.forked and not target.exists()
        drawing.wait()
    assert int(target.read_text()) == os.getpid()


def test_a_failing_child_is_drawn_again_here_with_its_error(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    calls.mkdir()

    def draw() -> None:
        (calls / str(os.getpid())).touch()
        raise EnvironmentFailure("cannot write the plots: disk full")

    with draw_apart(draw) as drawing, pytest.raises(EnvironmentFailure, match="disk full"):
        drawing.wait()
    pids = {int(p.name) for p in calls.iterdir()}
    assert os.getpid() in pids and len(pids) == 2  # the child tried, then this process


def test_a_child_not_waited_for_is_stopped(tmp_path: Path) -> None:
    started = tmp_path / "started"

    def draw() -> None:
        started.touch()
        time.sleep(60)

    drawing = draw_apart(draw)
    pid = drawing._pid
    assert pid is not None
    for _ in range(200):  # the child is running
        if started.exists():
            break
        time.sleep(0.05)
    drawing.close()
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(pid, os.WNOHANG)


def test_nothing_to_draw_starts_no_child() -> None:
    """``None`` (a run that draws no figure): no process forked, and waiting returns at once."""
    with draw_apart(None) as nothing:
        assert not nothing.forked
        nothing.wait()
