"""Tests of `xent.data.counts`: value counts held as arrays."""

import collections

import numpy as np
import pyarrow as pa
import pytest

from xent.data.counts import Counts
from xent.data.counts import read_counts
from xent.data.counts import write_counts


def _random_counts(seed=0, n=3000):
    """Counts with many ties, non-ASCII values and the empty value."""
    rng = np.random.default_rng(seed)
    alphabet = ["a", "b", "Z", "é", "日", "0", " ", "ß", "\U0001f600"]
    values = {"".join(rng.choice(alphabet, rng.integers(0, 4))) for _ in range(n)}
    return {value: int(rng.integers(1, 6)) for value in sorted(values)}


def test_counts_are_a_read_only_mapping_of_their_arrays():
    counts = Counts(pa.array(["x", "", "y"]), np.array([3, 1, 2]))
    assert len(counts) == 3 and counts.total() == 6
    assert list(counts) == ["x", "", "y"]
    assert counts[""] == 1 and "y" in counts and "z" not in counts and 3 not in counts
    assert dict(counts.items()) == {"x": 3, "": 1, "y": 2}
    assert counts == {"x": 3, "": 1, "y": 2}
    assert counts == collections.Counter({"y": 2, "x": 3, "": 1})
    assert counts != {"x": 3}
    with pytest.raises(KeyError):
        counts["z"]
    assert Counts.of(counts) is counts
    assert Counts.of({"a": 2}) == {"a": 2}
    with pytest.raises(ValueError, match="2 values but 1 counts"):
        Counts(["a", "b"], np.array([1]))


@pytest.mark.parametrize("seed", [0, 1])
def test_top_matches_python_sorting_by_count_then_value(seed):
    """The rule `rank_vocabulary` documents, checked against Python's own
    `sorted` on str (code points), ties included."""
    mapping = _random_counts(seed)
    counts = Counts.of(mapping)
    ranked = sorted(mapping.items(), key=lambda item: (-item[1], item[0]))
    for min_count, max_size in [(1, None), (3, None), (2, 50), (9, None)]:
        expected = [(v, c) for v, c in ranked if c >= min_count][:max_size]
        top = counts.top(min_count, max_size)
        assert list(top.items()) == expected
        assert top.total() == sum(c for _, c in expected)
        assert top.as_objects().dtype == object
        assert top.as_objects().tolist() == [v for v, _ in expected]


def test_counts_round_trip_through_an_arrow_file(tmp_path):
    columns = {
        "site": Counts.of(_random_counts(2, 500)),
        "empty": Counts.of({}),
        "tags": Counts(pa.array(["x", "y"], pa.large_string()), np.array([7, 2**40])),
    }
    path = tmp_path / "value_counts.arrow"
    write_counts(path, columns)
    found = read_counts(path)
    assert list(found) == ["site", "empty", "tags"]
    for column, counts in columns.items():
        assert list(found[column].items()) == list(counts.items()), column
        assert found[column].count_array.dtype == np.int64
