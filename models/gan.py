"""DCGAN generator and discriminator for small images (8x8 digits, 28x28 MNIST).

The generator maps noise (and, in class-conditional mode, a class id) to
images in [-1, 1] (`tanh`); the discriminator maps images (and the class id)
to one logit per image, with no final activation: pair it with
`xent.losses.BinaryCrossentropy(from_logits=True)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from xent.models.checks import check_positive_int
from xent.models.checks import check_positive_ints
from xent.models.checks import check_rate

__all__ = ["build_discriminator", "build_generator"]

_LEAK = 0.2  # LeakyReLU slope of the DCGAN paper.


def _check_image_shape(image_shape: Sequence[int], n_halvings: int) -> tuple:
    image_shape = tuple(image_shape)
    if len(image_shape) != 3:
        raise ValueError(
            "Invalid value for argument `image_shape`. Expected "
            f"(height, width, channels). Received: image_shape={image_shape!r}"
        )
    check_positive_ints("image_shape", image_shape)
    step = 2**n_halvings
    if image_shape[0] % step or image_shape[1] % step:
        raise ValueError(
            f"Invalid value for argument `image_shape`. {n_halvings} upsampling "
            f"steps need a height and width divisible by {step}. Received: "
            f"image_shape={image_shape!r}"
        )
    return image_shape


def _label_input(n_classes: int | None):
    if n_classes is None:
        return None
    check_positive_int("n_classes", n_classes)
    return keras.Input(shape=(), dtype="int32", name="label")


def build_generator(
    image_shape: Sequence[int] = (8, 8, 1),
    latent_dim: int = 32,
    filters: Sequence[int] = (128, 64),
    n_classes: int | None = None,
    embedding_dim: int = 16,
    name: str = "generator",
) -> keras.Model:
    """Builds a DCGAN generator: Dense -> Reshape -> Conv2DTranspose stack -> tanh.

    The noise goes through a `Dense` layer to a `[h / 2**n, w / 2**n,
    filters[0]]` block (`n = len(filters)`), then each entry of `filters`
    adds a stride-2 4x4 `Conv2DTranspose` that doubles the side, each followed
    by batch normalization and a LeakyReLU; a 3x3 convolution with `tanh`
    gives the image. In class-conditional mode a learned embedding of the
    class id is concatenated to the noise.

    Args:
        image_shape: `(height, width, channels)` of the images; height and
            width must be divisible by `2 ** len(filters)`.
        latent_dim: Size of the noise vector.
        filters: Filters of the upsampling blocks, in order.
        n_classes: Number of classes for a class-conditional generator (a
            second input `label`, int32 class ids `[batch]`), or None.
        embedding_dim: Size of the class embedding (conditional mode only).
        name: Name of the model.

    Returns:
        A functional `keras.Model` mapping `noise` `[batch, latent_dim]` (and
        `label` `[batch]`) to images `[batch, *image_shape]` in [-1, 1].

    Raises:
        ValueError: If an argument is out of range, naming the argument.

    >>> build_generator(latent_dim=4, filters=(8,)).output_shape
    (None, 8, 8, 1)
    """
    filters = tuple(filters)
    check_positive_ints("filters", filters)
    if not filters:
        raise ValueError(
            "Invalid value for argument `filters`. Expected at least one "
            f"upsampling block. Received: filters={filters!r}"
        )
    h, w, c = _check_image_shape(image_shape, len(filters))
    check_positive_int("latent_dim", latent_dim)
    check_positive_int("embedding_dim", embedding_dim)
    label = _label_input(n_classes)

    noise = keras.Input(shape=(latent_dim,), name="noise")
    x = noise
    if label is not None:
        embedded = layers.Embedding(n_classes, embedding_dim, name="label_embedding")(
            label
        )
        x = layers.Concatenate(name="noise_and_label")([noise, embedded])
    bh, bw = h // 2 ** len(filters), w // 2 ** len(filters)
    x = layers.Dense(bh * bw * filters[0], use_bias=False, name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.LeakyReLU(_LEAK, name="project_act")(x)
    x = layers.Reshape((bh, bw, filters[0]), name="reshape")(x)
    for i, n_filters in enumerate(filters):
        x = layers.Conv2DTranspose(
            n_filters, 4, strides=2, padding="same", use_bias=False, name=f"up_{i}"
        )(x)
        x = layers.BatchNormalization(name=f"up_{i}_bn")(x)
        x = layers.LeakyReLU(_LEAK, name=f"up_{i}_act")(x)
    images = layers.Conv2D(c, 3, padding="same", activation="tanh", name="images")(x)
    inputs = noise if label is None else [noise, label]
    return keras.Model(inputs, images, name=name)


def build_discriminator(
    image_shape: Sequence[int] = (8, 8, 1),
    filters: Sequence[int] = (64, 128),
    n_classes: int | None = None,
    dropout: float = 0.3,
    name: str = "discriminator",
) -> keras.Model:
    """Builds a DCGAN discriminator: strided convolutions -> one logit.

    Each entry of `filters` adds a stride-2 3x3 convolution with a LeakyReLU
    (and dropout); then come a flatten and a `Dense(1)` with no activation. In
    class-conditional mode a learned `[h, w]` map per class id is stacked on
    the image as an extra channel.

    Args:
        image_shape: `(height, width, channels)` of the images.
        filters: Filters of the convolution blocks, in order.
        n_classes: Number of classes for a class-conditional discriminator (a
            second input `label`, int32 class ids `[batch]`), or None.
        dropout: Dropout rate after each block, in [0, 1); 0 adds none.
        name: Name of the model.

    Returns:
        A functional `keras.Model` mapping `images` `[batch, *image_shape]`
        (and `label` `[batch]`) to logits `[batch, 1]`.

    Raises:
        ValueError: If an argument is out of range, naming the argument.

    >>> build_discriminator(filters=(8,)).output_shape
    (None, 1)
    """
    filters = tuple(filters)
    check_positive_ints("filters", filters)
    h, w, _ = _check_image_shape(image_shape, 0)
    check_rate("dropout", dropout)
    label = _label_input(n_classes)

    images = keras.Input(shape=tuple(image_shape), name="images")
    x = images
    if label is not None:
        plane = layers.Embedding(n_classes, h * w, name="label_map")(label)
        plane = layers.Reshape((h, w, 1), name="label_plane")(plane)
        x = layers.Concatenate(name="image_and_label")([images, plane])
    for i, n_filters in enumerate(filters):
        x = layers.Conv2D(n_filters, 3, strides=2, padding="same", name=f"conv_{i}")(x)
        x = layers.LeakyReLU(_LEAK, name=f"conv_{i}_act")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(1, name="logits")(x)
    inputs = images if label is None else [images, label]
    return keras.Model(inputs, logits, name=name)
