"""Two revisions of the tool, run in alternating pairs on one experiment: did a change make the run
faster? Prints each run and the medians; writes nothing to RESULTS.md (an instrument, not a
benchmark: `make bench` does not run it).

    .venv/bin/python bench/compare_revisions.py BASE [NEW] [--pairs 6] [--config PATH]

BASE and NEW are git revisions; NEW defaults to the working tree, uncommitted changes included.
Each revision is checked out in a worktree of its own (``git worktree add --detach``), its modules
compiled (the machines set PYTHONDONTWRITEBYTECODE: a tree without bytecode would compile every
module on every run), and run through the installed ``challenge`` script with the tree first on
PYTHONPATH, from a directory outside every tree. Not ``python -m`` from the repository: ``-m`` puts
the working directory ahead of PYTHONPATH, and both sides then run the working tree's code (a
harness did, and its pairs measured nothing). Before timing, each side says where its modules come
from, and the comparison stops unless they are that side's tree.

The default experiment is the handbook fixed-cost config (``bench_handbook.py --fixed``). For each
run: wall, CPU (this process's finished children; a browser's renderers under its zygote escape
it), the fixed cost (wall minus the models' fit + predict from comparison.json) and the steps.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import HANDBOOK, TOOL_ENV, machine
from bench_handbook import fixed_config, fixed_run

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Side:
    label: str
    tree: Path

    def env(self) -> dict[str, str]:
        return {**TOOL_ENV, "PYTHONPATH": str(self.tree)}


@dataclass
class Timed:
    wall: float
    cpu: float
    fixed: float
    steps: list[tuple[str, float]]


@contextlib.contextmanager
def checked_out(revision: str | None, scratch: Path) -> Iterator[Side]:
    """The working tree (``None``) or ``revision`` in a worktree removed afterwards."""
    if revision is None:
        yield Side("working tree", REPO)
        return
    tree = scratch / revision.replace("/", "_")
    git = ["git", "-C", str(REPO)]
    subprocess.run([*git, "worktree", "add", "--detach", "-q", str(tree), revision], check=True)
    try:
        # `cli/` is installed as `challengers.cli` (pyproject's package-dir): inside the worktree
        # too, or the installed editable finder would hand every side the main checkout's cli/
        (tree / "challengers" / "cli").symlink_to(tree / "cli")
        yield Side(revision, tree)
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)


def prepare(side: Side, cwd: Path) -> None:
    """Compile the side's modules, and check that a run of it imports them from its tree."""
    packages = [str(side.tree / "challengers"), str(side.tree / "cli")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)
    probe = "import challengers, challengers.cli.main as m; print(challengers.__file__, m.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=cwd,
        env=side.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    for module in done.stdout.split():
        if not Path(module).resolve().is_relative_to(side.tree.resolve()):
            raise SystemExit(f"{side.label}: {module} is not from {side.tree}; nothing compared")


def run(side: Side, config: Path, cwd: Path, tag: str) -> Timed:
    done = fixed_run(config, cwd, tag, env=side.env())
    return Timed(done["wall"], done["cpu"], done["wall"] - done["models"], done["steps"])


def default_config(directory: Path) -> Path:
    if not HANDBOOK.exists():
        raise SystemExit(f"no handbook data at {HANDBOOK}: pass --config PATH")
    return fixed_config(directory)


def report(sides: list[Side], runs: dict[str, list[Timed]]) -> None:
    base, new = (runs[s.label] for s in sides)
    print(f"\n{machine()}; {len(base)} alternating pairs, medians:")
    for side in sides:
        timed = runs[side.label]
        print(
            f"  {side.label:>14}: wall {statistics.median(t.wall for t in timed):.2f} s, "
            f"CPU {statistics.median(t.cpu for t in timed):.2f} s, "
            f"fixed cost {statistics.median(t.fixed for t in timed):.2f} s"
        )
    faster = sum(n.wall < b.wall for b, n in zip(base, new, strict=True))
    print(f"  {sides[1].label} faster in {faster} of {len(base)} pairs (wall)")
    # by name: a revision may have steps the other has not
    names = dict.fromkeys(name for timed in (base[0], new[0]) for name, _ in timed.steps)
    for name in names:
        cells = [_step_median(runs[s.label], name) for s in sides]
        print(f"    {name[:60]:<60} {cells[0]:>5} {cells[1]:>5}")


def _step_median(timed: list[Timed], name: str) -> str:
    seconds = [s for t in timed for step, s in t.steps if step == name]
    return f"{statistics.median(seconds):.1f}" if seconds else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the revision to compare against")
    parser.add_argument("new", nargs="?", help="a revision (default: the working tree)")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--config", type=Path, help="an experiment (default: handbook fixed cost)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compare-") as scratch_dir:
        scratch = Path(scratch_dir)
        work = scratch / "runs"
        work.mkdir()
        config = args.config.resolve() if args.config else default_config(work)
        with (
            checked_out(args.base, scratch) as base,
            checked_out(args.new, scratch) as new,
        ):
            if base.label == new.label:
                new.label += " (again)"
            sides = [base, new]
            runs: dict[str, list[Timed]] = {s.label: [] for s in sides}
            for k, side in enumerate(sides):
                prepare(side, work)
                run(side, config, work, f"warm-{k}")  # the store created, the disk warm
            for i in range(args.pairs):
                for k, side in enumerate(sides):
                    timed = run(side, config, work, f"run-{i}-{k}")
                    runs[side.label].append(timed)
                    print(
                        f"pair {i + 1} {side.label:>14}: wall {timed.wall:.2f} s, "
                        f"CPU {timed.cpu:.2f} s, fixed cost {timed.fixed:.2f} s",
                        flush=True,
                    )
            report(sides, runs)


if __name__ == "__main__":
    main()
