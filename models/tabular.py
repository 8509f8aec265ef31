"""A tabular network: numeric embeddings, an MLP and an ensemble of heads.

The network reads the preprocessor's feature vector (`xent.data.preprocessing`:
N missing-value indicators, then the N standardized numeric values, then the
one-hot categorical columns; a one-hot column times a `Dense` kernel is an
embedding lookup, so the first layer embeds every categorical column) and
returns logits. Its parts follow the recipes that made MLPs competitive with
gradient-boosted trees:

* numeric values are softly clipped (`x / sqrt(1 + (x / 3)^2)`, RealMLP's
  robust input, Holzmüller et al. 2024) and embedded with periodic features
  and a linear layer per column ("PLR", Gorishniy et al. 2022, "On Embeddings
  for Numerical Features in Tabular Deep Learning");
* a ReLU MLP with dropout;
* `members` heads on one shared backbone, each seeing the input through its
  own random-sign scaling (TabM-mini, Gorishniy et al. 2024), combined as the
  mean of their probabilities. The combination is returned as logits in log
  space (`log_mean_probability_logits`), so the shared cross-entropy trains the
  ensemble from logits and the export adds the usual sigmoid/softmax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers
from keras import ops

from xent.models.checks import check_positive_int
from xent.models.checks import check_positive_ints
from xent.models.checks import check_rate

__all__ = [
    "EnsembleHeads",
    "MeanProbabilityLogits",
    "MemberScaling",
    "PeriodicEmbedding",
    "SplitNumeric",
    "build_tabular_network",
    "log_mean_probability_logits",
    "soft_clip",
]


def soft_clip(x, bound: float = 3.0):
    """`x / sqrt(1 + (x / bound)^2)`: the identity near 0, `+-bound` far out.

    >>> import numpy as np
    >>> np.round(np.asarray(soft_clip(np.array([0.0, 3.0, 1e6]))), 3).tolist()
    [0.0, 2.121, 3.0]
    """
    return x / ops.sqrt(1.0 + ops.square(x / bound))


def log_mean_probability_logits(logits, binary: bool):
    """Logits of the mean of the members' probabilities, in log space.

    Args:
        logits: `[batch, members, outputs]` member logits.
        binary: One sigmoid output (`outputs == 1`) rather than a softmax.

    Returns:
        `[batch, outputs]` logits whose sigmoid (binary) or softmax is the mean
        over members of the members' sigmoids or softmaxes: for the softmax
        `log mean_m softmax(z_m)` (already normalized); for the sigmoid
        `log p - log(1 - p)` with `log p = logsumexp_m log sigmoid(z_m) - log M`.
        No probability is formed, so no member saturates to 0 or 1.
    """
    members = ops.shape(logits)[1]
    log_m = ops.log(ops.cast(members, logits.dtype))
    if binary:
        log_p = ops.logsumexp(ops.log_sigmoid(logits), axis=1) - log_m
        log_q = ops.logsumexp(ops.log_sigmoid(-logits), axis=1) - log_m
        return log_p - log_q
    return ops.logsumexp(ops.log_softmax(logits, axis=-1), axis=1) - log_m


@keras.saving.register_keras_serializable(package="xent")
class SplitNumeric(layers.Layer):
    """The preprocessor's features -> (softly clipped numeric values
    `[N, 2N)`, the other features)."""

    def __init__(self, n_numeric: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("n_numeric", n_numeric)
        self.n_numeric = n_numeric

    def call(self, x):
        n = self.n_numeric
        values = soft_clip(x[:, n : 2 * n])
        return values, ops.concatenate([x[:, :n], x[:, 2 * n :]], axis=-1)

    def compute_output_shape(self, input_shape):
        n = self.n_numeric
        return (input_shape[0], n), (input_shape[0], int(input_shape[-1]) - n)

    def get_config(self):
        return {**super().get_config(), "n_numeric": self.n_numeric}


@keras.saving.register_keras_serializable(package="xent")
class MeanProbabilityLogits(layers.Layer):
    """`log_mean_probability_logits` as a layer: member logits
    `[batch, members, outputs]` -> the ensemble's `[batch, outputs]`."""

    def __init__(self, binary: bool, **kwargs):
        super().__init__(**kwargs)
        self.binary = bool(binary)

    def call(self, logits):
        return log_mean_probability_logits(logits, self.binary)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "binary": self.binary}


@keras.saving.register_keras_serializable(package="xent")
class PeriodicEmbedding(layers.Layer):
    """PLR embeddings of numeric columns: periodic, linear, ReLU.

    For column `j` with value `x_j`: `v = [cos(2 pi c_j x_j), sin(2 pi c_j x_j)]`
    with `frequencies` trainable `c_jk ~ N(0, s_k^2)`, then a linear map to
    `dim` per column and a ReLU. The output is the `[batch, columns * dim]`
    concatenation.

    The initial scales `s_k` run geometrically from `scale / spread` to
    `scale` over the `frequencies` (`spread == 1`: all `scale`, as in the
    paper). The best single scale depends on the data (smooth targets want
    small ones, targets that change fast in a column large ones); a spread
    offers both and the linear layer weighs them, which is the default
    chosen on the development data.

    Args:
        frequencies: Frequencies per column.
        dim: Embedding size per column.
        scale: Standard deviation of the largest initial frequencies (the
            inputs are standardized).
        spread: Ratio of the largest to the smallest initial scale, >= 1.
    """

    def __init__(
        self,
        frequencies: int = 16,
        dim: int = 16,
        scale: float = 0.1,
        spread: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("frequencies", frequencies)
        check_positive_int("dim", dim)
        if not scale > 0:
            raise ValueError(
                "Invalid value for argument scale. Expected a number > 0. "
                f"Received: scale={scale!r}"
            )
        if not spread >= 1:
            raise ValueError(
                "Invalid value for argument spread. Expected a number >= 1. "
                f"Received: spread={spread!r}"
            )
        self.frequencies = frequencies
        self.dim = dim
        self.scale = scale
        self.spread = spread

    def initial_scales(self):
        """The standard deviations `s_k` of the initial frequencies."""
        k = self.frequencies
        steps = ops.arange(k, dtype="float32") - (k - 1)
        return self.scale * ops.power(self.spread, steps / max(k - 1, 1))

    def build(self, input_shape):
        columns = int(input_shape[-1])
        scales = self.initial_scales()

        def initializer(shape, dtype=None):
            return keras.random.normal(shape, dtype=dtype) * ops.cast(scales, dtype)

        self.coefficients = self.add_weight(
            shape=(columns, self.frequencies),
            initializer=initializer,
            name="frequencies",
        )
        self.kernel = self.add_weight(
            shape=(columns, 2 * self.frequencies, self.dim),
            initializer="glorot_uniform",
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(columns, self.dim), initializer="zeros", name="bias"
        )

    def call(self, x):
        angles = 2.0 * math.pi * x[..., None] * self.coefficients
        periodic = ops.concatenate([ops.cos(angles), ops.sin(angles)], axis=-1)
        out = ops.relu(ops.einsum("bcf,cfd->bcd", periodic, self.kernel) + self.bias)
        return ops.reshape(out, (-1, out.shape[1] * self.dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(input_shape[-1]) * self.dim)

    def get_config(self):
        return {
            **super().get_config(),
            "frequencies": self.frequencies,
            "dim": self.dim,
            "scale": self.scale,
            "spread": self.spread,
        }


@keras.saving.register_keras_serializable(package="xent")
class MemberScaling(layers.Layer):
    """`[batch, features]` -> `[batch, members, features]`: each member's copy
    of the input times its own fixed-at-init random signs, then trained
    (TabM-mini's adapter; `members == 1` is a plain copy)."""

    def __init__(self, members: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("members", members)
        self.members = members

    def build(self, input_shape):
        self.scaling = self.add_weight(
            shape=(self.members, int(input_shape[-1])),
            initializer="ones",
            name="scaling",
        )
        if self.members > 1:
            # Random signs (from Keras' seeded global generator).
            draw = keras.random.uniform(self.scaling.shape, -1.0, 1.0)
            self.scaling.assign(ops.where(draw < 0, -1.0, 1.0))

    def call(self, x):
        return x[:, None, :] * self.scaling

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.members, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "members": self.members}


@keras.saving.register_keras_serializable(package="xent")
class EnsembleHeads(layers.Layer):
    """One linear head per member: `[batch, members, hidden]` ->
    `[batch, members, outputs]`."""

    def __init__(self, outputs: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("outputs", outputs)
        self.outputs = outputs

    def build(self, input_shape):
        members, hidden = int(input_shape[1]), int(input_shape[2])
        self.kernel = self.add_weight(
            shape=(members, hidden, self.outputs),
            initializer="glorot_uniform",
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(members, self.outputs), initializer="zeros", name="bias"
        )

    def call(self, x):
        return ops.einsum("bmh,mho->bmo", x, self.kernel) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.outputs)

    def get_config(self):
        return {**super().get_config(), "outputs": self.outputs}


def build_tabular_network(
    input_dim: int,
    n_numeric: int,
    n_outputs: int = 1,
    hidden: Sequence[int] = (256, 256),
    dropout: float = 0.1,
    embedding_dim: int = 16,
    frequencies: int = 16,
    frequency_scale: float = 0.1,
    frequency_spread: float = 1.0,
    members: int = 8,
    name: str = "tabular",
) -> keras.Model:
    """Builds the tabular network (see the module docstring).

    Args:
        input_dim: Width of the preprocessor's feature vector.
        n_numeric: Numeric columns N; features `[N, 2N)` are their
            standardized values (0 disables the numeric embeddings).
        n_outputs: Logits per example (1: binary).
        hidden: Units of the shared hidden layers.
        dropout: Dropout rate after each hidden layer.
        embedding_dim: PLR embedding size per numeric column (0: the values
            enter the MLP as they are).
        frequencies: PLR frequencies per numeric column.
        frequency_scale: Standard deviation of the largest initial
            frequencies.
        frequency_spread: Ratio of the largest to the smallest initial
            frequency scale (see `PeriodicEmbedding`).
        members: Ensemble members (heads); 1 is a plain MLP.
        name: Name of the model.

    Returns:
        A `keras.Model` from `[batch, input_dim]` features to
        `[batch, n_outputs]` logits.

    >>> build_tabular_network(10, 3, hidden=(8,), members=2).output_shape
    (None, 1)
    """
    check_positive_int("input_dim", input_dim)
    check_positive_int("n_outputs", n_outputs)
    check_positive_int("members", members)
    hidden = tuple(hidden)
    check_positive_ints("hidden", hidden)
    check_rate("dropout", dropout)
    if not 0 <= 2 * n_numeric <= input_dim:
        raise ValueError(
            f"Invalid value for argument n_numeric. Expected 0 <= 2 * n_numeric "
            f"<= input_dim={input_dim}. Received: n_numeric={n_numeric!r}"
        )

    inputs = keras.Input(shape=(input_dim,), name="features")
    x = inputs
    if n_numeric and embedding_dim:
        values, rest = SplitNumeric(n_numeric, name="split_numeric")(inputs)
        embedded = PeriodicEmbedding(
            frequencies,
            embedding_dim,
            frequency_scale,
            frequency_spread,
            name="numeric_embedding",
        )(values)
        x = layers.Concatenate(name="embedded")([embedded, rest])
    x = MemberScaling(members, name="member_scaling")(x)
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    member_logits = EnsembleHeads(n_outputs, name="heads")(x)
    outputs = MeanProbabilityLogits(n_outputs == 1, name="logits")(member_logits)
    return keras.Model(inputs, outputs, name=name)
