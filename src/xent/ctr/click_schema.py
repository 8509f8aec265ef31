"""Shared types of the click-log readers: the schema, labels, prepared data.

`ClickSchema` describes a click log's columns and format; `ClickData` is a
log prepared by `xent.ctr.builder`. The format constants, the binary label
spellings and the label parser are shared by the format modules
(`xent.ctr.delimited`, `xent.ctr.libsvm`), the schema inference
(`xent.ctr.sniffing`) and the tfds source of `xent.ctr.builder`. See
`xent.ctr.readers` for the formats and values.

>>> schema = ClickSchema(label="click", categorical=("site",), numeric=("price",))
>>> schema.features
('site', 'price')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from xent.bad_rows import ReadError
from xent.data.columns import MISSING_VALUES
from xent.data.columns import parse_float

if TYPE_CHECKING:  # Imported lazily: tensorflow is slow to import.
    import tensorflow as tf

    from xent.data.counts import Counts

__all__ = [
    "AVAZU_DERIVED",
    "BINARY_LABELS",
    "CRITEO_CATEGORICAL",
    "CRITEO_COLUMNS",
    "CRITEO_NUMERIC",
    "FORMATS",
    "ClickData",
    "ClickSchema",
    "RowError",
    "as_column_names",
    "build_label_parser",
    "check_roles",
]

FORMATS = ("auto", "csv", "tsv", "criteo", "avazu", "libsvm")
"""Values of the `format` argument; `"auto"` sniffs one of the others."""

CRITEO_NUMERIC = tuple(f"I{i}" for i in range(1, 14))
CRITEO_CATEGORICAL = tuple(f"C{i}" for i in range(1, 27))
CRITEO_COLUMNS = ("label", *CRITEO_NUMERIC, *CRITEO_CATEGORICAL)
AVAZU_DERIVED = ("hour_of_day", "weekday")
_SCHEMA_FORMATS = FORMATS[1:] + ("tfds",)

BINARY_LABELS: dict[str, int] = {
    "0": 0,
    "1": 1,
    "-1": 0,
    "+1": 1,
    "0.0": 0,
    "1.0": 1,
    "-1.0": 0,
    "+1.0": 1,
    "false": 0,
    "true": 1,
}
"""Binary label spellings (lower case) and their label."""


@dataclasses.dataclass(frozen=True)
class ClickSchema:
    """Column roles of a click log.

    Attributes:
        label: The label column (`"label"` for libSVM and Criteo, `"click"`
            for Avazu).
        categorical: Single-valued categorical columns (strings, `""` when
            missing), in file order.
        numeric: Numeric columns (float32, NaN when missing).
        multi_value: Multi-valued categorical columns: values joined by
            `separator`, kept as one string.
        separator: The separator of multi-value fields.
        format: One of `FORMATS` except `"auto"` (or `"tfds"` for data read
            from the tensorflow-datasets catalog).
        columns: The columns of a delimited file in file order (from its
            header, or given), used to read files without a header row (e.g.
            the 40 Criteo columns); files with a header are read by column
            name. `()` when unknown (files must then have a header).
        header: Whether delimited files start with a header row; `None`
            detects it per file (a first row that contains every column the
            schema reads is a header).
        label_threshold: If set, the label column holds numbers and the label
            is `value >= label_threshold` (e.g. `4.0` for ratings); otherwise
            it must be binary (see the module docstring).
    """

    label: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    multi_value: tuple[str, ...] = ()
    separator: str = "|"
    format: str = "csv"
    columns: tuple[str, ...] = ()
    header: bool | None = None
    label_threshold: float | None = None

    def __post_init__(self) -> None:
        for field in ("categorical", "numeric", "multi_value", "columns"):
            value = getattr(self, field)
            if isinstance(value, str):
                raise ValueError(
                    f"Invalid value for argument {field}. Expected a sequence of "
                    f"column names. Received: {field}={value!r}"
                )
            object.__setattr__(self, field, tuple(value))
        if self.format not in _SCHEMA_FORMATS:
            raise ValueError(
                f"Invalid value for argument format. Expected one of "
                f"{list(_SCHEMA_FORMATS)}. Received: format={self.format!r}"
            )
        if not self.separator:
            raise ValueError("Invalid value for argument separator: it is empty")
        if not self.features:
            raise ValueError("A click schema needs at least one feature column")
        check_roles(
            self.label,
            {
                "categorical": self.categorical,
                "numeric": self.numeric,
                "multi_value": self.multi_value,
            },
            "",
        )
        if self.label_threshold is not None:
            object.__setattr__(self, "label_threshold", float(self.label_threshold))

    @property
    def features(self) -> tuple[str, ...]:
        """All feature columns: categorical, numeric, then multi-value."""
        return self.categorical + self.numeric + self.multi_value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict; `ClickSchema(**d)` is the inverse."""
        return dataclasses.asdict(self)


def check_roles(label: str, roles: dict[str, Sequence[str]], where: str) -> None:
    """Raises `ReadError` if a column is in two roles or is also the label.

    Args:
        label: The label column.
        roles: `{role: columns}`.
        where: Put in front of the message (e.g. `"file: "`).
    """
    seen: dict[str, str] = {}
    for role, columns in roles.items():
        for column in columns:
            if column == label:
                raise ReadError(
                    f"{where}column {column!r} is the label and cannot also be {role}"
                )
            if column in seen:
                if seen[column] == role:
                    raise ReadError(
                        f"{where}column {column!r} is listed twice in {role}"
                    )
                raise ReadError(
                    f"{where}column {column!r} is in two roles: {seen[column]} and "
                    f"{role}"
                )
            seen[column] = role


class RowError(Exception):
    """A malformed row; the message is the reason (without file and line)."""


def build_label_parser(name: str, threshold: float | None) -> Callable[[str], int]:
    """The function from a label field to 0 or 1 (raises `RowError`).

    Args:
        name: The label column, for the messages.
        threshold: See `ClickSchema.label_threshold`.

    Returns:
        `parse(field) -> 0 or 1`.
    """
    if threshold is not None:

        def parse(value: str) -> int:
            value = value.strip()
            if value in MISSING_VALUES:
                raise RowError(f"missing label (column {name!r} is {value!r})")
            number = parse_float(value)
            if number is None or math.isnan(number):
                raise RowError(
                    f"label column {name!r} has the value {value!r}, not a number "
                    f"(label_threshold={threshold:g})"
                )
            return int(number >= threshold)

        return parse

    def parse(value: str) -> int:
        label = BINARY_LABELS.get(value)
        if label is not None:
            return label
        value = value.strip()
        label = BINARY_LABELS.get(value.lower())
        if label is not None:
            return label
        if value in MISSING_VALUES:
            raise RowError(f"missing label (column {name!r} is {value!r})")
        raise RowError(
            f"label column {name!r} has the value {value!r}; expected a binary "
            "label (0/1, -1/1 or true/false) or a label_threshold"
        )

    return parse


def as_column_names(
    argument: str, value: Sequence[str] | None
) -> tuple[str, ...] | None:
    """A column-names argument as a tuple; `None` when not given or empty.

    Raises:
        ValueError: Naming `argument`, when `value` is a string.
    """
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(
            f"Invalid value for argument {argument}. Expected a sequence of "
            f"column names. Received: {argument}={value!r}"
        )
    return tuple(value) or None  # An empty list means "not given".


@dataclasses.dataclass(frozen=True)
class ClickData:
    """A click log prepared into TFRecord shards, with training statistics.

    Attributes:
        name: The file name of the (training) file, or the tfds name.
        schema: The columns.
        rows: Rows per split, `"train"`, `"validation"` and `"test"`.
        positives: Clicks per split.
        streams: `split -> () -> tf.data.Dataset` of `(features, label)`
            batches: `features[column]` is a `tf.string [batch]` for
            categorical and multi-value columns and `float32 [batch]` for
            numeric ones (NaN = missing); `label` is `int64 [batch]`. Each call
            makes a fresh dataset; train is shuffled with the seed (files and
            a buffer, reshuffled each epoch); validation and test are not.
        value_counts: `{column: Counts}` (`xent.data.counts`: a read-only
            `{value: count}` held as arrays) on the train split for each
            categorical column (the missing value `""` included) and each
            multi-value column (per value after splitting; empty parts are
            not counted). Exact, except for a column with more distinct
            values than `load_click_data`'s `value_count_capacity` (default
            1,000,000): its counts are then bounded (`bounded_value_counts`).
        numeric_stats: `{column: stats}` on the train split: `count` (finite
            values), `missing` (NaN or infinite), `mean`, `std` (population),
            `min`, `max`, `log1p_mean` and `log1p_std` of
            `sign(x) * log1p(|x|)`, and `quantiles`: 33 quantiles (0%, 3.125%,
            ..., 100%) of a seeded uniform sample of 100,000 values (exact
            when there are fewer values); statistics of no values are NaN
            and `quantiles` is then empty.
        bad_rows: `{"count": n, "examples": [first 5 "file:line: reason"]}`.
        cache_dir: The folder of the TFRecord shards, `metadata.json` and
            `value_counts.arrow`.
        bounded_value_counts: `{column: {"capacity", "kept", "dropped",
            "max_undercount"}}` for the columns whose value counts were
            bounded by lossy counting (`xent.ctr.train_stats`): a value left
            out occurred at most `max_undercount` times, a kept count `c` is
            a lower bound (`c <= true <= c + max_undercount`). Empty when
            every count is exact.
    """

    name: str
    schema: ClickSchema
    rows: dict[str, int]
    positives: dict[str, int]
    streams: dict[str, Callable[[], tf.data.Dataset]]
    value_counts: dict[str, Counts]
    numeric_stats: dict[str, dict[str, Any]]
    bad_rows: dict[str, Any]
    cache_dir: str
    bounded_value_counts: dict[str, dict[str, int]] = dataclasses.field(
        default_factory=dict
    )
