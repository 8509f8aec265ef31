"""Information quantities against SciPy, scikit-learn, mpmath and float64 NumPy."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import log_softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import log_loss as sk_log_loss

from xent import information


@st.composite
def distribution_pairs(draw):
    k = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, draw(st.sampled_from([0.05, 0.5, 1.0, 5.0]))))
    p[rng.uniform(size=k) < 0.2] = 0.0  # exact zeros: 0 log 0 = 0
    if p.sum() == 0:
        p[0] = 1.0
    p = p / p.sum()
    logits = rng.normal(0, draw(st.sampled_from([0.1, 3.0, 30.0])), k)
    return p, logits


@given(distribution_pairs())
def test_cross_entropy_is_entropy_plus_kl_to_float_precision(pair):
    p, logits = pair
    for dtype, tol in [("float64", 1e-12), ("float32", 1e-5)]:
        pp, ll = p.astype(dtype), logits.astype(dtype)
        h = float(information.entropy(pp))
        kl = float(information.kl_divergence(pp, ll, from_logits=True))
        ce = float(information.cross_entropy(pp, ll, from_logits=True))
        assert ce == pytest.approx(h + kl, rel=tol, abs=tol)
        assert kl >= -tol


@given(distribution_pairs())
def test_values_match_scipy(pair):
    p, logits = pair
    q = np.exp(log_softmax(logits))
    assert float(information.entropy(p)) == pytest.approx(scipy_entropy(p), abs=1e-12)
    assert float(information.kl_divergence(p, q)) == pytest.approx(
        scipy_entropy(p, q), rel=1e-9, abs=1e-12
    )
    expected_ce = -np.sum(np.where(p > 0, p * log_softmax(logits), 0.0))
    assert float(information.cross_entropy(p, logits, from_logits=True)) == (
        pytest.approx(expected_ce, rel=1e-12, abs=1e-12)
    )


def test_binary_functions_match_two_class_forms():
    p = np.array([0.0, 0.1, 0.5, 0.93, 1.0])
    logits = np.array([-40.0, -2.0, 0.0, 3.0, 40.0])
    q = 1 / (1 + np.exp(-logits))
    two = np.stack([p, 1 - p], -1)
    two_q = np.stack([q, 1 - q], -1)
    np.testing.assert_allclose(
        information.binary_entropy(p), scipy_entropy(two, axis=-1), atol=1e-12
    )
    np.testing.assert_allclose(
        information.binary_kl_divergence(p, logits, from_logits=True),
        [scipy_entropy(a, b) for a, b in zip(two, two_q, strict=True)],
        rtol=1e-9,
        atol=1e-15,
    )
    ce = information.binary_cross_entropy(p, logits, from_logits=True)
    np.testing.assert_allclose(
        ce,
        information.binary_entropy(p)
        + information.binary_kl_divergence(p, logits, from_logits=True),
        rtol=1e-12,
    )
    # From logits stays exact where 1 - sigmoid(40) underflows in probabilities.
    assert float(ce[0]) == pytest.approx(np.log1p(np.exp(-40.0)), rel=1e-12)


def test_binary_entropy_matches_mpmath():
    mpmath.mp.dps = 40
    p = np.array([1e-9, 0.04, 0.5, 0.9])
    expected = [
        float(
            -(
                mpmath.mpf(x) * mpmath.log(x)
                + (1 - mpmath.mpf(x)) * mpmath.log(1 - mpmath.mpf(x))
            )
        )
        for x in p
    ]
    np.testing.assert_allclose(information.binary_entropy(p), expected, rtol=1e-13)
    assert information.binary_entropy(0.0) == 0.0
    assert information.binary_entropy(1.0) == 0.0


def test_values_are_float64_for_float32_inputs():
    p = np.array([0.1, 0.9], dtype="float32")
    assert information.entropy(p).dtype == np.float64
    assert information.binary_entropy(p).dtype == np.float64


def test_binary_log_loss_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    q = rng.uniform(size=500)
    q[:3] = [0.0, 1.0, 1e-300]  # clipped at the floor, as scikit-learn does
    w = rng.uniform(0.1, 2.0, 500)
    assert information.binary_log_loss(y, q) == pytest.approx(
        sk_log_loss(y, q, labels=[0, 1]), rel=1e-12
    )
    assert information.binary_log_loss(y, q, sample_weight=w) == pytest.approx(
        sk_log_loss(y, q, sample_weight=w, labels=[0, 1]), rel=1e-12
    )


def test_categorical_log_loss_matches_scikit_learn():
    rng = np.random.default_rng(1)
    prob = rng.dirichlet(np.ones(4), 300)
    prob[0] = [1.0, 0.0, 0.0, 0.0]
    y = rng.integers(0, 4, 300)
    y[0] = 1  # a certain, wrong prediction: finite thanks to the floor
    w = rng.uniform(0.1, 2.0, 300)
    labels = [0, 1, 2, 3]
    assert information.categorical_log_loss(y, prob) == pytest.approx(
        sk_log_loss(y, prob, labels=labels), rel=1e-12
    )
    assert information.categorical_log_loss(y, prob, w) == pytest.approx(
        sk_log_loss(y, prob, sample_weight=w, labels=labels), rel=1e-12
    )


def test_log_losses_share_one_floor():
    floor = np.finfo(np.float64).eps
    assert floor == information.PROBABILITY_FLOOR
    assert information.binary_log_loss([1], [0.0]) == pytest.approx(-math.log(floor))
    assert information.categorical_log_loss([1], [[1.0, 0.0]]) == pytest.approx(
        -math.log(floor)
    )


def test_normalized_entropy_divides_by_the_background_entropy():
    h = -(0.07 * math.log(0.07) + 0.93 * math.log(0.93))
    assert information.normalized_entropy(0.2, 0.07) == pytest.approx(0.2 / h)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="background_rate"):
            information.normalized_entropy(0.2, bad)


def test_calibration_is_mean_predicted_over_observed():
    assert information.calibration([0, 1, 1, 0], [0.2, 0.4, 0.6, 0.2]) == (
        pytest.approx(0.35 / 0.5)
    )
    assert information.calibration([0, 0], [0.2, 0.4]) is None


def test_decompositions_match_scipy():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3), 40)
    q = rng.dirichlet(np.ones(3), 40)
    d = information.decomposition(p, q)
    h = np.mean([scipy_entropy(a) for a in p])
    kl = np.mean([scipy_entropy(a, b) for a, b in zip(p, q, strict=True)])
    assert d.entropy == pytest.approx(h, rel=1e-12)
    assert d.kl_divergence == pytest.approx(kl, rel=1e-9)
    assert d.cross_entropy == pytest.approx(h + kl, rel=1e-12)

    pb, qb = rng.uniform(size=40), rng.uniform(size=40)
    b = information.binary_decomposition(pb, qb)
    two_p = np.stack([pb, 1 - pb], -1)
    two_q = np.stack([qb, 1 - qb], -1)
    hb = np.mean([scipy_entropy(a) for a in two_p])
    klb = np.mean([scipy_entropy(a, c) for a, c in zip(two_p, two_q, strict=True)])
    assert b.entropy == pytest.approx(hb, rel=1e-12)
    assert b.kl_divergence == pytest.approx(klb, rel=1e-9)
    assert b.cross_entropy == pytest.approx(hb + klb, rel=1e-12)
    # A class the model never predicts costs a finite amount (the floor).
    assert math.isfinite(
        information.decomposition([0.5, 0.5], [1.0, 0.0]).kl_divergence
    )
