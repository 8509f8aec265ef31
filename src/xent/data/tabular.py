"""Tabular classification data: CSV files and scikit-learn's bundled tables.

A table is split into train/validation/test `Split`s of raw feature columns
and int64 class ids, described by a `Schema`:

* numeric columns are float32 arrays `[n]` with NaN where a value is missing
  (`inf` parses and is kept; the preprocessor treats it as missing);
* categorical columns are object arrays `[n]` of `str` with `""` where a value
  is missing;
* labels are int64 class ids `0..K-1`; `Schema.class_names[k]` is the label
  value (as a string) of class `k`.

Reading a CSV file (`read_csv`):

* UTF-8 text (a leading byte-order mark is ignored), parsed with the `csv`
  module; the first row is the header. Every field is stripped of
  surrounding whitespace; blank lines are skipped.
* A field equal to one of `missing_values` is missing.
* A column is numeric when every non-missing value parses as a float
  (Python's `float`, without `_` digit separators), else categorical; the
  `numeric=` / `categorical=` arguments override this.

Mapping labels to class ids (`infer_class_names`): integer labels in numeric
order (so 0/1 map to 0/1 and -1/1 to 0/1); `false`/`true` or `no`/`yes` in any
case to 0/1; any other labels in sorted string order.

Splitting (`split_stratified`): a seeded stratified test split, then a seeded
stratified validation split out of what remains, both with scikit-learn's
`train_test_split`. `validation_fraction` is a fraction of the rows left after
the test split (as Keras' `validation_split` is a fraction of the training
data).

>>> data = load_breast_cancer(seed=0)
>>> data.schema.class_names
('malignant', 'benign')
>>> len(data.train) + len(data.validation) + len(data.test)
569
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Mapping
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

__all__ = [
    "DEFAULT_MISSING_VALUES",
    "SKLEARN_TABLES",
    "CsvTable",
    "Schema",
    "Split",
    "TabularData",
    "encode_labels",
    "infer_class_names",
    "input_name",
    "load_breast_cancer",
    "load_csv",
    "load_digits_table",
    "load_sklearn_table",
    "read_csv",
    "split_stratified",
]

DEFAULT_MISSING_VALUES = ("", "?", "NA", "N/A", "NaN", "nan", "null", "None")
"""Field values (after stripping whitespace) that mean "missing"."""

_VALID_INPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_INVALID_INPUT_CHAR = re.compile(r"[^A-Za-z0-9_]")
_BOOLEAN_PAIRS = (("false", "true"), ("no", "yes"))


def input_name(column: str) -> str:
    """The Keras input (and serving signature) name of a feature column.

    A column name that starts with an ASCII letter and contains only ASCII
    letters, digits and `_` is used as it is. Otherwise every other character
    is replaced with `_`, and `col_` is put in front when the result does not
    start with a letter (SavedModel signatures reject such names).

    >>> input_name("age"), input_name("mean radius"), input_name("1st")
    ('age', 'mean_radius', 'col_1st')

    Args:
        column: The column name in the data file.

    Returns:
        The input name.
    """
    if _VALID_INPUT_NAME.fullmatch(column):
        return column
    name = _INVALID_INPUT_CHAR.sub("_", column)
    return name if name[:1].isalpha() else "col_" + name


@dataclasses.dataclass(frozen=True)
class Schema:
    """The columns of a table and the meaning of its class ids.

    Attributes:
        numeric: Numeric feature columns, in file order.
        categorical: Categorical feature columns, in file order.
        label: The label column.
        class_names: The label value of each class id, as a string, in
            class-id order (e.g. `("0", "1")` or `("benign", "malignant")`).
        input_names: Derived, not an argument: `{column: Keras input name}`
            for every feature column (see `input_name`). It is the identity
            except for columns that are not valid identifiers; it is a field
            so that `dataclasses.asdict` (export metadata) records it.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str
    class_names: tuple[str, ...]
    input_names: dict[str, str] = dataclasses.field(
        init=False, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        for field in ("numeric", "categorical", "class_names"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        features = self.features
        if not features:
            raise ValueError("A schema needs at least one feature column")
        duplicated = sorted({c for c in features if features.count(c) > 1})
        if duplicated:
            raise ValueError(
                f"Columns {duplicated} are listed more than once in numeric/categorical"
            )
        if self.label in features:
            raise ValueError(f"The label column {self.label!r} is also a feature")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"Duplicate class names: {self.class_names}")
        seen: dict[str, str] = {}
        for column in features:
            name = input_name(column)
            if name in seen:
                raise ValueError(
                    f"Columns {seen[name]!r} and {column!r} both map to the "
                    f"model input name {name!r}; rename one of them"
                )
            seen[name] = column
        object.__setattr__(self, "input_names", {v: k for k, v in seen.items()})

    @property
    def features(self) -> tuple[str, ...]:
        """All feature columns: numeric first, then categorical."""
        return self.numeric + self.categorical

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> Schema:
        """The inverse of `dataclasses.asdict(schema)` (e.g. from metadata).

        Args:
            config: The schema's fields; `input_names`, if present, must be
                what this version derives from the column names.

        Returns:
            The schema.

        Raises:
            ValueError: On an unknown or missing key, or `input_names` that
                differ from the derived ones.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"Unknown schema key(s) {unknown}; expected {sorted(known)}"
            )
        required = {f.name for f in dataclasses.fields(cls) if f.init}
        absent = sorted(required - set(config))
        if absent:
            raise ValueError(f"Missing schema key(s) {absent}")
        schema = cls(**{key: config[key] for key in required})
        if (
            "input_names" in config
            and dict(config["input_names"]) != schema.input_names
        ):
            raise ValueError(
                f"Schema input_names {dict(config['input_names'])} differ from the "
                f"names derived from the columns, {schema.input_names}"
            )
        return schema


@dataclasses.dataclass(frozen=True)
class Split:
    """Rows of a table.

    Attributes:
        features: `{column: values}`, each of shape `[n]`: float32 with NaN
            for missing numeric values, object arrays of `str` with `""` for
            missing categorical values.
        labels: int64 class ids, shape `[n]`.
    """

    features: dict[str, np.ndarray]
    labels: np.ndarray

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                "Invalid value for argument labels. Expected a 1-D integer array. "
                f"Received: dtype={labels.dtype}, shape={labels.shape}"
            )
        object.__setattr__(self, "labels", labels.astype(np.int64, copy=False))
        for column, values in self.features.items():
            if np.shape(values) != labels.shape:
                raise ValueError(
                    f"Column {column!r} has shape {np.shape(values)}; the labels "
                    f"have shape {labels.shape}"
                )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, indices: np.ndarray) -> Split:
        """The rows at `indices`, in that order."""
        return Split(
            {c: v[indices] for c, v in self.features.items()}, self.labels[indices]
        )


@dataclasses.dataclass(frozen=True)
class TabularData:
    """A table split for training.

    Attributes:
        name: The data set name (the file name, or e.g. `"breast_cancer"`).
        schema: Columns and class names.
        train: Training rows (the only ones preprocessing statistics may use).
        validation: Rows for early stopping and model selection.
        test: Held-out rows for the final evaluation.
    """

    name: str
    schema: Schema
    train: Split
    validation: Split
    test: Split

    def summary(self) -> dict[str, Any]:
        """A JSON-serializable description: rows and class balance per split.

        Returns:
            `{"name", "label", "class_names", "rows": {split: n},
            "class_balance": {split: {class_name: fraction}},
            "features": {"numeric": [...], "categorical": [...]}}`.
        """
        splits = {"train": self.train, "validation": self.validation, "test": self.test}
        k = len(self.schema.class_names)
        balance = {}
        for key, split in splits.items():
            counts = np.bincount(split.labels, minlength=k)
            total = max(len(split), 1)
            balance[key] = {
                name: float(counts[i] / total)
                for i, name in enumerate(self.schema.class_names)
            }
        return {
            "name": self.name,
            "label": self.schema.label,
            "class_names": list(self.schema.class_names),
            "rows": {key: len(split) for key, split in splits.items()},
            "class_balance": balance,
            "features": {
                "numeric": list(self.schema.numeric),
                "categorical": list(self.schema.categorical),
            },
        }


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


def _parse_float(text: str) -> float | None:
    if "_" in text:  # Python accepts "1_000"; a CSV file means something else.
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _read_rows(path: str) -> tuple[list[str], list[list[str]], list[int]]:
    """The stripped header, data rows and the line each row ends on."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ValueError(f"Data file not found: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"Data file {path} is a directory") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        # A BOM, if any, was not counted in err.start by utf-8-sig.
        offset = err.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:offset].count(b"\n") + 1
        raise ValueError(
            f"{path}:{line}: not UTF-8 text ({err.reason} at byte offset {offset})"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row:
                continue  # A blank line.
            fields = [field.strip() for field in row]
            if header is None:
                header = fields
                header_line = reader.line_num
            else:
                rows.append(fields)
                lines.append(reader.line_num)
    except csv.Error as err:
        raise ValueError(f"{path}:{reader.line_num}: malformed CSV: {err}") from None
    if header is None:
        raise ValueError(f"{path} is empty: expected a header row and data rows")
    for i, name in enumerate(header):
        if not name:
            raise ValueError(
                f"{path}:{header_line}: the header has an empty column name "
                f"(field {i + 1})"
            )
        if header.count(name) > 1:
            raise ValueError(
                f"{path}:{header_line}: the header names column {name!r} more than once"
            )
    if not rows:
        raise ValueError(f"{path} has a header row but no data rows")
    for fields, line in zip(rows, lines, strict=True):
        if len(fields) != len(header):
            raise ValueError(
                f"{path}:{line}: expected {len(header)} fields (as in the header), "
                f"found {len(fields)}"
            )
    return header, rows, lines


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


def read_csv(
    path: str | PathLike[str],
    label: str,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    missing_values: Sequence[str] = DEFAULT_MISSING_VALUES,
) -> CsvTable:
    """Reads a CSV file with a header row into typed feature columns.

    Args:
        path: The CSV file (UTF-8).
        label: The label column.
        categorical: Columns to treat as categorical whatever their values
            (e.g. integer codes).
        numeric: Columns to treat as numeric; every non-missing value must
            parse as a number.
        missing_values: Field values that mean "missing".

    Returns:
        The columns, their types and the raw labels.

    Raises:
        ValueError: If the file cannot be read, is not UTF-8 (names the line
            and byte offset), is empty or has only a header, has a row with
            the wrong number of fields (`file:line`), lacks the label column,
            has no feature columns, names an unknown column in `categorical`
            or `numeric` (or one in both), has a non-numeric value in a column
            forced numeric (`file:line` and column), or a row without a label
            (`file:line`).
    """
    path = str(path)
    missing = frozenset(missing_values)
    header, rows, lines = _read_rows(path)
    if label not in header:
        raise ValueError(
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
        raise ValueError(f"{path} has no feature columns besides the label {label!r}")

    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    label_values = columns[label]
    for value, line in zip(label_values, lines, strict=True):
        if value in missing:
            raise ValueError(
                f"{path}:{line}: missing label (column {label!r} is {value!r})"
            )

    features: dict[str, np.ndarray] = {}
    numeric_columns, categorical_columns = [], []
    for column in features_in_file:
        raw = columns[column]
        parsed = None
        if column not in forced_categorical:
            parsed = [None if v in missing else _parse_float(v) for v in raw]
            for i, (value, number) in enumerate(zip(raw, parsed, strict=True)):
                if number is None and value not in missing:
                    if column in forced_numeric:
                        raise ValueError(
                            f"{path}:{lines[i]}: column {column!r} (field "
                            f"{header.index(column) + 1}) is numeric but has the "
                            f"non-numeric value {value!r}"
                        )
                    parsed = None
                    break
        if parsed is None:
            values = np.empty(len(raw), dtype=object)
            values[:] = ["" if v in missing else v for v in raw]
            categorical_columns.append(column)
        else:
            with np.errstate(over="ignore"):  # Beyond float32 range -> inf.
                values = np.array(
                    [math.nan if p is None else p for p in parsed], dtype=np.float32
                )
            numeric_columns.append(column)
        features[column] = values
    label_array = np.empty(len(rows), dtype=object)
    label_array[:] = label_values
    return CsvTable(
        path=path,
        numeric=tuple(numeric_columns),
        categorical=tuple(categorical_columns),
        label=label,
        features=features,
        labels=label_array,
        lines=np.asarray(lines, dtype=np.int64),
    )


def _as_int(value: str) -> int | None:
    if "_" in value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _label_kind(class_names: Sequence[str]) -> str:
    """`"integer"`, `"boolean"` or `"string"`: how raw labels are normalized."""
    if all(_as_int(c) is not None and str(_as_int(c)) == c for c in class_names):
        return "integer"
    if tuple(class_names) in _BOOLEAN_PAIRS:
        return "boolean"
    return "string"


def _normalize_label(value: str, kind: str) -> str:
    if kind == "integer":
        number = _as_int(value)
        return value if number is None else str(number)
    if kind == "boolean":
        return value.lower()
    return value


def infer_class_names(labels: Sequence[str]) -> tuple[str, ...]:
    """The class names of raw label values, in class-id order.

    Integer labels sort numerically and are named by their canonical
    spelling (`"01"` -> `"1"`); `false`/`true` and `no`/`yes` (any case)
    become `("false", "true")` / `("no", "yes")`; other labels sort as
    strings.

    >>> infer_class_names(["1", "0", "1"])
    ('0', '1')
    >>> infer_class_names(["TRUE", "false"])
    ('false', 'true')
    >>> infer_class_names(["10", "9", "-1"])
    ('-1', '9', '10')

    Args:
        labels: Raw label values (not missing).

    Returns:
        The distinct labels as class names.
    """
    distinct = set(labels)
    numbers = {_as_int(v) for v in distinct}
    if None not in numbers:
        return tuple(str(n) for n in sorted(numbers))
    lowered = tuple(sorted({v.lower() for v in distinct}))
    if lowered in _BOOLEAN_PAIRS:
        return lowered
    return tuple(sorted(distinct))


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
    kind = _label_kind(class_names)
    index = {name: i for i, name in enumerate(class_names)}
    ids = np.empty(len(table), dtype=np.int64)
    for row, (value, line) in enumerate(zip(table.labels, table.lines, strict=True)):
        class_id = index.get(_normalize_label(value, kind))
        if class_id is None:
            raise ValueError(
                f"{table.path}:{line}: label {value!r} in column {table.label!r} "
                f"is not one of the training classes {list(class_names)}"
            )
        ids[row] = class_id
    return ids


def _check_fraction(argument: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(
            f"Invalid value for argument {argument}. Expected a fraction strictly "
            f"between 0 and 1. Received: {argument}={value!r}"
        )


def _stratified_indices(
    labels: np.ndarray, fraction: float, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    try:
        return train_test_split(
            np.arange(len(labels)),
            test_size=fraction,
            random_state=seed,
            shuffle=True,
            stratify=labels,
        )
    except ValueError as err:
        counts = np.bincount(labels).tolist()
        raise ValueError(
            f"Cannot split off a stratified {what} of {fraction} of {len(labels)} "
            f"rows with class counts {counts}: {err}"
        ) from None


def split_stratified(
    split: Split,
    validation_fraction: float = 0.15,
    test_fraction: float | None = 0.2,
    seed: int = 0,
) -> tuple[Split, Split, Split | None]:
    """Seeded stratified train/validation/test split.

    Args:
        split: All rows.
        validation_fraction: Fraction of the rows left after the test split
            that go to validation.
        test_fraction: Fraction of all rows that go to test; `None` for no
            test split (the third result is then `None`).
        seed: Seed of both splits.

    Returns:
        `(train, validation, test)`.

    Raises:
        ValueError: If a fraction is not in (0, 1), or a class has too few
            rows to be represented in every split.
    """
    _check_fraction("validation_fraction", validation_fraction)
    test = None
    rest = split
    if test_fraction is not None:
        _check_fraction("test_fraction", test_fraction)
        rest_idx, test_idx = _stratified_indices(
            split.labels, test_fraction, seed, "test split"
        )
        rest, test = split.take(rest_idx), split.take(test_idx)
    train_idx, val_idx = _stratified_indices(
        rest.labels, validation_fraction, seed, "validation split"
    )
    return rest.take(train_idx), rest.take(val_idx), test


def _check_classes(
    source: str, class_names: tuple[str, ...], expected_classes: int | None
) -> None:
    if len(class_names) < 2:
        raise ValueError(
            f"{source}: the label column has a single value {list(class_names)}; "
            "a classifier needs at least 2 classes"
        )
    if expected_classes is not None and len(class_names) != expected_classes:
        hint = " (a binary task needs exactly 2 label values)"
        raise ValueError(
            f"{source}: expected {expected_classes} classes but the label column "
            f"has {len(class_names)}: {list(class_names)[:20]}"
            + (hint if expected_classes == 2 else "")
        )


def load_csv(
    path: str | PathLike[str],
    label: str,
    test_path: str | PathLike[str] | None = None,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    expected_classes: int | None = None,
    missing_values: Sequence[str] = DEFAULT_MISSING_VALUES,
) -> TabularData:
    """Reads a CSV file (and optionally a test file) and splits it.

    Without `test_path`, the rows are split into train/validation/test by
    `split_stratified`. With `test_path`, that file is the test split: it must
    have the same columns (in any order) and is read with the training file's
    column types and class names; the validation split comes out of the
    training file (and `test_fraction` is unused).

    Args:
        path: The CSV file of training (and, without `test_path`, all) rows.
        label: The label column.
        test_path: Optional CSV file of test rows.
        categorical: Columns forced categorical (see `read_csv`).
        numeric: Columns forced numeric (see `read_csv`).
        validation_fraction: See `split_stratified`.
        test_fraction: See `split_stratified`.
        seed: The split seed.
        expected_classes: If given, the number of classes the label must have
            (2 for a binary task).
        missing_values: Field values that mean "missing".

    Returns:
        The split table, named after the file name of `path`.

    Raises:
        ValueError: For the errors `read_csv` raises; if the label has fewer
            than 2 classes or not `expected_classes`; if the test file's
            columns differ from the training file's or it has a label not
            seen in training (names file, line and value); if a split cannot
            be made.
    """
    table = read_csv(path, label, categorical, numeric, missing_values)
    class_names = infer_class_names(table.labels.tolist())
    _check_classes(table.path, class_names, expected_classes)
    schema = Schema(table.numeric, table.categorical, label, class_names)
    rows = Split(table.features, encode_labels(table, class_names))
    if test_path is None:
        train, validation, test = split_stratified(
            rows, validation_fraction, test_fraction, seed
        )
    else:
        test_path = str(test_path)
        header, _, _ = _read_rows(test_path)
        expected = {*schema.features, label}
        if set(header) != expected:
            raise ValueError(
                f"{test_path} must have the columns of {table.path}: missing "
                f"{sorted(expected - set(header))}, unexpected "
                f"{sorted(set(header) - expected)}"
            )
        test_table = read_csv(
            test_path, label, schema.categorical, schema.numeric, missing_values
        )
        test = Split(test_table.features, encode_labels(test_table, class_names))
        train, validation, _ = split_stratified(rows, validation_fraction, None, seed)
    return TabularData(Path(path).name, schema, train, validation, test)


def _from_arrays(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    columns: Sequence[str],
    class_names: Sequence[str],
    validation_fraction: float,
    test_fraction: float,
    seed: int,
) -> TabularData:
    x = np.asarray(x, dtype=np.float32)
    features = {column: x[:, i].copy() for i, column in enumerate(columns)}
    schema = Schema(tuple(columns), (), "target", tuple(class_names))
    train, validation, test = split_stratified(
        Split(features, np.asarray(y, dtype=np.int64)),
        validation_fraction,
        test_fraction,
        seed,
    )
    return TabularData(name, schema, train, validation, test)


def load_breast_cancer(
    seed: int = 0, validation_fraction: float = 0.15, test_fraction: float = 0.2
) -> TabularData:
    """scikit-learn's bundled Wisconsin breast cancer table (no download).

    569 rows, 30 numeric columns named as in `feature_names` (e.g.
    `"mean radius"`, input name `"mean_radius"`); class ids as in scikit-learn:
    0 = `"malignant"`, 1 = `"benign"`.

    Args:
        seed: The split seed.
        validation_fraction: See `split_stratified`.
        test_fraction: See `split_stratified`.

    Returns:
        The split table, named `"breast_cancer"`.
    """
    bunch = sk_datasets.load_breast_cancer()
    return _from_arrays(
        "breast_cancer",
        bunch.data,
        bunch.target,
        [str(c) for c in bunch.feature_names],
        [str(c) for c in bunch.target_names],
        validation_fraction,
        test_fraction,
        seed,
    )


def load_digits_table(
    seed: int = 0, validation_fraction: float = 0.15, test_fraction: float = 0.2
) -> TabularData:
    """scikit-learn's bundled 8x8 digits as a table of 64 numeric columns.

    1797 rows; columns `pixel_<row>_<col>` with values 0..16; class ids 0..9
    named `"0"`..`"9"`.

    Args:
        seed: The split seed.
        validation_fraction: See `split_stratified`.
        test_fraction: See `split_stratified`.

    Returns:
        The split table, named `"digits"`.
    """
    bunch = sk_datasets.load_digits()
    return _from_arrays(
        "digits",
        bunch.data,
        bunch.target,
        [str(c) for c in bunch.feature_names],
        [str(c) for c in bunch.target_names],
        validation_fraction,
        test_fraction,
        seed,
    )


SKLEARN_TABLES: Mapping[str, Any] = {
    "breast_cancer": load_breast_cancer,
    "digits": load_digits_table,
}
"""The bundled scikit-learn tables `load_sklearn_table` knows, by name."""


def load_sklearn_table(
    name: str,
    seed: int = 0,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.2,
) -> TabularData:
    """One of `SKLEARN_TABLES` by name.

    Args:
        name: `"breast_cancer"` or `"digits"`.
        seed: The split seed.
        validation_fraction: See `split_stratified`.
        test_fraction: See `split_stratified`.

    Returns:
        The split table.

    Raises:
        ValueError: If `name` is unknown.
    """
    if name not in SKLEARN_TABLES:
        raise ValueError(
            f"Invalid value for argument name. Expected one of "
            f"{sorted(SKLEARN_TABLES)}. Received: name={name!r}"
        )
    return SKLEARN_TABLES[name](seed, validation_fraction, test_fraction)
