"""Tests of `xent.ctr.train_stats`: chunked statistics and bounded counts.

Expected values come from NumPy in float64 on the whole column and from
`collections.Counter`, not from the chunked code.
"""

import collections
import math

import numpy as np
import pyarrow as pa
import pytest

from xent.ctr import train_stats
from xent.ctr.columnar import ColumnChunk
from xent.ctr.readers import ClickSchema


def _chunks(values, sizes):
    """`values` cut into pieces of the given sizes (cycled)."""
    start, i = 0, 0
    while start < len(values):
        stop = start + sizes[i % len(sizes)]
        yield values[start:stop]
        start, i = stop, i + 1


def test_numeric_moments_and_extremes_match_numpy_in_any_chunks():
    rng = np.random.default_rng(0)
    x = rng.lognormal(3.0, 2.0, 30_000) * rng.choice([-1.0, 1.0], 30_000) + 1e6
    x[rng.random(x.size) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, np.nan]
    finite = x[np.isfinite(x)]
    logs = np.sign(finite) * np.log1p(np.abs(finite))
    for sizes in ([x.size], [1, 999, 7], [4096]):
        stats = train_stats.NumericStats(seed=0)
        for piece in _chunks(x, sizes):
            stats.add(piece)
        result = stats.result()
        assert result["count"] == finite.size
        assert result["missing"] == x.size - finite.size
        assert result["mean"] == pytest.approx(finite.mean(), rel=1e-12)
        assert result["std"] == pytest.approx(finite.std(), rel=1e-9)
        assert (result["min"], result["max"]) == (finite.min(), finite.max())
        assert result["log1p_mean"] == pytest.approx(logs.mean(), rel=1e-12)
        assert result["log1p_std"] == pytest.approx(logs.std(), rel=1e-9)
        # Fewer values than the sample size: the quantiles are exact.
        np.testing.assert_allclose(
            result["quantiles"], np.quantile(finite, np.linspace(0, 1, 33)), rtol=0
        )


def test_sample_quantiles_of_a_long_column_are_seeded_and_chunk_free():
    values = np.random.default_rng(0).lognormal(size=60_000)
    results = []
    for sizes in ([60_000], [1000], [17, 4000, 333]):
        stats = train_stats.NumericStats(seed=0, reservoir_size=2000)
        for piece in _chunks(values, sizes):
            stats.add(piece)
        stats.add(np.array([math.inf]))
        assert len(stats.sample) == 2000
        results.append(stats.result())
    result = results[0]
    assert result["count"] == 60_000 and result["missing"] == 1
    assert result["mean"] == pytest.approx(values.mean(), rel=1e-10)
    # A uniform sample of 2000: the 3%..97% quantiles are within a few
    # percent in rank of the column's.
    ranks = np.searchsorted(np.sort(values), result["quantiles"][1:-1]) / values.size
    np.testing.assert_allclose(ranks, np.linspace(0, 1, 33)[1:-1], atol=0.03)
    # The same keys, one per value in order, whatever the chunks.
    assert results[1]["quantiles"] == result["quantiles"]
    assert results[2]["quantiles"] == result["quantiles"]
    other = train_stats.NumericStats(seed=1, reservoir_size=2000)
    other.add(values)
    assert other.result()["quantiles"] != result["quantiles"]


def test_no_finite_value_gives_nan_statistics():
    stats = train_stats.NumericStats(seed=0)
    stats.add(np.array([np.nan, np.inf]))
    result = stats.result()
    assert result["count"] == 0 and result["missing"] == 2
    assert math.isnan(result["mean"]) and result["quantiles"] == []


def _zipf_stream(n, distinct, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.minimum(rng.zipf(1.2, n), distinct) - 1
    return [f"v{i}" for i in rng.permutation(distinct)[ids]]


@pytest.mark.parametrize("capacity", [50, 400, 10_000])
def test_bounded_counts_keep_their_guarantee_against_a_counter(capacity):
    values = _zipf_stream(20_000, 3000)
    exact = collections.Counter(values)
    counts = train_stats.ValueCounts(capacity, merge_every=1)
    for piece in _chunks(values, [1000, 37, 5000]):
        counts.add(pa.array(piece, pa.string()))
    found = counts.result()
    bound = counts.bound()
    if len(exact) <= capacity:
        assert bound is None
        assert found == exact
        assert list(found) == list(dict.fromkeys(values))  # First-seen order.
        return
    floor = bound["max_undercount"]
    assert bound["capacity"] == capacity and bound["kept"] == len(found)
    assert len(found) <= capacity and bound["dropped"] > 0
    for value, count in found.items():
        assert count <= exact[value] <= count + floor, value
    for value, count in exact.items():
        if count > floor:
            assert value in found, value
    # A vocabulary of the values counted min_count times keeps every value
    # seen min_count + floor times, and none seen fewer than min_count.
    for min_count in (2, 5):
        vocabulary = {value for value, count in found.items() if count >= min_count}
        assert {v for v, n in exact.items() if n >= min_count + floor} <= vocabulary
        assert vocabulary <= {v for v, n in exact.items() if n >= min_count}
    # Worth the name: the frequent values are kept, most of them exactly.
    top = [value for value, _ in exact.most_common(capacity // 10)]
    assert all(found[value] == exact[value] for value in top[:5])


def test_a_value_dropped_twice_stays_within_the_bound():
    counts = train_stats.ValueCounts(capacity=4, merge_every=1)
    stream = [["a"] * 5 + ["b"] * 5, ["x"] * 3, ["p", "q"], ["x"] * 3, ["r", "s"]]
    for values in stream:
        counts.add(pa.array(values))
    found, floor = counts.result(), counts.bound()["max_undercount"]
    # x occurred 6 times: kept, or dropped with a bound of at least 6.
    assert found.get("x", 0) <= 6 <= found.get("x", 0) + floor
    assert "x" in found or floor >= 6
    for value, count in found.items():
        true = sum(v.count(value) for v in stream)
        assert count <= true <= count + floor


def test_bounded_counts_of_distinct_values_only():
    counts = train_stats.ValueCounts(capacity=100, merge_every=1)
    for start in range(0, 1000, 100):
        counts.add(pa.array([f"id{i}" for i in range(start, start + 100)]))
    found = counts.result()
    floor = counts.bound()["max_undercount"]
    assert len(found) <= 100
    # Each value occurred once: a kept count is 1 or less than 1 + floor.
    assert all(count <= 1 <= count + floor for count in found.values())
    with pytest.raises(ValueError, match="argument capacity"):
        train_stats.ValueCounts(capacity=1)


def test_train_stats_of_chunks():
    schema = ClickSchema(
        "y", categorical=("site",), numeric=("price",), multi_value=("tags",)
    )
    chunk = ColumnChunk(
        np.arange(1, 5),
        np.array([1, 0, 1, 0]),
        {
            "site": pa.array(["a", "", "a", "b"]),
            "tags": pa.array(["x|y", "", "y||z", "|"]),
        },
        {"price": np.array([1.0, np.nan, 3.0, 5.0])},
    )
    stats = train_stats.TrainStats(schema, seed=0)
    stats.add(chunk)
    stats.add(chunk.slice(0, 1))
    assert stats.value_counts() == {
        "site": {"a": 3, "": 1, "b": 1},
        "tags": {"x": 2, "y": 3, "z": 1},
    }
    assert stats.bounded_counts() == {}
    result = stats.numeric_stats()["price"]
    assert result["count"] == 4 and result["missing"] == 1
    assert result["mean"] == pytest.approx(np.mean([1.0, 3.0, 5.0, 1.0]))


def test_train_stats_of_columns_match_those_of_the_same_chunk():
    """`add_columns` (a batch of a split's stream: bytes, text or numbers)
    counts what `add` counts of the same rows as a chunk."""
    schema = ClickSchema(
        "y", categorical=("site",), numeric=("price",), multi_value=("tags",)
    )
    site = ["a", "", "é", "b"]
    tags = ["x|y", "", "y||z", "|"]
    price = np.array([1.0, np.nan, 3.0, 5.0])
    chunk = ColumnChunk(
        np.arange(1, 5),
        np.zeros(4, np.int64),
        {"site": pa.array(site), "tags": pa.array(tags)},
        {"price": price},
    )
    by_chunk = train_stats.TrainStats(schema, seed=0)
    by_chunk.add(chunk)
    by_columns = train_stats.TrainStats(schema, seed=0)
    by_columns.add_columns(
        {
            "site": np.array([s.encode() for s in site], dtype=object),
            "tags": np.array(tags),
            "price": price.astype(np.float32),
            "other": np.zeros(4),
        }
    )
    assert by_columns.value_counts() == by_chunk.value_counts()
    assert by_columns.numeric_stats() == by_chunk.numeric_stats()


def test_train_stats_of_columns_name_a_missing_column():
    schema = ClickSchema("y", categorical=("site", "user"), numeric=())
    stats = train_stats.TrainStats(schema, seed=0)
    with pytest.raises(ValueError, match=r"\['user'\]"):
        stats.add_columns({"site": np.array([b"a"], dtype=object)})
