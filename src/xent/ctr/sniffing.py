"""Schema inference of click logs: format, header and column roles.

`infer_schema` (re-exported by `xent.ctr.readers`) reads the first rows of a
file and returns its `ClickSchema`. See `xent.ctr.readers` for the formats.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.bad_rows import check_file
from xent.bad_rows import check_policy
from xent.bad_rows import csv_records
from xent.ctr.click_schema import AVAZU_DERIVED
from xent.ctr.click_schema import BINARY_LABELS
from xent.ctr.click_schema import CRITEO_COLUMNS
from xent.ctr.click_schema import CRITEO_NUMERIC
from xent.ctr.click_schema import FORMATS
from xent.ctr.click_schema import ClickSchema
from xent.ctr.click_schema import RowError
from xent.ctr.click_schema import as_column_names
from xent.ctr.click_schema import build_label_parser
from xent.ctr.click_schema import check_roles
from xent.ctr.delimited import delimited_reader
from xent.ctr.delimited import sniff_delimiter
from xent.ctr.libsvm import parse_libsvm_token
from xent.data.columns import MISSING_VALUES
from xent.data.columns import parse_float

__all__ = ["infer_schema"]

_LIBSVM_EXTENSIONS = (".libfm", ".libsvm", ".svm")
# Integer columns with at most this many distinct sampled values are codes.
_SMALL_CARDINALITY = 50
_ID_NAME = re.compile(r"(^|[^a-z])id($|[^a-z])|id$|ids$")


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
        and parse_float(tokens[0]) is not None
    ):
        return "libsvm"
    if "\t" in first_line:
        fields = first_line.rstrip("\r\n").split("\t")
        if len(fields) == len(CRITEO_COLUMNS) and fields[0].strip() in BINARY_LABELS:
            return "criteo"
        if [f.strip() for f in fields] == list(CRITEO_COLUMNS):
            return "criteo"
        return "tsv"
    try:
        fields = [f.strip() for f in next(csv.reader([first_line]), [])]
    except csv.Error:  # e.g. an unbalanced quote; reading will say where.
        fields = [f.strip() for f in first_line.split(",")]
    lowered = {f.lower() for f in fields}
    if {"click", "hour"} <= lowered:
        return "avazu"
    if fields == list(CRITEO_COLUMNS):
        return "criteo"
    return "csv"


def _value_kind(value: str) -> str:
    """`"int"`, `"float"` or `"str"` for a non-missing value."""
    digits = value[1:] if value[:1] in "+-" else value
    if digits.isascii() and digits.isdigit():
        return "int"
    return "str" if parse_float(value) is None else "float"


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
    check_policy(on_bad_rows, 0)
    skip = on_bad_rows == "skip"
    check_file(path)
    explicit = {
        "categorical": as_column_names("categorical", categorical),
        "numeric": as_column_names("numeric", numeric),
        "multi_value": as_column_names("multi_value", multi_value),
    }
    check_roles(
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
        as_column_names("columns", columns),
        as_column_names("drop", drop) or (),
        label_threshold,
        sample_rows,
        skip,
    )


def _check_sample_labels(
    path: str, schema: ClickSchema, labels: list[tuple[int, str]], skip: bool
) -> None:
    if skip:
        return  # Reading counts them as bad rows.
    parse = build_label_parser(schema.label, schema.label_threshold)
    for number, value in labels:
        try:
            parse(value)
        except RowError as err:
            raise ReadError(f"{path}:{number}: {err}") from None


def _is_libsvm_row(tokens: list[str], parse_label: Callable[[str], int]) -> bool:
    """Whether a line's tokens are a label and `idx:val` tokens."""
    try:
        parse_label(tokens[0])
    except RowError:
        return False
    try:
        for token in tokens[1:]:
            parse_libsvm_token(token)
    except RowError:
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
        parse_label = build_label_parser(label, label_threshold)
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


def _parse_sample(
    path: str, sample: list[tuple[int, str]], delimiter: str, skip: bool
) -> list[tuple[int, list[str]]]:
    """`(line, fields)` of the sampled lines that are records.

    A line the `csv` module rejects raises `ReadError`, except with `skip`
    after the first record (which decides the layout).
    """
    numbers = [n for n, _ in sample]
    parsed: list[tuple[int, list[str]]] = []
    reader = delimited_reader(iter([text for _, text in sample]), delimiter)

    def malformed(err):
        if not (skip and parsed):
            number = numbers[min(reader.line_num, len(numbers)) - 1]
            raise ReadError(f"{path}:{number}: malformed line: {err}") from None

    for fields in csv_records(reader, malformed):
        if fields:
            parsed.append((numbers[min(reader.line_num, len(numbers)) - 1], fields))
    if not parsed:
        raise ReadError(f"{path} is empty")
    return parsed


def _detect_header(
    fmt: str, first: list[str], label: str | None, header: bool | None
) -> tuple[bool, str | None, tuple[str, ...] | None]:
    """`(header, label, default columns)` of a format, from its first row."""
    if fmt == "criteo":
        if header is None:
            header = first[:1] == ["label"] or set(CRITEO_COLUMNS) <= set(first)
        return header, label or "label", CRITEO_COLUMNS
    if fmt == "avazu":
        return (True if header is None else header), label or "click", None
    if header is None:
        header = (label is not None and label in first) or (
            len(set(first)) == len(first)
            and all(f and parse_float(f) is None for f in first)
        )
    return header, label, None


def _find_label(path: str, names: tuple[str, ...], label: str | None) -> str:
    """The label column: the given one, else one named like a label."""
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
    return label


def _assign_roles(
    fmt: str,
    names: tuple[str, ...],
    rows: list[tuple[int, list[str]]],
    label: str,
    explicit: dict[str, tuple[str, ...] | None],
    derived: tuple[str, ...],
    drop: tuple[str, ...],
    separator: str,
) -> dict[str, tuple[str, ...]]:
    """`{role: columns}` in file order (derived columns in place of `hour`)."""
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
    return {
        role: tuple(c for c in order if role_of.get(c) == role and c not in drop)
        for role in ("categorical", "numeric", "multi_value")
    }


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
    parsed = _parse_sample(path, sample, sniff_delimiter(sample[0][1], fmt), skip)
    first_number, first = parsed[0]
    first = [f.strip() for f in first]
    header, label, default_columns = _detect_header(fmt, first, label, header)
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
        if "hour" in names and not any(c in names for c in AVAZU_DERIVED):
            derived = AVAZU_DERIVED
        explicitly_read = {c for given in explicit.values() for c in given or ()}
        if "id" in names and "id" not in explicitly_read:
            drop = (*drop, "id")
    known = set(names) | set(derived)
    label = _find_label(path, names, label)
    for argument, given in [*explicit.items(), ("drop", drop)]:
        unknown = [c for c in given or () if c not in known]
        if unknown:
            raise ReadError(
                f"{path}: {argument} names unknown column(s) {unknown}; the "
                f"columns are {list(names)}"
            )
    check_roles(label, {k: v for k, v in explicit.items() if v}, f"{path}: ")

    width = len(names)
    rows = [(n, [f.strip() for f in fields]) for n, fields in data]
    rows = [(n, fields) for n, fields in rows if len(fields) == width]
    if not rows:
        raise ReadError(
            f"{path}:{data[0][0]}: no sampled row has the {width} fields of the "
            f"columns {list(names)}"
        )
    by_role = _assign_roles(fmt, names, rows, label, explicit, derived, drop, separator)
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
