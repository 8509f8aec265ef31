"""Entropy, cross-entropy and KL against SciPy and float64 NumPy references."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import log_softmax
from scipy.stats import entropy as scipy_entropy

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
