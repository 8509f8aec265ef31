"""Evaluation metrics for trained classifiers, and scikit-learn baselines.

Pure functions of labels and predicted probabilities (NumPy, scikit-learn and
`xent.information`; no Keras, no disk access). Every function returns a dict of
plain Python values (`float`, `int`, `None`, lists), ready for `json.dumps`.

Conventions:

* Binary tasks take `y_true` in {0, 1} and `prob`, the predicted probability
  of class 1, shape `[n]` (`[n, 1]`, as Keras' `predict` returns, is accepted).
  A sample is predicted positive when `prob >= threshold`, the convention of
  `sklearn.metrics.precision_recall_curve`, so `best_f1_threshold` can be used
  directly as a decision threshold. (Keras' `BinaryAccuracy` uses `>`; the two
  differ only for probabilities exactly equal to the threshold.)
* Multiclass tasks take integer class ids `y_true` in `[0, K)` and `prob` of
  shape `[n, K]` whose rows sum to one (within 1e-3; rows are renormalized in
  float64 before use).
* Logarithms are natural: losses and entropies are in nats.

>>> m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> m["auc"], m["n"]
(0.75, 4)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.metrics import average_precision_score
from sklearn.metrics import brier_score_loss
from sklearn.metrics import confusion_matrix
from sklearn.metrics import f1_score
from sklearn.metrics import precision_recall_curve
from sklearn.metrics import precision_recall_fscore_support
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xent import information
from xent import progress

__all__ = [
    "ECE_BINS",
    "TASKS",
    "baselines",
    "binary_metrics",
    "calibration_curve",
    "cross_entropy_decomposition",
    "multiclass_metrics",
]

ECE_BINS = 15
"""Number of equal-width confidence bins used for the expected calibration error."""

TASKS = ("binary", "multiclass")
"""The task names `baselines` accepts."""

_ROW_SUM_ATOL = 1e-3


# --------------------------------------------------------------------------
# Input validation (every public function checks its arguments on entry).
# --------------------------------------------------------------------------


def _as_1d(x: Any, name: str) -> np.ndarray:
    """`x` as a 1-D array; `[n, 1]` columns are flattened."""
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"Invalid shape for argument {name}. Expected [n] or [n, 1]. "
            f"Received: {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"Argument {name} is empty.")
    return arr


def _check_finite_numeric(arr: np.ndarray, name: str) -> np.ndarray:
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise ValueError(
            f"Argument {name} must be numeric. Received dtype: {arr.dtype}"
        )
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"Argument {name} contains NaN.")
    if not np.isfinite(arr).all():
        raise ValueError(f"Argument {name} contains infinite values.")
    return arr


def _check_binary_labels(y_true: Any) -> np.ndarray:
    y = _check_finite_numeric(_as_1d(y_true, "y_true"), "y_true")
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            "Invalid value for argument y_true. Expected binary labels in {0, 1}. "
            f"Received: {np.unique(y[bad])[:5].tolist()}"
        )
    return y.astype(np.int64)


def _check_class_ids(y_true: Any, n_classes: int | None) -> np.ndarray:
    arr = np.asarray(y_true)
    if arr.ndim == 2 and arr.shape[1] > 1:
        raise ValueError(
            "Invalid shape for argument y_true. Expected integer class ids of "
            f"shape [n]. Received: {arr.shape} (for one-hot labels pass "
            "y_true.argmax(axis=1))"
        )
    y = _check_finite_numeric(_as_1d(arr, "y_true"), "y_true")
    if (y != np.round(y)).any() or (y < 0).any():
        raise ValueError(
            "Invalid value for argument y_true. Expected non-negative integer "
            f"class ids. Received: {np.unique(y)[:5].tolist()}"
        )
    y = y.astype(np.int64)
    if n_classes is not None and y.max() >= n_classes:
        raise ValueError(
            f"Invalid value for argument y_true. Class id {int(y.max())} is out of "
            f"range for prob with {n_classes} columns."
        )
    return y


def _check_probabilities(prob: Any, name: str = "prob") -> np.ndarray:
    p = _check_finite_numeric(np.asarray(prob), name)
    if p.size == 0:
        raise ValueError(f"Argument {name} is empty.")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(
            f"Invalid value for argument {name}. Expected probabilities in [0, 1]. "
            f"Received values in [{p.min():.6g}, {p.max():.6g}]"
        )
    return p


def _check_binary_prob(prob: Any, n: int) -> np.ndarray:
    p = _as_1d(prob, "prob")
    if p.shape[0] != n:
        raise ValueError(
            "Shape mismatch: argument prob has "
            f"{p.shape[0]} rows, argument y_true has {n}."
        )
    return _check_probabilities(p)


def _check_multiclass_prob(prob: Any) -> np.ndarray:
    p = np.asarray(prob)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(
            "Invalid shape for argument prob. Expected [n, K] with K >= 2. "
            f"Received: {p.shape}"
        )
    p = _check_probabilities(p)
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=_ROW_SUM_ATOL):
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(
            "Invalid value for argument prob. Expected rows summing to 1. "
            f"Received: row {worst} sums to {sums[worst]:.6g}"
        )
    return p / sums[:, None]


def _check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = _check_finite_numeric(_as_1d(sample_weight, "sample_weight"), "sample_weight")
    if w.shape[0] != n:
        raise ValueError(
            f"Shape mismatch: argument sample_weight has {w.shape[0]} rows, "
            f"argument y_true has {n}."
        )
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            "Invalid value for argument sample_weight. Expected non-negative "
            "weights with a positive sum."
        )
    return w


def _check_same_length(y: np.ndarray, p: np.ndarray) -> None:
    if y.shape[0] != p.shape[0]:
        raise ValueError(
            f"Shape mismatch: argument prob has {p.shape[0]} rows, argument "
            f"y_true has {y.shape[0]}."
        )


def _class_names(class_names: Sequence[str] | None, n_classes: int) -> list[str]:
    if class_names is None:
        return [str(k) for k in range(n_classes)]
    names = [str(c) for c in class_names]
    if len(names) != n_classes:
        raise ValueError(
            f"Invalid value for argument class_names. Expected {n_classes} names "
            f"(one per column of prob). Received: {len(names)}"
        )
    if len(set(names)) != len(names):
        raise ValueError("Invalid value for argument class_names: duplicate names.")
    return names


def _optional_float(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


# --------------------------------------------------------------------------
# Calibration.
# --------------------------------------------------------------------------


def _calibration_bins(
    target: np.ndarray,
    confidence: np.ndarray,
    n_bins: int,
    sample_weight: np.ndarray | None,
) -> dict[str, Any]:
    """Reliability bins of `confidence` against 0/1 `target` and the ECE."""
    w = np.ones_like(confidence) if sample_weight is None else sample_weight
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lower, upper], the first one also holding 0: the same
    # assignment as sklearn.calibration.calibration_curve(strategy="uniform").
    ids = np.searchsorted(edges[1:-1], confidence)
    count = np.bincount(ids, minlength=n_bins)
    weight = np.bincount(ids, weights=w, minlength=n_bins)
    conf_sum = np.bincount(ids, weights=w * confidence, minlength=n_bins)
    true_sum = np.bincount(ids, weights=w * target, minlength=n_bins)
    keep = weight > 0
    mean_pred = conf_sum[keep] / weight[keep]
    observed = true_sum[keep] / weight[keep]
    ece = float(np.sum(weight[keep] * np.abs(observed - mean_pred)) / weight.sum())
    return {
        "mean_predicted": mean_pred.tolist(),
        "observed_rate": observed.tolist(),
        "count": count[keep].astype(int).tolist(),
        "weight": weight[keep].tolist(),
        "bin_lower": edges[:-1][keep].tolist(),
        "bin_upper": edges[1:][keep].tolist(),
        "n_bins": int(n_bins),
        "ece": ece,
    }


def calibration_curve(
    y_true: Any,
    prob: Any,
    n_bins: int = ECE_BINS,
    sample_weight: Any = None,
) -> dict[str, Any]:
    """Reliability-diagram bins and the expected calibration error (ECE).

    `[0, 1]` is cut into `n_bins` equal-width bins, `(lower, upper]` with the
    first bin also holding 0 (the binning of
    `sklearn.calibration.calibration_curve(strategy="uniform")`). For each
    non-empty bin b, with weight W_b (the number of samples in it, or the sum of
    their `sample_weight`), the mean predicted confidence is compared with the
    observed rate, and

        ECE = sum_b (W_b / W) * |observed_rate_b - mean_predicted_b|.

    Binary `prob` (shape `[n]`): the confidence is the predicted probability of
    class 1 and the observed rate is the fraction of positives. Multiclass
    `prob` (shape `[n, K]`): the *top-label* confidence `max_k prob[i, k]` is
    compared with the accuracy of the arg-max prediction (Guo et al., 2017,
    "On Calibration of Modern Neural Networks").

    Args:
        y_true: Labels: {0, 1} for binary `prob`, class ids for multiclass.
        prob: Predicted probabilities, `[n]` (binary) or `[n, K]`.
        n_bins: Number of equal-width bins (>= 1).
        sample_weight: Optional non-negative per-sample weights, `[n]`.

    Returns:
        A dict with one entry per non-empty bin in each of `mean_predicted`,
        `observed_rate`, `count` (samples), `weight` (summed weights; equals
        `count` without `sample_weight`), `bin_lower`, `bin_upper`; plus
        `n_bins` and `ece` (float).

    Raises:
        ValueError: If an argument has the wrong shape or values.

    >>> c = calibration_curve([0, 1, 0, 1], [0.25, 0.25, 0.75, 0.75], n_bins=2)
    >>> c["observed_rate"], c["ece"]
    ([0.5, 0.5], 0.25)
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
        raise ValueError(
            f"Invalid value for argument n_bins. Expected an int. Received: {n_bins!r}"
        )
    if n_bins < 1:
        raise ValueError(
            f"Invalid value for argument n_bins. Expected >= 1. Received: {n_bins}"
        )
    p = np.asarray(prob)
    if p.ndim == 2 and p.shape[1] > 1:
        p = _check_multiclass_prob(p)
        y = _check_class_ids(y_true, p.shape[1])
        _check_same_length(y, p)
        w = _check_sample_weight(sample_weight, y.shape[0])
        target = (p.argmax(axis=1) == y).astype(np.float64)
        return _calibration_bins(target, p.max(axis=1), int(n_bins), w)
    y = _check_binary_labels(y_true)
    p = _check_binary_prob(p, y.shape[0])
    w = _check_sample_weight(sample_weight, y.shape[0])
    return _calibration_bins(y.astype(np.float64), p, int(n_bins), w)


# --------------------------------------------------------------------------
# Metrics.
# --------------------------------------------------------------------------


def _best_f1(
    y: np.ndarray, p: np.ndarray, w: np.ndarray | None
) -> tuple[float | None, float | None, float | None, float | None]:
    """(threshold, precision, recall, f1) maximizing F1 over `prob >= t`."""
    if not y.any():
        return None, None, None, None  # F1 is 0 at every threshold.
    precision, recall, thresholds = precision_recall_curve(
        y, p, sample_weight=w, drop_intermediate=False
    )
    # The last (precision=1, recall=0) point has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(
        2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0
    )
    i = int(np.argmax(f1))  # Ties: the lowest such threshold.
    return (
        float(thresholds[i]),
        float(precision[i]),
        float(recall[i]),
        float(f1[i]),
    )


def binary_metrics(y_true: Any, prob: Any, sample_weight: Any = None) -> dict[str, Any]:
    """Ranking, probabilistic and thresholded metrics of a binary classifier.

    Values come from scikit-learn (`roc_auc_score`, `average_precision_score`,
    `accuracy_score`, `brier_score_loss`, `precision_recall_fscore_support`,
    `precision_recall_curve`, `confusion_matrix`), except `log_loss`
    (`xent.information.binary_log_loss`, equal to scikit-learn's) and `ece`
    (see `calibration_curve`).

    Args:
        y_true: Labels in {0, 1}, shape `[n]` or `[n, 1]`.
        prob: Predicted probability of class 1, shape `[n]` or `[n, 1]`.
        sample_weight: Optional non-negative per-sample weights, `[n]`.

    Returns:
        A dict of plain Python values:
        `auc` (ROC AUC; None when `y_true` holds a single class), `pr_auc`
        (average precision; None when there is no positive), `log_loss` (nats),
        `accuracy`, `brier` (mean squared error of `prob`), `ece` (expected
        calibration error with `ECE_BINS` equal-width bins), `precision`,
        `recall`, `f1` (class 1 at threshold 0.5; 0 where undefined),
        `best_f1_threshold`, `precision_at_best_f1`, `recall_at_best_f1`,
        `best_f1` (the threshold maximizing F1 over the observed scores, and
        the precision, recall and F1 there; None when there is no positive),
        `confusion_matrix` (`[[tn, fp], [fn, tp]]` at threshold 0.5; weighted
        sums if `sample_weight` is given), `n` (number of samples) and
        `positive_rate` (the weighted fraction of positives in `y_true`).

    Raises:
        ValueError: If an argument has the wrong shape, contains NaN, `y_true`
            is not 0/1, or `prob` is outside `[0, 1]`.
    """
    y = _check_binary_labels(y_true)
    p = _check_binary_prob(prob, y.shape[0])
    w = _check_sample_weight(sample_weight, y.shape[0])
    pred = (p >= 0.5).astype(np.int64)
    both_classes = bool(y.any() and not y.all())

    precision, recall, f1, _ = precision_recall_fscore_support(
        y, pred, average="binary", pos_label=1, sample_weight=w, zero_division=0
    )
    threshold, p_best, r_best, f1_best = _best_f1(y, p, w)
    cm = confusion_matrix(y, pred, labels=[0, 1], sample_weight=w)
    return {
        "auc": float(roc_auc_score(y, p, sample_weight=w)) if both_classes else None,
        "pr_auc": (
            float(average_precision_score(y, p, sample_weight=w)) if y.any() else None
        ),
        "log_loss": information.binary_log_loss(y, p, w),
        "accuracy": float(accuracy_score(y, pred, sample_weight=w)),
        "brier": float(brier_score_loss(y, p, sample_weight=w, labels=[0, 1])),
        "ece": _calibration_bins(y.astype(np.float64), p, ECE_BINS, w)["ece"],
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "best_f1_threshold": threshold,
        "precision_at_best_f1": p_best,
        "recall_at_best_f1": r_best,
        "best_f1": f1_best,
        "confusion_matrix": cm.tolist(),
        "n": int(y.shape[0]),
        "positive_rate": float(np.average(y, weights=w)),
    }


def multiclass_metrics(
    y_true: Any, prob: Any, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Metrics of a K-class classifier predicting `argmax(prob)`.

    Args:
        y_true: Integer class ids in `[0, K)`, shape `[n]`.
        prob: Predicted class probabilities, shape `[n, K]`, rows summing to one.
        class_names: Optional K distinct names; default `"0"`, ..., `"K-1"`.

    Returns:
        A dict of plain Python values: `accuracy`, `macro_f1`, `weighted_f1`,
        `log_loss` (nats, with `labels=range(K)` so absent classes still count),
        `ece` (top-label expected calibration error, `ECE_BINS` bins),
        `per_class` (name -> `{"precision", "recall", "f1", "support"}`, 0 where
        undefined), `confusion_matrix` (K lists of K ints; rows are true
        classes, columns predicted), `n` and `n_classes`.

    Raises:
        ValueError: If an argument has the wrong shape or values.
    """
    p = _check_multiclass_prob(prob)
    k = p.shape[1]
    y = _check_class_ids(y_true, k)
    _check_same_length(y, p)
    names = _class_names(class_names, k)
    labels = list(range(k))
    pred = p.argmax(axis=1)

    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    correct = (pred == y).astype(np.float64)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(
            f1_score(y, pred, labels=labels, average="macro", zero_division=0)
        ),
        "weighted_f1": float(
            f1_score(y, pred, labels=labels, average="weighted", zero_division=0)
        ),
        "log_loss": information.categorical_log_loss(y, p),
        "ece": _calibration_bins(correct, p.max(axis=1), ECE_BINS, None)["ece"],
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "n": int(y.shape[0]),
        "n_classes": int(k),
    }


def cross_entropy_decomposition(y_true: Any, prob: Any) -> dict[str, Any]:
    """The test log loss next to the entropy of the labels (nats).

    With p the label distribution and q the model's prediction,

        H(p, q) = H(p) + KL(p || q).

    Per test example p is the observed label (one-hot), so H(p) = 0 and the
    log loss `H(p, q)` averaged over the test set is all KL divergence from the
    observed labels. The reference point is the label marginal p_hat (the class
    frequencies in `y_true`): a constant predictor c that ignores the features
    has log loss H(p_hat, c) = H(p_hat) + KL(p_hat || c), smallest for the base
    rate c = p_hat, where it equals the `label_entropy` H(p_hat). Hence:

    * `log_loss_over_label_entropy` = log_loss / H(p_hat): below 1 the model
      beats the test split's own base rate; 1 minus it is the relative
      information gain. (The CTR report's `normalized_entropy`, He et al.
      2014, divides by the entropy of the *training* click rate instead.)
    * `information_gain` = H(p_hat) - log_loss (nats): an estimate of a lower
      bound on the mutual information I(X; Y) between features and label.
    * The identity at the level of the marginal, with q_bar the mean predicted
      distribution: `marginal_cross_entropy` H(p_hat, q_bar) =
      `label_entropy` + `marginal_kl` KL(p_hat || q_bar). The KL term is the
      "calibration in the large" gap: zero when the model predicts the classes
      as often, on average, as they occur.

    Args:
        y_true: Labels: {0, 1} when `prob` is `[n]` (or `[n, 1]`), class ids in
            `[0, K)` when `prob` is `[n, K]`.
        prob: Predicted probabilities: of class 1 (binary) or of each class.

    Returns:
        A dict with `log_loss`, `label_entropy`, `log_loss_over_label_entropy`
        (None when `y_true` has one class, so `label_entropy` is 0),
        `information_gain`,
        `marginal_cross_entropy`, `marginal_kl`, `label_marginal` and
        `mean_prediction` (lists of K floats), `n`, `n_classes` and `units`
        (`"nats"`).

    Raises:
        ValueError: If an argument has the wrong shape or values.

    >>> d = cross_entropy_decomposition([0, 1], [0.5, 0.5])
    >>> round(d["log_loss"], 4), round(d["label_entropy"], 4)
    (0.6931, 0.6931)
    """
    p = np.asarray(prob)
    if p.ndim == 2 and p.shape[1] > 1:
        p = _check_multiclass_prob(p)
        y = _check_class_ids(y_true, p.shape[1])
        _check_same_length(y, p)
    else:
        y = _check_binary_labels(y_true)
        p1 = _check_binary_prob(p, y.shape[0])
        p = np.stack([1.0 - p1, p1], axis=1)
    n, k = p.shape
    loss = information.categorical_log_loss(y, p)
    marginal = np.bincount(y, minlength=k) / n
    mean_pred = p.mean(axis=0)
    # The mean prediction is clipped like the log loss, so a class never
    # predicted stays finite; the KL term is summed term by term.
    marginal_d = information.decomposition(marginal, mean_pred)
    h = marginal_d.entropy
    return {
        "log_loss": loss,
        "label_entropy": h,
        "log_loss_over_label_entropy": loss / h if h > 0 else None,
        "information_gain": h - loss,
        "marginal_cross_entropy": marginal_d.cross_entropy,
        "marginal_kl": marginal_d.kl_divergence,
        "label_marginal": marginal.tolist(),
        "mean_prediction": mean_pred.tolist(),
        "n": int(n),
        "n_classes": int(k),
        "units": "nats",
    }


# --------------------------------------------------------------------------
# Baselines.
# --------------------------------------------------------------------------


def _check_features(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"Invalid shape for argument {name}. Expected a non-empty numeric "
            f"matrix [n, d]. Received: {arr.shape}"
        )
    return _check_finite_numeric(arr, name)


def _full_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """`predict_proba` with one column per class id, 0 for unseen classes."""
    out = np.zeros((x.shape[0], n_classes))
    out[:, model.classes_.astype(np.int64)] = model.predict_proba(x)
    return out


def baselines(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    task: str,
    seed: int,
    class_names: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit scikit-learn reference models and score them on the test split.

    The models are a standardized logistic regression
    (`make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))`) and
    `HistGradientBoostingClassifier(random_state=seed)`, both with default
    hyperparameters: a yardstick for the neural model, not a tuned competitor.

    Args:
        x_train: Numeric training features `[n_train, d]` (finite).
        y_train: Training labels: {0, 1} (binary) or class ids (multiclass).
        x_test: Numeric test features `[n_test, d]`.
        y_test: Test labels.
        task: `"binary"` or `"multiclass"`.
        seed: Random seed of the gradient-boosting model.
        class_names: Optional class names for `multiclass_metrics`.

    Returns:
        `{"logistic_regression": metrics, "hist_gradient_boosting": metrics}`,
        each from `binary_metrics` or `multiclass_metrics` on the test split.
        A progress line per model (`xent.progress.current()`) gives its
        seconds.

    Raises:
        ValueError: If `task` is unknown or an argument has the wrong shape or
            values.
    """
    if task not in TASKS:
        raise ValueError(
            f"Invalid value for argument task. Expected one of {set(TASKS)}. "
            f"Received: {task!r}"
        )
    xtr = _check_features(x_train, "x_train")
    xte = _check_features(x_test, "x_test")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"Shape mismatch: argument x_train has {xtr.shape[1]} features, "
            f"argument x_test has {xte.shape[1]}."
        )
    if task == "binary":
        ytr = _check_binary_labels(y_train)
        yte = _check_binary_labels(y_test)
        n_classes = 2
    else:
        ytr = _check_class_ids(y_train, None)
        yte = _check_class_ids(y_test, None)
        n_classes = int(max(ytr.max(), yte.max())) + 1
        if class_names is not None:
            n_classes = max(n_classes, len(class_names))
    for x, y, xn, yn in (
        (xtr, ytr, "x_train", "y_train"),
        (xte, yte, "x_test", "y_test"),
    ):
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"Shape mismatch: argument {xn} has {x.shape[0]} rows, argument "
                f"{yn} has {y.shape[0]}."
            )
    if np.unique(ytr).size < 2:
        raise ValueError("Invalid value for argument y_train: a single class.")

    models = {
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000)
        ),
        "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed),
    }
    results = {}
    shown = progress.current()
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(xtr, ytr)
        proba = _full_proba(model, xte, n_classes)
        shown.line(
            f"  {name}: {xtr.shape[0]:,} rows in {time.perf_counter() - start:.1f} s"
        )
        if task == "binary":
            results[name] = binary_metrics(yte, proba[:, 1])
        else:
            results[name] = multiclass_metrics(yte, proba, class_names)
    return results
