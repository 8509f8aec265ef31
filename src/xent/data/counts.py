"""Value counts held as two arrays, not as a dict of Python objects.

A click log's training split can have millions of distinct values per
column. Held as `{value: count}` they cost a Python string and an int each
(about 100 bytes), minutes of JSON to store, and seconds of Python sorting
and Keras attribute tracking to turn into a vocabulary. `Counts` keeps them
as an Arrow string array of distinct values (`value_array`) and an `int64`
NumPy array of their counts (`count_array`); it is still a read-only
`Mapping[str, int]` (a dict is built on the first lookup by key), so code
written for dicts keeps working.

* `Counts.of`: any mapping (or `Counts`) as `Counts`.
* `Counts.total`: the sum of the counts, without Python iteration.
* `Counts.top`: the values seen at least `min_count` times, most frequent
  first (ties in string order), at most `max_size` of them: the rule of
  `xent.data.transforms.rank_vocabulary`, sorted by Arrow.
* `write_counts` / `read_counts`: `{column: Counts}` in one Arrow IPC file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping
from os import PathLike

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Counts", "read_counts", "write_counts"]

_COLUMNS_KEY = b"xent.columns"


class Counts(Mapping[str, int]):
    """Distinct string values and their counts, as arrays.

    Args:
        values: Distinct values (an Arrow string or large-string array, or
            anything `pyarrow.array` takes).
        counts: Their counts, in the same order.

    Raises:
        ValueError: If the two lengths differ.
    """

    __slots__ = ("_index", "count_array", "value_array")

    def __init__(self, values: pa.Array | list[str], counts: np.ndarray) -> None:
        if not isinstance(values, pa.Array):
            values = pa.array(values, pa.string())
        counts = np.asarray(counts, np.int64)
        if len(values) != len(counts):
            raise ValueError(
                f"Counts: {len(values)} values but {len(counts)} counts; they "
                "must pair up"
            )
        self.value_array = values
        self.count_array = counts
        self._index: dict[str, int] | None = None

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Counts:
        """`counts` itself if it is `Counts`, else its items as `Counts`."""
        if isinstance(counts, Counts):
            return counts
        return cls(list(counts), np.fromiter(counts.values(), np.int64, len(counts)))

    def __len__(self) -> int:
        return len(self.count_array)

    def __iter__(self) -> Iterator[str]:
        return iter(self.value_array.to_pylist())

    def values(self) -> list[int]:  # type: ignore[override]
        """The counts, in the order of the values."""
        return self.count_array.tolist()

    def items(self) -> Iterator[tuple[str, int]]:  # type: ignore[override]
        """`(value, count)` pairs, in order."""
        return zip(self.value_array.to_pylist(), self.count_array.tolist(), strict=True)

    def __getitem__(self, value: str) -> int:
        if self._index is None:
            self._index = dict(self.items())
        return self._index[value]

    def __contains__(self, value: object) -> bool:
        try:
            self[value]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def __repr__(self) -> str:
        return f"Counts({len(self)} values, total {self.total()})"

    def total(self) -> int:
        """The sum of the counts."""
        return int(self.count_array.sum())

    def top(self, min_count: int = 1, max_size: int | None = None) -> Counts:
        """The values counted at least `min_count` times, most frequent
        first (ties in string order: Arrow compares UTF-8 bytes, which
        orders as Python compares `str`), at most `max_size` of them."""
        table = pa.table({"value": self.value_array, "count": self.count_array})
        if min_count > 1:
            table = table.filter(pc.greater_equal(table["count"], min_count))
        table = table.sort_by([("count", "descending"), ("value", "ascending")])
        if max_size is not None:
            table = table.slice(0, max_size)
        return Counts(
            table["value"].combine_chunks(), table["count"].to_numpy().astype(np.int64)
        )

    def as_objects(self) -> np.ndarray:
        """The values as a NumPy `object` array of `str` (what Keras'
        `StringLookup` takes without tracking a list item by item)."""
        return np.asarray(self.value_array.to_numpy(zero_copy_only=False), dtype=object)


def write_counts(path: str | PathLike[str], counts: Mapping[str, Counts]) -> None:
    """Writes `{column: Counts}` to an Arrow IPC file, a record batch per
    column (`value` large strings, `count` int64), the column names in the
    schema's metadata."""
    schema = pa.schema(
        [("value", pa.large_string()), ("count", pa.int64())],
        metadata={_COLUMNS_KEY: json.dumps(list(counts)).encode()},
    )
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for column_counts in counts.values():
            column_counts = Counts.of(column_counts)
            writer.write_batch(
                pa.record_batch(
                    [
                        column_counts.value_array.cast(pa.large_string()),
                        pa.array(column_counts.count_array, pa.int64()),
                    ],
                    schema=schema,
                )
            )


def read_counts(path: str | PathLike[str]) -> dict[str, Counts]:
    """The `{column: Counts}` that `write_counts` wrote."""
    with pa.OSFile(str(path), "rb") as source:
        reader = pa.ipc.open_file(source)
        columns = json.loads(reader.schema.metadata[_COLUMNS_KEY])
        found = {}
        for i, column in enumerate(columns):
            batch = reader.get_batch(i)
            found[column] = Counts(
                batch.column(0), batch.column(1).to_numpy().astype(np.int64)
            )
    return found
