"""Tabular preprocessing as a Keras model fitted on the training split.

`build_preprocessor` returns a functional `keras.Model` from raw columns to
one float32 feature vector. It has one input per feature column, shape
`[batch, 1]`, named `Schema.input_names[column]` (the column name itself when
it is a valid identifier): float32 for numeric columns, string for
categorical ones. Its output, `[batch, D]`, is laid out as

* for the N numeric columns together: N missing-value indicators (1.0 where
  the value is NaN or +-inf), then the N values with missing ones replaced by
  the training mean and standardized with the training mean and standard
  deviation (so a missing value becomes 0.0);
* for each categorical column, in schema order: a one-hot vector of length
  `len(vocabulary) + 1` from `keras.layers.StringLookup`; index 0 is the
  out-of-vocabulary bucket, and the missing value `""` is an ordinary
  vocabulary entry when the training split has it.

All statistics are constants computed with NumPy from the training split
only, so the model needs no `adapt`, serializes with its config, runs inside
`tf.data` pipelines and survives `keras.Model.export`. Internal layer names
contain a `.`, which input names never do, so no column name can clash with
them.

Feeding the model: `keras.Model.predict` rejects NumPy string arrays
("Invalid dtype: object") and a direct call rejects a dict mixing NumPy arrays
and tensors, so `to_model_inputs` returns a dict of tensors (`tf.float32` and
`tf.string`, shape `[n, 1]`) that `predict`, `fit`, a direct call and
`tf.data.Dataset.from_tensor_slices` all accept.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from xent.data.columns import input_name
from xent.data.tabular import Schema
from xent.data.tabular import Split
from xent.data.transforms import OOV_TOKEN
from xent.data.transforms import ImputeStandardize
from xent.data.transforms import build_vocabulary

__all__ = [
    "build_preprocessor",
    "numeric_statistics",
    "to_model_inputs",
]


def numeric_statistics(values: np.ndarray) -> tuple[float, float]:
    """The mean and standard deviation used to impute and standardize.

    Computed in float64 over the finite values (NaN and +-inf are missing);
    the population standard deviation (`ddof=0`, as `np.std`). A column with
    no finite values gets mean 0; a constant one gets std 1.

    Args:
        values: One numeric column.

    Returns:
        `(mean, std)`, std > 0.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0, 1.0
    mean, std = float(np.mean(x)), float(np.std(x))
    return mean, (std if std > 0 else 1.0)


def _check_arguments(max_vocabulary: int | None, min_count: int) -> None:
    if max_vocabulary is not None and (
        not isinstance(max_vocabulary, int) or max_vocabulary < 1
    ):
        raise ValueError(
            "Invalid value for argument max_vocabulary. Expected None or a "
            f"positive integer. Received: max_vocabulary={max_vocabulary!r}"
        )
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(
            "Invalid value for argument min_count. Expected a positive integer. "
            f"Received: min_count={min_count!r}"
        )


def _column(train: Split, column: str, numeric: bool) -> np.ndarray:
    if column not in train.features:
        raise ValueError(
            f"Column {column!r} of the schema is not in the training split; it "
            f"has {sorted(train.features)}"
        )
    values = np.asarray(train.features[column])
    if numeric != np.issubdtype(values.dtype, np.floating):
        expected = "a float" if numeric else "a string (object or str)"
        raise ValueError(
            f"Column {column!r} is {'numeric' if numeric else 'categorical'} in "
            f"the schema; expected {expected} array, got dtype {values.dtype}"
        )
    return values


def build_preprocessor(
    schema: Schema,
    train: Split,
    max_vocabulary: int | None = None,
    min_count: int = 1,
) -> keras.Model:
    """A Keras model from raw columns to features, fitted on `train` only.

    See the module docstring for the inputs and the output layout.

    >>> from xent.data.tabular import load_breast_cancer
    >>> data = load_breast_cancer()
    >>> pre = build_preprocessor(data.schema, data.train)
    >>> pre.output.shape
    (None, 60)

    Args:
        schema: The table's columns.
        train: The training split; the only source of statistics and
            vocabularies.
        max_vocabulary: Largest vocabulary per categorical column (the most
            frequent values are kept), or `None` for no limit.
        min_count: Fewest training occurrences for a value to get its own
            one-hot slot; rarer values share the out-of-vocabulary slot.

    Returns:
        A functional model named `"preprocessor"` with dict inputs keyed by
        input name and a float32 `[batch, D]` output.

    Raises:
        ValueError: If `max_vocabulary`/`min_count` are invalid, a schema
            column is absent from `train` or has the wrong dtype, or a
            categorical column has no value reaching `min_count`.
    """
    _check_arguments(max_vocabulary, min_count)
    names = schema.input_names
    inputs = {}
    for column in schema.features:
        dtype = "float32" if column in schema.numeric else "string"
        inputs[names[column]] = keras.Input(shape=(1,), name=names[column], dtype=dtype)

    parts = []
    if schema.numeric:
        stats = [
            numeric_statistics(_column(train, column, numeric=True))
            for column in schema.numeric
        ]
        numeric_inputs = [inputs[names[column]] for column in schema.numeric]
        x = (
            keras.layers.Concatenate(name="xent.numeric_inputs")(numeric_inputs)
            if len(numeric_inputs) > 1
            else numeric_inputs[0]
        )
        parts.append(
            ImputeStandardize(
                mean=[m for m, _ in stats],
                std=[s for _, s in stats],
                name="xent.impute_standardize",
            )(x)
        )
    for column in schema.categorical:
        vocabulary = build_vocabulary(
            _column(train, column, numeric=False), max_vocabulary, min_count
        )
        if not vocabulary:
            raise ValueError(
                f"Categorical column {column!r} has no value seen at least "
                f"min_count={min_count} times in the training split"
            )
        lookup = keras.layers.StringLookup(
            vocabulary=vocabulary,
            num_oov_indices=1,
            oov_token=OOV_TOKEN,
            output_mode="one_hot",
            name=f"xent.lookup.{names[column]}",
        )
        parts.append(lookup(inputs[names[column]]))
    output = (
        keras.layers.Concatenate(name="xent.features")(parts)
        if len(parts) > 1
        else parts[0]
    )
    return keras.Model(inputs=inputs, outputs=output, name="preprocessor")


def to_model_inputs(split: Split) -> dict[str, tf.Tensor]:
    """The preprocessor's inputs for a split, keyed by input name.

    Args:
        split: Rows whose numeric columns are float arrays and categorical
            columns are string (object or str) arrays.

    Returns:
        `{input_name(column): [n, 1] tensor}`: `tf.float32` for numeric
        columns, `tf.string` for categorical ones (see the module docstring
        for why not NumPy arrays).
    """
    inputs: dict[str, tf.Tensor] = {}
    for column, values in split.features.items():
        values = np.asarray(values)
        if np.issubdtype(values.dtype, np.floating):
            tensor = tf.constant(values.reshape(-1, 1), dtype=tf.float32)
        else:
            strings = values.astype(str).astype(object).reshape(-1, 1)
            tensor = tf.constant(strings, dtype=tf.string)
        inputs[input_name(column)] = tensor
    return inputs
