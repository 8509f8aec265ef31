"""Tabular classification data: CSV files and scikit-learn's bundled tables.

A table is split into train/validation/test `Split`s of raw feature columns
and int64 class ids, described by a `Schema`:

* numeric columns are float32 arrays `[n]` with NaN where a value is missing
  (`inf` parses and is kept; the preprocessor treats it as missing);
* categorical columns are object arrays `[n]` of `str` with `""` where a value
  is missing;
* labels are int64 class ids `0..K-1`; `Schema.class_names[k]` is the label
  value (as a string) of class `k`.

CSV files are read by `xent.data.csv_table` and their labels mapped to class
ids by `xent.data.labels`.

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

import dataclasses
from collections.abc import Mapping
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

from xent.bad_rows import BadRows
from xent.bad_rows import ReadError
from xent.bad_rows import check_policy
from xent.data.columns import MISSING_VALUES
from xent.data.columns import input_name
from xent.data.csv_table import encode_labels
from xent.data.csv_table import read_csv
from xent.data.csv_table import read_header
from xent.data.labels import infer_class_names

__all__ = [
    "SKLEARN_TABLES",
    "Schema",
    "Split",
    "TabularData",
    "load_breast_cancer",
    "load_csv",
    "load_digits_table",
    "load_sklearn_table",
    "split_stratified",
]


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
        bad_rows: For data read from files, the malformed rows skipped,
            `{"count": n, "examples": ["file:line: reason", ...]}`; `None`
            for built-in tables.
    """

    name: str
    schema: Schema
    train: Split
    validation: Split
    test: Split
    bad_rows: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-serializable description: rows and class balance per split.

        Returns:
            `{"name", "label", "class_names", "rows": {split: n},
            "class_balance": {split: {class_name: fraction}},
            "features": {"numeric": [...], "categorical": [...]}}`, and
            `"bad_rows"` (see the attribute) for data read from files.
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
        summary = {
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
        if self.bad_rows is not None:
            summary["bad_rows"] = {
                "count": int(self.bad_rows["count"]),
                "examples": list(self.bad_rows["examples"]),
            }
        return summary


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
    missing_values: Sequence[str] = MISSING_VALUES,
    on_bad_rows: str = "fail",
    max_bad_rows: int = 100,
) -> TabularData:
    """Reads a CSV file (and optionally a test file) and splits it.

    Without `test_path`, the rows are split into train/validation/test by
    `split_stratified`. With `test_path`, that file is the test split: it must
    have the same columns (in any order) and is read with the training file's
    column types and class names; the validation split comes out of the
    training file (and `test_fraction` is unused). A test row whose label is
    not a training class is a malformed row.

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
        on_bad_rows: `"fail"` or `"skip"` malformed rows (see `read_csv`).
        max_bad_rows: With `"skip"`, the most rows skipped in both files
            together.

    Returns:
        The split table, named after the file name of `path`, with the
        skipped rows in `bad_rows`.

    Raises:
        ReadError: For the file errors `read_csv` raises.
        ValueError: For the other errors `read_csv` raises; if the label has fewer
            than 2 classes or not `expected_classes`; if the test file's
            columns differ from the training file's or it has a label not
            seen in training (names file, line and value); if a split cannot
            be made.
    """
    check_policy(on_bad_rows, max_bad_rows)
    bad_rows = BadRows()
    policy = {
        "on_bad_rows": on_bad_rows,
        "max_bad_rows": max_bad_rows,
        "bad_rows": bad_rows,
    }
    table = read_csv(path, label, categorical, numeric, missing_values, **policy)
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
        header = read_header(test_path)
        expected = {*schema.features, label}
        if set(header) != expected:
            raise ReadError(
                f"{test_path} must have the columns of {table.path}: missing "
                f"{sorted(expected - set(header))}, unexpected "
                f"{sorted(set(header) - expected)}"
            )
        test_table = read_csv(
            test_path,
            label,
            schema.categorical,
            schema.numeric,
            missing_values,
            class_names=class_names,
            **policy,
        )
        test = Split(test_table.features, encode_labels(test_table, class_names))
        train, validation, _ = split_stratified(rows, validation_fraction, None, seed)
    return TabularData(
        Path(path).name, schema, train, validation, test, bad_rows.to_dict()
    )


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
