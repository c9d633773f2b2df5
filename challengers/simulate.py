"""A transaction simulator with planted fraud, written for this project.

The world: customers with a home location, spending habits and a card type; terminals (merchants) on
the same map, some of them online shops; devices that customers use for online payments, a few shared
within households. Transactions are drawn day by day, vectorised, and written to parquet one row
group at a time, so 100M rows never sit in memory. The same seed gives the same file.

Fraud scenarios (``TX_FRAUD_SCENARIO``; a copy of the label, i.e. a planted leak):

1. high amounts: any amount above 220 is fraud (a rule any model learns);
2. compromised terminals: every transaction on a few terminals drawn each day is fraud for 28 days
   (an entity pattern: visible through terminal history, not the transaction itself);
3. compromised customers: a third of a few customers' transactions over 14 days are fraud with the
   amount multiplied by 5 (a behavioural pattern: visible against the customer's own history);
4. shared-device rings: groups of 4-12 accounts pay online through one device for 10-20 days, with
   amounts and hours like their own (a graph pattern: visible only as one device used by many
   accounts).

The first-line features (hour, night, weekend, channel, merchant category, the customer's previous-day
count and 30-day average amount) are computed from the past only, as a production feed would hold
them. Terminal risk and device structure are deliberately absent: that is what challengers can add.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from challengers.errors import ConfigError, EnvironmentFailure
from challengers.files import atomic_path

AMOUNT_RULE = 220.0
TERMINAL_FRAUD_DAYS = 28
CUSTOMER_FRAUD_DAYS = 14
HISTORY_DAYS = 30
MEAN_DAILY_RATE = 1.0  # transactions per customer per day
REGIONS = np.array(["north", "east", "south", "west"])
CARD_TYPES = np.array(["debit", "credit", "prepaid"])
MCC_MULTIPLIER = np.array([1.0, 0.8, 1.2, 0.9, 1.3, 0.7, 1.1, 1.0, 0.95, 1.15])


@dataclass(frozen=True)
class SimulationSpec:
    rows: int
    seed: int = 0
    start: date = date(2024, 1, 1)
    days: int = 120
    compromised_terminals_per_10k: float = 2.0  # per day, per 10,000 terminals
    compromised_customers_per_10k: float = 6.0  # per day, per 10,000 customers
    rings_per_100k_customers: float = 8.0  # new rings per day, per 100,000 customers

    def __post_init__(self) -> None:
        if self.rows < 1000:
            raise ValueError(f"rows must be at least 1000, got {self.rows}")
        if not 1 <= self.days <= MAX_DAYS:
            raise ValueError(f"days must be from 1 to {MAX_DAYS:,} (a century), got {self.days}")
        if self.seed < 0:  # numpy's generators take none
            raise ValueError(f"seed must be 0 or more, got {self.seed}")
        if self.start.toordinal() + self.days - 1 > date.max.toordinal():
            raise ValueError(
                f"{self.days:,} days from {self.start} end past {date.max}; start earlier"
            )

    @property
    def customers(self) -> int:
        """The simulated population: as many customers as make the rows at their daily rate."""
        return max(100, round(self.rows / (self.days * MEAN_DAILY_RATE)))

    def memory_needed(self) -> int:
        """Bytes the simulation holds: its population (which grows with the rows per day) and a
        row group of transactions."""
        return self.customers * POPULATION_BYTES + ROW_GROUP_ROWS * TRANSACTION_BYTES

    def file_bytes(self) -> int:
        """About the size of the file it writes."""
        return self.rows * FILE_BYTES_PER_ROW


MAX_DAYS = 36_600
# a customer with its terminals, devices and 30 days of history: 650-800 bytes measured (tracemalloc)
POPULATION_BYTES = 1024
ROW_GROUP_ROWS = 1_000_000  # transactions written at a time
TRANSACTION_BYTES = 400  # a transaction held until its row group is written, its frame's copies too
FILE_BYTES_PER_ROW = 22  # the written file (zstd): 21.7 bytes a row at 10M and at 100M rows


@dataclass(frozen=True)
class SimulationSummary:
    path: Path
    rows: int
    frauds: int
    customers: int
    terminals: int
    start: date
    end: date


class _World:
    """Population, devices and the running state of the fraud scenarios."""

    def __init__(self, spec: SimulationSpec) -> None:
        from scipy.spatial import cKDTree

        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        rng = self.rng
        n_c = spec.customers
        n_t = max(50, 2 * n_c)
        self.n_customers, self.n_terminals = n_c, n_t
        self.home = rng.uniform(0, 100, (n_c, 2))
        self.mean_amount = rng.uniform(5, 100, n_c)
        self.std_amount = self.mean_amount / 2
        self.rate = rng.uniform(0.1, 2 * MEAN_DAILY_RATE - 0.1, n_c)
        self.online_share = rng.uniform(0.0, 0.4, n_c)
        self.region = (self.home[:, 0] >= 50).astype(int) + 2 * (self.home[:, 1] >= 50)
        self.card = rng.choice(3, n_c, p=[0.6, 0.35, 0.05])
        terminal_xy = rng.uniform(0, 100, (n_t, 2))
        self.tree = cKDTree(terminal_xy)
        self.mcc = rng.integers(0, len(MCC_MULTIPLIER), n_t)
        self.online_terminals = rng.choice(n_t, max(5, n_t // 10), replace=False)
        self.device = self._devices(n_c)
        self.next_device = int(self.device.max()) + 1
        self.terminal_until = np.full(n_t, -1)
        self.customer_until = np.full(n_c, -1)
        self.rings: list[tuple[int, np.ndarray, int]] = []  # (device, members, last day)
        self.history_sum = np.zeros((HISTORY_DAYS, n_c))
        self.history_count = np.zeros((HISTORY_DAYS, n_c))
        self.yesterday_count = np.zeros(n_c)
        self.next_id = 0

    def _devices(self, n_c: int) -> np.ndarray:
        """One device per customer; 10% of customers share a household device in twos or threes."""
        device = np.arange(n_c) + 1_000_000
        shared = self.rng.permutation(n_c)[: n_c // 10]
        for group in np.array_split(shared, max(1, len(shared) // 2)):
            device[group] = device[group[0]]
        return device

    def day(self, d: int, n_rows: int) -> pl.DataFrame:
        self._start_scenarios(d)
        ring_customers, ring_devices = self._ring_transactions(d, cap=n_rows // 10)
        n_legit = n_rows - len(ring_customers)
        customers = self.rng.choice(self.n_customers, n_legit, p=self.rate / self.rate.sum())
        online = self.rng.random(n_legit) < self.online_share[customers]
        devices = np.where(online, self.device[customers], -1)
        customers = np.concatenate([customers, ring_customers])
        online = np.concatenate([online, np.ones(len(ring_customers), dtype=bool)])
        devices = np.concatenate([devices, ring_devices])
        scenario = np.concatenate(
            [np.zeros(n_legit, dtype=np.int8), np.full(len(ring_customers), 4, dtype=np.int8)]
        )
        return self._finish_day(d, customers, online, devices, scenario)

    def _start_scenarios(self, d: int) -> None:
        spec, rng = self.spec, self.rng
        k_t = _poisson_count(rng, self.n_terminals * spec.compromised_terminals_per_10k / 1e4)
        self.terminal_until[rng.choice(self.n_terminals, k_t, replace=False)] = (
            d + TERMINAL_FRAUD_DAYS - 1
        )
        k_c = _poisson_count(rng, self.n_customers * spec.compromised_customers_per_10k / 1e4)
        self.customer_until[rng.choice(self.n_customers, k_c, replace=False)] = (
            d + CUSTOMER_FRAUD_DAYS - 1
        )
        for _ in range(_poisson_count(rng, self.n_customers * spec.rings_per_100k_customers / 1e5)):
            members = rng.choice(self.n_customers, int(rng.integers(4, 13)), replace=False)
            self.rings.append((self.next_device, members, d + int(rng.integers(10, 21)) - 1))
            self.next_device += 1
        self.rings = [r for r in self.rings if r[2] >= d]

    def _ring_transactions(self, d: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
        customers, devices = [], []
        for device, members, _ in self.rings:
            counts = self.rng.poisson(1.0, len(members))
            customers.append(np.repeat(members, counts))
            devices.append(np.full(int(counts.sum()), device))
        if not customers:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(customers)[:cap], np.concatenate(devices)[:cap]

    def _finish_day(
        self,
        d: int,
        customers: np.ndarray,
        online: np.ndarray,
        devices: np.ndarray,
        scenario: np.ndarray,
    ) -> pl.DataFrame:
        rng = self.rng
        n = len(customers)
        seconds = np.clip(rng.normal(43_200, 20_000, n), 0, 86_399).astype(np.int64)
        terminals = self._terminals(customers, online)
        amount = np.abs(rng.normal(self.mean_amount[customers], self.std_amount[customers]))
        amount = np.round(amount * MCC_MULTIPLIER[self.mcc[terminals]] + 0.01, 2)
        scenario = self._label(d, customers, terminals, amount, scenario)
        order = np.argsort(seconds, kind="stable")
        frame = self._frame(
            d,
            customers[order],
            terminals[order],
            devices[order],
            online[order],
            amount[order],
            seconds[order],
            scenario[order],
        )
        self._remember(d, customers, amount)
        return frame

    def _terminals(self, customers: np.ndarray, online: np.ndarray) -> np.ndarray:
        spot = self.home[customers] + self.rng.normal(0, 3, (len(customers), 2))
        _, nearest = self.tree.query(spot)
        shop = self.online_terminals[
            self.rng.integers(0, len(self.online_terminals), len(customers))
        ]
        return np.where(online, shop, nearest).astype(np.int64)

    def _label(
        self,
        d: int,
        customers: np.ndarray,
        terminals: np.ndarray,
        amount: np.ndarray,
        scenario: np.ndarray,
    ) -> np.ndarray:
        scenario = scenario.copy()
        legit = scenario == 0
        hit_customer = (
            legit
            & (self.customer_until[customers] >= d)
            & (self.rng.random(len(customers)) < 1 / 3)
        )
        amount[hit_customer] *= 5
        scenario[hit_customer] = 3
        scenario[(scenario == 0) & (self.terminal_until[terminals] >= d)] = 2
        scenario[(scenario == 0) & (amount > AMOUNT_RULE)] = 1
        return scenario

    def _frame(
        self,
        d: int,
        customers: np.ndarray,
        terminals: np.ndarray,
        devices: np.ndarray,
        online: np.ndarray,
        amount: np.ndarray,
        seconds: np.ndarray,
        scenario: np.ndarray,
    ) -> pl.DataFrame:
        n = len(customers)
        day0 = datetime.combine(self.spec.start + timedelta(days=d), datetime.min.time())
        weekday = (self.spec.start + timedelta(days=d)).weekday()
        hist_n = self.history_count.sum(axis=0)[customers]
        hist_avg = np.where(
            hist_n > 0, self.history_sum.sum(axis=0)[customers] / np.maximum(hist_n, 1), np.nan
        )
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        hour = (seconds // 3600).astype(np.int8)
        return pl.DataFrame(
            {
                "TRANSACTION_ID": ids,
                "TX_DATETIME": pl.Series(
                    np.datetime64(day0, "us") + seconds.astype("timedelta64[s]")
                ),
                "CUSTOMER_ID": customers.astype(np.int64),
                "TERMINAL_ID": terminals,
                "DEVICE_ID": pl.Series(devices.astype(np.int64)).replace(-1, None),
                "TX_AMOUNT": amount,
                "IS_ONLINE": online.astype(np.int8),
                "MCC": self.mcc[terminals].astype(np.int16),
                "TX_HOUR": hour,
                "TX_DURING_NIGHT": (hour < 6).astype(np.int8),
                "TX_DURING_WEEKEND": np.full(n, int(weekday >= 5), dtype=np.int8),
                "CUSTOMER_NB_TX_1D": self.yesterday_count[customers].astype(np.float32),
                "CUSTOMER_AVG_AMOUNT_30D": pl.Series(hist_avg.astype(np.float32), nan_to_null=True),
                "AMOUNT_TO_AVG_30D": pl.Series(
                    (amount / hist_avg).astype(np.float32), nan_to_null=True
                ),
                "REGION": REGIONS[self.region[customers]],
                "CARD_TYPE": CARD_TYPES[self.card[customers]],
                "TX_FRAUD": (scenario > 0).astype(np.int8),
                "TX_FRAUD_SCENARIO": scenario,
            }
        )

    def _remember(self, d: int, customers: np.ndarray, amount: np.ndarray) -> None:
        slot = d % HISTORY_DAYS
        self.history_sum[slot] = np.bincount(customers, weights=amount, minlength=self.n_customers)
        self.history_count[slot] = np.bincount(customers, minlength=self.n_customers)
        self.yesterday_count = self.history_count[slot].copy()


def _poisson_count(rng: np.random.Generator, mean: float) -> int:
    return int(rng.poisson(mean))


def rows_per_day(spec: SimulationSpec, rng: np.random.Generator) -> np.ndarray:
    """Split the requested rows over the days, weekends a little busier; sums exactly to rows."""
    weekday = np.array([(spec.start + timedelta(days=d)).weekday() for d in range(spec.days)])
    weights = np.where(weekday >= 5, 1.1, 1.0)
    return rng.multinomial(spec.rows, weights / weights.sum())


def simulate(
    spec: SimulationSpec,
    out: Path,
    *,
    row_group_rows: int = ROW_GROUP_ROWS,
    on_day: Callable[[int], None] | None = None,
) -> SimulationSummary:
    """Write the simulated transactions to ``out`` (parquet, zstd), one row group at a time."""
    out = Path(out)
    _check_out(out)  # before any work: a directory, another format, a place nobody can write
    world = _World(spec)
    try:
        return _write(world, spec, out, row_group_rows, on_day)
    except OSError as exc:  # the disk filled up, the directory went away
        raise EnvironmentFailure(f"--out {out}: cannot write ({exc.strerror or exc})") from exc


def _write(
    world: _World,
    spec: SimulationSpec,
    out: Path,
    row_group_rows: int,
    on_day: Callable[[int], None] | None,
) -> SimulationSummary:
    import pyarrow.parquet as pq

    with atomic_path(out) as tmp:
        counts = rows_per_day(spec, world.rng)
        buffer: list[pl.DataFrame] = []
        buffered = frauds = 0
        writer = None
        try:
            for d, n_rows in enumerate(counts):
                frame = world.day(d, int(n_rows))
                frauds += int(frame.get_column("TX_FRAUD").sum())
                buffer.append(frame)
                buffered += frame.height
                if buffered >= row_group_rows or d == len(counts) - 1:
                    table = pl.concat(buffer).to_arrow()
                    writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
                    writer.write_table(table, row_group_size=max(buffered, 1))
                    buffer, buffered = [], 0
                if on_day is not None:
                    on_day(1)
        finally:
            if writer is not None:
                writer.close()
    return SimulationSummary(
        path=out,
        rows=int(counts.sum()),
        frauds=frauds,
        customers=world.n_customers,
        terminals=world.n_terminals,
        start=spec.start,
        end=spec.start + timedelta(days=spec.days - 1),
    )


def _check_out(out: Path) -> None:
    """A parquet file name in a directory that can be written, refused before any work."""
    if out.is_dir() or not out.name:
        raise ConfigError(
            f"--out {out}: is a directory; give a file name such as {out / 'transactions.parquet'}"
        )
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise ConfigError(
            f"--out {out}: simulate writes parquet; name the file {out.with_suffix('.parquet')} "
            "(polars converts it to CSV if needed)"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise EnvironmentFailure(
            f"--out {out}: cannot write in {out.parent} ({exc.strerror}); choose a writable "
            "location"
        ) from exc


def simulate_frame(rows: int, seed: int = 0, **kwargs: object) -> pl.DataFrame:
    """A small simulated dataset in memory (tests and examples)."""
    spec = SimulationSpec(rows=rows, seed=seed, **kwargs)  # type: ignore[arg-type]
    world = _World(spec)
    counts = rows_per_day(spec, world.rng)
    return pl.concat([world.day(d, int(n)) for d, n in enumerate(counts)])


def expected_days_for(rows: int) -> int:
    """A sensible default period: long enough for 30-day history and a test window."""
    return max(60, min(183, math.ceil(rows / 20_000)))
