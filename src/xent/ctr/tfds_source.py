"""tfds catalog data sets read as click logs.

A `TfdsSource` names a catalog data set, split and derived bucket columns;
`tfds_rows` streams its examples as click rows for `xent.ctr.builder`
(`load_tfds_clicks`), converting values to strings as that function
documents. `TFDS_PRESETS` holds the default label and columns of known data
sets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from xent.bad_rows import ReadError
from xent.ctr.click_schema import BINARY_LABELS
from xent.ctr.click_schema import ClickSchema

__all__ = [
    "TFDS_PRESETS",
    "TfdsPreset",
    "TfdsSource",
    "infer_tfds_roles",
    "tfds_rows",
]


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """A tfds catalog data set read as a click log.

    Attributes:
        name: The catalog name, e.g. `"movielens/100k-ratings"`.
        split: The catalog split read (then split by fractions).
        data_dir: Where tfds stores it (`None`: tfds's default).
        download: Whether tfds may download and prepare it.
        buckets: Derived categorical columns `(name, source, boundaries)`: the
            value is `"<b0"` below the first boundary, else `">=b"` for the
            largest boundary `b <= value` (`""` when missing).
    """

    name: str
    split: str = "train"
    data_dir: str | None = None
    download: bool = False
    buckets: tuple[tuple[str, str, tuple[float, ...]], ...] = ()


@dataclasses.dataclass(frozen=True)
class TfdsPreset:
    """Default label and columns of a catalog data set (see `TfdsSource`)."""

    label_key: str
    label_threshold: float | None
    categorical: tuple[str, ...]
    numeric: tuple[str, ...] = ()
    multi_value: tuple[str, ...] = ()
    buckets: tuple[tuple[str, str, tuple[float, ...]], ...] = ()


TFDS_PRESETS: dict[str, TfdsPreset] = {
    "movielens/100k-ratings": TfdsPreset(
        label_key="user_rating",
        label_threshold=4.0,
        categorical=(
            "user_id",
            "movie_id",
            "user_gender",
            "user_occupation_text",
            "user_zip_code",
            "user_age_bucket",
        ),
        multi_value=("movie_genres",),
        buckets=(("user_age_bucket", "raw_user_age", (18, 25, 35, 45, 50, 56)),),
    ),
}
"""Default label and columns of known catalog data sets (`load_tfds_clicks`).

`movielens/100k-ratings`: a rating >= 4 is a click; user and movie ids,
gender (`"true"`/`"false"`), occupation, zip code and the raw age bucketized
at the MovieLens-1M boundaries 18, 25, 35, 45, 50, 56 are categorical;
`movie_genres` (genre names) is multi-value.
"""


def _bucket(value: float, boundaries: tuple[float, ...]) -> str:
    if not math.isfinite(value):
        return ""
    if value < boundaries[0]:
        return f"<{boundaries[0]:g}"
    lower = max(b for b in boundaries if b <= value)
    return f">={lower:g}"


def _tfds_converter(
    source: TfdsSource, schema: ClickSchema, features: Any
) -> Callable[[int, dict[str, Any]], dict[str, Any]]:
    """A function from a tfds example (numpy) to a click row."""
    label_key = schema.label
    threshold = schema.label_threshold
    derived = {name: (src, tuple(b)) for name, src, b in source.buckets}
    separator = schema.separator

    def names_of(key: str) -> Callable[[int], str] | None:
        feature = features[key]
        if isinstance(feature, tfds.features.Sequence):
            feature = feature.feature
        if isinstance(feature, tfds.features.ClassLabel) and feature.names:
            return feature.int2str
        return None

    class_names = {
        key: names_of(key)
        for key in schema.categorical + schema.multi_value
        if key not in derived
    }

    def text(value: Any, names: Callable[[int], str] | None) -> str:
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        if isinstance(value, (bool, np.bool_)):
            return "true" if value else "false"
        if isinstance(value, (int, np.integer)):
            return names(int(value)) if names is not None else str(int(value))
        if isinstance(value, (float, np.floating)):
            return "" if math.isnan(value) else f"{float(value):g}"
        return str(value)

    def convert(index: int, example: dict[str, Any]) -> dict[str, Any]:
        raw = example[label_key]
        where = f"tfds:{source.name}[{source.split}] example {index}"
        if threshold is not None:
            label = int(float(raw) >= threshold)
        else:
            label = BINARY_LABELS.get(text(raw, None).lower())
            if label is None:
                raise ReadError(
                    f"{where}: label {label_key!r} is {raw!r}, not binary; pass "
                    "label_threshold"
                )
        row: dict[str, Any] = {label_key: label}
        for key in schema.categorical:
            if key in derived:
                src, boundaries = derived[key]
                row[key] = _bucket(float(example[src]), boundaries)
            else:
                row[key] = text(example[key], class_names[key])
        for key in schema.numeric:
            row[key] = float(example[key])
        for key in schema.multi_value:
            names = class_names[key]
            row[key] = separator.join(
                text(v, names) for v in np.asarray(example[key]).reshape(-1)
            )
        return row

    return convert


def infer_tfds_roles(
    features: Any, label_key: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Roles of a catalog data set's flat features (others are ignored).

    Returns:
        `(categorical, numeric, multi_value)`: float scalars are numeric,
        string, integer and bool scalars categorical, 1-D string or integer
        lists multi-value.
    """
    categorical, numeric, multi_value = [], [], []
    for key, feature in features.items():
        if key == label_key:
            continue
        shape = tuple(feature.shape)
        dtype = tf.as_dtype(feature.dtype)
        if shape == ():
            if dtype.is_floating:
                numeric.append(key)
            elif dtype in (tf.string, tf.bool) or dtype.is_integer:
                categorical.append(key)
        elif len(shape) == 1 and (dtype == tf.string or dtype.is_integer):
            multi_value.append(key)
    return tuple(categorical), tuple(numeric), tuple(multi_value)


def tfds_rows(
    source: TfdsSource, schema: ClickSchema, keep: Callable[[int], bool] | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(example index + 1, row)` of the examples whose number `keep` accepts."""
    builder = tfds.builder(source.name, data_dir=source.data_dir)
    if source.download:
        builder.download_and_prepare()
    dataset = tfds.load(
        source.name,
        split=source.split,
        data_dir=source.data_dir,
        download=False,
        shuffle_files=False,
    )
    convert = _tfds_converter(source, schema, builder.info.features)
    for index, example in enumerate(tfds.as_numpy(dataset), 1):
        if keep is None or keep(index):
            yield index, convert(index, example)
