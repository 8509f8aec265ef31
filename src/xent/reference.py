"""Float64 NumPy reference of the cross-entropy losses and of their gradients.

An implementation of what `xent.losses` computes that shares no code with it
and uses neither Keras nor TensorFlow: NumPy only, evaluated in float64 with
formulas that avoid cancellation (`logaddexp`, `log1p`, `expm1`, sums that
leave out the largest term). It is the yardstick of the accuracy tests and of
the parity report (`python -m xent.parity`); `tests/xent/test_reference.py`
checks it against mpmath at 50 digits.

Callers that test a dtype round the inputs to that dtype first and pass the
rounded values; the reference then computes in float64 (any float input,
`ml_dtypes.bfloat16` included, is converted to float64).

Semantics (those of Keras 3 and of `xent.losses`):

* Probabilities are clipped to `[epsilon, 1 - epsilon]` with
  `epsilon = 1e-7` (`keras.config.epsilon()`), the bounds taken as exact real
  numbers: `log(1 - clip(p))` is computed as `log(clip(1 - p))`.
* Categorical probabilities are first divided by their sum along the class
  axis; an all-zero row is left at zero (and then clipped to `epsilon`).
* Sparse probabilities: `log(clip(p))`, then a log-softmax (which
  renormalizes).
* From logits: exact log-sigmoid and log-softmax, never clipped (the focal
  losses too).
* Binary focal from probabilities: the focal factor `(1 - p_t) ** gamma` uses
  the unclipped `p`, the cross-entropy the clipped one. Categorical focal from
  probabilities: the clipped normalized `q` in both.
* Label smoothing: binary `y (1 - ls) + ls / 2`; categorical and sparse
  `y (1 - ls) + ls / K` with `K` classes.

The `*_grad` functions return the analytic gradient, with respect to
`y_pred`, of the sum of the per-example losses. The clip's derivative is taken
as 1 inside `[epsilon, 1 - epsilon]` (bounds included, as in
`tf.clip_by_value`) and 0 outside.

>>> float(binary_crossentropy([[1.0]], [[-1e4]], from_logits=True)[0])
10000.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "EPSILON",
    "binary_crossentropy",
    "binary_crossentropy_grad",
    "binary_focal_crossentropy",
    "binary_focal_crossentropy_grad",
    "categorical_crossentropy",
    "categorical_crossentropy_grad",
    "categorical_focal_crossentropy",
    "categorical_focal_crossentropy_grad",
    "log_sigmoid",
    "log_softmax",
    "ref_cross_entropy",
    "ref_entropy",
    "ref_kl",
    "sparse_categorical_crossentropy",
    "sparse_categorical_crossentropy_grad",
]

EPSILON = 1e-7  # keras.config.epsilon()


# --------------------------------------------------------------------------
# Building blocks.
# --------------------------------------------------------------------------
def _f64(x) -> np.ndarray:
    """Any array-like (bfloat16 included) as a float64 array."""
    return np.asarray(x).astype(np.float64)


def _log_bounds(epsilon: float) -> tuple[float, float]:
    """`log(epsilon)` and `log(1 - epsilon)`: the clip bounds in log space."""
    return float(np.log(epsilon)), float(np.log1p(-epsilon))


def _sum_others(v: np.ndarray) -> np.ndarray:
    """`sum_{j != k} v_j` for every `k` along the last axis, without cancellation.

    Exact to a few ulps for non-negative `v`: `total - v_k` is well conditioned
    except for the largest entry, whose complement is summed directly.
    """
    others = v.sum(axis=-1, keepdims=True) - v
    top = np.argmax(v, axis=-1)[..., None]
    rest = v.copy()
    np.put_along_axis(rest, top, 0.0, axis=-1)
    np.put_along_axis(others, top, rest.sum(axis=-1, keepdims=True), axis=-1)
    return others


def log_sigmoid(x) -> np.ndarray:
    """`log(sigmoid(x)) = -log(1 + exp(-x))`, exact for any finite `x`."""
    return -np.logaddexp(0.0, -_f64(x))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """`1 / (1 + exp(-x))` to a few ulps, relative, for any finite `x`."""
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax_parts(x: np.ndarray):
    """`(log q, q, 1 - q)` of the softmax along the last axis, all accurate.

    With `m` the maximum and `e = exp(x - m)`, `log q = (x - m) - log1p(s)`,
    `s` the sum of `e` over all entries but the (first) maximum, and
    `1 - q = sum_{j != k} e_j / sum_j e_j`: no cancellation, so a class with
    `q` near 1 keeps the relative precision of `log q` and of `1 - q`.
    """
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    top = np.argmax(x, axis=-1)[..., None]
    rest = e.copy()
    np.put_along_axis(rest, top, 0.0, axis=-1)
    s = rest.sum(axis=-1, keepdims=True)
    return z - np.log1p(s), e / (1.0 + s), _sum_others(e) / (1.0 + s)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """Log-softmax along `axis`, accurate also for a class with `q` near 1.

    `log q_k = (x_k - m) - log1p(s)`, with `m` the maximum and `s` the sum of
    `exp(x_j - m)` over all entries but the (first) maximum.
    """
    log_q, _, _ = _softmax_parts(np.moveaxis(_f64(x), axis, -1))
    return np.moveaxis(log_q, -1, axis)


def _softmax_backward(g: np.ndarray, q: np.ndarray, one_minus_q) -> np.ndarray:
    """Gradient w.r.t. the logits, given `g = dL / dlog q` (class axis last).

    `dL/dx_j = g_j - q_j sum_k g_k`, evaluated as
    `g_j (1 - q_j) - q_j sum_{k != j} g_k`; both terms keep their precision
    when `q_j` is near 1 (`g <= 0` for all the losses here).
    """
    return g * one_minus_q + q * _sum_others(-g)


def _binary_term_weights(pos_weight, class_weight) -> tuple[float, float]:
    """Weights `(w_pos, w_neg)` of the positive and negative terms."""
    w_pos, w_neg = 1.0, 1.0
    if class_weight is not None:
        w_neg, w_pos = float(class_weight[0]), float(class_weight[1])
    if pos_weight is not None:
        w_pos *= float(pos_weight)
    return w_pos, w_neg


def _class_vector(values, n_classes: int) -> np.ndarray:
    """A scalar or per-class sequence as a float64 vector of length `n_classes`."""
    return np.broadcast_to(_f64(values), (n_classes,))


def _binary_parts(y_true, y_pred, from_logits, label_smoothing, epsilon):
    """Smoothed targets and the clipped (or exact) `log q`, `log(1 - q)`."""
    y = _f64(y_true)
    x = _f64(y_pred)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return y, x, log_sigmoid(x), log_sigmoid(-x)
    lo, hi = _log_bounds(epsilon)
    with np.errstate(divide="ignore"):
        log_q = np.clip(np.log(x), lo, hi)
        log_1mq = np.clip(np.log1p(-x), lo, hi)
    return y, x, log_q, log_1mq


def _binary_bce_and_grad(y, x, log_q, log_1mq, from_logits, w_pos, w_neg, epsilon):
    """Element-wise binary cross-entropy and its derivative w.r.t. `y_pred`."""
    bce = -(w_pos * y * log_q + w_neg * (1.0 - y) * log_1mq)
    if from_logits:
        # d log q / dx = 1 - q, d log(1 - q) / dx = -q.
        dbce = -w_pos * y * _sigmoid(-x) + w_neg * (1.0 - y) * _sigmoid(x)
    else:
        inside = (x >= epsilon) & (x <= 1.0 - epsilon)
        with np.errstate(divide="ignore", invalid="ignore"):
            dbce = -w_pos * y / x + w_neg * (1.0 - y) / (1.0 - x)
        dbce = np.where(inside, dbce, 0.0)
    return bce, dbce


def _categorical_parts(y_pred, from_logits: bool, epsilon: float):
    """`(log q, 1 - q, q, inside, total, complement)` with the class axis last.

    From logits: exact log-softmax; `inside`, `total`, `complement` are None.
    From probabilities: `q = clip(p / sum(p))`, an all-zero row staying zero
    before the clip; `inside` marks the unclipped entries, `complement` is
    `sum_{j != k} p_j` (so that the unclipped `1 - q` is `complement / total`).
    """
    x = _f64(y_pred)
    if from_logits:
        log_q, q, one_minus_q = _softmax_parts(x)
        return log_q, one_minus_q, q, None, None, None
    lo, hi = _log_bounds(epsilon)
    total = x.sum(axis=-1, keepdims=True)
    complement = _sum_others(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(total == 0, 0.0, x / total)
        one_minus_q = np.where(total == 0, 1.0, complement / total)
        # For q > 1/2, log q = -log1p(complement / p) keeps its precision.
        log_q = np.where(q > 0.5, -np.log1p(complement / x), np.log(q))
    inside = (q >= epsilon) & (one_minus_q >= epsilon)
    return (
        np.clip(log_q, lo, hi),
        np.clip(one_minus_q, epsilon, 1.0 - epsilon),
        np.clip(q, epsilon, 1.0 - epsilon),
        inside,
        total,
        complement,
    )


def _normalize_backward(h, p, total, complement):
    """Gradient w.r.t. `p` of a loss given `h = dL/dq`, `q = p / sum(p)`.

    `dL/dp_j = (h_j (1 - q_j) - sum_{k != j} h_k q_k) / sum(p)`; zero for an
    all-zero row (whose `q` is clipped, hence constant). `h <= 0` here.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p / total
        out = (h * (complement / total) + _sum_others(-h * q)) / total
    return np.where(total == 0, 0.0, out)


def _smooth(y: np.ndarray, label_smoothing: float) -> np.ndarray:
    """Categorical label smoothing `y (1 - ls) + ls / K` (class axis last)."""
    if not label_smoothing:
        return y
    return y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]


def _sparse_targets(y_true, n_classes: int, label_smoothing: float) -> np.ndarray:
    """Integer ids as (smoothed) one-hot float64 rows."""
    ids = np.asarray(y_true).astype(np.int64)
    return _smooth(np.eye(n_classes)[ids], label_smoothing)


def _sparse_ids(y_true, y_pred_ndim: int) -> np.ndarray:
    ids = np.asarray(y_true)
    if ids.ndim == y_pred_ndim and ids.shape[-1] == 1:
        ids = ids[..., 0]
    return ids


# --------------------------------------------------------------------------
# Binary losses.
# --------------------------------------------------------------------------
def binary_crossentropy(
    y_true,
    y_pred,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    pos_weight: float | None = None,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Binary cross-entropy, averaged over `axis`.

    `-(w1 * pos_weight * y log q + w0 (1 - y) log(1 - q))` with exact
    log-sigmoids from logits, clipped probabilities otherwise.

    Args:
        y_true: Targets in [0, 1].
        y_pred: Probabilities, or logits with `from_logits`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; targets become `y (1 - ls) + ls / 2`.
        axis: Axis along which the mean is taken.
        pos_weight: Optional weight of the positive term.
        class_weight: Optional `[w0, w1]` term weights.
        epsilon: The clip bound for probabilities.

    Returns:
        The loss per example, float64, `axis` removed.
    """
    y, x, log_q, log_1mq = _binary_parts(
        y_true, y_pred, from_logits, label_smoothing, epsilon
    )
    w_pos, w_neg = _binary_term_weights(pos_weight, class_weight)
    bce, _ = _binary_bce_and_grad(
        y, x, log_q, log_1mq, from_logits, w_pos, w_neg, epsilon
    )
    return bce.mean(axis=axis)


def binary_crossentropy_grad(
    y_true,
    y_pred,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    pos_weight: float | None = None,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Gradient of `sum(binary_crossentropy(...))` w.r.t. `y_pred`.

    From logits `(w0 (1 - y) q - w1 y (1 - q)) / n`, from probabilities
    `(w0 (1 - y) / (1 - p) - w1 y / p) / n` inside the clip range (0
    outside), with `n` the length of `axis`. Arguments as in
    `binary_crossentropy`.

    Returns:
        Float64 array shaped like `y_pred`.
    """
    y, x, log_q, log_1mq = _binary_parts(
        y_true, y_pred, from_logits, label_smoothing, epsilon
    )
    w_pos, w_neg = _binary_term_weights(pos_weight, class_weight)
    _, dbce = _binary_bce_and_grad(
        y, x, log_q, log_1mq, from_logits, w_pos, w_neg, epsilon
    )
    return dbce / x.shape[axis]


def _binary_focal_parts(y, x, log_q, log_1mq, from_logits, gamma):
    """`(1 - p_t)` and its derivative w.r.t. `y_pred`."""
    if from_logits:
        q, one_minus_q = _sigmoid(x), _sigmoid(-x)
        return y * one_minus_q + (1.0 - y) * q, (1.0 - 2.0 * y) * q * one_minus_q
    # Keras's focal factor uses the unclipped probabilities.
    return y * (1.0 - x) + (1.0 - y) * x, 1.0 - 2.0 * y


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
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Binary focal cross-entropy, averaged over `axis`.

    `balance * (1 - p_t) ** gamma * bce`, with `1 - p_t = y (1 - q) + (1 - y) q`
    (exact sigmoids from logits; the unclipped `p` from probabilities), `bce`
    as in `binary_crossentropy`, and `balance = y alpha + (1 - y)(1 - alpha)`
    with `apply_class_balancing` (else 1).

    Args:
        y_true: Targets in [0, 1].
        y_pred: Probabilities, or logits with `from_logits`.
        apply_class_balancing: Whether to weight the classes by `alpha`.
        alpha: Weight of class 1 when balancing.
        gamma: Focusing parameter.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; targets become `y (1 - ls) + ls / 2`.
        axis: Axis along which the mean is taken.
        pos_weight: Optional weight of the positive term.
        class_weight: Optional `[w0, w1]` term weights.
        epsilon: The clip bound for probabilities.

    Returns:
        The loss per example, float64, `axis` removed.
    """
    y, x, log_q, log_1mq = _binary_parts(
        y_true, y_pred, from_logits, label_smoothing, epsilon
    )
    w_pos, w_neg = _binary_term_weights(pos_weight, class_weight)
    bce, _ = _binary_bce_and_grad(
        y, x, log_q, log_1mq, from_logits, w_pos, w_neg, epsilon
    )
    u, _ = _binary_focal_parts(y, x, log_q, log_1mq, from_logits, gamma)
    focal = u**gamma * bce
    if apply_class_balancing:
        focal = (y * alpha + (1.0 - y) * (1.0 - alpha)) * focal
    return focal.mean(axis=axis)


def binary_focal_crossentropy_grad(
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
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Gradient of `sum(binary_focal_crossentropy(...))` w.r.t. `y_pred`.

    `balance * (gamma u^(gamma-1) u' bce + u^gamma bce') / n` with
    `u = 1 - p_t`; at `u = 0` this is infinite for `gamma < 1` (the loss in
    `xent.losses` floors `u` there). Arguments as in
    `binary_focal_crossentropy`.

    Returns:
        Float64 array shaped like `y_pred`.
    """
    y, x, log_q, log_1mq = _binary_parts(
        y_true, y_pred, from_logits, label_smoothing, epsilon
    )
    w_pos, w_neg = _binary_term_weights(pos_weight, class_weight)
    bce, dbce = _binary_bce_and_grad(
        y, x, log_q, log_1mq, from_logits, w_pos, w_neg, epsilon
    )
    u, du = _binary_focal_parts(y, x, log_q, log_1mq, from_logits, gamma)
    with np.errstate(divide="ignore"):
        d_factor = gamma * u ** (gamma - 1.0) * du
    grad = d_factor * bce + u**gamma * dbce
    if apply_class_balancing:
        grad = (y * alpha + (1.0 - y) * (1.0 - alpha)) * grad
    return grad / x.shape[axis]


# --------------------------------------------------------------------------
# Categorical losses (one-hot or soft targets).
# --------------------------------------------------------------------------
def categorical_crossentropy(
    y_true,
    y_pred,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Categorical cross-entropy `-sum_k w_k y_k log q_k` along `axis`.

    `log q` is the exact log-softmax from logits; from probabilities, `q` is
    the normalized, clipped `p`.

    Args:
        y_true: One-hot or soft targets.
        y_pred: Probabilities, or logits with `from_logits`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; targets become `y (1 - ls) + ls / K`.
        axis: The class axis.
        class_weight: Optional weight per class.
        epsilon: The clip bound for probabilities.

    Returns:
        The loss per example, float64, `axis` removed.
    """
    y = _smooth(np.moveaxis(_f64(y_true), axis, -1), label_smoothing)
    log_q, *_ = _categorical_parts(
        np.moveaxis(_f64(y_pred), axis, -1), from_logits, epsilon
    )
    w = 1.0 if class_weight is None else _class_vector(class_weight, y.shape[-1])
    return -(w * y * log_q).sum(axis=-1)


def categorical_crossentropy_grad(
    y_true,
    y_pred,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Gradient of `sum(categorical_crossentropy(...))` w.r.t. `y_pred`.

    From logits `q sum_k w_k y_k - w y`; from probabilities the chain rule
    through the clip and the normalization. Arguments as in
    `categorical_crossentropy`.

    Returns:
        Float64 array shaped like `y_pred`.
    """
    y = _smooth(np.moveaxis(_f64(y_true), axis, -1), label_smoothing)
    x = np.moveaxis(_f64(y_pred), axis, -1)
    log_q, one_minus_q, q, inside, total, complement = _categorical_parts(
        x, from_logits, epsilon
    )
    w = 1.0 if class_weight is None else _class_vector(class_weight, y.shape[-1])
    if from_logits:
        grad = _softmax_backward(-w * y, q, one_minus_q)
    else:
        h = np.where(inside, -w * y / q, 0.0)
        grad = _normalize_backward(h, x, total, complement)
    return np.moveaxis(grad, -1, axis)


def categorical_focal_crossentropy(
    y_true,
    y_pred,
    alpha: float | Sequence[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Categorical focal cross-entropy `-sum_k alpha_k w_k (1 - q_k)^gamma y_k log q_k`.

    From logits `log q` is the exact log-softmax and `1 - q = -expm1(log q)`;
    from probabilities `q` is the normalized, clipped `p`, used in both
    factors.

    Args:
        y_true: One-hot or soft targets.
        y_pred: Probabilities, or logits with `from_logits`.
        alpha: Weight factor, a scalar or one value per class.
        gamma: Focusing parameter.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; targets become `y (1 - ls) + ls / K`.
        axis: The class axis.
        class_weight: Optional weight per class.
        epsilon: The clip bound for probabilities.

    Returns:
        The loss per example, float64, `axis` removed.
    """
    y = _smooth(np.moveaxis(_f64(y_true), axis, -1), label_smoothing)
    log_q, one_minus_q, *_ = _categorical_parts(
        np.moveaxis(_f64(y_pred), axis, -1), from_logits, epsilon
    )
    c = _class_vector(alpha, y.shape[-1]) * y
    if class_weight is not None:
        c = c * _class_vector(class_weight, y.shape[-1])
    return -(c * one_minus_q**gamma * log_q).sum(axis=-1)


def categorical_focal_crossentropy_grad(
    y_true,
    y_pred,
    alpha: float | Sequence[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Gradient of `sum(categorical_focal_crossentropy(...))` w.r.t. `y_pred`.

    With `c_k = alpha_k w_k y_k`: `dL/dlog q_k = -c_k (1 - q_k)^gamma +
    gamma c_k q_k (1 - q_k)^(gamma - 1) log q_k`, then back through the
    log-softmax (logits) or through the clip and normalization
    (probabilities). Arguments as in `categorical_focal_crossentropy`.

    Returns:
        Float64 array shaped like `y_pred`.
    """
    y = _smooth(np.moveaxis(_f64(y_true), axis, -1), label_smoothing)
    x = np.moveaxis(_f64(y_pred), axis, -1)
    log_q, one_minus_q, q, inside, total, complement = _categorical_parts(
        x, from_logits, epsilon
    )
    c = _class_vector(alpha, y.shape[-1]) * y
    if class_weight is not None:
        c = c * _class_vector(class_weight, y.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        d_factor = gamma * one_minus_q ** (gamma - 1.0)
    # dL/dlog q; also q * dL/dq from probabilities.
    g = -c * one_minus_q**gamma + c * d_factor * q * log_q
    if from_logits:
        grad = _softmax_backward(g, q, one_minus_q)
    else:
        grad = _normalize_backward(np.where(inside, g / q, 0.0), x, total, complement)
    return np.moveaxis(grad, -1, axis)


# --------------------------------------------------------------------------
# Sparse categorical cross-entropy (integer targets).
# --------------------------------------------------------------------------
def _sparse_log_inputs(y_pred, from_logits, epsilon):
    """The logits of the sparse loss: `y_pred`, or `log(clip(p))`."""
    if from_logits:
        return y_pred
    lo, hi = _log_bounds(epsilon)
    with np.errstate(divide="ignore"):
        return np.clip(np.log(y_pred), lo, hi)


def sparse_categorical_crossentropy(
    y_true,
    y_pred,
    from_logits: bool = False,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Cross-entropy with integer targets, `-sum_k w_k t_k log q_k`.

    `t` is the one-hot target (smoothed: `(1 - ls) one_hot + ls / K`); `log q`
    is the log-softmax of the logits, or of `log(clip(p))` for probabilities.

    Args:
        y_true: Integer class ids, shape `y_pred.shape` without the class axis
            (or with a trailing 1).
        y_pred: Probabilities, or logits with `from_logits`.
        from_logits: Whether `y_pred` holds logits.
        axis: The class axis.
        label_smoothing: In [0, 1].
        class_weight: Optional weight per class.
        epsilon: The clip bound for probabilities.

    Returns:
        The loss per example, float64, the class axis removed.
    """
    x = np.moveaxis(_f64(y_pred), axis, -1)
    n = x.shape[-1]
    t = _sparse_targets(_sparse_ids(y_true, x.ndim), n, label_smoothing)
    log_q = log_softmax(_sparse_log_inputs(x, from_logits, epsilon), axis=-1)
    w = 1.0 if class_weight is None else _class_vector(class_weight, n)
    return -(w * t * log_q).sum(axis=-1)


def sparse_categorical_crossentropy_grad(
    y_true,
    y_pred,
    from_logits: bool = False,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weight: Sequence[float] | None = None,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Gradient of `sum(sparse_categorical_crossentropy(...))` w.r.t. `y_pred`.

    Back through the log-softmax, then (probabilities) through `log(clip(p))`:
    a factor `1 / p` inside the clip range, 0 outside. Arguments as in
    `sparse_categorical_crossentropy`.

    Returns:
        Float64 array shaped like `y_pred`.
    """
    x = np.moveaxis(_f64(y_pred), axis, -1)
    n = x.shape[-1]
    t = _sparse_targets(_sparse_ids(y_true, x.ndim), n, label_smoothing)
    _, q, one_minus_q = _softmax_parts(_sparse_log_inputs(x, from_logits, epsilon))
    w = 1.0 if class_weight is None else _class_vector(class_weight, n)
    grad = _softmax_backward(-w * t, q, one_minus_q)
    if not from_logits:
        inside = (x >= epsilon) & (x <= 1.0 - epsilon)
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = np.where(inside, grad / x, 0.0)
    return np.moveaxis(grad, -1, axis)


# --------------------------------------------------------------------------
# Information quantities of discrete distributions (nats, no clipping).
# --------------------------------------------------------------------------
def _log_q(q, from_logits: bool, axis: int) -> np.ndarray:
    if from_logits:
        return log_softmax(q, axis=axis)
    with np.errstate(divide="ignore"):
        return np.log(_f64(q))


def ref_entropy(p, axis: int = -1) -> np.ndarray:
    """Shannon entropy `-sum_k p_k log p_k` along `axis`, with `0 log 0 = 0`.

    Args:
        p: Probabilities summing to one along `axis`.
        axis: The distribution axis.

    Returns:
        The entropy in nats, float64, `axis` removed.
    """
    p = _f64(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=axis)


def ref_cross_entropy(p, q, from_logits: bool = False, axis: int = -1) -> np.ndarray:
    """Cross-entropy `H(p, q) = -sum_k p_k log q_k` along `axis` (`0 log 0 = 0`).

    Args:
        p: The reference distribution.
        q: The model distribution (not clipped), or its logits.
        from_logits: Whether `q` holds logits (exact log-softmax).
        axis: The distribution axis.

    Returns:
        The cross-entropy in nats, float64, `axis` removed (`inf` where
        `p_k > 0 = q_k`).
    """
    p = _f64(p)
    log_q = _log_q(q, from_logits, axis)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * log_q, 0.0)
    return -terms.sum(axis=axis)


def ref_kl(p, q, from_logits: bool = False, axis: int = -1) -> np.ndarray:
    """Kullback-Leibler divergence `sum_k p_k (log p_k - log q_k)` along `axis`.

    Args:
        p: The reference distribution.
        q: The model distribution (not clipped), or its logits.
        from_logits: Whether `q` holds logits (exact log-softmax).
        axis: The distribution axis.

    Returns:
        The divergence in nats, float64, `axis` removed.
    """
    p = _f64(p)
    log_q = _log_q(q, from_logits, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - log_q), 0.0)
    return terms.sum(axis=axis)
