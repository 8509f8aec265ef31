"""Entropy, cross-entropy and KL divergence of discrete distributions.

These are the quantities behind every loss in `xent.losses`:

    H(p, q) = -sum_k p_k log q_k = H(p) + KL(p || q)

All three are computed with the same `p log q` terms (with `0 log 0 = 0`), so the
identity holds to float rounding, and `q` may be given as logits
(`from_logits=True`, computed with a log-softmax). Values are in nats.
The binary variants take the probability of the positive class.

>>> p, q = [0.5, 0.5], [0.9, 0.1]
>>> h, kl, ce = entropy(p), kl_divergence(p, q), cross_entropy(p, q)
>>> abs(float(ce) - float(h + kl)) < 1e-6
True
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = [
    "binary_cross_entropy",
    "binary_entropy",
    "binary_kl_divergence",
    "cross_entropy",
    "entropy",
    "kl_divergence",
]


def _float(x):
    x = ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    return x


def _safe_log(p):
    """`log p` with `log 0` replaced by 0 (it is only ever multiplied by 0)."""
    return ops.log(ops.where(ops.equal(p, 0.0), 1.0, p))


def _log_q(q, from_logits: bool, axis: int):
    q = _float(q)
    return ops.log_softmax(q, axis=axis) if from_logits else ops.log(q)


def entropy(p, axis: int = -1):
    """Shannon entropy `H(p) = -sum_k p_k log p_k` along `axis` (nats).

    Args:
        p: Probabilities summing to one along `axis`.
        axis: The distribution axis.

    Returns:
        The entropy, `axis` removed.
    """
    p = _float(p)
    return _cross_entropy_log(p, _safe_log(p), axis)


def cross_entropy(p, q, from_logits: bool = False, axis: int = -1):
    """Cross-entropy `H(p, q) = -sum_k p_k log q_k` along `axis` (nats).

    Args:
        p: The reference distribution.
        q: The model distribution, or its logits with `from_logits`.
        from_logits: Whether `q` holds logits.
        axis: The distribution axis.

    Returns:
        The cross-entropy, `axis` removed (`inf` where `p_k > 0 = q_k`).
    """
    p = _float(p)
    return _cross_entropy_log(p, ops.cast(_log_q(q, from_logits, axis), p.dtype), axis)


def _cross_entropy_log(p, log_q, axis):
    return -ops.sum(ops.where(ops.equal(p, 0.0), 0.0, p * log_q), axis=axis)


def kl_divergence(p, q, from_logits: bool = False, axis: int = -1):
    """Kullback-Leibler divergence `KL(p || q) = H(p, q) - H(p)` (nats).

    Computed as `sum_k p_k (log p_k - log q_k)` term by term, so it is never
    negative through cancellation between two large sums.

    Args:
        p: The reference distribution.
        q: The model distribution, or its logits with `from_logits`.
        from_logits: Whether `q` holds logits.
        axis: The distribution axis.

    Returns:
        The divergence, `axis` removed.
    """
    p = _float(p)
    return _kl_divergence_log(p, ops.cast(_log_q(q, from_logits, axis), p.dtype), axis)


def _kl_divergence_log(p, log_q, axis):
    log_p = _safe_log(p)
    terms = ops.where(ops.equal(p, 0.0), 0.0, p * (log_p - log_q))
    return ops.sum(terms, axis=axis)


def _binary(p):
    p = _float(p)
    return ops.stack([p, 1.0 - p], axis=-1)


def _binary_log_q(q, from_logits: bool):
    """Stacked `[log q, log(1 - q)]`, exact from logits."""
    q = _float(q)
    if from_logits:
        return ops.stack([-ops.softplus(-q), -ops.softplus(q)], axis=-1)
    return ops.stack([ops.log(q), ops.log1p(-q)], axis=-1)


def binary_entropy(p):
    """Entropy of Bernoulli(p), elementwise (nats)."""
    return entropy(_binary(p))


def binary_cross_entropy(p, q, from_logits: bool = False):
    """Cross-entropy between Bernoulli(p) and Bernoulli(q), elementwise."""
    p = _binary(p)
    return _cross_entropy_log(p, ops.cast(_binary_log_q(q, from_logits), p.dtype), -1)


def binary_kl_divergence(p, q, from_logits: bool = False):
    """KL(Bernoulli(p) || Bernoulli(q)), elementwise (nats)."""
    p = _binary(p)
    return _kl_divergence_log(p, ops.cast(_binary_log_q(q, from_logits), p.dtype), -1)
