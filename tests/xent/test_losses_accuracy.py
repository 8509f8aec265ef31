"""Accuracy of the five losses on a grid of extreme inputs, in four dtypes.

The grid (`xent.parity.extreme_grid`): logits in {-1e4, -100, -20, -1, 0, 1,
20, 100, 1e4}, probabilities in {0, 1e-12, 0.5, 1 - 1e-12, 1}; binary labels
0, 0.25 and 1; categorical rows of 3 classes made of every triple of grid
values, with one-hot and soft targets (class ids for the sparse loss). Inputs
are rounded to the dtype under test (float16, bfloat16 via `ml_dtypes`,
float32, float64) and the expected numbers come from the float64 NumPy
reference `xent.reference` evaluated on the rounded inputs (itself checked
against mpmath in `test_reference.py`). Ours and the Keras built-in are
called as classes with `dtype=<dtype>` and `reduction="none"`.
"""

from __future__ import annotations

import keras
import ml_dtypes
import numpy as np
import pytest

from xent import losses
from xent import parity
from xent import reference

DTYPES = ("float16", "bfloat16", "float32", "float64")
OPTIONS = {  # Non-default options accepted by each loss (ours and reference).
    "BinaryCrossentropy": {
        "label_smoothing": 0.1,
        "pos_weight": 3.0,
        "class_weight": [0.5, 2.0],
    },
    "BinaryFocalCrossentropy": {
        "label_smoothing": 0.1,
        "apply_class_balancing": True,
        "alpha": 0.3,
        "gamma": 3.0,
    },
    "CategoricalCrossentropy": {"label_smoothing": 0.1, "class_weight": [0.5, 2, 1]},
    "CategoricalFocalCrossentropy": {
        "alpha": [0.2, 0.3, 0.5],
        "gamma": 1.5,
        "label_smoothing": 0.1,
    },
    "SparseCategoricalCrossentropy": {
        "label_smoothing": 0.1,
        "class_weight": [0.5, 2.0, 1.0],
    },
}


def _eps(dtype: str) -> float:
    """Machine epsilon of `dtype`: the spacing of the numbers just above 1."""
    return float(
        ml_dtypes.finfo(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype).eps
    )


def _grid(name, from_logits, dtype):
    y_true, y_pred = parity.extreme_grid(name, from_logits)
    return y_true, parity.round_to_dtype(y_pred, dtype)


def _describe(mask, y_true, y_pred, *arrays):
    i = int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(-1))[0])
    values = ", ".join(f"{a[i]}" for a in arrays)
    where = f"y_true={y_true[i]} y_pred={y_pred[i]}"
    return f"{int(mask.sum())} cells, first: {where}: {values}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("name", parity.LOSS_NAMES)
def test_extreme_grid_values_at_least_as_accurate_as_keras(name, from_logits, dtype):
    """Ours is finite and within `|keras - ref| + eps * max(1, |ref|)` of `ref`.

    `eps` is the machine epsilon of the dtype (float16 9.8e-4, bfloat16 7.8e-3,
    float32 1.2e-7, float64 2.2e-16); a NaN or infinite Keras value counts as
    an infinite error.
    """
    y_true, y_pred = _grid(name, from_logits, dtype)
    ref, _ = parity.reference_value_and_grad(name, y_true, y_pred, from_logits)
    ours, _ = parity.evaluate(
        getattr(losses, name)(from_logits=from_logits, reduction="none", dtype=dtype),
        y_true,
        y_pred,
        dtype,
    )
    keras_value, _ = parity.evaluate(
        getattr(keras.losses, name)(
            from_logits=from_logits, reduction="none", dtype=dtype
        ),
        y_true,
        y_pred,
        dtype,
    )
    assert np.isfinite(ours).all(), _describe(~np.isfinite(ours), y_true, y_pred, ours)
    ours_err = np.abs(ours - ref)
    keras_err = np.where(np.isfinite(keras_value), np.abs(keras_value - ref), np.inf)
    slack = _eps(dtype) * np.maximum(1.0, np.abs(ref))
    worse = ours_err > keras_err + slack
    assert not worse.any(), _describe(worse, y_true, y_pred, ours, keras_value, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_options", [False, True])
@pytest.mark.parametrize("name", parity.LOSS_NAMES)
def test_extreme_grid_from_logits_within_few_ulps(name, with_options, dtype):
    """From logits, `|ours - ref| <= 4 eps max(1, |ref|)` on every cell.

    `eps` is the machine epsilon of the dtype; also with label smoothing,
    class weights and the focal options.
    """
    options = OPTIONS[name] if with_options else {}
    y_true, y_pred = _grid(name, True, dtype)
    ref_fn = getattr(reference, parity.FUNCTION_NAMES[name])
    labels = y_true.astype(np.int64) if name.startswith("Sparse") else y_true
    ref = ref_fn(labels, y_pred, from_logits=True, **options)
    loss = getattr(losses, name)(
        from_logits=True, reduction="none", dtype=dtype, **options
    )
    ours, _ = parity.evaluate(loss, y_true, y_pred, dtype)
    bad = ~(np.abs(ours - ref) <= 4 * _eps(dtype) * np.maximum(1.0, np.abs(ref)))
    assert not bad.any(), _describe(bad, y_true, y_pred, ours, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("name", parity.LOSS_NAMES)
def test_extreme_grid_gradients_finite(name, from_logits, dtype):
    """The gradient w.r.t. `y_pred` is finite on every cell of the grid.

    `y_pred` is a float32 variable for float16/bfloat16 (the loss computes in
    the half dtype), a variable of the dtype otherwise. In float64 the
    gradient also matches the analytic reference gradient to
    `1e-9 * max(1, |ref|)`: the clipped `log(1 - p)` is `log(1e-7)` in the
    reference and `log1p(-fl(1 - 1e-7))` in the losses, 3e-11 apart relative.
    """
    y_true, y_pred = _grid(name, from_logits, dtype)
    loss = getattr(losses, name)(from_logits=from_logits, reduction="none", dtype=dtype)
    _, grad = parity.evaluate(loss, y_true, y_pred, dtype)
    assert np.isfinite(grad).all(), _describe(~np.isfinite(grad), y_true, y_pred, grad)
    if dtype == "float64":
        _, ref = parity.reference_value_and_grad(name, y_true, y_pred, from_logits)
        bad = np.abs(grad - ref) > 1e-9 * np.maximum(1.0, np.abs(ref))
        assert not bad.any(), _describe(bad, y_true, y_pred, grad, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize(
    "name", ["BinaryFocalCrossentropy", "CategoricalFocalCrossentropy"]
)
def test_extreme_grid_focal_gradients_finite_for_gamma_below_one(
    name, from_logits, dtype
):
    """Focal values and gradients stay finite for `gamma = 0.5`.

    The derivative of `(1 - p_t) ** 0.5` is infinite at `1 - p_t = 0`; the
    losses floor the base at the smallest normal number of the compute dtype.
    """
    y_true, y_pred = _grid(name, from_logits, dtype)
    loss = getattr(losses, name)(
        gamma=0.5, from_logits=from_logits, reduction="none", dtype=dtype
    )
    values, grad = parity.evaluate(loss, y_true, y_pred, dtype)
    assert np.isfinite(values).all() and np.isfinite(grad).all()


def test_binary_focal_from_logits_float64_keeps_relative_precision_of_tiny_values():
    """Float64 binary focal values agree with the reference to 1e-14, relative.

    Including values far below float32's range: the focal floor is float64's
    smallest normal number in float64, so a loss of 5e-131 (logit 100, label
    1) is not turned into 5e-120 (as a float32 floor did).
    """
    y_true, y_pred = _grid("BinaryFocalCrossentropy", True, "float64")
    ref, _ = parity.reference_value_and_grad(
        "BinaryFocalCrossentropy", y_true, y_pred, True
    )
    loss = losses.BinaryFocalCrossentropy(
        from_logits=True, reduction="none", dtype="float64"
    )
    ours, _ = parity.evaluate(loss, y_true, y_pred, "float64")
    np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=0)
