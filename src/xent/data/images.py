"""Image classification data: scikit-learn's digits and tfds image datasets.

Images keep their raw pixel values (what a serving client sends); the
preprocessor built by `build_image_preprocessor` rescales them inside the
model.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from sklearn.model_selection import train_test_split

__all__ = [
    "ImageData",
    "build_image_preprocessor",
    "load_digits_images",
    "load_tfds_images",
]


@dataclasses.dataclass(frozen=True)
class ImageData:
    """Images split for training.

    Attributes:
        name: Data set name.
        splits: `{"train"|"validation"|"test": (images, labels)}`; images are
            float32 `[n, h, w, c]` raw pixel values, labels int64 class ids.
        class_names: Names in class-id order.
        pixel_max: The largest raw pixel value (16 for digits, 255 for tfds).
    """

    name: str
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    class_names: tuple[str, ...]
    pixel_max: float

    def summary(self) -> dict:
        """Rows per split, class balance and the image shape."""
        rows = {k: int(len(y)) for k, (_, y) in self.splits.items()}
        k = len(self.class_names)
        balance = {
            split: {
                self.class_names[i]: float(np.mean(y == i)) if len(y) else 0.0
                for i in range(k)
            }
            for split, (_, y) in self.splits.items()
        }
        shape = list(next(iter(self.splits.values()))[0].shape[1:])
        return {
            "rows": rows,
            "class_balance": balance,
            "features": {"image_shape": shape, "pixel_max": self.pixel_max},
        }


def _split(x, y, seed, validation_fraction, test_fraction):
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=validation_fraction / (1 - test_fraction),
        stratify=y_rest,
        random_state=seed,
    )
    return {
        "train": (x_train, y_train),
        "validation": (x_val, y_val),
        "test": (x_test, y_test),
    }


def load_digits_images(
    seed: int = 0, validation_fraction: float = 0.15, test_fraction: float = 0.2
) -> ImageData:
    """scikit-learn's bundled 8x8 digits (1,797 images, pixel values 0-16)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype("float32")[..., None]
    y = bunch.target.astype("int64")
    return ImageData(
        name="digits",
        splits=_split(x, y, seed, validation_fraction, test_fraction),
        class_names=tuple(str(c) for c in bunch.target_names),
        pixel_max=16.0,
    )


def load_tfds_images(
    name: str,
    seed: int = 0,
    validation_fraction: float = 0.15,
    max_rows: int | None = None,
    data_dir: str | None = None,
) -> ImageData:
    """A tensorflow-datasets image classification data set by catalog name.

    Uses the catalog's `train` and `test` splits; validation is a stratified
    part of train. Downloads when the data are absent (which fails offline).

    Args:
        name: Catalog name, e.g. `mnist`, `fashion_mnist`, `cifar10`.
        seed: Seed of the validation split.
        validation_fraction: Fraction of train used for validation.
        max_rows: Optional cap on rows read per split.
        data_dir: Optional tfds data directory.

    Raises:
        ValueError: If the data set has no `image` and `label` features.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    info = builder.info
    if "image" not in info.features or "label" not in info.features:
        raise ValueError(
            f"tfds data set {name!r} has no 'image' and 'label' features "
            f"(features: {list(info.features)})"
        )
    builder.download_and_prepare()
    arrays = {}
    for split in ("train", "test"):
        ds = builder.as_dataset(split=split, as_supervised=True)
        if max_rows:
            ds = ds.take(max_rows)
        images, labels = [], []
        for image, label in tfds.as_numpy(ds):
            images.append(image)
            labels.append(label)
        arrays[split] = (
            np.stack(images).astype("float32"),
            np.asarray(labels, dtype="int64"),
        )
    x_train, y_train = arrays["train"]
    # Stratify when every class can appear in both parts; tiny data cannot.
    counts = np.bincount(y_train)
    n_val = int(np.ceil(validation_fraction * len(y_train)))
    can_stratify = counts[counts > 0].min() >= 2 and n_val >= np.count_nonzero(counts)
    stratify = y_train if can_stratify else None
    x_tr, x_val, y_tr, y_val = train_test_split(
        x_train,
        y_train,
        test_size=validation_fraction,
        stratify=stratify,
        random_state=seed,
    )
    return ImageData(
        name=f"tfds:{name}",
        splits={
            "train": (x_tr, y_tr),
            "validation": (x_val, y_val),
            "test": arrays["test"],
        },
        class_names=tuple(info.features["label"].names),
        pixel_max=255.0,
    )


def build_image_preprocessor(
    image_shape: tuple[int, ...], pixel_max: float
) -> keras.Model:
    """Raw pixels -> [0, 1]: the first layer of the serving model."""
    images = keras.Input(shape=image_shape, name="image", dtype="float32")
    scaled = keras.layers.Rescaling(1.0 / pixel_max, name="rescale")(images)
    return keras.Model(images, scaled, name="preprocessor")
