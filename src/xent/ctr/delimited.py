"""Delimited click logs: CSV, TSV, Criteo and Avazu rows.

`delimited_rows` streams the rows of a delimited file as
`(line, row dict)` for `xent.ctr.readers.iter_rows`; `sniff_delimiter` and
`delimited_reader` are shared with the schema inference
(`xent.ctr.sniffing`). See `xent.ctr.readers` for the formats.
"""

from __future__ import annotations

import csv
import datetime
import functools
import itertools
import math
from collections.abc import Callable
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

__all__ = ["delimited_reader", "delimited_rows", "sniff_delimiter"]

_MISSING = frozenset(MISSING_VALUES)  # Faster membership in the row loop.


@functools.lru_cache(maxsize=65_536)  # A log has few distinct hours.
def _split_hour(value: str) -> tuple[str, str]:
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


def delimited_rows(
    path: str,
    schema: ClickSchema,
    lines: Lines,
    reject: Callable[[int, str], None],
    keep: Callable[[int], bool] | None,
    header: bool | None,
) -> Iterator[tuple[int, dict[str, Any]]]:
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
    needed, derived = _needed_columns(schema)
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
    convert = _row_converter(path, schema, names, derived)
    width = len(names)

    def rows() -> Iterator[tuple[list[str], int]]:
        if pending is not None:
            yield pending, first_number
        for fields in csv_records(
            reader, lambda err: reject(lines.line, f"malformed line: {err}")
        ):
            yield fields, lines.line

    any_row = False
    for fields, number in rows():
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # A blank line.
        any_row = True
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
    if header and not any_row and not lines.rejected:
        raise ReadError(f"{path} has a header row but no data rows")


def _needed_columns(schema: ClickSchema) -> tuple[list[str], list[str]]:
    """The file columns a schema reads, and its columns derived from others."""
    derived = []
    if schema.format == "avazu":
        derived = [c for c in AVAZU_DERIVED if c in schema.categorical]
    needed = [schema.label] + [c for c in schema.features if c not in derived]
    if derived and "hour" not in needed:
        needed.append("hour")
    return needed, derived


def _row_converter(
    path: str, schema: ClickSchema, names: list[str], derived: list[str]
) -> Callable[[list[str]], dict[str, Any]]:
    """A function from a row's fields to the row dict (raises `RowError`)."""
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise ReadError(f"{path}: the columns {duplicated} appear more than once")
    if derived and any(c in names for c in derived):
        derived = [c for c in derived if c not in names]  # Present in the file.
    position = {name: i for i, name in enumerate(names)}
    label_name = schema.label
    label_at = position[label_name]
    parse_label = build_label_parser(schema.label, schema.label_threshold)
    strings = [
        (c, position[c])
        for c in schema.categorical + schema.multi_value
        if c not in derived
    ]
    numbers = [(c, position[c]) for c in schema.numeric]
    hour_at = position["hour"] if derived else None
    missing = _MISSING
    nan = math.nan

    def convert(fields: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {label_name: parse_label(fields[label_at])}
        for name, i in strings:
            value = fields[i].strip()
            row[name] = "" if value in missing else value
        for name, i in numbers:
            value = fields[i].strip()
            if value in missing:
                row[name] = nan
                continue
            number = parse_float(value)
            if number is None:
                raise RowError(
                    f"column {name!r} (field {i + 1}) is numeric but has the value "
                    f"{value!r}"
                )
            row[name] = number
        if hour_at is not None:
            hour_of_day, weekday = _split_hour(fields[hour_at])
            if "hour_of_day" in derived:
                row["hour_of_day"] = hour_of_day
            if "weekday" in derived:
                row["weekday"] = weekday
        return row

    return convert
