"""The loss endpoint layer that attaches the shared cross-entropy to a model.

A model's last layer produces logits. `CrossEntropyEndpoint` takes those
logits and, when targets are given (training), adds the cross-entropy with
`add_loss`; it always returns probabilities (sigmoid for the binary losses,
softmax for the categorical ones). The same layer called without targets
gives the inference graph, so a serving model needs no target input:

>>> import keras
>>> from xent.losses import BinaryCrossentropy
>>> x = keras.Input((4,), name="x")
>>> y = keras.Input((1,), name="y")
>>> logits = keras.layers.Dense(1)(x)
>>> head = CrossEntropyEndpoint(BinaryCrossentropy(from_logits=True))
>>> train_model = keras.Model([x, y], head(logits, y))
>>> serve_model = keras.Model(x, head(logits))
"""

from __future__ import annotations

import keras
from keras import ops

from xent import losses

__all__ = ["CrossEntropyEndpoint"]

_BINARY = (losses.BinaryCrossentropy, losses.BinaryFocalCrossentropy)
_ACTIVATIONS = ("sigmoid", "softmax")


def _default_activation(loss: keras.losses.Loss) -> str:
    return "sigmoid" if isinstance(loss, _BINARY) else "softmax"


@keras.saving.register_keras_serializable(package="xent")
class CrossEntropyEndpoint(keras.layers.Layer):
    """Adds a cross-entropy loss on logits and returns probabilities.

    Args:
        loss: A loss from `xent.losses` constructed with `from_logits=True`
            (or its serialized config). Defaults to
            `BinaryCrossentropy(from_logits=True)`.
        activation: `"sigmoid"` or `"softmax"`; defaults to sigmoid for the
            binary losses and softmax for the categorical ones.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        logits: The model's logits.
        targets: Optional targets; when given, the loss is added.
        sample_weight: Optional per-example weights for the loss.

    Returns:
        Probabilities with the shape of `logits`.

    Raises:
        ValueError: If `loss` does not take logits or `activation` is unknown.
    """

    def __init__(self, loss=None, activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if loss is None:
            loss = losses.BinaryCrossentropy(from_logits=True)
        elif isinstance(loss, dict):
            loss = keras.saving.deserialize_keras_object(loss)
        if not isinstance(loss, keras.losses.Loss):
            raise ValueError(
                "Invalid value for argument `loss`. Expected a loss from "
                f"xent.losses. Received: loss={loss!r}"
            )
        if not getattr(loss, "from_logits", False):
            raise ValueError(
                "Invalid value for argument `loss`. The endpoint receives "
                "logits, so the loss must be built with `from_logits=True`. "
                f"Received: loss={loss!r}"
            )
        activation = activation or _default_activation(loss)
        if activation not in _ACTIVATIONS:
            raise ValueError(
                "Invalid value for argument `activation`. Expected one of "
                f"{_ACTIVATIONS}. Received: activation={activation!r}"
            )
        self.loss_fn = loss
        self.activation = activation

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            self.add_loss(self.loss_fn(targets, logits, sample_weight=sample_weight))
        if self.activation == "sigmoid":
            return ops.sigmoid(logits)
        return ops.softmax(logits, axis=getattr(self.loss_fn, "axis", -1))

    def compute_output_shape(
        self, logits_shape, targets_shape=None, sample_weight_shape=None
    ):
        return logits_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "loss": keras.saving.serialize_keras_object(self.loss_fn),
                "activation": self.activation,
            }
        )
        return config
