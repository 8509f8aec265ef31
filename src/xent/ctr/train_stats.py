"""Training-split statistics of a click log, computed while streaming it.

`TrainStats` counts the values of categorical and multi-value columns and
summarizes numeric ones (`NumericStats`: shifted moments, extremes, a
reservoir sample for the quantiles) one row at a time, so a log is never held
in memory. `xent.ctr.builder` fills one while writing the training split.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from xent.ctr.click_schema import ClickSchema

__all__ = ["QUANTILES", "RESERVOIR_SIZE", "NumericStats", "TrainStats"]

RESERVOIR_SIZE = 100_000
"""Values sampled per numeric column for the quantiles."""
QUANTILES = 33
"""Quantiles kept per numeric column: 0%, 3.125%, ..., 100%."""


class NumericStats:
    """Moments, extremes and a reservoir sample of one numeric column.

    Args:
        seed: Seed of the reservoir sample.
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
        self.sample: list[float] = []
        self.rng = random.Random(seed)
        self.w = 0.0
        self.next = 0

    def add(self, x: float) -> None:
        """Adds one value (NaN and +-inf count as missing)."""
        if not math.isfinite(x):
            self.missing += 1
            return
        y = math.copysign(math.log1p(abs(x)), x)
        i = self.count
        if i == 0:
            self.shift, self.log_shift = x, y
        self.count = i + 1
        d = x - self.shift
        self.s1 += d
        self.s2 += d * d
        d = y - self.log_shift
        self.l1 += d
        self.l2 += d * d
        if x < self.min:
            self.min = x
        if x > self.max:
            self.max = x
        self._sample(i, x)

    def _sample(self, i: int, x: float) -> None:
        # Reservoir sampling, Li's algorithm L: O(k (1 + log(n / k))) draws.
        k = self.reservoir_size
        if i < k:
            self.sample.append(x)
            if i == k - 1:
                self.w = math.exp(math.log(1.0 - self.rng.random()) / k)
                self._skip(i)
        elif i == self.next:
            self.sample[self.rng.randrange(k)] = x
            self.w *= math.exp(math.log(1.0 - self.rng.random()) / k)
            self._skip(i)

    def _skip(self, i: int) -> None:
        u = 1.0 - self.rng.random()
        self.next = i + int(math.log(u) / math.log1p(-self.w)) + 1

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
                np.asarray(self.sample, dtype=np.float64),
                np.linspace(0.0, 1.0, QUANTILES),
            ).tolist(),
        }


class TrainStats:
    """Value counts and numeric statistics of the rows it is given."""

    def __init__(self, schema: ClickSchema, seed: int) -> None:
        self.categorical = {c: {} for c in schema.categorical}
        self.multi_value = {c: {} for c in schema.multi_value}
        self.numeric = {c: NumericStats(seed + i) for i, c in enumerate(schema.numeric)}
        self.separator = schema.separator

    def add(self, row: dict[str, Any]) -> None:
        """Counts one row."""
        for column, counts in self.categorical.items():
            value = row[column]
            counts[value] = counts.get(value, 0) + 1
        separator = self.separator
        for column, counts in self.multi_value.items():
            value = row[column]
            if value:
                for part in value.split(separator):
                    if part:
                        counts[part] = counts.get(part, 0) + 1
        for column, stats in self.numeric.items():
            stats.add(row[column])

    def value_counts(self) -> dict[str, dict[str, int]]:
        """`{column: {value: count}}` of categorical and multi-value columns."""
        return {**self.categorical, **self.multi_value}

    def numeric_stats(self) -> dict[str, dict[str, Any]]:
        """`{column: NumericStats.result()}`."""
        return {column: stats.result() for column, stats in self.numeric.items()}
