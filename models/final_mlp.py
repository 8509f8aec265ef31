"""The two parts of FinalMLP that are not plain MLPs (Mao et al., AAAI 2023).

FinalMLP ("FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction",
https://arxiv.org/abs/2304.00902; reference implementation: reczoo/FuxiCTR
`model_zoo/FinalMLP`) runs two MLP streams over the flat field embeddings
`e`, each stream on its own gated copy `e * FeatureSelection_k(context_k)`,
and fuses the two stream outputs with `InteractionAggregation`, a
multi-head bilinear layer, into one logit. `xent.models.ctr` composes the
model (`CTRModelConfig(kind="finalmlp")`) from these layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers
from keras import ops

from xent.models.checks import check_positive_int
from xent.models.checks import check_positive_ints

__all__ = ["FeatureSelection", "InteractionAggregation", "bilinear_fusion"]


def bilinear_fusion(x, y, w_x, w_y, w_xy, bias):
    """The multi-head bilinear fusion of two vectors, one logit per row.

    With `x` and `y` split into `H` heads `x_h`, `y_h` (consecutive chunks
    of equal width):

        out = x w_x + y w_y + sum_h x_h^T W_h y_h + b

    Args:
        x: `[batch, dx]`.
        y: `[batch, dy]`.
        w_x: `[dx, 1]`.
        w_y: `[dy, 1]`.
        w_xy: `[H, dx / H, dy / H]`, one bilinear matrix per head.
        bias: `[1]`.

    Returns:
        `[batch, 1]`.
    """
    heads, head_x, head_y = w_xy.shape
    x_heads = ops.reshape(x, (-1, heads, head_x))
    y_heads = ops.reshape(y, (-1, heads, head_y))
    bilinear = ops.einsum("bhi,hij,bhj->b", x_heads, w_xy, y_heads)
    return ops.matmul(x, w_x) + ops.matmul(y, w_y) + bilinear[:, None] + bias


@keras.saving.register_keras_serializable(package="xent")
class InteractionAggregation(keras.layers.Layer):
    """Fuses two stream outputs into one logit with `bilinear_fusion`.

    `out = x w_x + y w_y + sum_h x_h^T W_h y_h + b` over `num_heads` heads
    (FinalMLP's stream-level interaction aggregation, Mao et al., 2023,
    eq. 7). Both input widths must be divisible by `num_heads`. All weights
    but the bias start at zero (as the other logit projections of
    `xent.models.ctr`), so a model given an output bias starts at it.

    Args:
        num_heads: Number of heads.
        bias_initializer: Initializer of `b`, e.g. a `Constant` at the logit
            of the base rate.
        kernel_initializer: Initializer of `w_x`, `w_y` and `W`.
        kernel_regularizer: Regularizer of `w_x`, `w_y` and `W`.
        **kwargs: Base `Layer` arguments.

    Call:
        `layer([x, y])` with `x` `[batch, dx]`, `y` `[batch, dy]` returns
        `[batch, 1]`.

    >>> import numpy as np
    >>> layer = InteractionAggregation(num_heads=2)
    >>> layer([np.ones((3, 4), "float32"), np.ones((3, 6), "float32")]).shape
    (3, 1)
    """

    def __init__(
        self,
        num_heads: int = 1,
        bias_initializer="zeros",
        kernel_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_heads", num_heads)
        self.num_heads = num_heads
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        dx, dy = input_shape[0][-1], input_shape[1][-1]
        for arg, width in (("x", dx), ("y", dy)):
            if width % self.num_heads:
                raise ValueError(
                    f"Invalid input width of `{arg}`. Expected a multiple of "
                    f"num_heads={self.num_heads}. Received: {width}"
                )
        kernel = {
            "initializer": self.kernel_initializer,
            "regularizer": self.kernel_regularizer,
        }
        self.w_x = self.add_weight(shape=(dx, 1), name="w_x", **kernel)
        self.w_y = self.add_weight(shape=(dy, 1), name="w_y", **kernel)
        self.w_xy = self.add_weight(
            shape=(self.num_heads, dx // self.num_heads, dy // self.num_heads),
            name="w_xy",
            **kernel,
        )
        self.bias = self.add_weight(
            shape=(1,), initializer=self.bias_initializer, name="bias"
        )

    def call(self, inputs):
        x, y = inputs
        return bilinear_fusion(x, y, self.w_x, self.w_y, self.w_xy, self.bias)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="xent")
class FeatureSelection(keras.layers.Layer):
    """Context-gated feature selection: `e * 2 * sigmoid(MLP(context))`.

    The gate MLP (`Dense + ReLU` per hidden layer, then a sigmoid `Dense`
    to the width of `e`) maps a context vector to one weight in (0, 2) per
    element of the flat embeddings `e`, initially 1 (FinalMLP's
    stream-specific feature selection, Mao et al., 2023, eq. 4-5). Without
    a context input the layer learns its context: a `context_dim`-wide
    vector starting at zero, the same for every row, as in FuxiCTR (the
    gate is then one learned weight per element).

    Args:
        hidden: Units of the gate MLP's hidden layers.
        context_dim: Width of the learned context when none is given.
        kernel_regularizer: Regularizer of the gate MLP's kernels.
        **kwargs: Base `Layer` arguments.

    Call:
        `layer(e)` or `layer([e, context])`, with `e` `[batch, d]` and
        `context` `[batch, c]`, returns the gated `[batch, d]`.
        `layer.gate(...)` (same arguments) returns the gate alone.

    >>> import numpy as np
    >>> layer = FeatureSelection(hidden=(8,), context_dim=4)
    >>> layer(np.ones((2, 6), "float32")).shape
    (2, 6)
    """

    def __init__(
        self,
        hidden: Sequence[int] = (),
        context_dim: int = 16,
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        hidden = tuple(hidden)
        check_positive_ints("hidden", hidden)
        check_positive_int("context_dim", context_dim)
        self.hidden = hidden
        self.context_dim = context_dim
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.gate_layers = [
            layers.Dense(
                units,
                activation="relu",
                kernel_regularizer=self.kernel_regularizer,
                name=f"gate_hidden_{i}",
            )
            for i, units in enumerate(hidden)
        ]

    def build(self, input_shape):
        with_context = isinstance(input_shape, (list, tuple)) and isinstance(
            input_shape[0], (list, tuple)
        )
        embeddings_shape = input_shape[0] if with_context else input_shape
        if with_context:
            width = input_shape[1][-1]
        else:
            self.context = self.add_weight(
                shape=(self.context_dim,), initializer="zeros", name="context"
            )
            width = self.context_dim
        for layer in self.gate_layers:
            layer.build((None, width))
            width = layer.units
        self.gate_output = layers.Dense(
            embeddings_shape[-1],
            activation="sigmoid",
            kernel_regularizer=self.kernel_regularizer,
            name="gate_output",
        )
        self.gate_output.build((None, width))

    def gate(self, inputs):
        """The gate `2 * sigmoid(MLP(context))`, `[batch, d]`, in (0, 2)."""
        if isinstance(inputs, (list, tuple)):
            embeddings, context = inputs
        else:
            embeddings = inputs
            batch = ops.shape(embeddings)[0]
            context = ops.broadcast_to(self.context, (batch, self.context_dim))
        h = context
        for layer in self.gate_layers:
            h = layer(h)
        return 2.0 * self.gate_output(h)

    def call(self, inputs):
        embeddings = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return embeddings * self.gate(inputs)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(
            input_shape[0], (list, tuple)
        ):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden": list(self.hidden),
                "context_dim": self.context_dim,
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config
