"""Every access to private Keras and TensorFlow internals, in one place.

Each function (or hook class) below names the private name it touches, why
there is no public way, the upstream issue (`none filed` where there is none)
and the versions it was checked against. `tests/xent/test_compat.py` fails
when a pinned version changes or a private name moves: re-check this module
then, function by function, against the new sources.

Checked against Keras 3.15.1 and TensorFlow 2.21.0 (`KERAS_VERSION`,
`TENSORFLOW_VERSION`). TensorFlow is imported inside the functions that need
it: the losses also run on the other Keras backends.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import keras
from keras.src.backend import set_keras_mask as _keras_set_mask

__all__ = [
    "KERAS_VERSION",
    "TENSORFLOW_VERSION",
    "AveragingHookAdam",
    "adam_moments",
    "all_layers",
    "ema_weights_in_model",
    "flat_call",
    "is_graph_tensor",
    "keras_logits",
    "replace_symbolic_build",
    "reset_train_function",
    "set_ema_weights_in_model",
    "set_keras_mask",
    "symbolic_build",
]

KERAS_VERSION = "3.15.1"
TENSORFLOW_VERSION = "2.21.0"


# --------------------------------------------------------------------------
# Losses (`xent.losses`).
# --------------------------------------------------------------------------
def set_keras_mask(tensor: Any, mask: Any) -> None:
    """Attaches `mask` to `tensor` the way Keras layers and losses do.

    Private: `keras.src.backend.set_keras_mask` (the `_keras_mask` attribute).
    Why: a per-example loss with `ignore_class` must carry the mask so that
    `Loss.__call__` leaves the ignored entries out of the mean, as Keras'
    own `sparse_categorical_crossentropy` does; `keras.ops` has no public
    setter. Upstream: none filed. Checked: Keras 3.15.1.

    Args:
        tensor: The per-example values.
        mask: Boolean tensor of the same shape (True: keep).
    """
    _keras_set_mask(tensor, mask)


def keras_logits(tensor: Any) -> Any | None:
    """The logits a Keras sigmoid/softmax output was computed from, if any.

    Private: the `_keras_logits` attribute that `keras.activations.sigmoid`
    and `softmax` set on their outputs. Why: mirrors Keras' own losses
    (`keras.src.backend.tensorflow.nn._get_logits`), which recover the logits
    to compute a probability loss stably. Upstream: none filed. Checked:
    Keras 3.15.1.

    Args:
        tensor: A model output.

    Returns:
        The logits tensor, or None when `tensor` carries none.
    """
    return getattr(tensor, "_keras_logits", None)


def is_graph_tensor(tensor: Any) -> bool:
    """Whether `tensor` is a symbolic TensorFlow tensor with an `op`.

    Private: `tf.__internal__.EagerTensor` (the eager tensor class has no
    public name). Why: the same test as Keras' `_get_logits`, to trace a
    `Sigmoid`/`Softmax` op back to its input inside a `tf.function`.
    Upstream: none filed. Checked: TensorFlow 2.21.0.

    Args:
        tensor: Any value (call only with the TensorFlow backend).

    Returns:
        True for a graph tensor (neither eager nor a `tf.Variable`).
    """
    import tensorflow as tf

    return hasattr(tensor, "op") and not isinstance(
        tensor, (tf.__internal__.EagerTensor, tf.Variable)
    )


# --------------------------------------------------------------------------
# Training (`xent.supervised`).
# --------------------------------------------------------------------------
class AveragingHookAdam(keras.optimizers.Adam):
    """Adam whose weight-average update (`use_ema`) is a public hook.

    Private: overrides `BaseOptimizer._update_model_variables_moving_average`
    and reads `_model_variables_moving_average` (the averaged copies). Why:
    Keras' average has a fixed momentum and no option to warm it up;
    subclasses override `update_average` instead. Upstream: none filed.
    Checked: Keras 3.15.1 (`keras/src/optimizers/base_optimizer.py`).
    """

    def _update_model_variables_moving_average(self, trainable_variables):
        if self.use_ema:
            self.update_average(
                trainable_variables, self._model_variables_moving_average
            )

    def update_average(
        self, trainable_variables: Sequence[Any], averages: Sequence[Any]
    ) -> None:
        """Updates `averages` from `trainable_variables` (Keras' rule here).

        Args:
            trainable_variables: The model's trainable variables.
            averages: Their averaged copies, in the same order (None where a
                variable has none).
        """
        super()._update_model_variables_moving_average(trainable_variables)


def adam_moments(optimizer: keras.optimizers.Adam, variable: Any) -> tuple[Any, Any]:
    """Adam's first and second moment slots of `variable`.

    Private: `Adam._momentums`, `Adam._velocities` and
    `BaseOptimizer._get_variable_index`. Why: Keras has no public accessor
    for an optimizer's slot variables, and the lazy update of embedding
    rows (`xent.supervised.LazyAdam`) reads and writes only the rows a
    batch used. Upstream: none filed. Checked: Keras 3.15.1
    (`keras/src/optimizers/adam.py`, `base_optimizer.py`).
    """
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]


def reset_train_function(model: keras.Model) -> None:
    """Makes `fit` rebuild the model's compiled training step.

    Private: `Model.train_function` is public but setting it to None to force
    a rebuild is not documented (`make_train_function` returns the cached
    function unless it is None). Why: `steps_per_execution` changed after
    `compile`; the cached step would keep the old count. Upstream: none
    filed. Checked: Keras 3.15.1 (`keras/src/backend/tensorflow/trainer.py`).

    Args:
        model: A compiled model.
    """
    model.train_function = None


def all_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layer and every layer inside it, nested models and the sublayers
    that custom layers hold as attributes included.

    Private: `Layer._flatten_layers`. Why: `Model.layers` lists only the top
    level, and a custom layer's sublayers (e.g. the Dense layers inside a
    CTR interaction layer) are reachable only through Keras' tracker; the
    precision switch (`xent.precision.compute_in_float32`) must reach them
    all. Upstream: none filed. Checked: Keras 3.15.1
    (`keras/src/layers/layer.py`).
    """
    return list(model._flatten_layers(include_self=True, recursive=True))


# --------------------------------------------------------------------------
# Multi-worker training (`xent.distribute`).
# --------------------------------------------------------------------------
def replace_symbolic_build(
    model: keras.Model, build: Callable[[keras.Model, Any, Any], None]
) -> None:
    """Replaces the model's `_maybe_symbolic_build` by `build(model, ...)`.

    Private: `TensorFlowTrainer._maybe_symbolic_build(iterator=None,
    data_batch=None)`, which `fit`/`evaluate` call before the first step.
    Why: under `MultiWorkerMirroredStrategy` Keras reduces a distributed
    batch across workers to build the model, which fails on the structure;
    `build` uses the local batch (see `xent.distribute`). Upstream:
    keras-team/keras#20585 and #20329 ("Attempt to convert a value
    (PerReplica ...)"). Checked: Keras 3.15.1.

    The `iterator` Keras passes yields `(begin, end, batches)` per epoch
    (`EpochIterator.enumerate_epoch`), also private.

    Args:
        model: The model (its instance attribute is set, not the class).
        build: Called as `build(model, iterator=..., data_batch=...)`.
    """
    import types

    object.__setattr__(model, "_maybe_symbolic_build", types.MethodType(build, model))


def symbolic_build(model: keras.Model, data_batch: Any) -> None:
    """Builds the model, its metrics and optimizer from one batch.

    Private: `Trainer._symbolic_build(iterator=None, data_batch=None)`. Why:
    the replacement of `replace_symbolic_build` ends with Keras' own build.
    Upstream: keras-team/keras#20585. Checked: Keras 3.15.1
    (`keras/src/trainers/trainer.py`).

    Args:
        model: The model.
        data_batch: One `(x, y, sample_weight)` batch (local values).
    """
    model._symbolic_build(data_batch=data_batch)


# --------------------------------------------------------------------------
# Backups (`xent.backup`).
# --------------------------------------------------------------------------
def ema_weights_in_model(callback: keras.callbacks.SwapEMAWeights) -> bool:
    """Whether `SwapEMAWeights` left the averaged weights in the model.

    Private: `SwapEMAWeights._ema_weights_in_model`. Why: a backup taken at
    an epoch end must restore which weights the model holds, or the resumed
    run swaps the wrong way. Upstream: none filed. Checked: Keras 3.15.1.

    Args:
        callback: The callback.

    Returns:
        The flag.
    """
    return bool(callback._ema_weights_in_model)


def set_ema_weights_in_model(
    callback: keras.callbacks.SwapEMAWeights, value: bool
) -> None:
    """Restores the flag that `ema_weights_in_model` reads.

    Private, why, upstream and checked: as `ema_weights_in_model`.

    Args:
        callback: The callback.
        value: The saved flag.
    """
    callback._ema_weights_in_model = value


# --------------------------------------------------------------------------
# Serving (`xent.serving.registry`).
# --------------------------------------------------------------------------
def flat_call(function: Any) -> Callable[[list, Any], Any] | None:
    """The flat entry point of a restored signature, if it has one.

    Private: `ConcreteFunction._call_flat(tensor_inputs, captured_inputs)`
    (a restored signature is a `ConcreteFunction` subclass). Why: the public
    call binds keyword arguments in Python on every call, about half of a
    small model's call time; the caller checks the flat call against the
    public one first and falls back to it. Upstream: none filed. Checked:
    TensorFlow 2.21.0 (`tensorflow/python/saved_model/load.py`).

    Args:
        function: A signature of `tf.saved_model.load(...).signatures`.

    Returns:
        `_call_flat` bound to `function`, or None where it is missing.
    """
    return getattr(function, "_call_flat", None)
