"""CSV files of labelled rows read into typed feature columns.

Reading a CSV file (`read_csv`):

* UTF-8 text (a leading byte-order mark is ignored), parsed with the `csv`
  module; the first row is the header. A line longer than `MAX_LINE_CHARS`
  (1 MiB) is malformed (in the header: an error), so that a file that is not
  CSV fails at once instead of being parsed as one enormous row. Every
  field is stripped of surrounding whitespace; blank lines are skipped.
* A field equal to one of `missing_values` is missing.
* A column is numeric when every non-missing value parses as a float
  (Python's `float`, without `_` digit separators), else categorical; the
  `numeric=` / `categorical=` arguments override this.
* Malformed rows (a line that is not UTF-8 or not CSV, a wrong number of
  fields, a missing label, a non-number in a numeric column given by
  `numeric=`, a label that is not one of `class_names=`) follow the
  `on_bad_rows` policy of `xent.bad_rows`: `"fail"` raises
  `ReadError("file:line: reason")`, `"skip"` drops and counts them (up to
  `max_bad_rows`). A missing or empty file, a header without data rows and a
  bad header always raise `ReadError`.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import math
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from os import PathLike

import numpy as np

from xent.bad_rows import BadRows
from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.bad_rows import build_rejecter
from xent.bad_rows import check_file
from xent.bad_rows import check_policy
from xent.bad_rows import csv_records
from xent.data.columns import MISSING_VALUES
from xent.data.columns import parse_float
from xent.data.labels import build_class_id_function

__all__ = [
    "MAX_LINE_CHARS",
    "CsvTable",
    "check_header",
    "encode_labels",
    "iter_csv_rows",
    "read_csv",
    "read_header",
]

MAX_LINE_CHARS = 1 << 20
"""The longest line (in characters, 1 MiB) a CSV file may have."""


@dataclasses.dataclass(frozen=True)
class CsvTable:
    """A CSV file as read by `read_csv`, before labels become class ids.

    Attributes:
        path: The file, as given.
        numeric: Numeric feature columns, in file order.
        categorical: Categorical feature columns, in file order.
        label: The label column.
        features: `{column: values}` as in `Split.features`.
        labels: The raw label of each row (object array of `str`, never
            missing).
        lines: The 1-based line of the file each row ends on (int64), for
            error messages.
    """

    path: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str
    features: dict[str, np.ndarray]
    labels: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def iter_csv_rows(
    path: str, reject: Callable[[int, str], None]
) -> Iterator[tuple[int, list[str]]]:
    """`(line, stripped fields)` of each non-blank row of a CSV file, header first.

    The one way CSV files are read, for training (`read_csv`) and for
    `xent predict`/`evaluate`: UTF-8 (a leading byte-order mark is dropped),
    the `csv` module, fields stripped of surrounding whitespace, blank lines
    skipped, lines longer than `MAX_LINE_CHARS` refused.

    Args:
        path: The file.
        reject: Called with `(line, reason)` for a line that is not UTF-8,
            longer than `MAX_LINE_CHARS` or that the `csv` module cannot
            parse, except in the header (the first row), where that raises
            `ReadError`; it raises to stop, or returns to skip the line.

    Yields:
        `(line, fields)`; `line` is the 1-based line the row ends on.

    Raises:
        ReadError: If the file is missing or a directory, or its header is
            not UTF-8, not CSV or longer than `MAX_LINE_CHARS`.
    """
    check_file(path)
    lines = Lines(path, reject, strict_first=True)
    header_read = False

    def bounded() -> Iterator[str]:
        for text in lines:
            if len(text) <= MAX_LINE_CHARS:
                yield text
                continue
            reason = (
                f"the line has {len(text)} characters, more than the "
                f"{MAX_LINE_CHARS} (1 MiB) a CSV line may have; is this a CSV file?"
            )
            if not header_read:
                raise ReadError(f"{path}:{lines.line}: {reason}")
            reject(lines.line, reason)

    reader = csv.reader(bounded())

    def malformed(err):
        if not header_read:
            raise ReadError(f"{path}:{lines.line}: malformed CSV: {err}") from None
        reject(lines.line, f"malformed CSV: {err}")

    for row in csv_records(reader, malformed):
        fields = [field.strip() for field in row]
        if not fields or fields == [""]:
            continue  # A blank line.
        header_read = True
        yield lines.line, fields


def check_header(path: str, line: int, header: Sequence[str]) -> None:
    """Refuses a header with an empty or repeated column name.

    Args:
        path: The file, for the message.
        line: The header's line, for the message.
        header: The stripped column names.

    Raises:
        ReadError: Naming the file, line and column (`file:line: reason`).
    """
    counts = collections.Counter(header)
    for i, name in enumerate(header):
        if not name:
            raise ReadError(
                f"{path}:{line}: the header has an empty column name (field {i + 1})"
            )
        if counts[name] > 1:
            raise ReadError(
                f"{path}:{line}: the header names column {name!r} more than once"
            )


def read_header(path: str) -> list[str]:
    """The stripped header row of a CSV file (its data rows are not read).

    Raises:
        ReadError: If the file is missing or empty, or its header is not
            UTF-8, not CSV, or has an empty or repeated column name.
    """

    def reject(line: int, reason: str) -> None:
        raise ReadError(f"{path}:{line}: {reason}")

    first = next(iter_csv_rows(path, reject), None)
    if first is None:
        raise ReadError(f"{path} is empty: expected a header row and data rows")
    check_header(path, *first)
    return first[1]


def _check_columns(
    path: str, header: Sequence[str], label: str, argument: str, columns: Sequence[str]
) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise ValueError(
            f"Invalid value for argument {argument}. Expected a sequence of "
            f"column names. Received: {argument}={columns!r}"
        )
    for column in columns:
        if column == label:
            raise ValueError(
                f"Invalid value for argument {argument}: {column!r} is the label "
                f"column of {path}, not a feature"
            )
        if column not in header:
            raise ValueError(
                f"Invalid value for argument {argument}: column {column!r} is not "
                f"in {path}; its columns are {list(header)}"
            )
    return tuple(columns)


def _row_problem(
    fields: list[str],
    label: str,
    label_at: int,
    numeric_at: list[tuple[str, int]],
    missing: frozenset[str],
    class_names: Sequence[str] | None,
    class_id: Callable[[str], int | None] | None,
) -> str | None:
    """Why a row of the right width is malformed, or `None`."""
    value = fields[label_at]
    if value in missing:
        return f"missing label (column {label!r} is {value!r})"
    if class_id is not None and class_id(value) is None:
        return (
            f"label {value!r} in column {label!r} is not one of the training "
            f"classes {list(class_names)}"
        )
    return next(
        (
            f"column {column!r} (field {i + 1}) is numeric but has the "
            f"non-numeric value {fields[i]!r}"
            for column, i in numeric_at
            if fields[i] not in missing and parse_float(fields[i]) is None
        ),
        None,
    )


def _typed_column(
    raw: list[str], missing: frozenset[str], categorical: bool, numeric: bool
) -> np.ndarray:
    """One column's values, typed as the module docstring describes.

    Returns:
        float32 (NaN when missing) if every non-missing value is a number
        (or `numeric`) and not `categorical`; else an object array of `str`
        (`""` when missing).
    """
    parsed = None
    if not categorical:
        parsed = [None if v in missing else parse_float(v) for v in raw]
        if not numeric and any(
            number is None and value not in missing
            for value, number in zip(raw, parsed, strict=True)
        ):
            parsed = None  # Text: a categorical column.
    if parsed is None:
        values = np.empty(len(raw), dtype=object)
        values[:] = ["" if v in missing else v for v in raw]
        return values
    with np.errstate(over="ignore"):  # Beyond float32 range -> inf.
        return np.array([math.nan if p is None else p for p in parsed], np.float32)


def read_csv(
    path: str | PathLike[str],
    label: str,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    missing_values: Sequence[str] = MISSING_VALUES,
    class_names: Sequence[str] | None = None,
    on_bad_rows: str = "fail",
    max_bad_rows: int = 100,
    bad_rows: BadRows | None = None,
) -> CsvTable:
    """Reads a CSV file with a header row into typed feature columns.

    >>> table = read_csv("churn.csv", "churned", on_bad_rows="skip")  # doctest: +SKIP

    Args:
        path: The CSV file (UTF-8).
        label: The label column.
        categorical: Columns to treat as categorical whatever their values
            (e.g. integer codes).
        numeric: Columns to treat as numeric; a row with a non-missing value
            that is not a number in one of them is malformed.
        missing_values: Field values that mean "missing".
        class_names: If given (e.g. the classes of a training file when
            reading a test file), a row whose label is not one of them (as
            `encode_labels` normalizes labels) is malformed.
        on_bad_rows: `"fail"` to raise on the first malformed row, `"skip"`
            to drop malformed rows (see the module docstring).
        max_bad_rows: With `"skip"`, reading fails when more rows than this
            were skipped (counted in `bad_rows`, which may already hold the
            rows skipped in other files).
        bad_rows: If given, receives the count and first reasons of the
            skipped rows (also when reading fails).

    Returns:
        The columns, their types and the raw labels of the rows kept.

    Raises:
        ReadError: If the file is missing, empty or has no data rows (that
            could be read), if its header is not UTF-8, not CSV, has an empty
            or repeated column name or lacks the label column, if it has no
            feature columns; with `"fail"` on the first malformed row, with
            `"skip"` when more than `max_bad_rows` were skipped. Messages name
            the file, and the line (`file:line: reason`) and the column where
            there is one.
        ValueError: If `categorical` or `numeric` name an unknown column (or
            one in both, or the label), or the policy is invalid.
    """
    path = str(path)
    check_policy(on_bad_rows, max_bad_rows)
    missing = frozenset(missing_values)
    bad_rows = BadRows() if bad_rows is None else bad_rows
    skipped_before = bad_rows.count
    reject = build_rejecter(path, on_bad_rows, max_bad_rows, bad_rows)
    rows_iter = iter_csv_rows(path, reject)
    first = next(rows_iter, None)
    if first is None:
        raise ReadError(f"{path} is empty: expected a header row and data rows")
    header_line, header = first
    check_header(path, header_line, header)
    if label not in header:
        raise ReadError(
            f"Label column {label!r} is not in {path}; its columns are {header}"
        )
    forced_categorical = _check_columns(
        path, header, label, "categorical", categorical or ()
    )
    forced_numeric = _check_columns(path, header, label, "numeric", numeric or ())
    both = sorted(set(forced_categorical) & set(forced_numeric))
    if both:
        raise ValueError(
            f"Columns {both} of {path} are in both arguments categorical and numeric"
        )
    features_in_file = [c for c in header if c != label]
    if not features_in_file:
        raise ReadError(f"{path} has no feature columns besides the label {label!r}")

    width = len(header)
    label_at = header.index(label)
    numeric_at = [(column, header.index(column)) for column in forced_numeric]
    class_id = None if class_names is None else build_class_id_function(class_names)
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, fields in rows_iter:
        if len(fields) != width:
            reject(
                line, f"expected {width} fields (as in the header), found {len(fields)}"
            )
            continue
        problem = _row_problem(
            fields, label, label_at, numeric_at, missing, class_names, class_id
        )
        if problem is not None:
            reject(line, problem)
            continue
        rows.append(fields)
        lines.append(line)
    if not rows:
        skipped = bad_rows.count - skipped_before
        also = f" that could be read ({skipped} malformed rows skipped)"
        raise ReadError(
            f"{path} has a header row but no data rows{also if skipped else ''}"
        )

    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    features: dict[str, np.ndarray] = {}
    numeric_columns, categorical_columns = [], []
    for column in features_in_file:
        values = _typed_column(
            columns[column],
            missing,
            categorical=column in forced_categorical,
            numeric=column in forced_numeric,
        )
        if values.dtype == object:
            categorical_columns.append(column)
        else:
            numeric_columns.append(column)
        features[column] = values
    label_array = np.empty(len(rows), dtype=object)
    label_array[:] = columns[label]
    return CsvTable(
        path=path,
        numeric=tuple(numeric_columns),
        categorical=tuple(categorical_columns),
        label=label,
        features=features,
        labels=label_array,
        lines=np.asarray(lines, dtype=np.int64),
    )


def encode_labels(table: CsvTable, class_names: Sequence[str]) -> np.ndarray:
    """Maps a table's raw labels to class ids.

    Labels are normalized as `infer_class_names` does for these class names
    (so `"01"` is class `"1"` and `"TRUE"` class `"true"`).

    Args:
        table: The table, for its labels and their file lines.
        class_names: The class names in class-id order (usually from the
            training file).

    Returns:
        int64 class ids, shape `[n]`.

    Raises:
        ValueError: If a label is not one of `class_names` (names the file,
            line and value).
    """
    class_id_of = build_class_id_function(class_names)
    ids = np.empty(len(table), dtype=np.int64)
    for row, (value, line) in enumerate(zip(table.labels, table.lines, strict=True)):
        class_id = class_id_of(value)
        if class_id is None:
            raise ValueError(
                f"{table.path}:{line}: label {value!r} in column {table.label!r} "
                f"is not one of the training classes {list(class_names)}"
            )
        ids[row] = class_id
    return ids
