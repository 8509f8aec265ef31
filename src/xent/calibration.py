"""Post-hoc calibration of binary logits: Platt scaling.

A network trained to low log loss can still be miscalibrated on new data (a
short run, batch statistics, early stopping on AUC). Platt scaling (Platt,
1999; Guo et al., 2017 call its one-parameter form temperature scaling) fits
`p = sigmoid(a * z + b)` to held-out labels by maximum likelihood: a convex
problem in `(a, b)`, solved here by Newton's method in float64. A positive
`a` keeps the ranking (AUC, GAUC) unchanged.

`PlattScaling` applies the fitted map inside a Keras model, so the exported
serving model returns calibrated probabilities.

>>> import numpy as np
>>> z = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
>>> y = np.array([0, 0, 1, 0, 1, 1])
>>> scale, shift = fit_platt(z, y)
>>> bool(scale > 0)
True
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["PlattScaling", "fit_platt"]


def fit_platt(
    logits, labels, max_iter: int = 100, tol: float = 1e-12
) -> tuple[float, float]:
    """Maximum-likelihood `(scale, shift)` of `sigmoid(scale * z + shift)`.

    Args:
        logits: Binary logits `z`, `[n]`.
        labels: 0/1 labels, `[n]`, with both classes present.
        max_iter: Newton steps at most.
        tol: Stop when the step's largest change is below this.

    Returns:
        `(scale, shift)` as Python floats.

    Raises:
        ValueError: Different lengths, non-finite logits, labels other than
            0/1, or a single class (nothing to fit).
    """
    z = np.asarray(logits, dtype="float64").reshape(-1)
    y = np.asarray(labels, dtype="float64").reshape(-1)
    if z.shape != y.shape:
        raise ValueError(f"logits and labels differ in length: {z.size} and {y.size}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits must be finite to fit Platt scaling")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1 to fit Platt scaling")
    if y.min() == y.max():
        raise ValueError("Platt scaling needs both classes in the labels")
    x = np.stack([z, np.ones_like(z)], axis=1)
    w = np.array([1.0, 0.0])
    loss = _nll(x @ w, y)
    for _ in range(max_iter):
        p = _sigmoid(x @ w)
        grad = x.T @ (p - y)
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        # Backtracking: a Newton step on separable data can overshoot.
        t = 1.0
        while t > 1e-8:
            candidate = w - t * step
            new_loss = _nll(x @ candidate, y)
            if new_loss <= loss:
                break
            t /= 2
        else:
            break
        w, loss = candidate, new_loss
        if np.max(np.abs(t * step)) < tol:
            break
    return float(w[0]), float(w[1])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    # log(1 + exp(z)) - y z, stably.
    return float(np.sum(np.logaddexp(0.0, z) - y * z))


@keras.saving.register_keras_serializable(package="xent")
class PlattScaling(keras.layers.Layer):
    """`scale * z + shift` of binary logits: the fitted Platt map.

    Computes in float32 by default. Non-trainable.

    Args:
        scale: The fitted slope `a` (> 0 keeps the ranking).
        shift: The fitted intercept `b`.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    >>> PlattScaling(2.0, -1.0)(np.array([[0.5]], "float32")).numpy().item()
    0.0
    """

    def __init__(self, scale: float = 1.0, shift: float = 0.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.shift = float(shift)

    def call(self, logits):
        logits = ops.cast(logits, self.compute_dtype)
        return logits * self.scale + self.shift

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "shift": self.shift}
