"""Distinct values per column, estimated in the pass that already hashes every column (numba).

A HyperLogLog sketch per column (2**14 one-byte registers, a standard error of 0.8%, counts up to
50 exact by linear counting), fed with the 64-bit hashes polars computes for the integrity audit's
row-content key. Polars' own ``approx_n_unique``, measured on the 10M-row simulated file, said
8.86M of 10M unique ids (-11%: under audit.id_unique_ratio's 0.95, so not "unique per row") and
12 of a 13-valued column; this sketch was within 1% of every column there and exact on the small
ones, and it needs no pass of its own.

Polars calls :meth:`DistinctSketch.add` on batches from several threads at once: each thread
updates registers of its own, and the estimate takes their maximum, so the result does not depend
on how the rows were cut into batches.
"""

from __future__ import annotations

import threading

import numpy as np
import polars as pl

PRECISION = 14  # register index bits: 16,384 registers a column

REGISTERS = 1 << PRECISION


class DistinctSketch:
    """HyperLogLog registers for named columns of hashes (:meth:`name` them before adding)."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self._by_thread: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def name(self, columns: list[str]) -> None:
        """The columns whose hashes the batches hold, in their order."""
        self.columns = list(columns)

    def add(self, hashes: list[np.ndarray]) -> None:
        """One batch: the uint64 hashes of each column, in column order."""
        from challengers.engine.sketch_kernels import add_hashes  # numba: loaded when first used

        registers = self._registers()
        for j, column in enumerate(hashes):
            add_hashes(registers[j], column, PRECISION)

    def summed(self, batch: pl.Series, skip: int | None = None) -> pl.Series:
        """For ``map_batches`` over a struct of hash columns: the batch added to the sketch, and
        the wrapping sum of its fields but field ``skip`` (the row's content key)."""
        fields = [batch.struct.field(name).to_numpy() for name in batch.struct.fields]
        self.add(fields)
        summed = np.zeros(batch.len(), dtype=np.uint64)
        for j, column in enumerate(fields):
            if j != skip:
                summed += column  # uint64 wraps, as polars' sum_horizontal of hashes
        return pl.Series(batch.name, summed, dtype=pl.UInt64)

    def estimates(self) -> dict[str, int]:
        """The estimated distinct values of each column (0 before any batch)."""
        if not self._by_thread:
            return dict.fromkeys(self.columns, 0)
        merged = np.maximum.reduce(list(self._by_thread.values()))
        return {
            c: round(estimate(registers)) for c, registers in zip(self.columns, merged, strict=True)
        }

    def _registers(self) -> np.ndarray:
        thread = threading.get_ident()
        registers = self._by_thread.get(thread)
        if registers is None:
            with self._lock:
                registers = self._by_thread.setdefault(
                    thread, np.zeros((len(self.columns), REGISTERS), dtype=np.uint8)
                )
        return registers


def estimate(registers: np.ndarray) -> float:
    """HyperLogLog's estimate (Flajolet et al. 2007), by linear counting while it is small (the
    64-bit hashes need no large-range correction)."""
    m = registers.size
    alpha = 0.7213 / (1 + 1.079 / m)
    raw = alpha * m * m / float(np.ldexp(1.0, -registers.astype(np.int64)).sum())
    empty = int(np.count_nonzero(registers == 0))
    if raw <= 2.5 * m and empty:
        return m * float(np.log(m / empty))
    return raw
