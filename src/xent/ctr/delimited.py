"""Delimited click logs: CSV, TSV, Criteo and Avazu rows.

`delimited_rows` streams the rows of a delimited file as
`(line, row dict)` for `xent.ctr.readers.iter_rows`; `sniff_delimiter` and
`delimited_reader` are shared with the schema inference
(`xent.ctr.sniffing`). See `xent.ctr.readers` for the formats.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import itertools
import math
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.bad_rows import csv_records
from xent.ctr.click_schema import AVAZU_DERIVED
from xent.ctr.click_schema import ClickSchema
from xent.ctr.click_schema import RowError
from xent.ctr.click_schema import build_label_parser
from xent.data.columns import MISSING_VALUES
from xent.data.columns import parse_float

__all__ = [
    "DelimitedLayout",
    "DelimitedRows",
    "FieldPositions",
    "delimited_reader",
    "delimited_rows",
    "number_value",
    "read_layout",
    "sniff_delimiter",
    "split_hour",
]

_MISSING = frozenset(MISSING_VALUES)  # Faster membership in the row loop.


@functools.lru_cache(maxsize=65_536)  # A log has few distinct hours.
def split_hour(value: str) -> tuple[str, str]:
    """Avazu's `YYMMDDHH` -> (`hour_of_day`, `weekday`)."""
    text = value.strip()
    if text in _MISSING:
        return "", ""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise RowError(f"column 'hour' is {value!r}, not YYMMDDHH")
    hour = int(text[6:])
    try:
        day = datetime.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise RowError(f"column 'hour' is {value!r}, not a valid YYMMDDHH") from None
    if hour > 23:
        raise RowError(f"column 'hour' is {value!r}: hour {hour} is not 00..23")
    return text[6:], str(day.weekday())


def sniff_delimiter(line: str, fmt: str) -> str:
    """The delimiter of a delimited format, from the file's first line."""
    if fmt == "tsv":
        return "\t"
    if fmt == "criteo":
        return "\t" if "\t" in line else ","
    return ","


def delimited_reader(lines: Iterator[str], delimiter: str) -> Iterator[list[str]]:
    """A `csv.reader` of the lines (tab-separated files without quoting)."""
    if delimiter == "\t":
        return csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return csv.reader(lines, delimiter=delimiter)


@dataclasses.dataclass(frozen=True)
class DelimitedLayout:
    """How a delimited file's rows are read, decided by its first row.

    Attributes:
        delimiter: The field delimiter.
        names: The file's columns, in file order.
        header: Whether the first row is a header.
        first_number: The line on which the first row (header or data) ends.
        first_row: The first row's (stripped) fields when it is data, else
            `None`.
    """

    delimiter: str
    names: tuple[str, ...]
    header: bool
    first_number: int
    first_row: list[str] | None


@dataclasses.dataclass(frozen=True)
class FieldPositions:
    """Where a row's fields go: positions in the file's columns.

    Attributes:
        label: The label's position.
        strings: `(column, position)` of the categorical and multi-value
            columns read from the file.
        numbers: `(column, position)` of the numeric columns.
        hour: The position of Avazu's `hour`, when columns derive from it.
        derived: The columns derived from `hour` (`AVAZU_DERIVED`).
    """

    label: int
    strings: tuple[tuple[str, int], ...]
    numbers: tuple[tuple[str, int], ...]
    hour: int | None
    derived: tuple[str, ...]


def read_layout(
    path: str, schema: ClickSchema, lines: Lines, header: bool | None
) -> tuple[DelimitedLayout, Iterator[list[str]]]:
    """The layout of a delimited file, from its first non-blank row.

    Returns:
        `(layout, reader)`: `reader` is the `csv.reader` that read the first
        row, positioned after it.

    Raises:
        ReadError: If the file is empty, its first row is malformed, or the
            columns the schema reads are not all in the header or
            `schema.columns`.
    """
    line_iter = iter(lines)
    first_line = next((text for text in line_iter if text.strip()), None)
    if first_line is None:
        raise ReadError(f"{path} is empty")
    delimiter = sniff_delimiter(first_line, schema.format)
    reader = delimited_reader(itertools.chain([first_line], line_iter), delimiter)
    try:
        first = [field.strip() for field in next(reader)]
    except csv.Error as err:
        raise ReadError(f"{path}:{lines.line}: malformed line: {err}") from None
    first_number = lines.line
    needed, _ = _needed_columns(schema)
    if header is None:
        header = set(needed) <= set(first)
    if header:
        names = first
        missing = [c for c in needed if c not in names]
        if missing:
            raise ReadError(
                f"{path}:{first_number}: the header lacks the column(s) {missing} "
                f"that the schema reads; its columns are {names}"
            )
        pending: list[str] | None = None
    else:
        if not schema.columns:
            missing = [c for c in needed if c not in first]
            raise ReadError(
                f"{path}:{first_number}: the header lacks the column(s) {missing} "
                f"that the schema reads; its first row is {first} (a file without "
                "a header needs the schema's columns=)"
            )
        names = list(schema.columns)
        missing = [c for c in needed if c not in names]
        if missing:
            raise ReadError(
                f"{path}: schema.columns {names} lack the column(s) {missing}"
            )
        pending = first
    layout = DelimitedLayout(delimiter, tuple(names), header, first_number, pending)
    return layout, reader


class DelimitedRows:
    """Converts the records of a delimited file into rows.

    Remembers whether any non-blank record was seen, for `check_end`.

    Args:
        path: The file, for the messages.
        schema: Its columns.
        layout: From `read_layout`.

    Raises:
        ReadError: If a column appears twice in the file.
    """

    def __init__(self, path: str, schema: ClickSchema, layout: DelimitedLayout):
        self.path = path
        self.header = layout.header
        self.width = len(layout.names)
        self.positions = _field_positions(path, schema, list(layout.names))
        self.convert = _row_converter(schema, self.positions)
        self.any_row = False

    def rows(
        self,
        records: Iterable[tuple[list[str], int]],
        reject: Callable[[int, str], None],
        keep: Callable[[int], bool] | None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """`(line, row)` of the `(fields, line)` records whose line `keep`
        accepts; malformed ones go to `reject`, blank ones are passed over."""
        width = self.width
        convert = self.convert
        for fields, number in records:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # A blank line.
            self.any_row = True
            if keep is not None and not keep(number):
                continue
            if len(fields) != width:
                reject(number, f"expected {width} fields, found {len(fields)}")
                continue
            try:
                row = convert(fields)
            except RowError as err:
                reject(number, str(err))
                continue
            yield number, row

    def check_end(self, rejected_lines: int) -> None:
        """Raises `ReadError` for a header without data rows (`rejected_lines`:
        the lines that were not UTF-8, which may have been rows)."""
        if self.header and not self.any_row and not rejected_lines:
            raise ReadError(f"{self.path} has a header row but no data rows")


def delimited_rows(
    path: str,
    schema: ClickSchema,
    lines: Lines,
    reject: Callable[[int, str], None],
    keep: Callable[[int], bool] | None,
    header: bool | None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    layout, reader = read_layout(path, schema, lines, header)
    converter = DelimitedRows(path, schema, layout)

    def records() -> Iterator[tuple[list[str], int]]:
        if layout.first_row is not None:
            yield layout.first_row, layout.first_number
        for fields in csv_records(
            reader, lambda err: reject(lines.line, f"malformed line: {err}")
        ):
            yield fields, lines.line

    yield from converter.rows(records(), reject, keep)
    converter.check_end(lines.rejected)


def _needed_columns(schema: ClickSchema) -> tuple[list[str], list[str]]:
    """The file columns a schema reads, and its columns derived from others."""
    derived = []
    if schema.format == "avazu":
        derived = [c for c in AVAZU_DERIVED if c in schema.categorical]
    needed = [schema.label] + [c for c in schema.features if c not in derived]
    if derived and "hour" not in needed:
        needed.append("hour")
    return needed, derived


def _field_positions(
    path: str, schema: ClickSchema, names: list[str]
) -> FieldPositions:
    """Where the schema's columns are among the file's columns `names`.

    Raises:
        ReadError: If a column appears twice in `names`.
    """
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise ReadError(f"{path}: the columns {duplicated} appear more than once")
    _, derived = _needed_columns(schema)
    derived = [c for c in derived if c not in names]  # Else read from the file.
    position = {name: i for i, name in enumerate(names)}
    return FieldPositions(
        label=position[schema.label],
        strings=tuple(
            (c, position[c])
            for c in schema.categorical + schema.multi_value
            if c not in derived
        ),
        numbers=tuple((c, position[c]) for c in schema.numeric),
        hour=position["hour"] if derived else None,
        derived=tuple(derived),
    )


def _string_value(field: str) -> str:
    """A categorical or multi-value field as read: stripped, `""` if missing."""
    value = field.strip()
    return "" if value in _MISSING else value


def number_value(column: str, position: int, field: str) -> float:
    """A numeric field as read: NaN if missing.

    Args:
        column: The column, for the message.
        position: Its 0-based position in the row, for the message.
        field: The field.

    Raises:
        RowError: If the field is not a number.
    """
    value = field.strip()
    if value in _MISSING:
        return math.nan
    number = parse_float(value)
    if number is None:
        raise RowError(
            f"column {column!r} (field {position + 1}) is numeric but has the "
            f"value {value!r}"
        )
    return number


def _row_converter(
    schema: ClickSchema, positions: FieldPositions
) -> Callable[[list[str]], dict[str, Any]]:
    """A function from a row's fields to the row dict (raises `RowError`)."""
    label_name = schema.label
    label_at = positions.label
    parse_label = build_label_parser(schema.label, schema.label_threshold)
    strings = positions.strings
    numbers = positions.numbers
    hour_at = positions.hour
    derived = positions.derived

    def convert(fields: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {label_name: parse_label(fields[label_at])}
        for name, i in strings:
            row[name] = _string_value(fields[i])
        for name, i in numbers:
            row[name] = number_value(name, i, fields[i])
        if hour_at is not None:
            hour_of_day, weekday = split_hour(fields[hour_at])
            if "hour_of_day" in derived:
                row["hour_of_day"] = hour_of_day
            if "weekday" in derived:
                row["weekday"] = weekday
        return row

    return convert
