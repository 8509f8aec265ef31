"""Entropy, cross-entropy, KL divergence and the log-loss metrics built on them.

The one library home of these quantities: every report (`xent.evaluation`,
`xent.ctr.metrics`) computes them here. (`xent.reference`, the float64 test
oracle, stays independent of this module on purpose.)

    H(p, q) = -sum_k p_k log q_k = H(p) + KL(p || q)

Plain NumPy in float64: inputs of any float dtype are converted first. All
three quantities use the same `p log q` terms, with `0 log 0 = 0`, so the
identity holds to float rounding; KL is summed term by term, never obtained by
subtracting two large sums. `q` may be given as logits (`from_logits=True`,
computed with an exact log-softmax or log-sigmoid). Values are in nats. The
binary variants take the probability of the positive class.

The log losses (metrics of labels against predicted probabilities) clip the
probabilities to `[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`, the one floor
used by every report, so that a confident wrong prediction costs a large
finite loss instead of `inf`.

>>> p, q = [0.5, 0.5], [0.9, 0.1]
>>> h, kl, ce = entropy(p), kl_divergence(p, q), cross_entropy(p, q)
>>> abs(float(ce) - float(h + kl)) < 1e-15
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = [
    "PROBABILITY_FLOOR",
    "Decomposition",
    "binary_cross_entropy",
    "binary_decomposition",
    "binary_entropy",
    "binary_kl_divergence",
    "binary_log_loss",
    "calibration",
    "categorical_log_loss",
    "clip_probabilities",
    "cross_entropy",
    "decomposition",
    "entropy",
    "kl_divergence",
    "normalized_entropy",
]

PROBABILITY_FLOOR = float(np.finfo(np.float64).eps)
"""Smallest probability a log loss sees: float64 machine epsilon (~2.2e-16).

The same floor as `sklearn.metrics.log_loss` on float64 input, so log losses
here equal scikit-learn's."""


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _p_log(p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """`p * log_q` with the terms where `p == 0` set to 0."""
    with np.errstate(invalid="ignore"):
        return np.where(p == 0.0, 0.0, p * log_q)


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x)


def _log1m(x: np.ndarray) -> np.ndarray:
    """`log(1 - x)`, accurate for small `x`."""
    with np.errstate(divide="ignore"):
        return np.log1p(-x)


def _log_q(q: Any, from_logits: bool, axis: int) -> np.ndarray:
    q = _f64(q)
    if not from_logits:
        return _log(q)
    shifted = q - np.max(q, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _binary_log_q(q: Any, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """`(log q, log(1 - q))`, exact from logits (log-sigmoid)."""
    q = _f64(q)
    if from_logits:
        return -np.logaddexp(0.0, -q), -np.logaddexp(0.0, q)
    return _log(q), _log1m(q)


def entropy(p: Any, axis: int = -1) -> np.ndarray:
    """Shannon entropy `H(p) = -sum_k p_k log p_k` along `axis` (nats).

    Args:
        p: Probabilities summing to one along `axis`.
        axis: The distribution axis.

    Returns:
        The entropy, float64, `axis` removed.

    >>> round(float(entropy([0.5, 0.5])), 6)
    0.693147
    """
    p = _f64(p)
    return -np.sum(_p_log(p, _log(p)), axis=axis)


def cross_entropy(p: Any, q: Any, from_logits: bool = False, axis: int = -1):
    """Cross-entropy `H(p, q) = -sum_k p_k log q_k` along `axis` (nats).

    Args:
        p: The reference distribution.
        q: The model distribution, or its logits with `from_logits`.
        from_logits: Whether `q` holds logits.
        axis: The distribution axis.

    Returns:
        The cross-entropy, float64, `axis` removed (`inf` where
        `p_k > 0 = q_k`).

    >>> round(float(cross_entropy([1.0, 0.0], [0.5, 0.5])), 6)
    0.693147
    """
    p = _f64(p)
    return -np.sum(_p_log(p, _log_q(q, from_logits, axis)), axis=axis)


def kl_divergence(p: Any, q: Any, from_logits: bool = False, axis: int = -1):
    """Kullback-Leibler divergence `KL(p || q) = H(p, q) - H(p)` (nats).

    Computed as `sum_k p_k (log p_k - log q_k)` term by term, so it is never
    negative through cancellation between two large sums.

    Args:
        p: The reference distribution.
        q: The model distribution, or its logits with `from_logits`.
        from_logits: Whether `q` holds logits.
        axis: The distribution axis.

    Returns:
        The divergence, float64, `axis` removed.

    >>> float(kl_divergence([0.2, 0.8], [0.2, 0.8]))
    0.0
    """
    p = _f64(p)
    return np.sum(_p_log(p, _log(p) - _log_q(q, from_logits, axis)), axis=axis)


def binary_entropy(p: Any) -> np.ndarray:
    """Entropy of Bernoulli(p), elementwise (nats); 0 at p in {0, 1}.

    >>> round(float(binary_entropy(0.5)), 6)
    0.693147
    """
    p = _f64(p)
    return -(_p_log(p, _log(p)) + _p_log(1.0 - p, _log1m(p)))


def binary_cross_entropy(p: Any, q: Any, from_logits: bool = False) -> np.ndarray:
    """Cross-entropy between Bernoulli(p) and Bernoulli(q), elementwise (nats).

    >>> round(float(binary_cross_entropy(1.0, 0.0, from_logits=True)), 6)
    0.693147
    """
    p = _f64(p)
    log_q, log_1mq = _binary_log_q(q, from_logits)
    return -(_p_log(p, log_q) + _p_log(1.0 - p, log_1mq))


def binary_kl_divergence(p: Any, q: Any, from_logits: bool = False) -> np.ndarray:
    """KL(Bernoulli(p) || Bernoulli(q)), elementwise, term by term (nats).

    >>> float(binary_kl_divergence(0.3, 0.3))
    0.0
    """
    p = _f64(p)
    log_q, log_1mq = _binary_log_q(q, from_logits)
    return _p_log(p, _log(p) - log_q) + _p_log(1.0 - p, _log1m(p) - log_1mq)


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """`H(p, q) = H(p) + KL(p || q)`, each averaged over the rows (nats).

    Attributes:
        cross_entropy: Mean H(p, q).
        entropy: Mean H(p): the part no model can remove.
        kl_divergence: Mean KL(p || q), summed term by term: the model's excess.
    """

    cross_entropy: float
    entropy: float
    kl_divergence: float


def clip_probabilities(q: Any) -> np.ndarray:
    """`q` in float64, clipped to `[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`.

    >>> clip_probabilities([0.0, 0.5]).tolist() == [PROBABILITY_FLOOR, 0.5]
    True
    """
    return np.clip(_f64(q), PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)


def decomposition(p: Any, q: Any) -> Decomposition:
    """`H(p, q) = H(p) + KL(p || q)` of categorical rows, averaged over rows.

    `q` is clipped with `clip_probabilities`, so a class that `q` never
    predicts costs a large finite amount.

    Args:
        p: Reference distributions, `[K]` or `[n, K]`.
        q: Model distributions, the same shape.

    Returns:
        A `Decomposition` of the row means.

    >>> d = decomposition([0.5, 0.5], [0.9, 0.1])
    >>> round(d.cross_entropy - d.entropy - d.kl_divergence, 12)
    0.0
    """
    p, q = _f64(p), clip_probabilities(q)
    return Decomposition(
        cross_entropy=float(np.mean(cross_entropy(p, q))),
        entropy=float(np.mean(entropy(p))),
        kl_divergence=float(np.mean(kl_divergence(p, q))),
    )


def binary_decomposition(p: Any, q: Any) -> Decomposition:
    """`H(p, q) = H(p) + KL(p || q)` of Bernoulli rows, averaged over rows.

    With p the true probability of each row and q the model's (clipped with
    `clip_probabilities`), `entropy` is the Bayes log loss and
    `cross_entropy` the model's expected log loss.

    Args:
        p: True probabilities of the positive class, any shape.
        q: Predicted probabilities, the same shape.

    Returns:
        A `Decomposition` of the means.

    >>> d = binary_decomposition([0.5, 0.5], [0.5, 0.5])
    >>> round(d.entropy, 6), d.kl_divergence
    (0.693147, 0.0)
    """
    p, q = _f64(p), clip_probabilities(q)
    return Decomposition(
        cross_entropy=float(np.mean(binary_cross_entropy(p, q))),
        entropy=float(np.mean(binary_entropy(p))),
        kl_divergence=float(np.mean(binary_kl_divergence(p, q))),
    )


def _weighted_mean(losses: np.ndarray, sample_weight: Any) -> float:
    if sample_weight is None:
        return float(np.mean(losses))
    return float(np.average(losses, weights=_f64(sample_weight).reshape(-1)))


def binary_log_loss(y_true: Any, prob: Any, sample_weight: Any = None) -> float:
    """Mean binary cross-entropy of 0/1 labels against clipped probabilities.

    Args:
        y_true: Labels in {0, 1}, shape `[n]`.
        prob: Predicted probabilities of class 1, shape `[n]`; clipped with
            `clip_probabilities`.
        sample_weight: Optional per-row weights, `[n]`.

    Returns:
        The (weighted) mean log loss in nats.

    >>> round(binary_log_loss([0, 1], [0.5, 0.5]), 6)
    0.693147
    """
    y = _f64(y_true).reshape(-1)
    q = clip_probabilities(prob).reshape(-1)
    return _weighted_mean(binary_cross_entropy(y, q), sample_weight)


def categorical_log_loss(y_true: Any, prob: Any, sample_weight: Any = None) -> float:
    """Mean categorical cross-entropy of class ids against clipped probabilities.

    Args:
        y_true: Integer class ids, shape `[n]`.
        prob: Predicted class probabilities, shape `[n, K]`; clipped with
            `clip_probabilities` (not renormalized, as scikit-learn).
        sample_weight: Optional per-row weights, `[n]`.

    Returns:
        The (weighted) mean log loss in nats.

    >>> round(categorical_log_loss([0, 2], [[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]), 6)
    0.693147
    """
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    q = clip_probabilities(prob)
    return _weighted_mean(-np.log(q[np.arange(y.shape[0]), y]), sample_weight)


def normalized_entropy(log_loss: float, background_rate: float) -> float:
    """Log loss over the entropy of a background rate (He et al., 2014).

    `NE = log_loss / H(background_rate)`: the log loss relative to that of a
    constant predictor of the background click rate (usually the training
    split's). Below 1, the model beats the background rate.

    Args:
        log_loss: A binary log loss (nats).
        background_rate: The background positive rate, in (0, 1).

    Returns:
        The normalized entropy.

    Raises:
        ValueError: If `background_rate` is not strictly between 0 and 1.

    >>> round(normalized_entropy(0.6931471805599453, 0.5), 6)
    1.0
    """
    if not 0.0 < background_rate < 1.0:
        raise ValueError(
            "Invalid value for argument background_rate. Expected a rate strictly "
            f"between 0 and 1. Received: {background_rate!r}"
        )
    return float(log_loss) / float(binary_entropy(background_rate))


def calibration(y_true: Any, prob: Any) -> float | None:
    """Mean predicted probability over the observed positive rate.

    1 is calibrated in the large; above 1 the model over-predicts.

    Args:
        y_true: Labels in {0, 1}.
        prob: Predicted probabilities of class 1, the same length.

    Returns:
        The ratio, or None when there is no positive.

    >>> calibration([0, 1, 0, 1], [0.25, 0.75, 0.5, 0.5])
    1.0
    """
    observed = float(np.mean(_f64(y_true)))
    return float(np.mean(_f64(prob))) / observed if observed > 0 else None
