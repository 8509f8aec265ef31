"""A multilayer perceptron on a flat feature vector, outputting logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def build_mlp(
    input_dim: int,
    hidden: Sequence[int] = (256, 128),
    n_outputs: int = 1,
    dropout: float = 0.0,
    name: str = "mlp",
) -> keras.Model:
    """Builds a ReLU MLP whose last `Dense` layer has no activation.

    The model outputs logits: pair it with a loss built with
    `from_logits=True`, and add the sigmoid/softmax only in the serving model.

    Args:
        input_dim: Number of input features.
        hidden: Units of the hidden `Dense` layers, in order; empty for a
            linear model.
        n_outputs: Number of logits per example (1 for binary
            classification).
        dropout: Dropout rate after each hidden layer, in [0, 1); 0 adds no
            `Dropout` layer.
        name: Name of the model.

    Returns:
        A functional `keras.Model` mapping `[batch, input_dim]` to
        `[batch, n_outputs]` logits.

    Raises:
        ValueError: If an argument is out of range, naming the argument.

    >>> model = build_mlp(40, hidden=(8,))
    >>> model.output_shape
    (None, 1)
    """
    _check_positive_int("input_dim", input_dim)
    _check_positive_int("n_outputs", n_outputs)
    hidden = tuple(hidden)
    _check_positive_ints("hidden", hidden)
    _check_rate("dropout", dropout)

    inputs = keras.Input(shape=(input_dim,), name="features")
    x = inputs
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(n_outputs, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_positive_int(arg: str, value) -> None:
    """Raises a `ValueError` naming `arg` unless `value` is an int >= 1."""
    if not _is_positive_int(value):
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a positive integer. "
            f"Received: {arg}={value!r}"
        )


def _check_positive_ints(arg: str, values: tuple) -> None:
    """Raises a `ValueError` naming `arg` unless all `values` are ints >= 1."""
    if not all(_is_positive_int(v) for v in values):
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a sequence of "
            f"positive integers. Received: {arg}={values!r}"
        )


def _check_rate(arg: str, value: float) -> None:
    """Raises a `ValueError` naming `arg` unless `value` is in [0, 1)."""
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a float in [0, 1). "
            f"Received: {arg}={value!r}"
        )
