"""The CTR report's baseline: logistic regression on one-hot features."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from xent import progress
from xent.ctr import metrics as ctr_metrics
from xent.ctr.specs import DenseFeat
from xent.ctr.specs import FeatureSpec
from xent.ctr.specs import SparseFeat
from xent.ctr.specs import VarLenSparseFeat

__all__ = ["logistic_regression_baseline", "one_hot"]


def one_hot(x: dict, specs: Sequence[FeatureSpec]):
    """A sparse matrix of one-hot ids (sparse and multi-value features) and
    dense columns, from preprocessed model inputs."""
    from scipy import sparse

    blocks = []
    for spec in specs:
        values = np.asarray(x[spec.name])
        n = values.shape[0]
        if isinstance(spec, SparseFeat):
            blocks.append(
                sparse.csr_matrix(
                    (np.ones(n), (np.arange(n), values.reshape(-1).astype("int64"))),
                    shape=(n, spec.vocabulary_size),
                )
            )
        elif isinstance(spec, VarLenSparseFeat):
            rows, cols = np.nonzero(values > 0)
            blocks.append(
                sparse.csr_matrix(
                    (np.ones(rows.size), (rows, values[rows, cols].astype("int64"))),
                    shape=(n, spec.vocabulary_size),
                )
            )
        elif isinstance(spec, DenseFeat):
            blocks.append(sparse.csr_matrix(values.reshape(n, -1).astype("float64")))
    return sparse.hstack(blocks, format="csr")


def logistic_regression_baseline(
    train: tuple[dict, np.ndarray],
    test: tuple[dict, np.ndarray],
    specs: Sequence[FeatureSpec],
    background_ctr: float,
    max_rows: int,
    seed: int,
    groups: np.ndarray | None = None,
    p_true: np.ndarray | None = None,
) -> dict:
    """scikit-learn's logistic regression on the one-hot features, scored
    with the CTR metrics (`xent.ctr.metrics.ctr_metrics`).

    Args:
        train: Preprocessed training inputs and labels.
        test: Preprocessed test inputs and labels.
        specs: The feature specs of the inputs.
        background_ctr: The training click rate (normalized entropy).
        max_rows: Training rows used at most (a seeded random subset).
        seed: The subset's seed.
        groups: GAUC groups of the test rows, or None.
        p_true: True click probabilities of the test rows, or None.

    Returns:
        `{"logistic_regression": metrics}` with `train_rows`, or `{}` when
        the training rows hold one class. A progress line
        (`xent.progress.current()`) gives the fit's rows and seconds.
    """
    from sklearn.linear_model import LogisticRegression

    x_train = one_hot(train[0], specs)
    x_test = one_hot(test[0], specs)
    y_train = train[1]
    if x_train.shape[0] > max_rows:
        keep = np.random.default_rng(seed).choice(
            x_train.shape[0], max_rows, replace=False
        )
        x_train, y_train = x_train[keep], y_train[keep]
    if len(np.unique(y_train)) < 2:
        return {}
    start = time.perf_counter()
    lr = LogisticRegression(max_iter=300, C=1.0)
    lr.fit(x_train, y_train)
    progress.current().line(
        f"  logistic_regression: {x_train.shape[0]:,} rows in "
        f"{time.perf_counter() - start:.1f} s"
    )
    prob = lr.predict_proba(x_test)[:, 1]
    metrics = ctr_metrics.ctr_metrics(
        test[1], prob, background_ctr=background_ctr, groups=groups, p_true=p_true
    )
    metrics.pop("calibration_buckets")
    metrics["train_rows"] = int(x_train.shape[0])
    return {"logistic_regression": metrics}
