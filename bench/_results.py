"""Shared helpers of the benchmarks: the machine description and RESULTS.md sections."""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _shared() -> Path:
    """$CHALLENGE_SHARED, else the first ``shared/`` beside the repository or one of its parents
    (a worktree sits a level deeper than the main checkout)."""
    if "CHALLENGE_SHARED" in os.environ:
        return Path(os.environ["CHALLENGE_SHARED"])
    here = Path(__file__).resolve().parents[1]
    for parent in here.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared"
    return here.parent / "shared"


HANDBOOK = _shared() / "data" / "handbook_transactions.parquet"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{date.today()} · {os.cpu_count()} cores ({cpu}) · {mem_gb:.0f} GB RAM · "
        f"Python {platform.python_version()} · load average at start {load:.1f}"
    )


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished children (and the children they
    waited for) so far: the difference across a run is the run's."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def progress_steps(stderr: str) -> list[tuple[str, float]]:
    """The (step, seconds) of each finished-step line `challenge run` prints ("✓ step (1.2s)").
    Run it with COLUMNS wide enough (see TOOL_ENV) that no line wraps."""
    return [(m[1], float(m[2])) for m in re.finditer(r"✓ (.+?) \((\d+\.\d)s\)", stderr)]


# progress lines unwrapped, for progress_steps; MLflow's telemetry off for the plain scripts too,
# as the tool turns it off: neither side pays for it
TOOL_ENV = {**os.environ, "COLUMNS": "200", "MLFLOW_DISABLE_TELEMETRY": "true"}


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of bench/RESULTS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nWritten by `make bench`.\n"
    )
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    RESULTS.write_text(text)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--no-record`` and ``--data``, as the benchmarks that run ``challenge run`` on generated
    files take them."""
    parser.add_argument(
        "--no-record", action="store_true", help="print the table, leave RESULTS.md as it is"
    )
    parser.add_argument(
        "--data", type=Path, help="keep the generated files here and reuse those already there"
    )
