"""A small convolutional network for small images, outputting logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from xent.models.checks import check_positive_int
from xent.models.checks import check_positive_ints
from xent.models.checks import check_rate


def build_small_cnn(
    input_shape: Sequence[int] = (28, 28, 1),
    n_classes: int = 10,
    filters: Sequence[int] = (32, 64),
    dense: int = 128,
    dropout: float = 0.0,
    batch_norm: bool = False,
    translate: float = 0.0,
    rotate: float = 0.0,
    zoom: float = 0.0,
    name: str = "small_cnn",
) -> keras.Model:
    """Builds a small CNN whose last `Dense` layer has no activation.

    Each entry of `filters` adds a 3x3 ReLU convolution (`"same"` padding),
    with batch normalization before the ReLU if `batch_norm`, followed by 2x2
    max pooling; then come a flatten, a ReLU `Dense` layer and the logits. The
    model outputs logits: pair it with a loss built with `from_logits=True`,
    and add the softmax only in the serving model.

    `translate`, `rotate` and `zoom` put random-augmentation layers first
    (shift, then rotation, then zoom; areas moved in are filled with 0, the
    background of rescaled images). Keras runs them only in training: at
    inference (`training=False`, `predict`, the exported serving model) they
    pass the images through unchanged. Their seeds come from Keras's global
    seed (`keras.utils.set_random_seed`).

    Args:
        input_shape: Shape of one image, `(height, width, channels)`.
        n_classes: Number of classes (logits per example).
        filters: Number of filters of each convolution block, in order.
        dense: Units of the hidden `Dense` layer.
        dropout: Dropout rate before the logits layer, in [0, 1); 0 adds no
            `Dropout` layer.
        batch_norm: Whether to normalize each convolution's outputs (the
            convolutions then have no bias).
        translate: Largest random shift, as a fraction of the height and of
            the width, in [0, 1) (0.125 is one pixel of an 8x8 image); 0 adds
            no layer.
        rotate: Largest random rotation, as a fraction of a full turn, in
            [0, 1) (0.03 is about 11 degrees); 0 adds no layer.
        zoom: Largest random zoom in or out, as a fraction of the size, in
            [0, 1); 0 adds no layer.
        name: Name of the model.

    Returns:
        A functional `keras.Model` mapping `[batch, *input_shape]` to
        `[batch, n_classes]` logits.

    Raises:
        ValueError: If an argument is out of range, naming the argument, or
            if the image is too small for the number of pooling steps.

    >>> model = build_small_cnn(filters=(4,), dense=8)
    >>> model.output_shape
    (None, 10)
    """
    input_shape = tuple(input_shape)
    filters = tuple(filters)
    if len(input_shape) != 3:
        raise ValueError(
            "Invalid value for argument `input_shape`. Expected "
            f"(height, width, channels). Received: input_shape={input_shape!r}"
        )
    check_positive_ints("input_shape", input_shape)
    check_positive_int("n_classes", n_classes)
    check_positive_ints("filters", filters)
    check_positive_int("dense", dense)
    check_rate("dropout", dropout)
    for arg, value in (("translate", translate), ("rotate", rotate), ("zoom", zoom)):
        check_rate(arg, value)
    if min(input_shape[:2]) < 2 ** len(filters):
        raise ValueError(
            f"Invalid value for argument `input_shape`. {len(filters)} pooling "
            f"steps need images of at least {2 ** len(filters)} pixels a side. "
            f"Received: input_shape={input_shape!r}"
        )

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    if translate:
        x = layers.RandomTranslation(translate, translate, name="translate", **fill)(x)
    if rotate:
        x = layers.RandomRotation(rotate, name="rotate", **fill)(x)
    if zoom:
        x = layers.RandomZoom(zoom, name="zoom", **fill)(x)
    for i, n_filters in enumerate(filters):
        if batch_norm:
            x = layers.Conv2D(
                n_filters, 3, padding="same", use_bias=False, name=f"conv_{i}"
            )(x)
            x = layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            x = layers.Activation("relu", name=f"relu_{i}")(x)
        else:
            x = layers.Conv2D(
                n_filters, 3, padding="same", activation="relu", name=f"conv_{i}"
            )(x)
        x = layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, activation="relu", name="dense")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
