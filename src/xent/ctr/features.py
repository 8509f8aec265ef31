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
from xent.data import columns as columns_lib
from xent.data.counts import Counts
from xent.data.transforms import ImputeStandardize

__all__ = [
    "CROSS_SEPARATOR",
    "Bucketize",
    "CrossJoin",
    "FeatureConfig",
    "SplitPad",
    "build_ctr_preprocessor",
    "check_crosses",
    "cross_counts",
    "cross_name",
    "cross_values",
    "input_name",
    "stats_from_arrays",
    "top_columns",
    "with_top_cross",
]

NUMERIC = "numeric"
INPUT_PREFIX = "f_"
"""Put in front of an input name that does not start with a letter."""
# Standardized numeric values are clipped to [-NUMERIC_CLIP, NUMERIC_CLIP], so
# an outlier at serving time cannot blow up the logits.
NUMERIC_CLIP = 10.0
# Joins the values of a crossed pair: the ASCII unit separator, which no
# click-log reader produces inside a value.
CROSS_SEPARATOR = "\x1f"


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """How raw click-log columns become model inputs.

    Attributes:
        min_count: Values seen fewer times in the training split go to the
            out-of-vocabulary id; null chooses it from the training rows
            (`auto_min_count`: 1 below 200,000 rows, 2 below 1,000,000, else
            5), so that a small log keeps the values it has few rows of.
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
        cross_top: Also cross the `cross_top` single-valued categorical
            columns of most distinct training values (ties by name), found
            in the data: 2 is Wide & Deep's user x item where those are the
            largest fields. 0 crosses only `crosses`.

    The embedding width is the model's (`model.embedding_dim`): the pipeline
    writes it into the specs.
    """

    min_count: int | None = None
    max_vocab: int | None = None
    hash_threshold: int | None = None
    hash_bins: int = 100_000
    numeric_transform: Literal["log1p", "standardize", "bucketize"] = "log1p"
    buckets: int = 16
    max_len: int = 8
    crosses: tuple[tuple[str, ...], ...] = ()
    cross_top: int = 0

    def __post_init__(self):
        if (
            isinstance(self.cross_top, bool)
            or not isinstance(self.cross_top, int)
            or self.cross_top == 1
            or self.cross_top < 0
        ):
            raise ValueError(
                "Invalid value for features.cross_top: expected 0 or an integer "
                f">= 2 (columns crossed), received {self.cross_top!r}"
            )
        for name in ("min_count", "hash_bins", "buckets", "max_len"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
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
    """The CTR input (and serving signature) name of a column.

    `xent.data.columns.input_name` with the prefix `"f_"` (the tabular tasks
    use `"col_"`): `"C-1"` -> `"C_1"`, `"1st"` -> `"f_1st"`.
    """
    return columns_lib.input_name(column, prefix=INPUT_PREFIX)


def cross_name(columns: Sequence[str]) -> str:
    """The feature name of a cross: `user_x_item` (sanitized as an input name)."""
    return input_name("_x_".join(columns))


def top_columns(distinct: Mapping[str, int], k: int) -> list[str]:
    """The `k` columns with the most distinct training values (ties by
    name), from `{column: distinct count}`."""
    return sorted(distinct, key=lambda c: (-distinct[c], c))[:k]


def with_top_cross(config: FeatureConfig, distinct: Mapping[str, int]) -> FeatureConfig:
    """`config` with its `cross_top` columns of `distinct` (`{single-valued
    categorical column: distinct training values}`) added to `crosses`;
    unchanged without `cross_top`, with fewer columns than it, or when the
    cross is already listed."""
    if not config.cross_top or len(distinct) < config.cross_top:
        return config
    cross = tuple(top_columns(distinct, config.cross_top))
    if cross in {tuple(c) for c in config.crosses}:
        return config
    return dataclasses.replace(config, crosses=(*config.crosses, cross))


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


def auto_min_count(train_rows: int) -> int:
    """The vocabulary's minimum count for a training split of `train_rows`:
    1 below 200,000 rows, 2 below 1,000,000, else 5.

    Small logs need every value they have (on Frappe's 52,000 training rows
    a count of 5 sends 29% of the users to the out-of-vocabulary id); large
    ones gain little from values seen a few times among millions of rows.

    >>> auto_min_count(50_000), auto_min_count(500_000), auto_min_count(2_000_000)
    (1, 2, 5)
    """
    if train_rows < 200_000:
        return 1
    if train_rows < 1_000_000:
        return 2
    return 5


def training_rows(
    value_counts: Mapping[str, Mapping[str, int]], categorical: Sequence[str]
) -> int:
    """The training rows counted by the single-valued categorical columns
    (each row has one value, the missing value included), or 0."""
    return max((Counts.of(value_counts[c]).total() for c in categorical), default=0)


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
    rule = "features.min_count"
    if config.min_count is None:
        rows = training_rows(value_counts, categorical)
        config = dataclasses.replace(config, min_count=auto_min_count(rows))
        rule = f"auto: {rows} training rows"
    parts = _Parts(config, bool(config.crosses))
    parts.summary["min_count"] = {"value": config.min_count, "rule": rule}
    for column in categorical:
        name, raw = parts.string_input(column, "categorical", value_counts)
        parts.add_categorical(name, raw, value_counts[column], "categorical", column)
    for column in multi_value:
        name, raw = parts.string_input(column, "multi-value", value_counts)
        parts.add_multi_value(name, raw, column, value_counts[column], separator)
    dense = [parts.add_numeric(column, numeric_stats) for column in numeric]
    check_crosses(config.crosses, categorical)
    for i, cross in enumerate(config.crosses):
        parts.add_cross(i, cross, crossed_counts or {})
    if dense:
        stacked = (
            dense[0]
            if len(dense) == 1
            else keras.layers.Concatenate(axis=-1, name="numeric_concat")(dense)
        )
        parts.outputs[NUMERIC] = stacked
        parts.specs.append(DenseFeat(NUMERIC, 2 * len(dense)))
    if not parts.inputs:
        raise ValueError("No feature columns: nothing to preprocess")
    model = keras.Model(parts.inputs, parts.outputs, name="ctr_preprocessor")
    parts.summary["input_names"] = dict(parts.names)
    return model, tuple(parts.specs), parts.summary


class _Parts:
    """The inputs, outputs, specs and summary of a preprocessor being built."""

    def __init__(self, config: FeatureConfig, crosses: bool) -> None:
        self.config = config
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        self.specs: list[Any] = []
        self.summary: dict[str, Any] = {
            "categorical": {},
            "numeric": {},
            "multi_value": {},
        }
        if crosses:
            self.summary["crosses"] = {}
        self.names: dict[str, str] = {}  # Input name -> column.

    def name_for(self, column: str) -> str:
        name = input_name(column)
        if name in self.names:
            raise ValueError(
                f"Columns {self.names[name]!r} and {column!r} map to the same input "
                f"name {name!r}; rename one"
            )
        self.names[name] = column
        return name

    def string_input(
        self, column: str, kind: str, value_counts: Mapping[str, Any]
    ) -> tuple[str, Any]:
        if column not in value_counts:
            raise ValueError(f"No value counts for {kind} column {column!r}")
        name = self.name_for(column)
        self.inputs[name] = keras.Input(shape=(), dtype="string", name=name)
        return name, self.inputs[name]

    def add_categorical(
        self, name: str, raw: Any, counts: Mapping[str, int], section: str, key: str
    ) -> None:
        """Ids of a categorical column or cross: hashed, or a vocabulary."""
        config = self.config
        counts = Counts.of(counts)
        total = counts.total()
        if config.hash_threshold is not None and len(counts) > config.hash_threshold:
            ids = keras.layers.Hashing(num_bins=config.hash_bins, name=f"{name}_hash")(
                raw
            )
            self.specs.append(SparseFeat(name, config.hash_bins, hashed=True))
            self.summary[section][key] = {
                "distinct": len(counts),
                "hashed": True,
                "ids": config.hash_bins,
            }
        else:
            vocab = counts.top(config.min_count, config.max_vocab)
            oov_rows = total - vocab.total()
            ids = keras.layers.StringLookup(
                vocabulary=vocab.as_objects() if len(vocab) else ["<none>"],
                num_oov_indices=1,
                mask_token=None,
                name=f"{name}_lookup",
            )(raw)
            self.specs.append(SparseFeat(name, max(len(vocab), 1) + 1))
            self.summary[section][key] = {
                "distinct": len(counts),
                "vocabulary": len(vocab),
                "oov_values": len(counts) - len(vocab),
                "oov_rows": oov_rows,
                "train_oov_rate": oov_rows / (total or 1),
            }
        self.outputs[name] = ids

    def add_multi_value(
        self,
        name: str,
        raw: Any,
        column: str,
        counts: Mapping[str, int],
        separator: str,
    ) -> None:
        config = self.config
        counts = Counts.of(counts)
        vocab = counts.top(config.min_count, config.max_vocab)
        tokens = SplitPad(separator, config.max_len, name=f"{name}_split")(raw)
        ids = keras.layers.StringLookup(
            vocabulary=vocab.as_objects() if len(vocab) else ["<none>"],
            num_oov_indices=1,
            mask_token="",
            name=f"{name}_lookup",
        )(tokens)
        self.specs.append(
            VarLenSparseFeat(name, max(len(vocab), 1) + 2, config.max_len)
        )
        self.outputs[name] = ids
        self.summary["multi_value"][column] = {
            "distinct": len(counts),
            "vocabulary": len(vocab),
            "max_len": config.max_len,
        }

    def add_numeric(self, column: str, numeric_stats: Mapping[str, Any]) -> Any:
        """The column's `[batch, 2]` transform (and its bucket ids if asked)."""
        config = self.config
        if column not in numeric_stats:
            raise ValueError(f"No statistics for numeric column {column!r}")
        stats = numeric_stats[column]
        name = self.name_for(column)
        raw = keras.Input(shape=(), dtype="float32", name=name)
        self.inputs[name] = raw
        log = config.numeric_transform in ("log1p", "bucketize")
        mean = stats["log1p_mean"] if log else stats["mean"]
        std = stats["log1p_std"] if log else stats["std"]
        mean = 0.0 if mean is None or not np.isfinite(mean) else mean
        std = std if std and np.isfinite(std) and std > 0 else 1.0
        transform = ImputeStandardize(
            [mean],
            [std],
            log1p=log,
            clip=NUMERIC_CLIP,
            indicators_first=False,
            name=f"{name}_transform",
        )(raw)
        self.summary["numeric"][column] = {"transform": config.numeric_transform}
        if config.numeric_transform == "bucketize":
            boundaries = _boundaries(stats.get("quantiles") or [], config.buckets)
            bucket = f"{name}_bucket"
            self.outputs[bucket] = Bucketize(boundaries, name=bucket)(raw)
            self.specs.append(SparseFeat(bucket, len(boundaries) + 2))
            self.summary["numeric"][column]["buckets"] = len(boundaries) + 1
        return transform

    def add_cross(
        self,
        i: int,
        cross: Sequence[str],
        crossed_counts: Mapping[str, Mapping[str, int]],
    ) -> None:
        name = cross_name(cross)
        if name in self.names or name in self.outputs or name == NUMERIC:
            raise ValueError(
                f"features.crosses[{i}]={list(cross)}: its feature name {name!r} "
                "is already a column's; rename the column"
            )
        counts = crossed_counts.get(name)
        if counts is None:
            raise ValueError(f"No value counts for the cross {list(cross)}")
        columns = [self.inputs[input_name(c)] for c in cross]
        raw = CrossJoin(name=f"{name}_join")(columns)
        self.add_categorical(name, raw, counts, "crosses", name)


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
        counts[column] = Counts([_text(v) for v in values], n)
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
