"""The float64 NumPy reference (`xent.reference`) against mpmath at 50 digits.

The mpmath versions below are written from the definitions (clip, normalize,
softmax as `exp(x_k) / sum_j exp(x_j)`, derivatives by `mpmath.diff`), not
from the float64 formulas, on a grid of extreme inputs: logits in
{-1e4, -30, 0, 30, 1e4}, probabilities in {0, 1e-12, 1e-3, 0.5, 0.999,
1 - 1e-12, 1}, hard and soft labels. Values must agree to a relative 1e-12
(or an absolute 1e-300 where the exact value underflows float64).
"""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np
import pytest

from xent import reference

LOGITS = (-1e4, -30.0, 0.0, 30.0, 1e4)
PROBS = (0.0, 1e-12, 1e-3, 0.5, 0.999, 1 - 1e-12, 1.0)
BINARY_LABELS = (0.0, 0.3, 1.0)
ROW_LABELS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.2, 0.3, 0.5))
WEIGHTS3 = [0.5, 2.0, 1.5]
DPS = 50

CASES = [
    ("binary_crossentropy", {}),
    (
        "binary_crossentropy",
        {"label_smoothing": 0.1, "pos_weight": 3.0, "class_weight": [0.5, 2.0]},
    ),
    ("binary_focal_crossentropy", {}),
    (
        "binary_focal_crossentropy",
        {
            "label_smoothing": 0.1,
            "apply_class_balancing": True,
            "alpha": 0.3,
            "gamma": 3.0,
            "pos_weight": 3.0,
            "class_weight": [0.5, 2.0],
        },
    ),
    ("categorical_crossentropy", {}),
    ("categorical_crossentropy", {"label_smoothing": 0.1, "class_weight": WEIGHTS3}),
    ("categorical_focal_crossentropy", {}),
    (
        "categorical_focal_crossentropy",
        {
            "alpha": [0.2, 0.3, 0.5],
            "gamma": 3.0,
            "label_smoothing": 0.1,
            "class_weight": WEIGHTS3,
        },
    ),
    ("sparse_categorical_crossentropy", {}),
    (
        "sparse_categorical_crossentropy",
        {"label_smoothing": 0.1, "class_weight": WEIGHTS3},
    ),
]


# --------------------------------------------------------------------------
# mpmath definitions.
# --------------------------------------------------------------------------
def _eps():
    return mp.mpf(reference.EPSILON)


def _clip(p):
    return min(max(p, _eps()), 1 - _eps())


def _mp_binary(y, x, name, from_logits, options):
    ls = mp.mpf(options.get("label_smoothing", 0.0))
    y = mp.mpf(y) * (1 - ls) + ls / 2
    w_neg, w_pos = (mp.mpf(w) for w in options.get("class_weight", (1.0, 1.0)))
    w_pos *= mp.mpf(options.get("pos_weight", 1.0))
    if from_logits:
        q = 1 / (1 + mp.exp(-x))
        one_minus_q = 1 / (1 + mp.exp(x))
        log_q, log_1mq = -mp.log1p(mp.exp(-x)), -mp.log1p(mp.exp(x))
    else:
        c = _clip(x)
        q, one_minus_q = x, 1 - x
        log_q, log_1mq = mp.log(c), mp.log(1 - c)
    bce = -(w_pos * y * log_q + w_neg * (1 - y) * log_1mq)
    if name == "binary_crossentropy":
        return bce
    gamma = mp.mpf(options.get("gamma", 2.0))
    out = (y * one_minus_q + (1 - y) * q) ** gamma * bce
    if options.get("apply_class_balancing"):
        alpha = mp.mpf(options.get("alpha", 0.25))
        out *= y * alpha + (1 - y) * (1 - alpha)
    return out


def _mp_softmax_logs(xs):
    """`log q_k` and `1 - q_k` from the definition of the softmax."""
    logs, complements = [], []
    for k, xk in enumerate(xs):
        ratios = [mp.exp(xj - xk) for xj in xs]
        total = mp.fsum(ratios)
        logs.append(-mp.log(total))
        complements.append(mp.fsum(r for j, r in enumerate(ratios) if j != k) / total)
    return logs, complements


def _mp_row(labels, xs, name, from_logits, options):
    k = len(xs)
    ls = mp.mpf(options.get("label_smoothing", 0.0))
    if name == "sparse_categorical_crossentropy":
        labels = [1.0 if j == labels else 0.0 for j in range(k)]
    y = [mp.mpf(v) * (1 - ls) + ls / k for v in labels]
    w = [mp.mpf(v) for v in options.get("class_weight", [1.0] * k)]
    if name == "sparse_categorical_crossentropy":
        logits = xs if from_logits else [mp.log(_clip(p)) for p in xs]
        log_q, _ = _mp_softmax_logs(logits)
        return -mp.fsum(w[j] * y[j] * log_q[j] for j in range(k))
    if from_logits:
        log_q, one_minus_q = _mp_softmax_logs(xs)
    else:
        total = mp.fsum(xs)
        c = [_clip(p / total if total else mp.mpf(0)) for p in xs]
        log_q, one_minus_q = [mp.log(v) for v in c], [1 - v for v in c]
    if name == "categorical_crossentropy":
        return -mp.fsum(w[j] * y[j] * log_q[j] for j in range(k))
    alpha = np.broadcast_to(options.get("alpha", 0.25), (k,))
    gamma = mp.mpf(options.get("gamma", 2.0))
    return -mp.fsum(
        mp.mpf(alpha[j]) * w[j] * one_minus_q[j] ** gamma * y[j] * log_q[j]
        for j in range(k)
    )


# --------------------------------------------------------------------------
# Grids and comparison.
# --------------------------------------------------------------------------
def _grid(name, from_logits):
    """`(y_true, y_pred)` as float64 arrays: `(N, 1)` binary, `(N, 3)` rows."""
    values = LOGITS if from_logits else PROBS
    if name.startswith("binary"):
        pairs = list(itertools.product(BINARY_LABELS, values))
        y, x = zip(*pairs, strict=True)
        return np.array(y)[:, None], np.array(x)[:, None]
    rows = list(itertools.product(values, repeat=3))
    labels = (0, 1, 2) if name.startswith("sparse") else ROW_LABELS
    pairs = list(itertools.product(labels, rows))
    y, x = zip(*pairs, strict=True)
    return np.array(y), np.array(x)


def _mp_loss(name, from_logits, options, y, x_row):
    if name.startswith("binary"):
        return _mp_binary(y[0], x_row[0], name, from_logits, options)
    labels = y if np.ndim(y) == 0 else list(y)
    return _mp_row(labels, x_row, name, from_logits, options)


def _assert_close(actual, exact, rtol, what):
    for i, (a, e) in enumerate(zip(actual.ravel(), exact, strict=True)):
        err = abs(mp.mpf(float(a)) - e)
        assert err <= rtol * abs(e) or err < 1e-300, (
            f"{what}[{i}]: reference {a!r}, mpmath {mp.nstr(e, 20)}"
        )


def _mp_value(x):
    return [mp.mpf(float(v)) for v in x]


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("name, options", CASES)
def test_reference_loss_values_match_mpmath(name, options, from_logits):
    y, x = _grid(name, from_logits)
    got = getattr(reference, name)(y, x, from_logits=from_logits, **options)
    with mp.workdps(DPS):
        exact = [
            _mp_loss(name, from_logits, options, yi, _mp_value(xi))
            for yi, xi in zip(y, x, strict=True)
        ]
        _assert_close(got, exact, 1e-12, name)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("name, options", CASES)
def test_reference_gradients_match_mpmath(name, options, from_logits):
    y, x = _grid(name, from_logits)
    if not name.startswith("binary"):  # Every 7th row: mpmath.diff is slow.
        y, x = y[::7], x[::7]
    got = getattr(reference, name + "_grad")(y, x, from_logits=from_logits, **options)
    with mp.workdps(DPS):
        exact = []
        for yi, xi in zip(y, x, strict=True):
            point = _mp_value(xi)
            for j in range(len(point)):

                def f(t, j=j, yi=yi, point=point):
                    moved = list(point)
                    moved[j] = t
                    return _mp_loss(name, from_logits, options, yi, moved)

                exact.append(mp.diff(f, point[j]))
        _assert_close(got, exact, 1e-12, name + "_grad")


def test_reference_information_quantities_match_mpmath():
    p = np.array([[0.0, 0.25, 0.75], [1e-300, 0.5, 0.5], [1.0, 0.0, 0.0]])
    q = np.array([[1e-12, 0.5, 0.5], [0.2, 0.3, 0.5], [1 - 1e-12, 1e-12, 0.0]])
    logits = np.array([[1e4, 0.0, -1e4], [-30.0, 0.0, 30.0], [1.0, 2.0, 3.0]])
    h = reference.ref_entropy(p)
    ce = reference.ref_cross_entropy(p, q)
    kl = reference.ref_kl(p, q)
    ce_logits = reference.ref_cross_entropy(p, logits, from_logits=True)
    kl_logits = reference.ref_kl(p, logits, from_logits=True)
    with mp.workdps(DPS):

        def plogq(pi, log_q):
            return mp.fsum(a * b for a, b in zip(pi, log_q, strict=True) if a)

        exact_h, exact_ce, exact_kl, exact_ce_l, exact_kl_l = [], [], [], [], []
        for pi, qi, xi in zip(p, q, logits, strict=True):
            pm, qm = _mp_value(pi), _mp_value(qi)
            log_p = [mp.log(a) if a else mp.mpf(0) for a in pm]
            log_q = [mp.log(b) if b else mp.mpf(0) for b in qm]
            log_softmax, _ = _mp_softmax_logs(_mp_value(xi))
            exact_h.append(-plogq(pm, log_p))
            exact_ce.append(-plogq(pm, log_q))
            exact_kl.append(exact_ce[-1] + plogq(pm, log_p))
            exact_ce_l.append(-plogq(pm, log_softmax))
            exact_kl_l.append(exact_ce_l[-1] + plogq(pm, log_p))
        _assert_close(h, exact_h, 1e-12, "ref_entropy")
        _assert_close(ce, exact_ce, 1e-12, "ref_cross_entropy")
        _assert_close(kl, exact_kl, 1e-12, "ref_kl")
        _assert_close(ce_logits, exact_ce_l, 1e-12, "ref_cross_entropy(logits)")
        _assert_close(kl_logits, exact_kl_l, 1e-12, "ref_kl(logits)")


def test_reference_keeps_axis_semantics():
    x = np.array([[[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0]]])  # classes on axis 1
    y = np.eye(3)[[[0, 2]]].transpose(0, 2, 1)
    moved = reference.categorical_crossentropy(
        np.moveaxis(y, 1, -1), np.moveaxis(x, 1, -1), from_logits=True
    )
    on_axis = reference.categorical_crossentropy(y, x, from_logits=True, axis=1)
    np.testing.assert_array_equal(on_axis, moved)
    grad = reference.categorical_crossentropy_grad(y, x, from_logits=True, axis=1)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)
