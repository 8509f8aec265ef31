"""The worked examples in the Keras 3 documentation of the five losses.

Expected numbers are copied from the Keras docstrings (printed there with 3-4
significant digits, truncated rather than rounded: 0.865458 is shown as 0.8654,
hence the tolerance of one unit in the last printed digit).
"""

import numpy as np
import pytest

from xent import losses

Y2 = np.array([[0, 1], [0, 0]], "float32")
X2 = np.array([[-18.6, 0.51], [2.94, -12.8]], "float32")
Y1 = np.array([0, 1, 0, 0], "float32")
X1 = np.array([-18.6, 0.51, 2.94, -12.8], "float32")
OH = np.array([[0, 1, 0], [0, 0, 1]], "float32")
P3 = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], "float32")


def _close(value, expected, digits):
    np.testing.assert_allclose(np.asarray(value), expected, atol=10.0**-digits)


@pytest.mark.parametrize(
    "kwargs, y_true, y_pred, sample_weight, expected, digits",
    [
        ({}, Y1, X1, None, 0.8654, 4),
        ({}, Y2, X2, None, 0.8654, 4),
        ({}, Y2, X2, [0.8, 0.2], 0.243, 3),
        ({"reduction": "sum"}, Y2, X2, None, 1.730, 3),
        ({"reduction": None}, Y2, X2, None, [0.235, 1.496], 3),
    ],
)
def test_binary_crossentropy_doc_examples(
    kwargs, y_true, y_pred, sample_weight, expected, digits
):
    loss = losses.BinaryCrossentropy(from_logits=True, **kwargs)
    _close(loss(y_true, y_pred, sample_weight=sample_weight), expected, digits)


def test_binary_crossentropy_function_doc_example():
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]], "float32")
    _close(losses.binary_crossentropy(Y2, y_pred), [0.916, 0.714], 3)


@pytest.mark.parametrize(
    "kwargs, y_true, y_pred, sample_weight, expected, digits",
    [
        ({"gamma": 2}, Y1, X1, None, 0.691, 3),
        ({"gamma": 2, "apply_class_balancing": True}, Y1, X1, None, 0.51, 2),
        ({"gamma": 3}, Y2, X2, None, 0.647, 3),
        ({"gamma": 3, "apply_class_balancing": True}, Y2, X2, None, 0.482, 3),
        ({"gamma": 3}, Y2, X2, [0.8, 0.2], 0.133, 3),
        ({"gamma": 3, "apply_class_balancing": True}, Y2, X2, [0.8, 0.2], 0.097, 3),
        ({"gamma": 4, "reduction": "sum"}, Y2, X2, None, 1.222, 3),
        (
            {"gamma": 4, "apply_class_balancing": True, "reduction": "sum"},
            Y2,
            X2,
            None,
            0.914,
            3,
        ),
        ({"gamma": 5, "reduction": None}, Y2, X2, None, [0.0017, 1.1561], 4),
        (
            {"gamma": 5, "apply_class_balancing": True, "reduction": None},
            Y2,
            X2,
            None,
            [0.0004, 0.8670],
            4,
        ),
    ],
)
def test_binary_focal_crossentropy_doc_examples(
    kwargs, y_true, y_pred, sample_weight, expected, digits
):
    loss = losses.BinaryFocalCrossentropy(from_logits=True, **kwargs)
    _close(loss(y_true, y_pred, sample_weight=sample_weight), expected, digits)


def test_binary_focal_crossentropy_function_doc_example():
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]], "float32")
    focal = losses.binary_focal_crossentropy(Y2, y_pred, gamma=2)
    _close(focal, [0.330, 0.206], 3)
    bce = losses.binary_focal_crossentropy(Y2, y_pred, gamma=0)
    _close(bce, [0.916, 0.714], 3)


@pytest.mark.parametrize(
    "cls, y_true",
    [
        (losses.CategoricalCrossentropy, OH),
        (losses.SparseCategoricalCrossentropy, np.array([1, 2])),
    ],
)
def test_categorical_and_sparse_doc_examples(cls, y_true):
    _close(cls()(y_true, P3), 1.177, 3)
    _close(cls()(y_true, P3, sample_weight=np.array([0.3, 0.7])), 0.814, 3)
    _close(cls(reduction="sum")(y_true, P3), 2.354, 3)
    _close(cls(reduction=None)(y_true, P3), [0.0513, 2.303], 3)


def test_categorical_function_doc_examples():
    _close(losses.categorical_crossentropy(OH, P3), [0.0513, 2.303], 3)
    _close(losses.sparse_categorical_crossentropy([1, 2], P3), [0.0513, 2.303], 3)


def test_categorical_focal_crossentropy_doc_examples():
    loss = losses.CategoricalFocalCrossentropy()
    _close(loss(OH, P3), 0.23315276, 6)
    _close(loss(OH, P3, sample_weight=np.array([0.3, 0.7])), 0.1632, 4)
    _close(losses.CategoricalFocalCrossentropy(reduction="sum")(OH, P3), 0.46631, 5)
    np.testing.assert_allclose(
        losses.CategoricalFocalCrossentropy(reduction=None)(OH, P3),
        [3.2058331e-05, 4.6627346e-01],
        rtol=1e-6,
    )
    y_pred = np.array([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]], "float32")
    np.testing.assert_allclose(
        losses.categorical_focal_crossentropy(OH, y_pred),
        [2.63401289e-04, 6.75912094e-01],
        rtol=1e-6,
    )
