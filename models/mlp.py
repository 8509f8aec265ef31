"""A multilayer perceptron on a flat feature vector, outputting logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from xent.models.checks import check_positive_int
from xent.models.checks import check_positive_ints
from xent.models.checks import check_rate


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
    check_positive_int("input_dim", input_dim)
    check_positive_int("n_outputs", n_outputs)
    hidden = tuple(hidden)
    check_positive_ints("hidden", hidden)
    check_rate("dropout", dropout)

    inputs = keras.Input(shape=(input_dim,), name="features")
    x = inputs
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(n_outputs, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
