"""The probability head of a serving model: logits in, probabilities out.

Models output logits and train with a loss built with `from_logits=True`;
the exported serving model ends with a `ProbabilityHead`, the sigmoid (binary)
or softmax (multiclass) of those logits, computed in float32:

>>> import keras
>>> x = keras.Input((4,), name="x")
>>> logits = keras.layers.Dense(1)(x)
>>> serve_model = keras.Model(x, ProbabilityHead("sigmoid")(logits))

`CrossEntropyEndpoint`, the former name of this layer, is a deprecated alias
kept so that models saved with it still load; it also adds a loss with
`add_loss` when called with targets, which the pipelines never did.
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

from xent import losses

__all__ = ["CrossEntropyEndpoint", "ProbabilityHead"]

_BINARY = (losses.BinaryCrossentropy, losses.BinaryFocalCrossentropy)
_ACTIVATIONS = ("sigmoid", "softmax")


def _check_activation(activation: str) -> None:
    if activation not in _ACTIVATIONS:
        raise ValueError(
            "Invalid value for argument `activation`. Expected one of "
            f"{_ACTIVATIONS}. Received: activation={activation!r}"
        )


def _probabilities(logits, activation: str, axis: int):
    if activation == "sigmoid":
        return ops.sigmoid(logits)
    return ops.softmax(logits, axis=axis)


@keras.saving.register_keras_serializable(package="xent")
class ProbabilityHead(keras.layers.Layer):
    """Turns logits into probabilities: `sigmoid(z)` or `softmax(z, axis)`.

    The layer computes in float32 by default (its `dtype`), so a model
    trained in a lower precision still serves float32 probabilities.

    Args:
        activation: `"sigmoid"` (binary: P(class 1) per logit) or
            `"softmax"` (one distribution over the classes along `axis`).
        axis: The class axis of the softmax.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        logits: The model's logits.

    Returns:
        Probabilities with the shape of `logits`.

    Raises:
        ValueError: If `activation` is unknown.

    >>> import numpy as np
    >>> head = ProbabilityHead("softmax")
    >>> float(np.sum(head(np.array([[2.0, 0.0, -1.0]], "float32"))))
    1.0
    """

    def __init__(self, activation: str = "sigmoid", axis: int = -1, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        _check_activation(activation)
        self.activation = activation
        self.axis = axis

    @classmethod
    def for_loss(cls, loss: keras.losses.Loss, **kwargs) -> ProbabilityHead:
        """The head that matches a loss on logits.

        Args:
            loss: A loss from `xent.losses`: sigmoid for the binary losses,
                softmax (along the loss's `axis`) for the categorical ones.
            **kwargs: Base layer arguments (`name`, `dtype`, ...).

        Returns:
            The layer.
        """
        if isinstance(loss, _BINARY):
            return cls("sigmoid", **kwargs)
        return cls("softmax", axis=getattr(loss, "axis", -1), **kwargs)

    def call(self, logits):
        return _probabilities(logits, self.activation, self.axis)

    def compute_output_shape(self, logits_shape):
        return logits_shape

    def get_config(self):
        config = super().get_config()
        config.update({"activation": self.activation, "axis": self.axis})
        return config


@keras.saving.register_keras_serializable(package="xent")
class CrossEntropyEndpoint(keras.layers.Layer):
    """Deprecated alias of `ProbabilityHead`, kept to load saved models.

    Adds the loss on logits with `add_loss` when called with targets and
    returns probabilities (sigmoid for the binary losses, softmax for the
    categorical ones). Use `ProbabilityHead` in serving models and pass the
    loss to `compile` for training.

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
        warnings.warn(
            "`CrossEntropyEndpoint` is deprecated: use `ProbabilityHead` for "
            "the probabilities and pass the loss to `compile`.",
            DeprecationWarning,
            stacklevel=2,
        )
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
        activation = activation or (
            "sigmoid" if isinstance(loss, _BINARY) else "softmax"
        )
        _check_activation(activation)
        self.loss_fn = loss
        self.activation = activation

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            self.add_loss(self.loss_fn(targets, logits, sample_weight=sample_weight))
        return _probabilities(
            logits, self.activation, getattr(self.loss_fn, "axis", -1)
        )

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
