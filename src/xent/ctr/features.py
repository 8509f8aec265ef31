"""Feature processing for CTR models, inside the exported model.

`build_ctr_preprocessor` turns training-split statistics (value counts per
categorical field, numeric summaries) into a Keras model that maps raw columns
(`tf.string` `[batch]` for categorical and multi-value fields, `float32`
`[batch]` for numeric ones; NaN, inf or a missing column value means missing)
to the model inputs described by `xent.ctr.specs`:

* categorical field -> `SparseFeat`: a vocabulary of the values seen at least
  `min_count` times (most frequent first, capped at `max_vocab`), id 0 for
  everything else (out-of-vocabulary and rare values); or, for fields with
  more distinct values than `hash_threshold`, hashing into `hash_bins` ids.
  A missing value (the empty string) is a value like any other, so it gets
  its own id when it is frequent.
* multi-value field (`Comedy|Drama`) -> `VarLenSparseFeat`: split on the
  separator, first `max_len` values, 0 = padding, 1 = out-of-vocabulary.
* crossed fields (`crosses: [[user, item]]`, Wide & Deep's crossed columns)
  -> `SparseFeat` `user_x_item`: the raw values joined by `CROSS_SEPARATOR`
  inside the model, then a vocabulary (or hashing) fitted on the joined
  training values exactly like a categorical field. A cross lets a model
  memorize a pair (this user clicked this item) that an embedding dot
  product only approximates.
* numeric fields -> one `DenseFeat("numeric")` with two columns per field:
  the standardized transform (`sign(x) * log1p(|x|)` or `x`) and a missing
  indicator; with `numeric_transform="bucketize"` also a `SparseFeat`
  `<name>_bucket` of quantile buckets (bucket 0 = missing).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from xent.ctr.specs import DenseFeat
from xent.ctr.specs import SparseFeat
from xent.ctr.specs import VarLenSparseFeat

__all__ = [
    "CROSS_SEPARATOR",
    "Bucketize",
    "CrossJoin",
    "FeatureConfig",
    "NumericTransform",
    "SplitPad",
    "build_ctr_preprocessor",
    "check_crosses",
    "cross_counts",
    "cross_name",
    "cross_values",
    "input_name",
    "stats_from_arrays",
]

NUMERIC = "numeric"
# Joins the values of a crossed pair: the ASCII unit separator, which no
# click-log reader produces inside a value.
CROSS_SEPARATOR = "\x1f"


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """How raw click-log columns become model inputs.

    Attributes:
        min_count: Values seen fewer times in the training split go to the
            out-of-vocabulary id.
        max_vocab: Optional cap on a field's vocabulary (most frequent kept).
        hash_threshold: Fields with more distinct training values than this
            are hashed instead of looked up; null never hashes.
        hash_bins: Number of hash buckets.
        numeric_transform: `log1p` (signed log1p then standardize, for
            heavy-tailed counts), `standardize`, or `bucketize` (log1p and
            also quantile buckets as a categorical feature).
        buckets: Quantile buckets per numeric field for `bucketize`.
        max_len: Values kept per row of a multi-value field.
        crosses: Crossed fields, each a list of two or more single-valued
            categorical columns (e.g. `[[user, item]]`); each becomes one
            more categorical feature `<a>_x_<b>` with its own vocabulary
            (`min_count`, `max_vocab`) or hashing (`hash_threshold`).

    The embedding width is the model's (`model.embedding_dim`): the pipeline
    writes it into the specs.
    """

    min_count: int = 5
    max_vocab: int | None = None
    hash_threshold: int | None = None
    hash_bins: int = 100_000
    numeric_transform: Literal["log1p", "standardize", "bucketize"] = "log1p"
    buckets: int = 16
    max_len: int = 8
    crosses: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self):
        for name in ("min_count", "hash_bins", "buckets", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"Invalid value for features.{name}: {getattr(self, name)!r} "
                    "(must be >= 1)"
                )
        if self.numeric_transform not in ("log1p", "standardize", "bucketize"):
            raise ValueError(
                "Invalid value for features.numeric_transform: expected log1p, "
                f"standardize or bucketize, received {self.numeric_transform!r}"
            )
        seen = set()
        for i, cross in enumerate(self.crosses):
            if len(cross) < 2 or len(set(cross)) != len(cross):
                raise ValueError(
                    f"Invalid value for features.crosses[{i}]: {list(cross)!r} "
                    "(a cross needs two or more different columns)"
                )
            if tuple(cross) in seen:
                raise ValueError(
                    f"Invalid value for features.crosses[{i}]: {list(cross)!r} "
                    "is listed twice"
                )
            seen.add(tuple(cross))


def input_name(column: str) -> str:
    """A serving-signature-safe input name for a column (`[A-Za-z0-9_]`)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", column)
    if not name or not name[0].isalpha():
        name = f"f_{name}"
    return name


def cross_name(columns: Sequence[str]) -> str:
    """The feature name of a cross: `user_x_item` (sanitized as an input name)."""
    return input_name("_x_".join(columns))


def check_crosses(crosses: Sequence[Sequence[str]], categorical: Sequence[str]):
    """Raises ValueError naming a cross over a column that is not single-valued
    categorical (a numeric, multi-value or unknown column)."""
    for i, cross in enumerate(crosses):
        missing = [c for c in cross if c not in categorical]
        if missing:
            raise ValueError(
                f"Invalid value for features.crosses[{i}]: {list(cross)} names "
                f"{missing}, not among the single-valued categorical columns "
                f"{list(categorical)}"
            )


def cross_values(values: Sequence[Any]) -> tf.Tensor:
    """The joined strings of a cross, as the exported model computes them.

    Args:
        values: One `[batch]` string tensor or array per crossed column.
    """
    return tf.strings.join(
        [tf.convert_to_tensor(v, tf.string) for v in values],
        separator=CROSS_SEPARATOR,
    )


def cross_counts(
    batches: Iterable[Mapping[str, Any]], crosses: Sequence[Sequence[str]]
) -> dict[str, dict[str, int]]:
    """Training value counts of each cross, by `cross_name`.

    Args:
        batches: Dicts of raw columns (`[batch]` strings), e.g. the batches of
            the training stream or one dict of whole in-memory columns.
        crosses: The crossed column lists.

    Raises:
        ValueError: If a crossed column is not in the batches.
    """
    counts: dict[str, dict[str, int]] = {cross_name(c): {} for c in crosses}
    for batch in batches:
        for cross in crosses:
            missing = [c for c in cross if c not in batch]
            if missing:
                raise ValueError(
                    f"Cross {list(cross)}: no column {missing} in the data; its "
                    f"columns are {sorted(batch)}"
                )
            joined = cross_values([batch[c] for c in cross]).numpy()
            values, n = np.unique(joined, return_counts=True)
            tally = counts[cross_name(cross)]
            for v, c in zip(values, n, strict=True):
                key = _text(v)
                tally[key] = tally.get(key, 0) + int(c)
    return counts


def _signed_log1p(x):
    return tf.sign(x) * tf.math.log1p(tf.abs(x))


@keras.saving.register_keras_serializable(package="xent")
class NumericTransform(keras.layers.Layer):
    """`[batch]` floats -> `[batch, 2]`: standardized transform and missing flag.

    NaN and inf are missing: their value column is 0 (the training mean) and
    their flag is 1. Standardized values are clipped to [-clip, clip] so an
    outlier at serving time cannot blow up the logits.
    """

    def __init__(self, mean, std, log1p=True, clip=10.0, **kwargs):
        super().__init__(**kwargs)
        self.mean = float(mean)
        self.std = float(std) if std and np.isfinite(std) and std > 0 else 1.0
        self.log1p = bool(log1p)
        self.clip = float(clip)

    def call(self, x):
        x = tf.cast(x, "float32")
        missing = tf.logical_not(tf.math.is_finite(x))
        safe = tf.where(missing, tf.zeros_like(x), x)
        t = _signed_log1p(safe) if self.log1p else safe
        z = tf.clip_by_value((t - self.mean) / self.std, -self.clip, self.clip)
        z = tf.where(missing, tf.zeros_like(z), z)
        return tf.stack([z, tf.cast(missing, "float32")], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, 2)

    def get_config(self):
        return {
            **super().get_config(),
            "mean": self.mean,
            "std": self.std,
            "log1p": self.log1p,
            "clip": self.clip,
        }


@keras.saving.register_keras_serializable(package="xent")
class Bucketize(keras.layers.Layer):
    """`[batch]` floats -> int64 bucket ids; 0 = missing, 1.. = quantile buckets."""

    def __init__(self, boundaries, **kwargs):
        super().__init__(**kwargs)
        self.boundaries = [float(b) for b in boundaries]

    def call(self, x):
        x = tf.cast(x, "float32")
        missing = tf.logical_not(tf.math.is_finite(x))
        safe = tf.where(missing, tf.zeros_like(x), x)
        ids = tf.raw_ops.Bucketize(input=safe, boundaries=self.boundaries)
        return tf.where(missing, tf.zeros_like(ids), ids + 1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="int32")

    def get_config(self):
        return {**super().get_config(), "boundaries": self.boundaries}


@keras.saving.register_keras_serializable(package="xent")
class SplitPad(keras.layers.Layer):
    """`[batch]` strings `a|b|c` -> `[batch, max_len]` strings, padded with ''."""

    def __init__(self, separator="|", max_len=8, **kwargs):
        super().__init__(**kwargs)
        self.separator = separator
        self.max_len = int(max_len)

    def call(self, x):
        parts = tf.strings.split(x, sep=self.separator)
        parts = tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)
        return parts.to_tensor(default_value="", shape=[None, self.max_len])

    def compute_output_spec(self, x):
        return keras.KerasTensor((x.shape[0], self.max_len), dtype="string")

    def get_config(self):
        return {
            **super().get_config(),
            "separator": self.separator,
            "max_len": self.max_len,
        }


@keras.saving.register_keras_serializable(package="xent")
class CrossJoin(keras.layers.Layer):
    """`[batch]` strings of two or more columns -> `[batch]` joined strings."""

    def call(self, values):
        return cross_values(values)

    def compute_output_spec(self, values):
        return keras.KerasTensor(values[0].shape, dtype="string")


def _vocabulary(counts: Mapping[str, int], config: FeatureConfig) -> list[str]:
    kept = [(c, v) for v, c in counts.items() if c >= config.min_count]
    kept.sort(key=lambda cv: (-cv[0], cv[1]))
    if config.max_vocab is not None:
        kept = kept[: config.max_vocab]
    return [v for _, v in kept]


def build_ctr_preprocessor(
    categorical: Sequence[str],
    numeric: Sequence[str],
    value_counts: Mapping[str, Mapping[str, int]],
    numeric_stats: Mapping[str, Mapping[str, Any]],
    config: FeatureConfig,
    multi_value: Sequence[str] = (),
    separator: str = "|",
    crossed_counts: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[keras.Model, tuple, dict]:
    """Builds the raw-columns -> model-inputs preprocessor.

    Args:
        categorical: Single-valued categorical columns.
        numeric: Numeric columns.
        value_counts: Training-split value counts per categorical and
            multi-value column (multi-value: per single value).
        numeric_stats: Training-split statistics per numeric column with keys
            `mean`, `std`, `log1p_mean`, `log1p_std` and `quantiles`.
        config: Vocabulary, hashing and numeric settings.
        multi_value: Multi-valued categorical columns.
        separator: Separator of multi-value fields.
        crossed_counts: Training value counts of each cross in
            `config.crosses`, by `cross_name` (see `cross_counts`).

    Returns:
        `(preprocessor, specs, summary)`: the Keras model (raw dict in,
        feature dict out), the feature specs of its outputs, and a
        JSON-serializable description (vocabulary sizes, hashed fields,
        out-of-vocabulary rates).

    Raises:
        ValueError: If a column has no statistics, names collide, or a cross
            names a column that is not single-valued categorical.
    """
    inputs, outputs, specs = {}, {}, []
    summary: dict[str, Any] = {"categorical": {}, "numeric": {}, "multi_value": {}}
    if config.crosses:
        summary["crosses"] = {}
    names: dict[str, str] = {}

    def name_for(column):
        name = input_name(column)
        if name in names:
            raise ValueError(
                f"Columns {names[name]!r} and {column!r} map to the same input "
                f"name {name!r}; rename one"
            )
        names[name] = column
        return name

    def categorical_ids(name, raw, counts, section, key):
        total = sum(counts.values()) or 1
        if config.hash_threshold is not None and len(counts) > config.hash_threshold:
            ids = keras.layers.Hashing(num_bins=config.hash_bins, name=f"{name}_hash")(
                raw
            )
            specs.append(SparseFeat(name, config.hash_bins, hashed=True))
            summary[section][key] = {
                "distinct": len(counts),
                "hashed": True,
                "ids": config.hash_bins,
            }
        else:
            vocab = _vocabulary(counts, config)
            kept = set(vocab)
            oov = sum(c for v, c in counts.items() if v not in kept) / total
            ids = keras.layers.StringLookup(
                vocabulary=vocab or ["<none>"],
                num_oov_indices=1,
                mask_token=None,
                name=f"{name}_lookup",
            )(raw)
            specs.append(SparseFeat(name, len(vocab or ["<none>"]) + 1))
            summary[section][key] = {
                "distinct": len(counts),
                "vocabulary": len(vocab),
                "train_oov_rate": oov,
            }
        outputs[name] = ids

    def string_input(column, kind):
        if column not in value_counts:
            raise ValueError(f"No value counts for {kind} column {column!r}")
        name = name_for(column)
        inputs[name] = keras.Input(shape=(), dtype="string", name=name)
        return name, inputs[name]

    for column in categorical:
        name, raw = string_input(column, "categorical")
        categorical_ids(name, raw, value_counts[column], "categorical", column)
    for column in multi_value:
        name, raw = string_input(column, "multi-value")
        vocab = _vocabulary(value_counts[column], config)
        tokens = SplitPad(separator, config.max_len, name=f"{name}_split")(raw)
        ids = keras.layers.StringLookup(
            vocabulary=vocab or ["<none>"],
            num_oov_indices=1,
            mask_token="",
            name=f"{name}_lookup",
        )(tokens)
        specs.append(
            VarLenSparseFeat(name, len(vocab or ["<none>"]) + 2, config.max_len)
        )
        outputs[name] = ids
        summary["multi_value"][column] = {
            "distinct": len(value_counts[column]),
            "vocabulary": len(vocab),
            "max_len": config.max_len,
        }
    dense = []
    for column in numeric:
        if column not in numeric_stats:
            raise ValueError(f"No statistics for numeric column {column!r}")
        stats = numeric_stats[column]
        name = name_for(column)
        raw = keras.Input(shape=(), dtype="float32", name=name)
        inputs[name] = raw
        log = config.numeric_transform in ("log1p", "bucketize")
        mean = stats["log1p_mean"] if log else stats["mean"]
        std = stats["log1p_std"] if log else stats["std"]
        mean = 0.0 if mean is None or not np.isfinite(mean) else mean
        dense.append(NumericTransform(mean, std, log, name=f"{name}_transform")(raw))
        summary["numeric"][column] = {"transform": config.numeric_transform}
        if config.numeric_transform == "bucketize":
            boundaries = _boundaries(stats.get("quantiles") or [], config.buckets)
            bucket = f"{name}_bucket"
            outputs[bucket] = Bucketize(boundaries, name=bucket)(raw)
            specs.append(SparseFeat(bucket, len(boundaries) + 2))
            summary["numeric"][column]["buckets"] = len(boundaries) + 1
    check_crosses(config.crosses, categorical)
    for i, cross in enumerate(config.crosses):
        name = cross_name(cross)
        if name in names or name in outputs or name == NUMERIC:
            raise ValueError(
                f"features.crosses[{i}]={list(cross)}: its feature name {name!r} "
                "is already a column's; rename the column"
            )
        counts = (crossed_counts or {}).get(name)
        if counts is None:
            raise ValueError(f"No value counts for the cross {list(cross)}")
        raw = CrossJoin(name=f"{name}_join")([inputs[input_name(c)] for c in cross])
        categorical_ids(name, raw, counts, "crosses", name)
    if dense:
        stacked = (
            dense[0]
            if len(dense) == 1
            else keras.layers.Concatenate(axis=-1, name="numeric_concat")(dense)
        )
        outputs[NUMERIC] = stacked
        specs.append(DenseFeat(NUMERIC, 2 * len(dense)))
    if not inputs:
        raise ValueError("No feature columns: nothing to preprocess")
    model = keras.Model(inputs, outputs, name="ctr_preprocessor")
    summary["input_names"] = {name: column for name, column in names.items()}
    return model, tuple(specs), summary


def _boundaries(quantiles: Sequence[float], buckets: int) -> list[float]:
    q = np.asarray([x for x in quantiles if np.isfinite(x)], dtype="float64")
    if q.size == 0:
        return [0.0]
    cuts = np.quantile(q, np.linspace(0, 1, buckets + 1)[1:-1])
    return sorted({float(c) for c in cuts}) or [float(q[0])]


def stats_from_arrays(
    columns: Mapping[str, np.ndarray],
    categorical: Sequence[str],
    numeric: Sequence[str],
    multi_value: Sequence[str] = (),
    separator: str = "|",
) -> tuple[dict, dict]:
    """`(value_counts, numeric_stats)` of in-memory training columns.

    The same statistics the file readers compute while streaming, so one
    preprocessor builder serves both.
    """
    counts = {}
    for column in categorical:
        values, n = np.unique(np.asarray(columns[column]), return_counts=True)
        counts[column] = {_text(v): int(c) for v, c in zip(values, n, strict=True)}
    for column in multi_value:
        tally: dict[str, int] = {}
        for row in np.asarray(columns[column]):
            for v in _text(row).split(separator):
                if v:
                    tally[v] = tally.get(v, 0) + 1
        counts[column] = tally
    stats = {}
    for column in numeric:
        x = np.asarray(columns[column], dtype="float64")
        finite = x[np.isfinite(x)]
        t = np.sign(finite) * np.log1p(np.abs(finite))
        stats[column] = {
            "count": int(finite.size),
            "missing": int(x.size - finite.size),
            "mean": float(finite.mean()) if finite.size else 0.0,
            "std": float(finite.std()) if finite.size else 1.0,
            "log1p_mean": float(t.mean()) if t.size else 0.0,
            "log1p_std": float(t.std()) if t.size else 1.0,
            "quantiles": (
                np.quantile(finite, np.linspace(0, 1, 33)).tolist()
                if finite.size
                else []
            ),
        }
    return counts, stats


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
