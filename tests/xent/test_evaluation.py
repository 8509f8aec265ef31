"""Tests for xent.evaluation.

Expected values come from hand computation or explicit float64 NumPy formulas
written out here (or from scipy / scikit-learn functions the code under test
does not call), never from the functions under test.
"""

import json

import numpy as np
import pytest
import scipy.stats
import sklearn.calibration
import threadpoolctl
from sklearn.datasets import load_breast_cancer
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from xent import evaluation
from xent import progress

BINARY_KEYS = {
    "auc",
    "pr_auc",
    "log_loss",
    "accuracy",
    "brier",
    "ece",
    "precision",
    "recall",
    "f1",
    "best_f1_threshold",
    "precision_at_best_f1",
    "recall_at_best_f1",
    "best_f1",
    "n",
    "positive_rate",
}


def _np_log_loss(y, p):
    y, p = np.asarray(y, float), np.asarray(p, float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _np_pairwise_auc(y, p, w):
    """AUC as the weighted Mann-Whitney statistic (ties count one half)."""
    pos, neg = y == 1, y == 0
    diff = p[pos][:, None] - p[neg][None, :]
    pair_w = w[pos][:, None] * w[neg][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    return float(np.sum(pair_w * wins) / np.sum(pair_w))


def test_binary_metrics_tiny_example_by_hand():
    y = [0, 0, 1, 1]
    p = [0.1, 0.4, 0.35, 0.8]
    m = evaluation.binary_metrics(y, p)

    assert set(m) >= BINARY_KEYS
    # 3 of the 4 (positive, negative) pairs are ranked correctly.
    assert m["auc"] == pytest.approx(0.75)
    # Ranked: 0.8 (+), 0.4 (-), 0.35 (+), 0.1 (-): AP = 0.5 * 1 + 0.5 * 2/3.
    assert m["pr_auc"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert m["log_loss"] == pytest.approx(_np_log_loss(y, p), rel=1e-12)
    assert m["brier"] == pytest.approx(np.mean((np.array(p) - y) ** 2), rel=1e-12)
    # At 0.5 only 0.8 is predicted positive: TP=1, FP=0, FN=1, TN=2.
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["precision"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["n"] == 4
    assert m["positive_rate"] == pytest.approx(0.5)
    json.dumps(m, allow_nan=False)
    for key in BINARY_KEYS - {"n"}:
        assert isinstance(m[key], float), key
    assert isinstance(m["n"], int)


def test_binary_metrics_weighted_auc_and_log_loss_match_numpy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    # Rounded to create many ties.
    p = np.clip(np.round(0.3 * y + rng.uniform(0, 0.7, 300), 1), 0.1, 0.9)
    w = rng.uniform(0.1, 3.0, 300)
    m = evaluation.binary_metrics(y, p, sample_weight=w)

    assert m["auc"] == pytest.approx(_np_pairwise_auc(y, p, w), rel=1e-10)
    expected_ll = -np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))) / w.sum()
    assert m["log_loss"] == pytest.approx(expected_ll, rel=1e-10)
    assert m["brier"] == pytest.approx(np.sum(w * (p - y) ** 2) / w.sum(), rel=1e-10)
    assert m["positive_rate"] == pytest.approx(np.sum(w * y) / w.sum(), rel=1e-12)
    assert m["accuracy"] == pytest.approx(
        np.sum(w * ((p >= 0.5) == y)) / w.sum(), rel=1e-12
    )


def test_binary_metrics_accepts_keras_shaped_float32():
    y = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=np.float32)
    p = np.array([[0.2], [0.5], [0.9], [0.6]], dtype=np.float32)
    m = evaluation.binary_metrics(y, p)
    assert m["auc"] == pytest.approx(0.75)
    assert m["n"] == 4


def test_ece_constructed_case():
    # Bin of 0.25: observed 1/4 -> gap 0. Bin of 0.75: observed 2/4 -> gap 0.25.
    # Each holds half the samples: ECE = 0.5 * 0 + 0.5 * 0.25.
    y = [1, 0, 0, 0, 1, 1, 0, 0]
    p = [0.25] * 4 + [0.75] * 4
    assert evaluation.binary_metrics(y, p)["ece"] == pytest.approx(0.125)
    curve = evaluation.calibration_curve(y, p)
    assert curve["ece"] == pytest.approx(0.125)
    assert curve["mean_predicted"] == pytest.approx([0.25, 0.75])
    assert curve["observed_rate"] == pytest.approx([0.25, 0.5])
    assert curve["count"] == [4, 4]
    # 0.25 lies in (3/15, 4/15], 0.75 in (11/15, 12/15].
    assert curve["bin_lower"] == pytest.approx([3 / 15, 11 / 15])


def test_ece_perfectly_calibrated_extremes_is_zero():
    # Probabilities 0 and 1 (the first and last bin edges) that are always right.
    y = [0, 0, 1, 1, 1]
    p = [0.0, 0.0, 1.0, 1.0, 1.0]
    curve = evaluation.calibration_curve(y, p)
    assert curve["ece"] == 0.0
    assert curve["count"] == [2, 3]
    assert curve["bin_lower"] == pytest.approx([0.0, 14 / 15])


def test_calibration_curve_matches_sklearn():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 500)
    y = (rng.uniform(0, 1, 500) < p**1.5).astype(int)
    curve = evaluation.calibration_curve(y, p, n_bins=15)
    prob_true, prob_pred = sklearn.calibration.calibration_curve(
        y, p, n_bins=15, strategy="uniform"
    )
    np.testing.assert_allclose(curve["observed_rate"], prob_true, rtol=1e-12)
    np.testing.assert_allclose(curve["mean_predicted"], prob_pred, rtol=1e-12)
    assert sum(curve["count"]) == 500
    expected_ece = np.sum(np.array(curve["count"]) * np.abs(prob_true - prob_pred))
    assert curve["ece"] == pytest.approx(expected_ece / 500, rel=1e-12)


def test_multiclass_top_label_ece_constructed_case():
    # Confidence 0.9 everywhere, half the arg-max predictions right: ECE = 0.4.
    prob = [[0.9, 0.05, 0.05]] * 4
    y = [0, 0, 1, 2]
    assert evaluation.calibration_curve(y, prob)["ece"] == pytest.approx(0.4)
    assert evaluation.multiclass_metrics(y, prob)["ece"] == pytest.approx(0.4)


def test_best_f1_threshold_constructed_case():
    # Thresholds 0.1, 0.2, 0.3, 0.6, 0.9 give F1 = 3/4, 6/7, 2/3, 4/5, 1/2.
    y = [0, 1, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.6, 0.9]
    m = evaluation.binary_metrics(y, p)
    assert m["best_f1_threshold"] == pytest.approx(0.2)
    assert m["best_f1"] == pytest.approx(6 / 7)
    assert m["precision_at_best_f1"] == pytest.approx(0.75)
    assert m["recall_at_best_f1"] == pytest.approx(1.0)


def test_best_f1_matches_brute_force():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.25 * y + rng.uniform(0, 0.75, 200), 0, 1)

    def f1_at(t):
        pred = p >= t
        tp = np.sum(pred & (y == 1))
        return 2 * tp / (pred.sum() + y.sum())

    f1s = np.array([f1_at(t) for t in np.unique(p)])
    m = evaluation.binary_metrics(y, p)
    assert m["best_f1"] == pytest.approx(f1s.max(), rel=1e-12)
    assert f1_at(m["best_f1_threshold"]) == pytest.approx(f1s.max(), rel=1e-12)


def test_perfect_separation():
    y = [0, 0, 0, 1, 1]
    p = [0.0, 0.1, 0.2, 0.8, 1.0]
    m = evaluation.binary_metrics(y, p)
    assert m["auc"] == 1.0
    assert m["pr_auc"] == 1.0
    assert m["accuracy"] == 1.0
    assert m["f1"] == 1.0
    assert m["best_f1"] == 1.0
    assert 0.2 < m["best_f1_threshold"] <= 0.8
    # Probabilities 0 and 1 on the right side are clipped, not infinite.
    assert np.isfinite(m["log_loss"])
    assert m["log_loss"] == pytest.approx(
        -np.mean(np.log([1.0, 0.9, 0.8, 0.8, 1.0])), rel=1e-9
    )


def test_single_class_all_negative():
    y = [0, 0, 0]
    p = [0.1, 0.2, 0.6]
    m = evaluation.binary_metrics(y, p)
    assert m["auc"] is None
    assert m["pr_auc"] is None
    assert m["best_f1"] is None
    assert m["best_f1_threshold"] is None
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4])))
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["precision"] == 0.0 and m["recall"] == 0.0
    assert m["positive_rate"] == 0.0
    json.dumps(m, allow_nan=False)


def test_single_class_all_positive():
    m = evaluation.binary_metrics([1, 1], [0.3, 0.9])
    assert m["auc"] is None
    assert m["pr_auc"] == 1.0
    assert m["best_f1"] == 1.0
    assert m["best_f1_threshold"] == pytest.approx(0.3)
    json.dumps(m, allow_nan=False)


def test_multiclass_metrics_by_hand():
    prob = np.array(
        [
            [0.7, 0.2, 0.1, 0.0],
            [0.2, 0.5, 0.3, 0.0],
            [0.1, 0.6, 0.3, 0.0],
            [0.3, 0.3, 0.4, 0.0],
            [0.5, 0.1, 0.4, 0.0],
        ]
    )
    y = np.array([0, 1, 2, 2, 2])  # Class 3 never occurs.
    m = evaluation.multiclass_metrics(y, prob, class_names=["a", "b", "c", "d"])

    # Predictions 0, 1, 1, 2, 0.
    assert m["confusion_matrix"] == [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 0, 0, 0],
    ]
    assert m["accuracy"] == pytest.approx(3 / 5)
    # F1 per class: a: P=1/2 R=1 -> 2/3; b: 2/3; c: P=1 R=1/3 -> 1/2; d: 0.
    f1 = np.array([2 / 3, 2 / 3, 1 / 2, 0.0])
    support = np.array([1, 1, 3, 0])
    assert m["macro_f1"] == pytest.approx(f1.mean())
    assert m["weighted_f1"] == pytest.approx(np.sum(f1 * support) / support.sum())
    assert m["log_loss"] == pytest.approx(-np.mean(np.log(prob[np.arange(5), y])))
    assert m["per_class"]["c"] == pytest.approx(
        {"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "support": 3}
    )
    assert m["per_class"]["d"]["support"] == 0
    assert m["n"] == 5
    assert m["n_classes"] == 4
    json.dumps(m, allow_nan=False)


def test_multiclass_metrics_default_class_names():
    m = evaluation.multiclass_metrics([0, 1], [[0.8, 0.2], [0.4, 0.6]])
    assert list(m["per_class"]) == ["0", "1"]
    assert m["accuracy"] == 1.0


def test_cross_entropy_decomposition_binary():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.2, 0.3, 0.6, 0.1, 0.4, 0.2, 0.7])
    d = evaluation.cross_entropy_decomposition(y, p)

    base_rate = 3 / 8
    h = -(base_rate * np.log(base_rate) + (1 - base_rate) * np.log(1 - base_rate))
    assert d["log_loss"] == pytest.approx(_np_log_loss(y, p), rel=1e-12)
    assert d["label_entropy"] == pytest.approx(h, rel=1e-12)
    # The base-rate predictor's log loss is the label entropy.
    assert d["label_entropy"] == pytest.approx(
        _np_log_loss(y, np.full(8, base_rate)), rel=1e-12
    )
    assert d["log_loss_over_label_entropy"] == pytest.approx(_np_log_loss(y, p) / h)
    assert d["information_gain"] == pytest.approx(h - _np_log_loss(y, p))
    q_bar = np.array([1 - p.mean(), p.mean()])
    p_hat = np.array([1 - base_rate, base_rate])
    assert d["marginal_kl"] == pytest.approx(scipy.stats.entropy(p_hat, q_bar))
    assert d["marginal_cross_entropy"] == pytest.approx(-np.sum(p_hat * np.log(q_bar)))
    assert d["label_marginal"] == pytest.approx(p_hat.tolist())
    assert d["units"] == "nats"
    json.dumps(d, allow_nan=False)


def test_cross_entropy_decomposition_multiclass():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(50, 4))
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, 50)  # Class 3 never occurs: 0 log 0 = 0.
    d = evaluation.cross_entropy_decomposition(y, prob)

    p_hat = np.bincount(y, minlength=4) / 50
    assert d["log_loss"] == pytest.approx(
        -np.mean(np.log(prob[np.arange(50), y])), rel=1e-12
    )
    assert d["label_entropy"] == pytest.approx(scipy.stats.entropy(p_hat), rel=1e-12)
    assert d["marginal_kl"] == pytest.approx(
        scipy.stats.entropy(p_hat, prob.mean(axis=0)), rel=1e-9
    )
    assert d["n_classes"] == 4


def test_cross_entropy_decomposition_single_class():
    d = evaluation.cross_entropy_decomposition([1, 1, 1], [0.9, 0.8, 0.7])
    assert d["label_entropy"] == 0.0
    assert d["log_loss_over_label_entropy"] is None
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: evaluation.binary_metrics([0, 1, 1], [0.1, 0.2]), "prob"),
        (lambda: evaluation.binary_metrics([0, 1], [0.1, 1.2]), "prob.*\\[0, 1\\]"),
        (lambda: evaluation.binary_metrics([0, 1], [0.1, -0.1]), "prob"),
        (lambda: evaluation.binary_metrics([0, 1], [0.1, np.nan]), "prob contains NaN"),
        (lambda: evaluation.binary_metrics([0, np.nan], [0.1, 0.2]), "y_true .*NaN"),
        (lambda: evaluation.binary_metrics([0, 2], [0.1, 0.2]), "y_true"),
        (lambda: evaluation.binary_metrics([], []), "y_true is empty"),
        (lambda: evaluation.binary_metrics([0, 1], [[0.1, 0.9]] * 2), "prob"),
        (
            lambda: evaluation.binary_metrics([0, 1], [0.1, 0.2], [1.0, -1.0]),
            "sample_weight",
        ),
        (
            lambda: evaluation.binary_metrics([0, 1], [0.1, 0.2], [1.0]),
            "sample_weight",
        ),
        (
            lambda: evaluation.multiclass_metrics([0, 1], [[0.5, 0.4], [0.5, 0.5]]),
            "prob.*sum",
        ),
        (
            lambda: evaluation.multiclass_metrics([0, 2], [[0.5, 0.5], [0.5, 0.5]]),
            "y_true",
        ),
        (
            lambda: evaluation.multiclass_metrics([0, 1], [[1.0, 0.0]]),
            "prob has 1 rows, argument y_true has 2",
        ),
        (
            lambda: evaluation.multiclass_metrics([[1, 0], [0, 1]], [[1, 0], [0, 1]]),
            "y_true.*one-hot",
        ),
        (
            lambda: evaluation.multiclass_metrics([0, 1], np.eye(2), ["a"]),
            "class_names",
        ),
        (
            lambda: evaluation.multiclass_metrics([0, 1], np.eye(2), ["a", "a"]),
            "class_names",
        ),
        (lambda: evaluation.calibration_curve([0, 1], [0.1, 0.2], 0), "n_bins"),
        (
            lambda: evaluation.cross_entropy_decomposition([0, 1.5], [0.1, 0.2]),
            "y_true",
        ),
    ],
)
def test_invalid_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_baselines_invalid_inputs_name_the_argument():
    x = np.zeros((4, 2))
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="task"):
        evaluation.baselines(x, y, x, y, task="regression", seed=0)
    with pytest.raises(ValueError, match="x_train contains NaN"):
        evaluation.baselines(np.full((4, 2), np.nan), y, x, y, "binary", 0)
    with pytest.raises(ValueError, match="x_test"):
        evaluation.baselines(x, y, np.zeros((4, 3)), y, "binary", 0)
    with pytest.raises(ValueError, match="y_test"):
        evaluation.baselines(x, y, x, y[:3], "binary", 0)


@pytest.fixture
def one_thread():
    # OpenMP spin-waiting on a shared 2-core machine makes gradient boosting
    # ~10x slower; one thread keeps these tests fast and deterministic.
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.mark.usefixtures("one_thread")
def test_baselines_breast_cancer():
    x, y = load_breast_cancer(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    results = evaluation.baselines(xtr, ytr, xte, yte, task="binary", seed=0)
    assert set(results) == {"logistic_regression", "hist_gradient_boosting"}
    for name, metrics in results.items():
        assert metrics["auc"] > 0.98, name
        assert metrics["n"] == len(yte)
        assert set(metrics) >= BINARY_KEYS
        json.dumps(metrics, allow_nan=False)
    again = evaluation.baselines(xtr, ytr, xte, yte, task="binary", seed=0)
    assert again == results


@pytest.mark.usefixtures("one_thread")
def test_baselines_log_a_progress_line_per_model_with_its_seconds():
    x, y = load_iris(return_X_y=True)
    lines = []
    with progress.reporting(enabled=True, log=lines.append):
        evaluation.baselines(x, y, x, y, "multiclass", 0)
    assert [line.split(":")[0] for line in lines] == [
        "  logistic_regression",
        "  hist_gradient_boosting",
    ]
    assert all(
        line.endswith(f"{len(y)} rows in {line.split()[-2]} s") for line in lines
    )
    with progress.reporting(enabled=False, log=lines.append):
        evaluation.baselines(x, y, x, y, "multiclass", 0)
    assert len(lines) == 2


@pytest.mark.usefixtures("one_thread")
def test_baselines_iris_multiclass():
    x, y = load_iris(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(
        x, y, test_size=0.4, random_state=0, stratify=y
    )
    names = ["setosa", "versicolor", "virginica"]
    results = evaluation.baselines(xtr, ytr, xte, yte, "multiclass", 0, names)
    for name, metrics in results.items():
        assert metrics["accuracy"] > 0.85, name
        assert list(metrics["per_class"]) == names
        assert np.sum(metrics["confusion_matrix"]) == len(yte)
