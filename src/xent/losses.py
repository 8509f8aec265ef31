"""Cross-entropy losses: drop-in replacements for the Keras 3 built-ins.

The math lives in plain functions that return one value per example
(`binary_crossentropy`, `categorical_crossentropy`, ...). The classes
(`BinaryCrossentropy`, `CategoricalCrossentropy`, ...) only add reduction,
dtype and serialization, exactly like `keras.losses`.

Compatibility with Keras 3:

* Same constructor arguments and defaults, same call `(y_true, y_pred,
  sample_weight=None)`, same reductions, same errors on shape mismatch.
* Probabilities are clipped to `[epsilon, 1 - epsilon]` with
  `keras.config.epsilon()` (1e-7), as Keras does, so probability inputs give
  Keras's values.
* A `y_pred` produced by a Keras sigmoid/softmax is traced back to its logits,
  as Keras does.

Beyond Keras (opt-in arguments; the defaults keep Keras behaviour):

* `class_weight`: one weight per class, applied to each class's term
  (`-sum_k w_k y_k log q_k`), for all five losses; `pos_weight` for the two
  binary losses (the positive term is multiplied by it).
* `label_smoothing` for `SparseCategoricalCrossentropy`.
* Focal losses from logits are computed exactly in log space (Keras clips the
  softmax output, which turns a loss in the thousands into about 4).
* Degenerate inputs stay finite, values and gradients: an all-zero
  probability row, and float16/bfloat16 probabilities of exactly 0 or 1
  (computations in half precision are carried out in float32, then cast back).

Known difference: with `label_smoothing` and an `axis` other than the last,
Keras counts the classes along the last axis; these losses count them along
`axis`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import keras
from keras import ops

# Keras keeps masks and logits on tensors in private attributes; the losses use
# them like Keras' own (see `xent._compat`).
from xent._compat import is_graph_tensor
from xent._compat import keras_logits
from xent._compat import set_keras_mask

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
    "get",
]

_HALF = ("float16", "bfloat16")
_REDUCTIONS = (
    "sum_over_batch_size",
    "sum",
    None,
    "none",
    "mean",
    "mean_with_sample_weight",
)
# Smallest normal number of each compute dtype: the floor for bases raised to
# the focal `gamma`, so that gradients stay finite for gamma < 1 (its value
# effect underflows). A float32 floor in float64 would turn 5e-131 into 5e-120.
_TINY = {"float32": 1.1754944e-38, "float64": 2.2250738585072014e-308}


def _tiny(x):
    """The focal floor for the compute dtype of `x`."""
    return _TINY.get(keras.backend.standardize_dtype(x.dtype), _TINY["float32"])


# --------------------------------------------------------------------------
# Helpers shared by the functions.
# --------------------------------------------------------------------------
def _recover_logits(y_pred, from_logits: bool, op_type: str, fn_name: str):
    """Returns `(tensor, from_logits)`, tracing a Keras activation to logits.

    Mirrors Keras: a tensor produced by `keras.activations.sigmoid/softmax`
    carries its logits in `_keras_logits`; in a TF graph a tensor made by a
    `Sigmoid`/`Softmax` op is traced to that op's input.
    """
    logits = keras_logits(y_pred)
    if (
        logits is None
        and keras.backend.backend() == "tensorflow"
        and is_graph_tensor(y_pred)
        and y_pred.op.type == op_type
        and len(y_pred.op.inputs) == 1
    ):
        logits = y_pred.op.inputs[0]
    if logits is None:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(
            f"`{fn_name}` received `from_logits=True`, but the `y_pred` "
            f"argument was produced by a {op_type} activation and thus does "
            "not represent logits. Was this intended?",
            stacklevel=3,
        )
    return logits, True


def _prepare_pred(y_pred, from_logits, op_type, fn_name):
    """Converts `y_pred`, traces logits and upcasts half precision to float32.

    Returns:
        `(y_pred, from_logits, out_dtype)`: `y_pred` in the compute dtype and
        the dtype the result is cast back to.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred, from_logits = _recover_logits(y_pred, from_logits, op_type, fn_name)
    out_dtype = keras.backend.standardize_dtype(y_pred.dtype)
    if out_dtype in _HALF:
        y_pred = ops.cast(y_pred, "float32")
    elif not out_dtype.startswith("float"):
        out_dtype = keras.config.floatx()
        y_pred = ops.cast(y_pred, out_dtype)
    return y_pred, from_logits, out_dtype


def _prepare(y_true, y_pred, from_logits, op_type, fn_name):
    """`_prepare_pred`, plus `y_true` cast to the compute dtype."""
    y_pred, from_logits, out_dtype = _prepare_pred(
        y_pred, from_logits, op_type, fn_name
    )
    return ops.cast(y_true, y_pred.dtype), y_pred, from_logits, out_dtype


def _check_same_shape(y_true, y_pred):
    """Raises the Keras error when target and output shapes differ."""
    if len(y_true.shape) != len(y_pred.shape):
        raise ValueError(
            "Arguments `target` and `output` must have the same rank "
            f"(ndim). Received: target.shape={y_true.shape}, "
            f"output.shape={y_pred.shape}"
        )
    for e1, e2 in zip(y_true.shape, y_pred.shape, strict=True):
        if e1 is not None and e2 is not None and e1 != e2:
            raise ValueError(
                "Arguments `target` and `output` must have the same shape. "
                f"Received: target.shape={y_true.shape}, "
                f"output.shape={y_pred.shape}"
            )


def _clip_probabilities(p):
    """Clips probabilities to Keras's `[epsilon, 1 - epsilon]`."""
    eps = keras.config.epsilon()
    return ops.clip(p, eps, 1.0 - eps)


def _normalize(p, axis):
    """Divides by the sum along `axis`; an all-zero row stays all zero."""
    total = ops.sum(p, axis=axis, keepdims=True)
    safe = ops.where(ops.equal(total, 0.0), ops.ones_like(total), total)
    return p / safe


def _class_weights(class_weight, n_classes, dtype, name="class_weight"):
    """Returns `class_weight` as a tensor, checking its length."""
    if class_weight is None:
        return None
    w = ops.convert_to_tensor(class_weight, dtype=dtype)
    if len(w.shape) != 1 or (n_classes is not None and w.shape[0] != n_classes):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one weight per "
            f"class ({n_classes} classes). Received: {name}={class_weight}"
        )
    return w


def _broadcast_on_axis(w, rank, axis):
    """Reshapes a per-class vector so it broadcasts along `axis`."""
    axis = axis % rank
    shape = [1] * rank
    shape[axis] = -1
    return ops.reshape(w, shape)


def _binary_term_weights(pos_weight, class_weight, dtype):
    """Weights of the positive and negative terms of binary cross-entropy."""
    w_pos = ops.ones((), dtype=dtype)
    w_neg = ops.ones((), dtype=dtype)
    if class_weight is not None:
        w = _class_weights(class_weight, 2, dtype)
        w_neg, w_pos = w[0], w[1]
    if pos_weight is not None:
        w_pos = w_pos * ops.cast(pos_weight, dtype)
    return w_pos, w_neg


def _check_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(
            f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}"
        )


def _check_label_smoothing(label_smoothing):
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(
            "Invalid value for argument `label_smoothing`. Expected a float in "
            f"[0, 1]. Received: label_smoothing={label_smoothing}"
        )


# --------------------------------------------------------------------------
# Per-example functions.
# --------------------------------------------------------------------------
def _binary_log_probs(y_pred, from_logits):
    """Returns `(log q, log(1 - q))`, exact from logits, Keras-clipped else."""
    if from_logits:
        return -ops.softplus(-y_pred), -ops.softplus(y_pred)
    p = _clip_probabilities(y_pred)
    return ops.log(p), ops.log1p(-p)


def binary_crossentropy(
    y_true,
    y_pred,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    pos_weight: float | None = None,
    class_weight: Sequence[float] | None = None,
):
    """Binary cross-entropy, averaged over `axis`.

    `-(w1 * pos_weight * y log q + w0 * (1 - y) log(1 - q))`, with
    `log q = -softplus(-x)` from logits (exact for any logit) or Keras-clipped
    probabilities.

    Args:
        y_true: Targets in [0, 1], shape `[batch, d0, .. dN]`.
        y_pred: Predictions (probabilities, or logits with `from_logits`).
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; squeezes targets towards 0.5.
        axis: Axis along which the mean is taken.
        pos_weight: Optional weight of the positive term.
        class_weight: Optional `[w0, w1]`, weights of the negative and
            positive terms.

    Returns:
        Loss per example, shape `[batch, d0, .. dN-1]`.

    Raises:
        ValueError: If the shapes of `y_true` and `y_pred` differ.

    >>> float(binary_crossentropy([[0., 1.]], [[-18.6, 0.51]], from_logits=True)[0])
    0.2355...
    """
    _check_axis(axis)
    y_true, y_pred, from_logits, out_dtype = _prepare(
        y_true, y_pred, from_logits, "Sigmoid", "binary_crossentropy"
    )
    _check_same_shape(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    w_pos, w_neg = _binary_term_weights(pos_weight, class_weight, y_pred.dtype)
    log_q, log_1mq = _binary_log_probs(y_pred, from_logits)
    ce = -(w_pos * y_true * log_q + w_neg * (1.0 - y_true) * log_1mq)
    return ops.cast(ops.mean(ce, axis=axis), out_dtype)


def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    pos_weight: float | None = None,
    class_weight: Sequence[float] | None = None,
):
    """Binary focal cross-entropy (Lin et al., 2018), averaged over `axis`.

    `(1 - p_t) ** gamma * bce`, with `p_t = y q + (1 - y)(1 - q)`; with
    `apply_class_balancing` the loss is multiplied by `alpha` for positives and
    `1 - alpha` for negatives. From logits, `q` and `1 - q` are both computed
    as sigmoids, so the focal factor keeps full precision near 0 and 1.

    Args:
        y_true: Targets in [0, 1].
        y_pred: Predictions (probabilities, or logits with `from_logits`).
        apply_class_balancing: Whether to weight the classes by `alpha`.
        alpha: Weight of class 1 when balancing; class 0 gets `1 - alpha`.
        gamma: Focusing parameter; 0 gives binary cross-entropy.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; squeezes targets towards 0.5.
        axis: Axis along which the mean is taken.
        pos_weight: Optional weight of the positive term.
        class_weight: Optional `[w0, w1]` term weights.

    Returns:
        Loss per example, shape `[batch, d0, .. dN-1]`.
    """
    _check_axis(axis)
    y_true, y_pred, from_logits, out_dtype = _prepare(
        y_true, y_pred, from_logits, "Sigmoid", "binary_focal_crossentropy"
    )
    _check_same_shape(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    w_pos, w_neg = _binary_term_weights(pos_weight, class_weight, y_pred.dtype)
    log_q, log_1mq = _binary_log_probs(y_pred, from_logits)
    bce = -(w_pos * y_true * log_q + w_neg * (1.0 - y_true) * log_1mq)
    if from_logits:
        q, one_minus_q = ops.sigmoid(y_pred), ops.sigmoid(-y_pred)
    else:  # Keras uses the unclipped probabilities in the focal factor.
        q, one_minus_q = y_pred, 1.0 - y_pred
    one_minus_p_t = y_true * one_minus_q + (1.0 - y_true) * q
    focal = ops.power(ops.maximum(one_minus_p_t, _tiny(bce)), gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.cast(ops.mean(focal, axis=axis), out_dtype)


def _categorical_log_probs(y_pred, from_logits, axis):
    """Log-probabilities along `axis`: log-softmax, or Keras-normalized probs."""
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    return ops.log(_clip_probabilities(_normalize(y_pred, axis)))


def _smooth_one_hot(y_true, label_smoothing, axis):
    if not label_smoothing:
        return y_true
    n = ops.cast(ops.shape(y_true)[axis], y_true.dtype)
    return y_true * (1.0 - label_smoothing) + label_smoothing / n


def categorical_crossentropy(
    y_true,
    y_pred,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    class_weight: Sequence[float] | None = None,
):
    """Categorical cross-entropy `-sum_k w_k y_k log q_k` along `axis`.

    From logits `log q` is the log-softmax (exact); from probabilities `q` is
    normalized to sum to one and clipped as in Keras (an all-zero row is left
    at zero and clipped, so it stays finite).

    Args:
        y_true: One-hot (or soft) targets.
        y_pred: Predictions (probabilities, or logits with `from_logits`).
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; mixes targets with the uniform
            distribution over the classes.
        axis: The class axis.
        class_weight: Optional weight per class.

    Returns:
        Loss per example (the class axis removed).

    Raises:
        ValueError: If the shapes differ or `class_weight` has the wrong length.

    >>> loss = categorical_crossentropy([[0, 1, 0]], [[0.05, 0.95, 0.0]])
    >>> round(float(loss[0]), 4)
    0.0513
    """
    _check_axis(axis)
    y_true, y_pred, from_logits, out_dtype = _prepare(
        y_true, y_pred, from_logits, "Softmax", "categorical_crossentropy"
    )
    if len(y_true.shape) < 1:
        raise ValueError(
            "Arguments `target` and `output` must be at least rank 1. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}"
        )
    _check_same_shape(y_true, y_pred)
    _warn_single_class(y_pred, axis, "categorical_crossentropy")
    y_true = _smooth_one_hot(y_true, label_smoothing, axis)
    terms = y_true * _categorical_log_probs(y_pred, from_logits, axis)
    if class_weight is not None:
        rank = len(y_pred.shape)
        w = _class_weights(class_weight, y_pred.shape[axis], y_pred.dtype)
        terms = terms * _broadcast_on_axis(w, rank, axis)
    return ops.cast(-ops.sum(terms, axis=axis), out_dtype)


def _warn_single_class(y_pred, axis, fn_name):
    if y_pred.shape[axis] == 1:
        warnings.warn(
            f"In loss {fn_name}, expected y_pred.shape to be (batch_size, "
            f"num_classes) with num_classes > 1. Received: y_pred.shape="
            f"{y_pred.shape}. Consider using 'binary_crossentropy' if you only "
            "have 2 classes.",
            SyntaxWarning,
            stacklevel=3,
        )


def categorical_focal_crossentropy(
    y_true,
    y_pred,
    alpha: float | Sequence[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    class_weight: Sequence[float] | None = None,
):
    """Categorical focal cross-entropy `-sum_k alpha_k (1 - q_k)^gamma y_k log q_k`.

    From logits, `log q` is the log-softmax and `1 - q = -expm1(log q)`, both
    exact, so confident wrong predictions keep their true (large) loss.

    Args:
        y_true: One-hot (or soft) targets.
        y_pred: Predictions (probabilities, or logits with `from_logits`).
        alpha: Weight factor, a scalar or one value per class.
        gamma: Focusing parameter; 0 gives `alpha` times cross-entropy.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1].
        axis: The class axis.
        class_weight: Optional weight per class (multiplies `alpha`).

    Returns:
        Loss per example (the class axis removed).
    """
    _check_axis(axis)
    y_true, y_pred, from_logits, out_dtype = _prepare(
        y_true, y_pred, from_logits, "Softmax", "categorical_focal_crossentropy"
    )
    _check_same_shape(y_true, y_pred)
    _warn_single_class(y_pred, axis, "categorical_focal_crossentropy")
    y_true = _smooth_one_hot(y_true, label_smoothing, axis)
    rank = len(y_pred.shape)
    if from_logits:
        log_q = ops.log_softmax(y_pred, axis=axis)
        one_minus_q = -ops.expm1(log_q)
    else:  # Keras: normalize, clip, then use the clipped values everywhere.
        q = _clip_probabilities(_normalize(y_pred, axis))
        log_q, one_minus_q = ops.log(q), 1.0 - q
    modulating = ops.power(ops.maximum(one_minus_q, _tiny(log_q)), gamma)
    alpha_t = ops.convert_to_tensor(alpha, dtype=y_pred.dtype)
    if len(alpha_t.shape) == 1:
        alpha_t = _broadcast_on_axis(alpha_t, rank, axis)
    terms = alpha_t * modulating * (-y_true * log_q)
    if class_weight is not None:
        w = _class_weights(class_weight, y_pred.shape[axis], y_pred.dtype)
        terms = terms * _broadcast_on_axis(w, rank, axis)
    return ops.cast(ops.sum(terms, axis=axis), out_dtype)


def sparse_categorical_crossentropy(
    y_true,
    y_pred,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weight: Sequence[float] | None = None,
):
    """Cross-entropy with integer targets: `-w_t log q_t` (plus smoothing).

    From probabilities, `log q` is `log(clip(q))` renormalized, as in Keras.
    With `label_smoothing` the target is `(1 - ls) * one_hot + ls / K`.

    Args:
        y_true: Integer class ids, shape `[batch, ...]` (or `[batch, ..., 1]`).
        y_pred: Predictions with the class axis at `axis`.
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional class id whose entries get zero loss and are
            masked out of the mean.
        axis: The class axis (any axis; Keras supports only -1).
        label_smoothing: In [0, 1] (Keras has no such option here).
        class_weight: Optional weight per class.

    Returns:
        Loss per example (the class axis removed).

    Raises:
        ValueError: If the shapes do not agree.
    """
    _check_axis(axis)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[axis] == 1:
        y_true = ops.squeeze(y_true, axis=axis)
    y_pred, from_logits, out_dtype = _prepare_pred(
        y_pred, from_logits, "Softmax", "sparse_categorical_crossentropy"
    )
    rank = len(y_pred.shape)
    if rank < 1:
        raise ValueError(
            f"Argument `output` must be at least rank 1. Received: "
            f"output.shape={y_pred.shape}"
        )
    if axis % rank != rank - 1:
        y_pred = ops.moveaxis(y_pred, axis, -1)
    if len(y_true.shape) != rank - 1:
        raise ValueError(
            "Argument `output` must have rank (ndim) `target.ndim - 1`. "
            f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}"
        )
    for e1, e2 in zip(y_true.shape, y_pred.shape[:-1], strict=True):
        if e1 is not None and e2 is not None and e1 != e2:
            raise ValueError(
                "Arguments `target` and `output` must have the same shape up "
                "until the last dimension: "
                f"target.shape={y_true.shape}, output.shape={y_pred.shape}"
            )
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(ops.cast(y_true, "int64"), int(ignore_class))
        y_true = ops.where(valid, y_true, ops.zeros_like(y_true))
    labels = ops.expand_dims(ops.cast(y_true, "int32"), -1)
    if from_logits:
        log_q = ops.log_softmax(y_pred, axis=-1)
    else:
        log_q = ops.log_softmax(ops.log(_clip_probabilities(y_pred)), axis=-1)
    w = _class_weights(class_weight, y_pred.shape[-1], y_pred.dtype)
    weighted = log_q if w is None else log_q * w
    res = -ops.squeeze(ops.take_along_axis(weighted, labels, axis=-1), -1)
    if label_smoothing:
        n = ops.cast(ops.shape(y_pred)[-1], y_pred.dtype)
        uniform = -ops.sum(weighted, axis=-1) / n
        res = (1.0 - label_smoothing) * res + label_smoothing * uniform
    res = ops.cast(res, out_dtype)
    if valid is not None:
        res = ops.where(valid, res, ops.zeros_like(res))
        set_keras_mask(res, mask=valid)
    return res


# --------------------------------------------------------------------------
# Loss classes: reduction, dtype and serialization only.
# --------------------------------------------------------------------------
def _squeeze_or_expand_to_same_rank(x1, x2):
    """Squeezes or expands a trailing 1 so both ranks agree (as Keras does)."""
    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1:
            x2 = ops.expand_dims(x2, axis=-1)
        else:
            x1 = ops.squeeze(x1, axis=-1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1:
            x1 = ops.expand_dims(x1, axis=-1)
        else:
            x2 = ops.squeeze(x2, axis=-1)
    return x1, x2


class _CrossEntropy(keras.losses.Loss):
    """Base of the cross-entropy losses.

    A subclass names its per-example function in `fn` and lists its options;
    this class adds what all of them share.

    Args (shared by every subclass):
        reduction: Type of reduction applied to the per-example losses:
            `"sum_over_batch_size"` (the default) and `"mean"` divide the sum
            by the number of elements, `"mean_with_sample_weight"` by the sum
            of the sample weights, `"sum"` sums, `"none"` or `None` returns
            the per-example values.
        name: Name of the loss instance.
        dtype: The dtype of the loss's computations; defaults to
            `keras.config.floatx()`. Inputs are converted to it; half
            precision is computed internally in float32.

    Call:
        `loss(y_true, y_pred, sample_weight=None)`: targets first.
    """

    fn = None  # The per-example function, set by subclasses.

    def __init__(self, *, reduction, name, dtype, **options):
        if reduction not in _REDUCTIONS:
            raise ValueError(
                "Invalid value for argument `reduction`. Expected one of "
                f"{set(_REDUCTIONS)}. Received: reduction={reduction}"
            )
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if "axis" in options:
            _check_axis(options["axis"])
        if "label_smoothing" in options:
            _check_label_smoothing(options["label_smoothing"])
        for key in ("class_weight", "alpha"):  # Sequences become JSON lists.
            value = options.get(key)
            if value is not None and not isinstance(value, (int, float)):
                options[key] = [float(v) for v in value]
        self._options = options
        for key, value in options.items():
            setattr(self, key, value)

    def call(self, y_true, y_pred):
        if type(self).fn is not sparse_categorical_crossentropy:
            y_true, y_pred = _squeeze_or_expand_to_same_rank(y_true, y_pred)
        return type(self).fn(y_true, y_pred, **self._options)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self._dtype_policy.name
        config.update(self._options)
        return config

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self._options.items())
        return f"{type(self).__name__}({options}, reduction={self.reduction!r})"


@keras.saving.register_keras_serializable(package="xent")
class BinaryCrossentropy(_CrossEntropy):
    """Binary cross-entropy; see `binary_crossentropy` for the math.

    Args:
        from_logits: Whether `y_pred` holds logits (recommended).
        label_smoothing: In [0, 1]; squeezes targets towards 0.5.
        axis: Axis along which the mean is taken.
        reduction, name, dtype: See the base class.
        pos_weight: Optional weight of the positive term (imbalance).
        class_weight: Optional `[w0, w1]` term weights.

    >>> loss = BinaryCrossentropy(from_logits=True)
    >>> round(float(loss([0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8])), 4)
    0.8654
    """

    fn = binary_crossentropy

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
        pos_weight=None,
        class_weight=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            pos_weight=pos_weight,
            class_weight=class_weight,
        )


@keras.saving.register_keras_serializable(package="xent")
class BinaryFocalCrossentropy(_CrossEntropy):
    """Binary focal cross-entropy; see `binary_focal_crossentropy`.

    Args:
        apply_class_balancing: Whether to weight the classes by `alpha`.
        alpha: Weight of class 1 when balancing (class 0: `1 - alpha`).
        gamma: Focusing parameter.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1].
        axis: Axis along which the mean is taken.
        reduction, name, dtype: See the base class.
        pos_weight: Optional weight of the positive term.
        class_weight: Optional `[w0, w1]` term weights.
    """

    fn = binary_focal_crossentropy

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
        pos_weight=None,
        class_weight=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            pos_weight=pos_weight,
            class_weight=class_weight,
        )


@keras.saving.register_keras_serializable(package="xent")
class CategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy; see `categorical_crossentropy`.

    Args:
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1].
        axis: The class axis.
        reduction, name, dtype: See the base class.
        class_weight: Optional weight per class.

    >>> loss = CategoricalCrossentropy()
    >>> round(float(loss([[0, 1, 0], [0, 0, 1]],
    ...                  [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 3)
    1.177
    """

    fn = categorical_crossentropy

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
        class_weight=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            class_weight=class_weight,
        )


@keras.saving.register_keras_serializable(package="xent")
class CategoricalFocalCrossentropy(_CrossEntropy):
    """Categorical focal cross-entropy; see `categorical_focal_crossentropy`.

    Args:
        alpha: Weight factor, a scalar or one value per class.
        gamma: Focusing parameter.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1].
        axis: The class axis.
        reduction, name, dtype: See the base class.
        class_weight: Optional weight per class.
    """

    fn = categorical_focal_crossentropy

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_focal_crossentropy",
        dtype=None,
        class_weight=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            class_weight=class_weight,
        )


@keras.saving.register_keras_serializable(package="xent")
class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with integer targets; see `sparse_categorical_crossentropy`.

    Args:
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional class id left out of the loss.
        reduction: See the base class.
        axis: The class axis.
        name, dtype: See the base class.
        label_smoothing: In [0, 1] (not available in Keras).
        class_weight: Optional weight per class.

    >>> loss = SparseCategoricalCrossentropy()
    >>> round(float(loss([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 3)
    1.177
    """

    fn = sparse_categorical_crossentropy

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
        label_smoothing=0.0,
        class_weight=None,
    ):
        super().__init__(
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
            label_smoothing=label_smoothing,
            class_weight=class_weight,
        )


_BY_NAME = {
    cls.__name__: cls
    for cls in (
        BinaryCrossentropy,
        BinaryFocalCrossentropy,
        CategoricalCrossentropy,
        CategoricalFocalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}


def get(name: str, **options) -> _CrossEntropy:
    """Builds a loss by class name, e.g. `get("BinaryCrossentropy", from_logits=True)`.

    Raises:
        ValueError: If `name` is not one of the five losses, naming the choices.
    """
    if name not in _BY_NAME:
        raise ValueError(
            f"Invalid value for argument `name`. Expected one of "
            f"{sorted(_BY_NAME)}. Received: name={name!r}"
        )
    return _BY_NAME[name](**options)
