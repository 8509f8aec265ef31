"""Property-based parity of xent.losses with the Keras 3 built-ins.

For every loss class, both `from_logits` settings, every reduction, with and
without sample weights and label smoothing, on the default and a non-default
axis and in float16/bfloat16/float32/float64, loss values and gradients with
respect to `y_pred` agree with the `keras.losses` class of the same name.

Inputs stay in the range where Keras's probability clipping at
`[1e-7, 1 - 1e-7]` is inactive (|logit| <= 5, at most 6 classes; for half
precision |logit| <= 2, so no probability rounds to exactly 1), because
there Keras is exact and the two must agree; outside it Keras is less accurate
and `test_losses_accuracy.py` compares both against a float64 reference.

Tolerances (absolute and relative, on values and gradients), by dtype: the
rounding unit of the dtype times a small factor, because Keras computes half
precision in half precision while xent computes it in float32 and rounds once:
float64 1e-10, float32 2e-5, float16 2e-2, bfloat16 6e-2.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from xent import losses

TOL = {"float64": 1e-10, "float32": 2e-5, "float16": 2e-2, "bfloat16": 6e-2}
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]
NAMES = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
]


def _value_and_grad(loss, y_true, y_pred, sample_weight, dtype):
    x = tf.constant(y_pred, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = loss(y_true, x, sample_weight=sample_weight)
    grad = tape.gradient(value, x)
    return (
        np.asarray(tf.cast(value, "float64")),
        np.asarray(tf.cast(grad, "float64")),
    )


def _assert_parity(
    name, kwargs, y_true, y_pred, sample_weight, dtype, keras_inputs=None, axis=None
):
    """Asserts ours(**kwargs) == Keras(**kwargs) on values and gradients.

    With `keras_inputs=(y_true, y_pred)` Keras gets inputs whose class axis was
    moved last while ours runs with `axis`; its gradient is moved back.
    """
    ours_kwargs = kwargs if axis is None else dict(kwargs, axis=axis)
    ours = getattr(losses, name)(dtype=dtype, **ours_kwargs)
    theirs = getattr(keras.losses, name)(dtype=dtype, **kwargs)
    k_true, k_pred = keras_inputs or (y_true, y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        v1, g1 = _value_and_grad(ours, y_true, y_pred, sample_weight, dtype)
        v2, g2 = _value_and_grad(theirs, k_true, k_pred, sample_weight, dtype)
    if keras_inputs is not None:
        g2 = np.moveaxis(g2, -1, axis)
    tol = TOL[dtype]
    np.testing.assert_allclose(v1, v2, rtol=tol, atol=tol, err_msg=f"{name} value")
    np.testing.assert_allclose(g1, g2, rtol=tol, atol=tol, err_msg=f"{name} grad")


@st.composite
def cases(draw, axis_last=True):
    name = draw(st.sampled_from(NAMES))
    dtype = draw(st.sampled_from(list(TOL)))
    from_logits = draw(st.booleans())
    batch = draw(st.integers(1, 16))
    n_classes = draw(st.integers(2, 6))
    scale = draw(st.floats(0.1, 5.0))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    binary = name.startswith("Binary")
    sparse = name.startswith("Sparse")
    inner = () if axis_last else (draw(st.integers(2, 3)),)
    shape = (batch, n_classes) + inner
    # Half precision rounds probabilities above ~0.998 (bfloat16) or ~0.9997
    # (float16) to exactly 1, the degenerate case where Keras's gradients are
    # NaN (also for softmax outputs from logits): keep |logit| <= 2 there.
    bound = 2.0 if dtype in ("float16", "bfloat16") else 5.0
    logits = np.clip(rng.normal(0, scale, shape), -bound, bound)
    if from_logits:
        y_pred = logits
    elif binary:
        y_pred = 1 / (1 + np.exp(-logits))
    else:
        ax = 1
        e = np.exp(logits - logits.max(axis=ax, keepdims=True))
        y_pred = e / e.sum(axis=ax, keepdims=True)
    labels = rng.integers(0, n_classes, (batch,) + inner)
    if binary:
        y_true = rng.integers(0, 2, shape).astype("float64")
    elif sparse:
        y_true = labels
    else:
        y_true = np.moveaxis(np.eye(n_classes)[labels], -1, 1)
    kwargs = {"from_logits": from_logits}
    kwargs["reduction"] = draw(st.sampled_from(REDUCTIONS))
    if not sparse and draw(st.booleans()):
        kwargs["label_smoothing"] = draw(st.floats(0.0, 0.3))
    if name.endswith("FocalCrossentropy"):
        kwargs["gamma"] = draw(st.sampled_from([0.0, 0.5, 2.0, 3.0]))
        kwargs["alpha"] = draw(st.floats(0.05, 0.95))
    if name == "BinaryFocalCrossentropy":
        kwargs["apply_class_balancing"] = draw(st.booleans())
    sample_weight = None
    if draw(st.booleans()):
        sample_weight = rng.uniform(0.0, 2.0, (batch,) + inner)
    return name, dtype, kwargs, y_true, y_pred, sample_weight


@given(cases())
def test_values_and_gradients_match_keras(case):
    name, dtype, kwargs, y_true, y_pred, sample_weight = case
    _assert_parity(name, kwargs, y_true, y_pred, sample_weight, dtype)


@given(cases(axis_last=False))
def test_non_default_axis_matches_keras_on_moved_axis(case):
    """axis=1 on rank-3 inputs equals Keras with the class axis moved last.

    Moving the axis makes the comparison valid for every loss: Keras supports
    only axis=-1 in the sparse loss, and with label smoothing it counts the
    classes along the last axis whatever `axis` is.
    """
    name, dtype, kwargs, y_true, y_pred, sample_weight = case
    moved_true = y_true if name.startswith("Sparse") else np.moveaxis(y_true, 1, -1)
    keras_inputs = (moved_true, np.moveaxis(y_pred, 1, -1))
    _assert_parity(
        name, kwargs, y_true, y_pred, sample_weight, dtype, keras_inputs, axis=1
    )


@pytest.mark.parametrize("name", NAMES[:4])
def test_axis_1_matches_keras_directly_without_smoothing(name):
    rng = np.random.default_rng(1)
    y_pred = rng.normal(0, 2, (4, 3, 5))
    if name.startswith("Binary"):
        y_true = rng.integers(0, 2, (4, 3, 5)).astype("float32")
    else:
        y_true = np.moveaxis(np.eye(3)[rng.integers(0, 3, (4, 5))], -1, 1)
    kwargs = {"from_logits": True, "axis": 1}
    _assert_parity(name, kwargs, y_true, y_pred, None, "float32")
    _assert_parity(
        name,
        dict(kwargs, from_logits=False),
        y_true,
        1 / (1 + np.exp(-y_pred)),
        None,
        "float32",
    )


@pytest.mark.parametrize("name", NAMES)
def test_sigmoid_or_softmax_outputs_are_traced_to_logits_like_keras(name):
    """A y_pred made by a Keras activation is read as its logits by both."""
    rng = np.random.default_rng(2)
    logits = tf.constant(rng.normal(0, 30, (8, 4)), "float32")  # saturates
    if name.startswith("Binary"):
        y_pred = keras.activations.sigmoid(logits)
        y_true = rng.integers(0, 2, (8, 4)).astype("float32")
    else:
        y_pred = keras.activations.softmax(logits)
        labels = rng.integers(0, 4, (8,))
        y_true = labels if name.startswith("Sparse") else np.eye(4)[labels]
    ours = getattr(losses, name)(reduction=None)(y_true, y_pred)
    theirs = getattr(keras.losses, name)(reduction=None)(y_true, y_pred)
    if name != "CategoricalFocalCrossentropy":  # Keras's focal renormalizes.
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    exact = getattr(losses, name)(from_logits=True, reduction=None)(y_true, logits)
    np.testing.assert_allclose(ours, exact, rtol=1e-6)


def test_sparse_ignore_class_matches_keras():
    rng = np.random.default_rng(3)
    y_pred = rng.normal(0, 2, (10, 4))
    y_true = np.array([0, 1, -1, 3, -1, 2, 2, 1, -1, 0])
    for reduction in REDUCTIONS:
        _assert_parity(
            "SparseCategoricalCrossentropy",
            {"from_logits": True, "ignore_class": -1, "reduction": reduction},
            y_true,
            y_pred,
            None,
            "float32",
        )


@pytest.mark.parametrize("name", NAMES)
def test_shape_mismatch_raises_value_error_like_keras(name):
    """Same ValueError as Keras; Keras's categorical focal loss does not check
    shapes and fails later inside a multiplication, ours raises the ValueError."""
    if name.startswith("Sparse"):
        y_true, y_pred = np.zeros((4, 2)), np.zeros((3, 5))
    else:
        y_true, y_pred = np.zeros((4, 3)), np.zeros((4, 2))
    keras_errors = (ValueError, tf.errors.InvalidArgumentError)
    with pytest.raises(keras_errors if "Focal" in name else ValueError):
        getattr(keras.losses, name)()(y_true, y_pred)
    with pytest.raises(ValueError, match="shape") as ours_error:
        getattr(losses, name)()(y_true, y_pred)
    assert str(y_pred.shape) in str(ours_error.value).replace("TensorShape(", "")


@pytest.mark.parametrize("name", NAMES)
def test_invalid_reduction_is_rejected_naming_the_argument(name):
    with pytest.raises(ValueError, match="argument `reduction`"):
        getattr(losses, name)(reduction="average")


def test_swapping_y_true_and_y_pred_changes_the_result():
    y_true = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], "float32")
    y_pred = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]], "float32")
    for name in NAMES[:4]:
        loss = getattr(losses, name)()
        assert abs(float(loss(y_true, y_pred)) - float(loss(y_pred, y_true))) > 1e-3
