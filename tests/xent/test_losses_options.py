"""Options beyond Keras: class/positive weights, sparse label smoothing, and
finite values and gradients on degenerate inputs. Expected numbers come from
scikit-learn and from the Keras built-ins on equivalent inputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import log_loss

from xent import losses

RNG = np.random.default_rng(7)
P = RNG.uniform(0.05, 0.95, 40)
Y = (RNG.uniform(size=40) < 0.4).astype("float64")


def test_binary_class_weight_equals_sklearn_weighted_log_loss():
    w = np.array([0.5, 3.0])
    loss = losses.BinaryCrossentropy(class_weight=w, reduction="sum", dtype="float64")
    value = float(loss(Y[:, None], P[:, None])) / w[Y.astype(int)].sum()
    assert value == pytest.approx(log_loss(Y, P, sample_weight=w[Y.astype(int)]), 1e-12)


def test_pos_weight_equals_sklearn_weighted_log_loss_and_logit_form():
    loss = losses.BinaryCrossentropy(pos_weight=4.0, reduction="sum", dtype="float64")
    weights = np.where(Y == 1, 4.0, 1.0)
    value = float(loss(Y[:, None], P[:, None])) / weights.sum()
    assert value == pytest.approx(log_loss(Y, P, sample_weight=weights), 1e-12)
    logits = np.log(P / (1 - P))
    from_logits = losses.BinaryCrossentropy(
        from_logits=True, pos_weight=4.0, reduction=None, dtype="float64"
    )(Y[:, None], logits[:, None])
    expected = tf.nn.weighted_cross_entropy_with_logits(Y, logits, pos_weight=4.0)
    np.testing.assert_allclose(from_logits, expected, rtol=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_class_weight_equals_sklearn_weighted_log_loss(from_logits):
    probs = RNG.dirichlet(np.ones(4), 30)
    labels = RNG.integers(0, 4, 30)
    w = np.array([1.0, 0.2, 2.5, 1.5])
    y_pred = np.log(probs) if from_logits else probs
    expected = log_loss(labels, probs, sample_weight=w[labels], labels=range(4))
    for name, y_true in [
        ("CategoricalCrossentropy", np.eye(4)[labels]),
        ("SparseCategoricalCrossentropy", labels),
    ]:
        loss = getattr(losses, name)(
            from_logits=from_logits, class_weight=w, reduction="sum", dtype="float64"
        )
        value = float(loss(y_true, y_pred)) / w[labels].sum()
        assert value == pytest.approx(expected, rel=1e-12), name


@pytest.mark.parametrize("from_logits", [False, True])
def test_focal_class_weight_equals_builtin_with_sample_weights(from_logits):
    logits = RNG.normal(0, 2, (30, 4))
    labels = RNG.integers(0, 4, 30)
    w = np.array([1.0, 0.2, 2.5, 1.5])
    ours = losses.CategoricalFocalCrossentropy(
        from_logits=from_logits, class_weight=w, reduction="sum", dtype="float64"
    )
    theirs = keras.losses.CategoricalFocalCrossentropy(
        from_logits=from_logits, reduction="sum", dtype="float64"
    )
    y_pred = logits if from_logits else tf.nn.softmax(logits).numpy()
    y_true = np.eye(4)[labels]
    expected = theirs(y_true, y_pred, sample_weight=w[labels])
    np.testing.assert_allclose(ours(y_true, y_pred), expected, rtol=1e-10)
    yb = (labels[:, None] % 2).astype("float64")
    wb = np.array([0.7, 1.9])
    ours_b = losses.BinaryFocalCrossentropy(
        from_logits=from_logits, class_weight=wb, reduction="sum", dtype="float64"
    )
    theirs_b = keras.losses.BinaryFocalCrossentropy(
        from_logits=from_logits, reduction="sum", dtype="float64"
    )
    x = logits[:, :1] if from_logits else tf.sigmoid(logits[:, :1]).numpy()
    expected_b = theirs_b(yb, x, sample_weight=wb[yb[:, 0].astype(int)])
    np.testing.assert_allclose(ours_b(yb, x), expected_b, rtol=1e-10)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_label_smoothing_equals_builtin_categorical_on_one_hot(from_logits):
    logits = RNG.normal(0, 2, (25, 5))
    labels = RNG.integers(0, 5, 25)
    y_pred = logits if from_logits else tf.nn.softmax(logits).numpy()
    ours = losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=0.15, reduction=None, dtype="float64"
    )(labels, y_pred)
    expected = keras.losses.CategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=0.15, reduction=None, dtype="float64"
    )(np.eye(5)[labels], y_pred)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    with pytest.raises(TypeError):
        keras.losses.SparseCategoricalCrossentropy(label_smoothing=0.15)


def test_class_weight_of_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="argument `class_weight`"):
        losses.CategoricalCrossentropy(class_weight=[1.0, 2.0])(np.eye(3), np.eye(3))


def test_invalid_label_smoothing_is_rejected():
    with pytest.raises(ValueError, match="argument `label_smoothing`"):
        losses.BinaryCrossentropy(label_smoothing=1.5)


def _value_and_grad(loss, y_true, y_pred, dtype):
    x = tf.constant(y_pred, dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = loss(y_true, x)
    return float(tf.cast(value, "float64")), tf.cast(tape.gradient(value, x), "float64")


def test_all_zero_probability_row_is_finite_where_keras_is_nan():
    y_true = np.array([[0.0, 1.0, 0.0]])
    y_pred = np.zeros((1, 3))
    for name in ["CategoricalCrossentropy", "CategoricalFocalCrossentropy"]:
        value, grad = _value_and_grad(
            getattr(losses, name)(), y_true, y_pred, "float32"
        )
        assert np.isfinite(value) and np.all(np.isfinite(grad)), name
        keras_value = getattr(keras.losses, name)()(y_true, y_pred)
        assert np.isnan(keras_value), name
    # The zero row is clipped like any zero probability: -log(1e-7).
    value, _ = _value_and_grad(
        losses.CategoricalCrossentropy(), y_true, y_pred, "float32"
    )
    assert value == pytest.approx(-np.log(1e-7), rel=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(
    "name",
    [
        "BinaryCrossentropy",
        "BinaryFocalCrossentropy",
        "CategoricalCrossentropy",
        "CategoricalFocalCrossentropy",
        "SparseCategoricalCrossentropy",
    ],
)
def test_half_precision_probabilities_of_zero_and_one_stay_finite(name, dtype):
    if name.startswith("Binary"):
        y_true, y_pred = (
            np.array([[1.0, 0.0, 1.0, 0.0]]),
            np.array([[0.0, 1.0, 1.0, 0.0]]),
        )
    elif name.startswith("Sparse"):
        y_true, y_pred = np.array([0, 1]), np.array([[0.0, 1.0], [0.0, 1.0]])
    else:
        y_true, y_pred = (
            np.array([[1.0, 0.0], [0.0, 1.0]]),
            np.array([[0.0, 1.0], [0.0, 1.0]]),
        )
    value, grad = _value_and_grad(
        getattr(losses, name)(dtype=dtype), y_true, y_pred, dtype
    )
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    # Same value as float32 (where Keras is finite too), to half precision.
    value32, _ = _value_and_grad(getattr(losses, name)(), y_true, y_pred, "float32")
    assert value == pytest.approx(value32, rel=1e-2)
