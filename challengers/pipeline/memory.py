"""Whether a run's training fits in the memory it may use, said before any model trains.

Once the windows' rows are loaded, what training adds is predictable: a float32 matrix of the
training rows (rows x features x 4 bytes) while a model trains or scores them, the library's binned
copy beside it (about a byte per cell), the boosting's per-row gradients, and every model's float64
scores of the training and test rows, kept for the evaluation. When that exceeds what the process
may still take (the smallest of the cgroup's limit less its usage, the kernel's MemAvailable and the
address-space limit less what the process maps; ``CHALLENGE_MEMORY`` in bytes, or with a K/M/G
suffix, caps it further), the run stops with one line (exit 3) instead of an out-of-memory kill
twenty minutes later.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from challengers.errors import ConfigError, EnvironmentFailure

GB = 2**30
UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


@dataclass(frozen=True)
class Need:
    """What training a run's models adds to the memory the loaded rows already take."""

    train_rows: int
    test_rows: int
    features: int  # the widest model's
    models: int

    @property
    def matrix(self) -> int:
        return self.train_rows * self.features * 4

    @property
    def total(self) -> int:
        binned = self.train_rows * (self.features + 16)  # bins, gradients, hessians, raw scores
        scores = (self.train_rows + self.test_rows) * 8 * self.models
        return self.matrix + binned + scores


def available() -> tuple[int, str] | None:
    """The bytes this process may still take and what bounds them; None when nothing says."""
    bounds = [b for b in (_budget(), _cgroup(), _meminfo(), _address_space()) if b is not None]
    return min(bounds) if bounds else None


def check_fits(need: Need) -> None:
    """EnvironmentFailure (exit 3) when training clearly cannot fit in the memory left."""
    bound = available()
    if bound is None or need.total <= bound[0]:
        return
    free, source = bound
    raise EnvironmentFailure(
        f"memory: training needs about {need.total / GB:.1f} GB more ({need.train_rows:,} training "
        f"rows x {need.features} features x 4 bytes = {need.matrix / GB:.1f} GB, plus the "
        f"libraries' copy and the scores) but {free / GB:.1f} GB is left ({source}); shorten "
        "split.train, drop features, or run on a machine with more memory (engine: spark)"
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
    return max(0, limit - _resident()), f"CHALLENGE_MEMORY={raw}"


def _cgroup() -> tuple[int, str] | None:
    v2 = Path("/sys/fs/cgroup")
    if (v2 / "memory.max").exists():
        limit, used = _read(v2 / "memory.max"), _read(v2 / "memory.current")
        cache = _stat(v2 / "memory.stat", "inactive_file")
    else:
        v1 = v2 / "memory"
        limit, used = _read(v1 / "memory.limit_in_bytes"), _read(v1 / "memory.usage_in_bytes")
        cache = _stat(v1 / "memory.stat", "total_inactive_file")
    if limit is None or used is None or limit >= UNLIMITED:
        return None
    # the usage counts the page cache; its inactive part is given back before anything is killed
    return max(0, limit - used + cache), f"the cgroup's limit of {limit / GB:.1f} GB"


def _stat(path: Path, key: str) -> int:
    for line in _lines(path):
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _meminfo() -> tuple[int, str] | None:
    for line in _lines(Path("/proc/meminfo")):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024, "MemAvailable"
    return None


def _address_space() -> tuple[int, str] | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = _status_kb("VmSize") * 1024
    return max(0, soft - mapped), f"the address-space limit (ulimit -v) of {soft / GB:.1f} GB"


def _resident() -> int:
    return _status_kb("VmRSS") * 1024


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
