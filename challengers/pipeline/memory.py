"""Whether a run fits in the memory it may use, said before the rows load and before any model
trains, in one line (exit 3) instead of an out-of-memory kill twenty minutes later.

What a run holds is predictable from the row counts of its windows (one query of the time column):
the loaded rows (rows x the columns' widths), then, while a model trains, a float32 block of the
training rows (up to 2**22 rows x features x 4 bytes: the libraries bin the window block by block),
the library's binned copy (about a byte a cell), the boosting's per-row gradients, and every model's float64 scores of the training and test
rows, kept for the evaluation. The estimate counts only these, so it errs low: a run it refuses
cannot fit; a run it lets through may still need more (the libraries' own buffers, the
diagnostics).

What the process may still take is the smallest of: the cgroup's limit less its usage (the
process's own cgroup and its parents), the kernel's MemAvailable, and the address-space limit
(``ulimit -v``) less what the process maps; ``CHALLENGE_MEMORY`` (bytes, or with a K/M/G suffix)
caps the run's resident memory further.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from challengers.errors import ConfigError, EnvironmentFailure
from challengers.models.blocks import TRAIN_BLOCK
from challengers.pipeline.plan import Plan

GB = 2**30
UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63
CGROUP = Path("/sys/fs/cgroup")
HINT = (
    "shorten split.train or split.test, drop features (data.drop), or run where there is more "
    "memory (engine: spark)"
)


@dataclass(frozen=True)
class Need:
    """What a run adds to the memory it holds: the rows still to load (none once loaded) and what
    training its models adds to them."""

    train_rows: int
    test_rows: int
    features: int  # the widest model's
    models: int
    loaded_rows: int = 0  # rows still to load
    row_bytes: int = 0  # the loaded columns' widths

    @property
    def loading(self) -> int:
        return self.loaded_rows * self.row_bytes

    @property
    def matrix(self) -> int:
        """The float32 rows a library holds at a time while it bins the window: a block."""
        return min(self.train_rows, TRAIN_BLOCK) * self.features * 4

    @property
    def training(self) -> int:
        binned = self.train_rows * (self.features + 16)  # bins, gradients, hessians, raw scores
        scores = (self.train_rows + self.test_rows) * 8 * self.models
        return self.matrix + binned + scores

    @property
    def total(self) -> int:
        return self.loading + self.training

    def explain(self) -> str:
        rows = f"{self.train_rows:,} training rows"
        if self.train_rows > TRAIN_BLOCK:
            rows = f"blocks of {TRAIN_BLOCK:,} of the {rows}"
        matrix = (
            f"{rows} x {self.features} features x 4 bytes = {size(self.matrix)}, plus the "
            "libraries' copy and the scores"
        )
        if not self.loaded_rows:
            return f"training needs about {size(self.total)} more ({matrix})"
        return (
            f"loading and training need about {size(self.total)} ({self.loaded_rows:,} rows x "
            f"{self.row_bytes} bytes = {size(self.loading)} loaded; {matrix})"
        )


def need_of(plan: Plan, train_rows: int, test_rows: int, loaded_rows: int = 0) -> Need:
    """What a run of ``plan`` needs, ``loaded_rows`` still to load."""
    models = [plan.champion, *plan.challengers]
    schema = plan.lf.collect_schema()
    return Need(
        train_rows=train_rows,
        test_rows=test_rows,
        features=max(len(m.features) for m in models),
        models=len(models),
        loaded_rows=loaded_rows,
        row_bytes=row_bytes(schema, [c for c in plan.columns if c in schema]) if loaded_rows else 0,
    )


def size(n: int) -> str:
    return f"{n / GB:.1f} GB" if n >= GB // 10 else f"{n / 2**20:.0f} MB"


def row_bytes(schema: pl.Schema, columns: list[str]) -> int:
    """The bytes a row of ``columns`` takes once loaded, and its day (a Date)."""
    return 4 + sum(_width(schema[c]) for c in dict.fromkeys(columns))


def _width(dtype: pl.DataType) -> int:
    if dtype == pl.Boolean:
        return 1  # a bit, and its validity: counted low
    if dtype.is_numeric() or dtype.is_temporal():
        return 4 if dtype == pl.Date else _bits(dtype) // 8
    if dtype in (pl.String, pl.Binary):
        return 16  # a view of 16 bytes a value; longer values take more
    return 4  # categorical codes; nested types counted low


def _bits(dtype: pl.DataType) -> int:
    name = dtype.base_type().__name__
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 64


def available() -> tuple[int, str] | None:
    """The bytes this process may still take and what bounds them; None when nothing says."""
    bounds = [b for b in (_budget(), _cgroup(), _meminfo(), _address_space()) if b is not None]
    return min(bounds) if bounds else None


def usable() -> int | None:
    """The bytes this process may use in all: what it holds (its resident set) and what it may
    still take (:func:`available`); None when nothing bounds it."""
    bound = available()
    return None if bound is None else bound[0] + _status_kb("VmRSS") * 1024


def check_fits(need: Need) -> None:
    """EnvironmentFailure (exit 3) when the run clearly cannot fit in the memory left."""
    bound = available()
    if bound is None or need.total <= bound[0]:
        return
    free, source = bound
    raise EnvironmentFailure(
        f"memory: {need.explain()} but {size(free)} is left ({source}); {HINT}"
    )


def _budget() -> tuple[int, str] | None:
    raw = os.environ.get("CHALLENGE_MEMORY", "").strip()
    if not raw:
        return None
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    scale = units.get(raw[-1].upper(), 1)
    try:
        limit = int(float(raw[:-1] if scale > 1 else raw) * scale)
    except ValueError:
        raise ConfigError(
            f"CHALLENGE_MEMORY: '{raw}' is not a size; give bytes or a number with K, M or G"
        ) from None
    return max(0, limit - _status_kb("VmRSS") * 1024), f"CHALLENGE_MEMORY={raw}"


def _cgroup() -> tuple[int, str] | None:
    """The least memory left in the process's cgroup or any of its parents (v2 or v1)."""
    bounds = []
    for directory, v2 in _cgroup_directories():
        if v2:
            limit, used = _read(directory / "memory.max"), _read(directory / "memory.current")
            cache = _stat(directory / "memory.stat", "inactive_file")
        else:
            limit = _read(directory / "memory.limit_in_bytes")
            used = _read(directory / "memory.usage_in_bytes")
            cache = _stat(directory / "memory.stat", "total_inactive_file")
        if limit is None or used is None or limit >= UNLIMITED:
            continue
        # the usage counts the page cache; its inactive part is given back before anything is killed
        free = max(0, limit - used + cache)
        bounds.append((free, f"the cgroup's memory limit of {size(limit)}"))
    return min(bounds) if bounds else None


def _cgroup_directories() -> list[tuple[Path, bool]]:
    """The directories of the process's memory cgroup and its parents up to the mount point."""
    found: list[tuple[Path, bool]] = []
    for line in _lines(Path("/proc/self/cgroup")):
        _, controllers, path = line.split(":", 2)
        v2 = controllers == ""
        if not v2 and "memory" not in controllers.split(","):
            continue
        root = CGROUP if v2 else CGROUP / "memory"
        parts = [p for p in path.strip("/").split("/") if p and p != ".."]
        for depth in range(len(parts), -1, -1):
            directory = root.joinpath(*parts[:depth])
            if directory.is_dir():
                found.append((directory, v2))
    return found


def _stat(path: Path, key: str) -> int:
    for line in _lines(path):
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _meminfo() -> tuple[int, str] | None:
    for line in _lines(Path("/proc/meminfo")):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024, "the machine's available memory"
    return None


def _address_space() -> tuple[int, str] | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = _status_kb("VmSize") * 1024
    return max(0, soft - mapped), f"the address-space limit (ulimit -v) of {size(soft)}"


def _status_kb(key: str) -> int:
    for line in _lines(Path("/proc/self/status")):
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def _read(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []
