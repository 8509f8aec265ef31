"""Streaming readers of click logs: CSV/TSV, Criteo, Avazu and libSVM/libFM.

A click log is a file of rows with a binary label (click or not) and feature
columns in three roles, described by a `ClickSchema`:

* categorical: one string per row (`""` when missing), e.g. hashed ids;
* numeric: one float per row (NaN when missing);
* multi-value: several categories in one field joined by `separator` (e.g.
  `Comedy|Drama`), kept as that one string.

`infer_schema` sniffs the format, the header and the roles from the start of
a file; `iter_rows` streams the rows of a file as dicts (the file is never read
whole); `xent.ctr.builder.load_click_data` prepares a file once into TFRecord
shards (through a tensorflow-datasets builder) and returns batched
`tf.data` streams plus the training-split statistics a CTR preprocessor needs.

Formats (`FORMATS`):

* `csv` / `tsv`: delimited text, UTF-8 (a byte-order mark is ignored), parsed
  with the `csv` module (`tsv` without quoting). With a header row columns
  are found by name (so a test file may order them differently); without
  one, by position in `ClickSchema.columns`.
* `criteo`: `label`, `I1..I13` (numeric), `C1..C26` (categorical). The real
  files are tab-separated without a header; a comma-separated file with a
  header (as in the shared samples) is read too: the delimiter and the header
  are detected per file.
* `avazu`: comma-separated with a header; `click` is the label, `id` is
  dropped, and `hour` (`YYMMDDHH`) becomes two categorical columns,
  `hour_of_day` (`"00"`..`"23"`) and `weekday` (`"0"`..`"6"`, Monday = 0).
  Every other column is categorical and read as the exact string (the 20-digit
  ids are never parsed as numbers).
* `libsvm` (also libFM): `label idx:val idx:val ...`, whitespace-separated.
  If every sampled line has the same number of tokens and every value is 1
  (one-hot fields by position, as in Frappe), field `k` is the categorical
  column `f{k}` whose value is the index string (the names can be given with
  `categorical=`). Otherwise the row has one multi-value column `features`:
  the indices joined by `separator`. The values are not kept: an index is
  present when its value is non-zero (a token with value 0 is dropped, any
  other value, e.g. a tf-idf weight, is read as presence); in the one-hot
  layout a value other than 1 is a malformed row.

Values:

* A field equal (after stripping whitespace) to one of `MISSING_VALUES` is
  missing.
* Labels: `0`/`1`, `-1`/`1` (`+1`), `true`/`false` (any case), and the same
  numbers written as floats (`1.0`); or, with `ClickSchema.label_threshold`,
  any number, the label being `value >= threshold` (e.g. a rating >= 4).
* Numbers are parsed with Python's `float` (digit separators `_` are
  rejected); `inf` is kept as a value.

Lines end at `\n`, `\r\n` or a lone `\r`. Malformed rows (wrong number of
fields, unparsable number, bad `idx:val` token, invalid or missing label, bad
`hour`, a line that is not UTF-8 or that the `csv` module rejects) follow the
policy of `xent.bad_rows`: they raise `ReadError` naming `file:line` by
default (`on_bad_rows="fail"`); with `"skip"` they are dropped and counted in
a `BadRows`, and reading fails once more than `max_bad_rows` were skipped. A
missing or empty file, a header that lacks a column and a first line of a
delimited file that is not UTF-8 (it decides the delimiter and the header)
always raise `ReadError`.

>>> schema = ClickSchema(label="click", categorical=("site",), numeric=("price",))
>>> schema.features
('site', 'price')
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import itertools
import math
import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from xent.bad_rows import BadRows
from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.bad_rows import build_rejecter
from xent.bad_rows import check_file as _check_file
from xent.bad_rows import check_policy as _policy
from xent.bad_rows import csv_records

if TYPE_CHECKING:  # Imported lazily: tensorflow is slow to import.
    import tensorflow as tf

__all__ = [
    "CRITEO_CATEGORICAL",
    "CRITEO_NUMERIC",
    "FORMATS",
    "MISSING_VALUES",
    "BadRows",
    "ClickData",
    "ClickSchema",
    "ReadError",
    "infer_schema",
    "iter_rows",
]

FORMATS = ("auto", "csv", "tsv", "criteo", "avazu", "libsvm")
"""Values of the `format` argument; `"auto"` sniffs one of the others."""

MISSING_VALUES = frozenset({"", "NA", "NaN", "nan", "null", "?"})
"""Field values (after stripping whitespace) that mean "missing"."""

CRITEO_NUMERIC = tuple(f"I{i}" for i in range(1, 14))
CRITEO_CATEGORICAL = tuple(f"C{i}" for i in range(1, 27))
_CRITEO_COLUMNS = ("label", *CRITEO_NUMERIC, *CRITEO_CATEGORICAL)
_AVAZU_DERIVED = ("hour_of_day", "weekday")
_LIBSVM_EXTENSIONS = (".libfm", ".libsvm", ".svm")
_SCHEMA_FORMATS = FORMATS[1:] + ("tfds",)

_LABELS = {
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
# Integer columns with at most this many distinct sampled values are codes.
_SMALL_CARDINALITY = 50
_ID_NAME = re.compile(r"(^|[^a-z])id($|[^a-z])|id$|ids$")


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
        _check_roles(
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


def _check_roles(label: str, roles: dict[str, Sequence[str]], where: str) -> None:
    """Raises if a column is in two roles or is also the label."""
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


class _RowError(Exception):
    """A malformed row; the message is the reason (without file and line)."""


# ---------------------------------------------------------------------------
# Low-level reading: labels, fields.


def _label_parser(name: str, threshold: float | None) -> Callable[[str], int]:
    if threshold is not None:

        def parse(value: str) -> int:
            value = value.strip()
            if value in MISSING_VALUES:
                raise _RowError(f"missing label (column {name!r} is {value!r})")
            number = _parse_float(value)
            if number is None or math.isnan(number):
                raise _RowError(
                    f"label column {name!r} has the value {value!r}, not a number "
                    f"(label_threshold={threshold:g})"
                )
            return int(number >= threshold)

        return parse

    def parse(value: str) -> int:
        label = _LABELS.get(value)
        if label is not None:
            return label
        value = value.strip()
        label = _LABELS.get(value.lower())
        if label is not None:
            return label
        if value in MISSING_VALUES:
            raise _RowError(f"missing label (column {name!r} is {value!r})")
        raise _RowError(
            f"label column {name!r} has the value {value!r}; expected a binary "
            "label (0/1, -1/1 or true/false) or a label_threshold"
        )

    return parse


def _libsvm_token(token: str) -> tuple[str, float]:
    """`idx:val` as `(idx, val)`.

    Raises:
        _RowError: Naming the token, when it is not `digits:number`.
    """
    idx, colon, value = token.partition(":")
    if not colon or not idx.isdigit() or not idx.isascii():
        raise _RowError(f"bad token {token!r}: expected idx:val")
    if value == "1":
        return idx, 1.0
    number = _parse_float(value)
    if number is None:
        raise _RowError(f"bad token {token!r}: expected idx:val")
    return idx, number


def _parse_float(text: str) -> float | None:
    if "_" in text:  # Python accepts "1_000"; a data file means something else.
        return None
    try:
        return float(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=65_536)  # A log has few distinct hours.
def _split_hour(value: str) -> tuple[str, str]:
    """Avazu's `YYMMDDHH` -> (`hour_of_day`, `weekday`)."""
    text = value.strip()
    if text in MISSING_VALUES:
        return "", ""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise _RowError(f"column 'hour' is {value!r}, not YYMMDDHH")
    hour = int(text[6:])
    try:
        day = datetime.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise _RowError(f"column 'hour' is {value!r}, not a valid YYMMDDHH") from None
    if hour > 23:
        raise _RowError(f"column 'hour' is {value!r}: hour {hour} is not 00..23")
    return text[6:], str(day.weekday())


def _sniff_delimiter(line: str, fmt: str) -> str:
    if fmt == "tsv":
        return "\t"
    if fmt == "criteo":
        return "\t" if "\t" in line else ","
    return ","


def _csv_reader(lines: Iterator[str], delimiter: str) -> Iterator[list[str]]:
    if delimiter == "\t":
        return csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return csv.reader(lines, delimiter=delimiter)


# ---------------------------------------------------------------------------
# Streaming rows.


def _rejecter(
    path: str,
    on_bad_rows: str,
    max_bad_rows: int,
    bad_rows: BadRows,
    keep: Callable[[int], bool] | None,
) -> Callable[[int, str], None]:
    reject = build_rejecter(path, on_bad_rows, max_bad_rows, bad_rows)
    if keep is None:
        return reject

    def reject_kept(line: int, reason: str) -> None:
        if keep(line):  # Else another pass (split) owns this line.
            reject(line, reason)

    return reject_kept


def iter_rows(
    path: str | PathLike[str],
    schema: ClickSchema,
    on_bad_rows: str = "fail",
    max_bad_rows: int = 100,
    header: bool | None = None,
    bad_rows: BadRows | None = None,
) -> Iterator[dict[str, Any]]:
    """Streams the rows of a click log as dicts.

    The file is read line by line, never whole. Each row is
    `{schema.label: 0 or 1, categorical: str, numeric: float, multi_value:
    str}` with exactly the schema's columns.

    >>> for row in iter_rows("clicks.csv", schema):  # doctest: +SKIP
    ...     row["click"], row["site"]

    Args:
        path: The file.
        schema: Its columns and format (e.g. from `infer_schema`).
        on_bad_rows: `"fail"` to raise on the first malformed row, `"skip"`
            to drop malformed rows.
        max_bad_rows: With `"skip"`, reading fails when more rows than this
            were skipped.
        header: Whether the file starts with a header row; `None` uses
            `schema.header` (which may itself be `None`: detected).
        bad_rows: If given, receives the count and first reasons of the
            skipped rows (also when the iteration fails).

    Yields:
        One dict per row, in file order.

    Raises:
        ReadError: If the file is missing or empty, lacks a column the schema
            reads, or (`"fail"`) has a malformed row, or (`"skip"`) has more
            than `max_bad_rows` of them. Messages are `"file:line: reason"`.
    """
    for _, row in _iter_numbered(
        path, schema, on_bad_rows, max_bad_rows, header, bad_rows, None
    ):
        yield row


def _iter_numbered(
    path: str | PathLike[str],
    schema: ClickSchema,
    on_bad_rows: str,
    max_bad_rows: int,
    header: bool | None,
    bad_rows: BadRows | None,
    keep: Callable[[int], bool] | None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """`iter_rows` with line numbers; only rows whose line `keep` accepts.

    Malformed rows on lines that `keep` rejects are not reported either, so
    that several passes with disjoint `keep`s report each line once.
    """
    path = str(path)
    _policy(on_bad_rows, max_bad_rows)
    _check_file(path)
    if schema.format == "tfds":
        raise ReadError(f"{path}: a schema of format 'tfds' cannot read files")
    bad_rows = BadRows() if bad_rows is None else bad_rows
    reject = _rejecter(path, on_bad_rows, max_bad_rows, bad_rows, keep)
    # The first line of a delimited file decides the delimiter and the header.
    lines = Lines(path, reject, strict_first=schema.format != "libsvm")
    if header is None:
        header = schema.header
    if schema.format == "libsvm":
        rows = _libsvm_rows(path, schema, lines, reject, keep)
    else:
        rows = _delimited_rows(path, schema, lines, reject, keep, header)
    yield from rows


def _libsvm_rows(
    path: str,
    schema: ClickSchema,
    lines: Lines,
    reject: Callable[[int, str], None],
    keep: Callable[[int], bool] | None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    parse_label = _label_parser(schema.label, schema.label_threshold)
    label_name = schema.label
    if (
        schema.numeric
        or len(schema.multi_value) > 1
        or (schema.multi_value and schema.categorical)
    ):
        raise ReadError(
            f"{path}: a libsvm schema has either one-hot categorical fields or "
            f"one multi-value column; got categorical={list(schema.categorical)}, "
            f"numeric={list(schema.numeric)}, multi_value={list(schema.multi_value)}"
        )
    fields = schema.categorical
    width = len(fields)
    multi = schema.multi_value[0] if schema.multi_value else None
    join = schema.separator.join
    seen_any = False
    for text in lines:
        number = lines.line
        tokens = text.split()
        if not tokens:
            continue
        seen_any = True
        if keep is not None and not keep(number):
            continue
        try:
            row: dict[str, Any] = {label_name: parse_label(tokens[0])}
            if multi is None:
                if len(tokens) - 1 != width:
                    raise _RowError(
                        f"expected {width} idx:val tokens (one per field), found "
                        f"{len(tokens) - 1}"
                    )
                for name, token in zip(fields, tokens[1:], strict=True):
                    idx, number_value = _libsvm_token(token)
                    if number_value != 1.0:
                        raise _RowError(
                            f"field {name!r} has the value "
                            f"{token.partition(':')[2]!r} in {token!r}; one-hot "
                            "fields take the value 1"
                        )
                    row[name] = idx
            else:
                present = []
                for token in tokens[1:]:
                    idx, number_value = _libsvm_token(token)
                    if number_value != 0.0:
                        present.append(idx)
                row[multi] = join(present)
        except _RowError as err:
            reject(number, str(err))
            continue
        yield number, row
    if not seen_any and not lines.rejected:
        raise ReadError(f"{path} is empty")


def _delimited_rows(
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
    delimiter = _sniff_delimiter(first_line, schema.format)
    reader = _csv_reader(itertools.chain([first_line], line_iter), delimiter)
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
        except _RowError as err:
            reject(number, str(err))
            continue
        yield number, row
    if header and not any_row and not lines.rejected:
        raise ReadError(f"{path} has a header row but no data rows")


def _needed_columns(schema: ClickSchema) -> tuple[list[str], list[str]]:
    """The file columns a schema reads, and its columns derived from others."""
    derived = []
    if schema.format == "avazu":
        derived = [c for c in _AVAZU_DERIVED if c in schema.categorical]
    needed = [schema.label] + [c for c in schema.features if c not in derived]
    if derived and "hour" not in needed:
        needed.append("hour")
    return needed, derived


def _row_converter(
    path: str, schema: ClickSchema, names: list[str], derived: list[str]
) -> Callable[[list[str]], dict[str, Any]]:
    """A function from a row's fields to the row dict (raises `_RowError`)."""
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise ReadError(f"{path}: the columns {duplicated} appear more than once")
    if derived and any(c in names for c in derived):
        derived = [c for c in derived if c not in names]  # Present in the file.
    position = {name: i for i, name in enumerate(names)}
    label_name = schema.label
    label_at = position[label_name]
    parse_label = _label_parser(schema.label, schema.label_threshold)
    strings = [
        (c, position[c])
        for c in schema.categorical + schema.multi_value
        if c not in derived
    ]
    numbers = [(c, position[c]) for c in schema.numeric]
    hour_at = position["hour"] if derived else None
    missing = MISSING_VALUES
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
            if "_" in value:
                number = None
            else:
                try:
                    number = float(value)
                except ValueError:
                    number = None
            if number is None:
                raise _RowError(
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


# ---------------------------------------------------------------------------
# Schema inference.


def _first_lines(path: str, limit: int, skip: bool) -> Iterator[tuple[int, str]]:
    """Up to `limit` non-blank decoded lines with their numbers.

    A line that is not UTF-8 is a `ReadError`; with `skip`, only the first
    non-blank one (which decides the layout), later ones are left out.
    """

    def on_bad(number: int, reason: str) -> None:
        if not skip:
            raise ReadError(f"{path}:{number}: {reason}")

    lines = Lines(path, on_bad, strict_first=True)
    count = 0
    for text in lines:
        if not text.strip():
            continue
        yield lines.line, text
        count += 1
        if count >= limit:
            return


def _sniff_format(path: str, first_line: str) -> str:
    if Path(path).suffix.lower() in _LIBSVM_EXTENSIONS:
        return "libsvm"
    tokens = first_line.split()
    if (
        len(tokens) >= 2
        and "," not in first_line
        and all(":" in token for token in tokens[1:])
        and _parse_float(tokens[0]) is not None
    ):
        return "libsvm"
    if "\t" in first_line:
        fields = first_line.rstrip("\r\n").split("\t")
        if len(fields) == len(_CRITEO_COLUMNS) and fields[0].strip() in _LABELS:
            return "criteo"
        if [f.strip() for f in fields] == list(_CRITEO_COLUMNS):
            return "criteo"
        return "tsv"
    try:
        fields = [f.strip() for f in next(csv.reader([first_line]), [])]
    except csv.Error:  # e.g. an unbalanced quote; reading will say where.
        fields = [f.strip() for f in first_line.split(",")]
    lowered = {f.lower() for f in fields}
    if {"click", "hour"} <= lowered:
        return "avazu"
    if fields == list(_CRITEO_COLUMNS):
        return "criteo"
    return "csv"


def _value_kind(value: str) -> str:
    """`"int"`, `"float"` or `"str"` for a non-missing value."""
    digits = value[1:] if value[:1] in "+-" else value
    if digits.isascii() and digits.isdigit():
        return "int"
    return "str" if _parse_float(value) is None else "float"


def _infer_role(name: str, values: list[str], separator: str) -> str:
    """The role of a delimited column from its sampled non-missing values."""
    kinds = {_value_kind(v) for v in values}
    if not values or "str" in kinds:
        if any(separator in v for v in values):
            return "multi_value"
        return "categorical"
    if "float" in kinds:
        return "numeric"
    distinct = len(set(values))
    if (
        _ID_NAME.search(name.lower())
        or distinct <= _SMALL_CARDINALITY
        or distinct >= 0.5 * len(values)
    ):
        return "categorical"
    return "numeric"


def _as_names(argument: str, value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(
            f"Invalid value for argument {argument}. Expected a sequence of "
            f"column names. Received: {argument}={value!r}"
        )
    return tuple(value) or None  # An empty list means "not given".


def infer_schema(
    path: str | PathLike[str],
    format: str = "auto",  # noqa: A002 - the name users know.
    label: str | None = None,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    multi_value: Sequence[str] | None = None,
    separator: str = "|",
    header: bool | None = None,
    sample_rows: int = 1000,
    columns: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    label_threshold: float | None = None,
    on_bad_rows: str = "fail",
) -> ClickSchema:
    """Sniffs the format, header and column roles of a click log.

    Only the first `sample_rows` rows are read. Explicit `categorical`,
    `numeric` and `multi_value` columns win; other columns get a role from
    their format (Criteo, Avazu, libSVM: see the module docstring) or, for
    csv/tsv, from their sampled values:

    * text -> categorical, or multi-value when a value contains `separator`;
    * a value with a fraction or exponent -> numeric;
    * integers -> categorical when the column is named like an id (`id`,
      `user_id`, `movieId`), has at most 50 distinct values (codes), or at
      least half of its sampled values are distinct (ids, hashes); otherwise
      numeric (counts);
    * only missing values -> categorical.

    Format sniffing (`format="auto"`): a `.libfm`/`.libsvm`/`.svm` file or a
    first line `label idx:val ...` is libsvm; a tab-separated first line of
    40 fields starting with a label (or the Criteo header) is criteo; a
    header with `click` and `hour` is avazu; the Criteo header in a CSV is
    criteo; else tsv if the first line has a tab, else csv.

    Header detection (`header=None`, csv/tsv): the first row is a header when
    it contains `label` (if given), or when none of its fields is empty or a
    number and they are distinct. A file without a header gets its columns
    from `columns`, else `c0..c{n-1}`.

    >>> infer_schema("frappe.validation.libfm").categorical  # doctest: +SKIP
    ('f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9')

    Args:
        path: The file.
        format: One of `FORMATS`.
        label: The label column; by default `label` (libsvm, criteo),
            `click` (avazu), or for csv/tsv a column named `label`, `click`,
            `clicked` or `target` (any case).
        categorical: Columns that are categorical; for one-hot libsvm files,
            the names of the fields (as many as tokens per line). An empty
            list, like `None`, means none given (also for the other roles).
        numeric: Columns that are numeric.
        multi_value: Multi-value columns; for other libsvm files, the name of
            the one multi-value column (default `features`).
        separator: The separator of multi-value fields (and of the indices of
            a multi-value libsvm row).
        header: Whether the file has a header row; `None` detects it.
        sample_rows: How many rows to read for the inference.
        columns: The names of a header-less delimited file's columns.
        drop: Columns to ignore.
        label_threshold: See `ClickSchema.label_threshold`.
        on_bad_rows: As in `iter_rows`: with `"skip"`, sampled lines that
            are not UTF-8 (except the first, which decides the layout) and
            rows with an invalid label (or, in libsvm files, a bad `idx:val`
            token) are left out of the inference instead of raising; reading
            the file with the same policy then counts them.

    Returns:
        The schema.

    Raises:
        ReadError: If the file is missing, empty, not UTF-8 in the sample, of
            an unknown format, has no (or an unknown) label column (the
            message lists the columns), a non-binary label value in the
            sample (names the line), a column in two roles, or names unknown
            columns in the arguments.
        ValueError: On an invalid `sample_rows` or `on_bad_rows`.
    """
    path = str(path)
    if format not in FORMATS:
        raise ReadError(
            f"{path}: unknown format {format!r}; expected one of {list(FORMATS)}"
        )
    if sample_rows < 1:
        raise ValueError(
            f"Invalid value for argument sample_rows. Expected an integer >= 1. "
            f"Received: sample_rows={sample_rows!r}"
        )
    _policy(on_bad_rows, 0)
    skip = on_bad_rows == "skip"
    _check_file(path)
    explicit = {
        "categorical": _as_names("categorical", categorical),
        "numeric": _as_names("numeric", numeric),
        "multi_value": _as_names("multi_value", multi_value),
    }
    _check_roles(
        label if label is not None else "",
        {k: v for k, v in explicit.items() if v},
        f"{path}: ",
    )
    sample = list(_first_lines(path, sample_rows + 1, skip))
    if not sample:
        raise ReadError(f"{path} is empty")
    if format == "auto":
        format = _sniff_format(path, sample[0][1])  # noqa: A001
    if format == "libsvm":
        return _infer_libsvm(
            path,
            sample[:sample_rows],
            label,
            explicit,
            separator,
            label_threshold,
            skip,
        )
    return _infer_delimited(
        path,
        sample,
        format,
        label,
        explicit,
        separator,
        header,
        _as_names("columns", columns),
        _as_names("drop", drop) or (),
        label_threshold,
        sample_rows,
        skip,
    )


def _check_sample_labels(
    path: str, schema: ClickSchema, labels: list[tuple[int, str]], skip: bool
) -> None:
    if skip:
        return  # Reading counts them as bad rows.
    parse = _label_parser(schema.label, schema.label_threshold)
    for number, value in labels:
        try:
            parse(value)
        except _RowError as err:
            raise ReadError(f"{path}:{number}: {err}") from None


def _is_libsvm_row(tokens: list[str], parse_label: Callable[[str], int]) -> bool:
    """Whether a line's tokens are a label and `idx:val` tokens."""
    try:
        parse_label(tokens[0])
    except _RowError:
        return False
    try:
        for token in tokens[1:]:
            _libsvm_token(token)
    except _RowError:
        return False
    return True


def _infer_libsvm(
    path: str,
    sample: list[tuple[int, str]],
    label: str | None,
    explicit: dict[str, tuple[str, ...] | None],
    separator: str,
    label_threshold: float | None,
    skip: bool,
) -> ClickSchema:
    label = label or "label"
    if explicit["numeric"]:
        raise ReadError(
            f"{path}: a libsvm file has no named numeric columns; received "
            f"numeric={list(explicit['numeric'])}"
        )
    rows = [(number, text.split()) for number, text in sample]
    if skip:  # Malformed rows must not decide the layout.
        parse_label = _label_parser(label, label_threshold)
        rows = [
            (n, tokens) for n, tokens in rows if _is_libsvm_row(tokens, parse_label)
        ]
        if not rows:
            raise ReadError(
                f"{path}: none of the first {len(sample)} lines is a libsvm row "
                "(label idx:val ...)"
            )
    widths = {len(tokens) - 1 for _, tokens in rows}
    # A one-hot layout needs at least one field (lines of a label alone are a
    # multi-value column with no values).
    one_hot = (
        widths != {0}
        and len(widths) == 1
        and all(
            token.partition(":")[2] in ("1", "1.0")
            for _, tokens in rows
            for token in tokens[1:]
        )
    )
    categorical = explicit["categorical"]
    multi_value = explicit["multi_value"]
    if one_hot and not multi_value:
        (width,) = widths
        if categorical is None:
            categorical = tuple(f"f{i}" for i in range(width))
        elif len(categorical) != width:
            raise ReadError(
                f"{path}:{rows[0][0]}: the lines have {width} one-hot fields but "
                f"categorical names {len(categorical)}: {list(categorical)}"
            )
        multi_value = ()
    else:
        if categorical:
            raise ReadError(
                f"{path}: the lines are not one-hot fields of a fixed width (token "
                f"counts {sorted(widths)[:10]}), so they are read as one multi-value "
                f"column; categorical={list(categorical)} cannot be used"
            )
        multi_value = multi_value or ("features",)
        if len(multi_value) != 1:
            raise ReadError(
                f"{path}: a libsvm file has one multi-value column; received "
                f"multi_value={list(multi_value)}"
            )
        categorical = ()
    schema = ClickSchema(
        label=label,
        categorical=categorical,
        numeric=(),
        multi_value=multi_value,
        separator=separator,
        format="libsvm",
        label_threshold=label_threshold,
    )
    _check_sample_labels(path, schema, [(n, tokens[0]) for n, tokens in rows], skip)
    return schema


def _infer_delimited(
    path: str,
    sample: list[tuple[int, str]],
    fmt: str,
    label: str | None,
    explicit: dict[str, tuple[str, ...] | None],
    separator: str,
    header: bool | None,
    columns: tuple[str, ...] | None,
    drop: tuple[str, ...],
    label_threshold: float | None,
    sample_rows: int,
    skip: bool,
) -> ClickSchema:
    header_argument = header
    delimiter = _sniff_delimiter(sample[0][1], fmt)
    numbers = [n for n, _ in sample]
    parsed: list[tuple[int, list[str]]] = []
    reader = _csv_reader(iter([text for _, text in sample]), delimiter)

    def malformed(err):
        if not (skip and parsed):
            number = numbers[min(reader.line_num, len(numbers)) - 1]
            raise ReadError(f"{path}:{number}: malformed line: {err}") from None

    for fields in csv_records(reader, malformed):
        if fields:
            parsed.append((numbers[min(reader.line_num, len(numbers)) - 1], fields))
    if not parsed:
        raise ReadError(f"{path} is empty")
    first_number, first = parsed[0]
    first = [f.strip() for f in first]
    if fmt == "criteo":
        default_columns = _CRITEO_COLUMNS
        label = label or "label"
        if header is None:
            header = first[:1] == ["label"] or set(_CRITEO_COLUMNS) <= set(first)
    elif fmt == "avazu":
        label = label or "click"
        if header is None:
            header = True
        default_columns = None
    else:
        default_columns = None
        if header is None:
            header = (label is not None and label in first) or (
                len(set(first)) == len(first)
                and all(f and _parse_float(f) is None for f in first)
            )
    if header:
        names = tuple(first)
        data = parsed[1:]
        if columns is not None and tuple(columns) != names:
            raise ReadError(
                f"{path}:{first_number}: columns={list(columns)} differ from the "
                f"header {list(names)}"
            )
    else:
        names = columns or default_columns or tuple(f"c{i}" for i in range(len(first)))
        data = parsed
    data = data[:sample_rows]
    if not data:
        raise ReadError(f"{path} has a header row but no data rows")
    if len(set(names)) != len(names) or not all(names):
        raise ReadError(
            f"{path}:{first_number}: column names must be distinct and non-empty; "
            f"got {list(names)}"
        )
    derived: tuple[str, ...] = ()
    if fmt == "avazu":
        if "hour" in names and not any(c in names for c in _AVAZU_DERIVED):
            derived = _AVAZU_DERIVED
        explicitly_read = {c for given in explicit.values() for c in given or ()}
        if "id" in names and "id" not in explicitly_read:
            drop = (*drop, "id")
    known = set(names) | set(derived)
    if label is None:
        candidates = [c for c in names if c.lower() in ("label", "click", "clicked")]
        candidates = candidates or [c for c in names if c.lower() == "target"]
        if not candidates:
            raise ReadError(
                f"{path}: no label column (label, click, clicked or target); pass "
                f"label=, one of the columns {list(names)}"
            )
        label = candidates[0]
    if label not in names:
        raise ReadError(
            f"{path}: unknown label column {label!r}; the columns are {list(names)}"
        )
    for argument, given in [*explicit.items(), ("drop", drop)]:
        unknown = [c for c in given or () if c not in known]
        if unknown:
            raise ReadError(
                f"{path}: {argument} names unknown column(s) {unknown}; the "
                f"columns are {list(names)}"
            )
    _check_roles(label, {k: v for k, v in explicit.items() if v}, f"{path}: ")

    width = len(names)
    rows = [(n, [f.strip() for f in fields]) for n, fields in data]
    rows = [(n, fields) for n, fields in rows if len(fields) == width]
    if not rows:
        raise ReadError(
            f"{path}:{data[0][0]}: no sampled row has the {width} fields of the "
            f"columns {list(names)}"
        )
    role_of: dict[str, str] = {}
    for role, given in explicit.items():
        for column in given or ():
            role_of[column] = role
    order = []
    for i, name in enumerate(names):
        if name == "hour" and derived:
            order.extend(derived)
            if name not in role_of:
                continue
        order.append(name)
        if name == label or name in role_of or name in drop:
            continue
        if fmt == "criteo" and name in CRITEO_NUMERIC:
            role_of[name] = "numeric"
        elif fmt in ("criteo", "avazu"):
            role_of[name] = "categorical"
        else:
            values = [
                fields[i] for _, fields in rows if fields[i] not in MISSING_VALUES
            ]
            role_of[name] = _infer_role(name, values, separator)
    for name in derived:
        role_of.setdefault(name, "categorical")
    by_role = {
        role: tuple(c for c in order if role_of.get(c) == role and c not in drop)
        for role in ("categorical", "numeric", "multi_value")
    }
    if not any(by_role.values()):
        raise ReadError(
            f"{path}: no feature columns besides the label {label!r} (the columns "
            f"are {list(names)}, dropped: {list(drop)})"
        )
    schema = ClickSchema(
        label=label,
        separator=separator,
        format=fmt,
        columns=tuple(names),
        header=header_argument,
        label_threshold=label_threshold,
        **by_role,
    )
    label_at = names.index(label)
    _check_sample_labels(
        path, schema, [(n, fields[label_at]) for n, fields in rows], skip
    )
    return schema


# ---------------------------------------------------------------------------
# Prepared data.


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
        value_counts: `{column: {value: count}}` on the train split for each
            categorical column (the missing value `""` included) and each
            multi-value column (per value after splitting; empty parts are
            not counted).
        numeric_stats: `{column: stats}` on the train split: `count` (finite
            values), `missing` (NaN or infinite), `mean`, `std` (population),
            `min`, `max`, `log1p_mean` and `log1p_std` of
            `sign(x) * log1p(|x|)`, and `quantiles`: 33 quantiles (0%, 3.125%,
            ..., 100%) of a uniform reservoir sample of 100,000 values (exact
            when there are fewer values); statistics of no values are NaN
            and `quantiles` is then empty.
        bad_rows: `{"count": n, "examples": [first 5 "file:line: reason"]}`.
        cache_dir: The folder of the TFRecord shards and `metadata.json`.
    """

    name: str
    schema: ClickSchema
    rows: dict[str, int]
    positives: dict[str, int]
    streams: dict[str, Callable[[], tf.data.Dataset]]
    value_counts: dict[str, dict[str, int]]
    numeric_stats: dict[str, dict[str, Any]]
    bad_rows: dict[str, Any]
    cache_dir: str
