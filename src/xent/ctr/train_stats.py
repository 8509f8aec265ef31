"""Training-split statistics of a click log, computed while streaming it.

`TrainStats` counts the values of categorical and multi-value columns
(`ValueCounts`) and summarizes numeric ones (`NumericStats`: shifted moments,
extremes, a seeded uniform sample for the quantiles) a chunk of rows at a
time (`xent.ctr.columnar.ColumnChunk`), with NumPy and Arrow kernels, so a
log is never held in memory. `xent.ctr.builder` fills one while writing the
training split.

The value counts of a column are exact until it has more than `capacity`
distinct values (`VALUE_COUNT_CAPACITY`); then they are bounded by lossy
counting (Manku and Motwani, "Approximate frequency counts over data
streams", VLDB 2002): when the table outgrows the capacity, the values with
the smallest counts are dropped until half of it is left, and `floor`
becomes the largest (count + bound) dropped; a value counted after that
starts with the bound `floor` on what it may have lost. Guarantee, for a
bounded column: a value that is not kept occurred at most `floor` times in
the split, and a kept value's count `c` is a lower bound with `c <= true <=
c + floor`. So a vocabulary of the values counted `min_count` times misses
no value seen `min_count + floor` times or more, and takes in none seen fewer
than `min_count` times. `TrainStats.bounded_counts` reports `floor` (as
`max_undercount`) and the sizes per bounded column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xent.ctr.click_schema import ClickSchema
from xent.ctr.columnar import ColumnChunk
from xent.data.counts import Counts

__all__ = [
    "QUANTILES",
    "RESERVOIR_SIZE",
    "VALUE_COUNT_CAPACITY",
    "NumericStats",
    "TrainStats",
    "ValueCounts",
    "check_capacity",
]

RESERVOIR_SIZE = 100_000
"""Values sampled per numeric column for the quantiles."""
QUANTILES = 33
"""Quantiles kept per numeric column: 0%, 3.125%, ..., 100%."""
VALUE_COUNT_CAPACITY = 1_000_000
"""Distinct values per column counted exactly (see the module docstring)."""


def _arrow_strings(values: Any) -> pa.Array:
    """An Arrow string array of a column of UTF-8 bytes or text."""
    array = np.asarray(values).reshape(-1)
    if array.dtype.kind == "U":
        return pa.array(array, pa.string())
    return pa.array(array, pa.binary()).cast(pa.string())


def check_capacity(capacity: int, argument: str = "value_count_capacity") -> None:
    """Raises `ValueError` naming `argument` unless `capacity` (of a
    `ValueCounts`) is an integer >= 2."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 2:
        raise ValueError(
            f"Invalid value for argument {argument}. Expected an integer >= 2. "
            f"Received: {argument}={capacity!r}"
        )


class NumericStats:
    """Moments, extremes and a uniform sample of one numeric column.

    The sample holds the values with the `reservoir_size` smallest of
    seeded uniform keys, one key per finite value in order: a uniform sample
    without replacement, the same whatever the chunk sizes.

    Args:
        seed: Seed of the sample's keys.
        reservoir_size: Values kept for the quantiles.
    """

    def __init__(self, seed: int, reservoir_size: int = RESERVOIR_SIZE) -> None:
        self.reservoir_size = reservoir_size
        self.count = 0
        self.missing = 0
        self.shift = 0.0  # Shifted sums keep the variance accurate.
        self.s1 = self.s2 = 0.0
        self.log_shift = 0.0
        self.l1 = self.l2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.rng = np.random.default_rng(seed)
        # (keys, values) of the values that may be among those of the
        # smallest keys, `_held_size` in all.
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._held_size = 0
        self.cut: float | None = None  # The largest key kept at the last cut.

    def add(self, values: np.ndarray) -> None:
        """Adds values (NaN and +-inf count as missing)."""
        values = np.asarray(values, np.float64)
        x = values[np.isfinite(values)]
        self.missing += values.size - x.size
        if not x.size:
            return
        y = np.copysign(np.log1p(np.abs(x)), x)
        if self.count == 0:
            self.shift, self.log_shift = float(x[0]), float(y[0])
        self.count += x.size
        d = x - self.shift
        self.s1 += float(d.sum())
        self.s2 += float((d * d).sum())
        d = y - self.log_shift
        self.l1 += float(d.sum())
        self.l2 += float((d * d).sum())
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        self._sample(x)

    def _sample(self, x: np.ndarray) -> None:
        keys = self.rng.random(x.size)
        if self.cut is not None:  # Only keys below it can be among the smallest.
            low = keys < self.cut
            keys, x = keys[low], x[low]
        self._parts.append((keys, x))
        self._held_size += keys.size
        # Cut back to the smallest keys when twice as many are held, not
        # every chunk: the partition costs what the held keys do.
        k = self.reservoir_size
        if self._held_size > 2 * k or (self.cut is None and self._held_size > k):
            self._keep_smallest()

    @property
    def sample(self) -> np.ndarray:
        """The values of the `reservoir_size` smallest keys so far (all of
        them while fewer), in no particular order."""
        self._keep_smallest()
        return self._parts[0][1] if self._parts else np.zeros(0, np.float64)

    def _keep_smallest(self) -> None:
        if len(self._parts) > 1:
            keys = np.concatenate([keys for keys, _ in self._parts])
            held = np.concatenate([held for _, held in self._parts])
            self._parts = [(keys, held)]
        k = self.reservoir_size
        if self._held_size > k:
            keys, held = self._parts[0]
            smallest = np.argpartition(keys, k - 1)[:k]
            self._parts = [(keys[smallest], held[smallest])]
            self._held_size = k
            self.cut = float(keys[smallest].max())

    def result(self) -> dict[str, Any]:
        """The statistics, as `ClickData.numeric_stats` describes them."""
        n = self.count
        if n == 0:
            nan = math.nan
            return {
                "count": 0,
                "missing": self.missing,
                "mean": nan,
                "std": nan,
                "min": nan,
                "max": nan,
                "log1p_mean": nan,
                "log1p_std": nan,
                "quantiles": [],
            }
        mean = self.s1 / n
        log_mean = self.l1 / n
        return {
            "count": n,
            "missing": self.missing,
            "mean": self.shift + mean,
            "std": math.sqrt(max(self.s2 / n - mean * mean, 0.0)),
            "min": self.min,
            "max": self.max,
            "log1p_mean": self.log_shift + log_mean,
            "log1p_std": math.sqrt(max(self.l2 / n - log_mean * log_mean, 0.0)),
            "quantiles": np.quantile(
                self.sample, np.linspace(0.0, 1.0, QUANTILES)
            ).tolist(),
        }


class ValueCounts:
    """Counts of one column's values, bounded by lossy counting.

    See the module docstring for the guarantee. The counts are Arrow and
    NumPy arrays (`xent.data.counts.Counts`), merged by Arrow's dictionary
    encoding and NumPy's `bincount`, so no value becomes a Python object.

    Args:
        capacity: Distinct values kept before the smallest counts are dropped.
        merge_every: Values added between Arrow counts of the values added
            since (`pyarrow.compute.value_counts`). Those partial counts are
            merged into the table once they hold twice as many entries as it
            does, so each merge costs about what it adds: linear time in all.

    Attributes:
        values, counts, bounds: The distinct values merged so far (`flush`),
            in first-seen order, their counts (lower bounds once bounded) and
            what each may have lost before it was counted (0 while exact).
        floor: 0 while exact; else the most occurrences a dropped value may
            have had (and a kept value may have lost).
        dropped: Values dropped so far (a value may be dropped twice).
    """

    def __init__(
        self, capacity: int = VALUE_COUNT_CAPACITY, merge_every: int = 1 << 18
    ) -> None:
        check_capacity(capacity, "capacity")
        self.capacity = capacity
        self.merge_every = merge_every
        self.values = pa.array([], pa.large_string())
        self.counts = np.zeros(0, np.int64)
        self.bounds = np.zeros(0, np.int64)
        self.floor = 0
        self.dropped = 0
        self.pending: list[pa.Array] = []  # Values added, not counted yet.
        self.pending_values = 0
        self.partial: list[pa.StructArray] = []  # Their counts, not merged.
        self.partial_values = 0

    def add(self, values: pa.Array) -> None:
        """Counts the values of an Arrow string array."""
        if len(values):
            self.pending.append(values)
            self.pending_values += len(values)
            if self.pending_values >= self.merge_every:
                self._count_pending()
                if self.partial_values >= 2 * len(self.counts):
                    self.flush()

    def _count_pending(self) -> None:
        if self.pending:
            found = pc.value_counts(pa.concat_arrays(self.pending))
            self.pending, self.pending_values = [], 0
            self.partial.append(found)
            self.partial_values += len(found)

    def flush(self) -> None:
        """Merges the values added since the last flush into the table, then
        drops the smallest counts if it outgrew the capacity."""
        self._count_pending()
        if not self.partial:
            return
        found = self.partial
        self.partial, self.partial_values = [], 0
        # The table's values are distinct and come first, so they keep their
        # places in the dictionary; the values after them are new.
        encoded = pc.dictionary_encode(
            pa.concat_arrays(
                [self.values]
                + [part.field("values").cast(pa.large_string()) for part in found]
            )
        )
        numbers = np.concatenate(
            [self.counts] + [part.field("counts").to_numpy() for part in found]
        )
        values = encoded.dictionary
        # float64 sums are exact below 2**53 occurrences.
        counts = np.bincount(
            encoded.indices.to_numpy(), weights=numbers, minlength=len(values)
        )
        self.values = values
        self.counts = counts.astype(np.int64)
        # A new value may have been dropped before: it may have lost up to
        # `floor`.
        self.bounds = np.concatenate(
            [self.bounds, np.full(len(values) - len(self.bounds), self.floor)]
        )
        if len(self.counts) > self.capacity:
            self._drop()

    def _drop(self) -> None:
        """Drops the smallest `count + bound`s until half the capacity is left."""
        total = self.counts + self.bounds
        at = len(total) - self.capacity // 2 - 1
        threshold = int(np.partition(total, at)[at])
        keep = total > threshold
        self.values = self.values.filter(pa.array(keep))
        self.counts, self.bounds = self.counts[keep], self.bounds[keep]
        self.dropped += int(keep.size - keep.sum())
        self.floor = max(self.floor, threshold)

    def result(self) -> Counts:
        """The counts of every value kept (see `counts`)."""
        self.flush()
        return Counts(self.values, self.counts)

    def bound(self) -> dict[str, int] | None:
        """`{"capacity", "kept", "dropped", "max_undercount"}` once bounded,
        else None."""
        self.flush()
        if not self.dropped:
            return None
        return {
            "capacity": self.capacity,
            "kept": len(self.counts),
            "dropped": self.dropped,
            "max_undercount": self.floor,
        }


class TrainStats:
    """Value counts and numeric statistics of the rows it is given.

    Args:
        schema: The columns.
        seed: Seed of the numeric samples (column `i` gets `seed + i`).
        capacity: See `ValueCounts`.
    """

    def __init__(
        self, schema: ClickSchema, seed: int, capacity: int = VALUE_COUNT_CAPACITY
    ) -> None:
        self.categorical = {c: ValueCounts(capacity) for c in schema.categorical}
        self.multi_value = {c: ValueCounts(capacity) for c in schema.multi_value}
        self.numeric = {c: NumericStats(seed + i) for i, c in enumerate(schema.numeric)}
        self.separator = schema.separator

    def add(self, chunk: ColumnChunk) -> None:
        """Counts a chunk of rows."""
        for column, counts in self.categorical.items():
            counts.add(chunk.strings[column])
        for column, counts in self.multi_value.items():
            parts = pc.list_flatten(
                pc.split_pattern(chunk.strings[column], pattern=self.separator)
            )
            counts.add(parts.filter(pc.not_equal(parts, "")))
        for column, stats in self.numeric.items():
            stats.add(chunk.numbers[column])

    def add_columns(self, columns: Mapping[str, Any]) -> None:
        """Counts rows given as whole columns, e.g. a batch of a split's
        stream (`{column: [rows]}` arrays or tensors): UTF-8 bytes or text
        for the categorical and multi-value columns (`""` when missing),
        numbers for the numeric ones (NaN when missing). Columns of the
        schema missing from `columns` are an error that names them."""
        wanted = [*self.categorical, *self.multi_value, *self.numeric]
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise ValueError(
                f"No column {missing} among the columns given ({sorted(columns)})"
            )
        strings = {
            c: _arrow_strings(columns[c])
            for c in (*self.categorical, *self.multi_value)
        }
        numbers = {c: np.asarray(columns[c], np.float64) for c in self.numeric}
        sizes = {len(v) for v in (*strings.values(), *numbers.values())}
        if len(sizes) > 1:
            raise ValueError(f"Columns of different lengths: {sorted(sizes)}")
        n = sizes.pop() if sizes else 0
        self.add(ColumnChunk(np.arange(n), np.zeros(n, np.int64), strings, numbers))

    def value_counts(self) -> dict[str, Counts]:
        """`{column: Counts}` of categorical and multi-value columns."""
        columns = self.categorical | self.multi_value
        return {column: counts.result() for column, counts in columns.items()}

    def bounded_counts(self) -> dict[str, dict[str, int]]:
        """`{column: ValueCounts.bound()}` of the columns whose counts were
        bounded."""
        columns = self.categorical | self.multi_value
        found = {column: counts.bound() for column, counts in columns.items()}
        return {column: bound for column, bound in found.items() if bound}

    def numeric_stats(self) -> dict[str, dict[str, Any]]:
        """`{column: NumericStats.result()}`."""
        return {column: stats.result() for column, stats in self.numeric.items()}
