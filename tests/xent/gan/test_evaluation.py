"""Tests of `xent.gan.evaluation` against independent references."""

import mpmath
import numpy as np
import pytest
import scipy.linalg
from sklearn.metrics import pairwise_distances

from xent.gan import evaluation


def _spd(d, rng, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / (rank or d) + (0 if rank else 0.1) * np.eye(d)


def _mp_frechet(mu1, c1, mu2, c2):
    """|mu1 - mu2|^2 + tr(C1 + C2 - 2 sqrtm(C1 C2)) at 50 digits (mpmath)."""
    with mpmath.workdps(50):
        a, b = mpmath.matrix(c1.tolist()), mpmath.matrix(c2.tolist())
        root = mpmath.sqrtm(a * b)
        tr = sum(root[i, i] for i in range(len(mu1)))
        diff = sum(
            (mpmath.mpf(x) - mpmath.mpf(y)) ** 2 for x, y in zip(mu1, mu2, strict=True)
        )
        value = diff + sum(a[i, i] + b[i, i] for i in range(len(mu1))) - 2 * tr
        return float(mpmath.re(value))


def test_frechet_distance_of_diagonal_covariances_has_a_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    v1, v2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    got = evaluation.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_of_commuting_covariances_has_a_closed_form():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    l1, l2 = rng.uniform(0.1, 2, 6), rng.uniform(0.1, 2, 6)
    c1, c2 = q @ np.diag(l1) @ q.T, q @ np.diag(l2) @ q.T
    mu = rng.normal(size=6)
    expected = np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    assert evaluation.frechet_distance(mu, c1, mu, c2) == pytest.approx(
        expected, rel=1e-10
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_a_50_digit_mpmath_reference(seed):
    rng = np.random.default_rng(seed)
    d = 4
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    c1, c2 = _spd(d, rng), _spd(d, rng)
    expected = _mp_frechet(mu1, c1, mu2, c2)
    got = evaluation.frechet_distance(mu1, c1, mu2, c2)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_on_larger_matrices():
    rng = np.random.default_rng(3)
    d = 40
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    c1, c2 = _spd(d, rng), _spd(d, rng)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * root)
    got = evaluation.frechet_distance(mu1, c1, mu2, c2)
    assert got == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_is_symmetric_zero_on_itself_and_finite_when_singular():
    rng = np.random.default_rng(4)
    c1, c2 = _spd(10, rng, rank=3), _spd(10, rng, rank=4)  # Rank-deficient.
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    ab = evaluation.frechet_distance(mu1, c1, mu2, c2)
    ba = evaluation.frechet_distance(mu2, c2, mu1, c1)
    assert np.isfinite(ab)
    assert ab == pytest.approx(ba, rel=1e-8)
    assert evaluation.frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="cov2"):
        evaluation.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))


def test_feature_statistics_are_the_unbiased_mean_and_covariance():
    x = np.random.default_rng(5).normal(size=(50, 3))
    stats = evaluation.feature_statistics(x)
    np.testing.assert_allclose(stats.mean, x.mean(axis=0))
    centred = x - x.mean(axis=0)
    np.testing.assert_allclose(stats.cov, centred.T @ centred / 49)
    assert stats.n == 50


def test_matched_frechet_floor_is_near_the_distance_of_a_fresh_real_sample():
    rng = np.random.default_rng(6)
    real = rng.normal(size=(400, 5))
    same = rng.normal(size=(2000, 5))  # A perfect generator.
    shifted = rng.normal(loc=1.0, size=(2000, 5))  # A bad one: |shift|^2 = 5.
    good = evaluation.matched_frechet(real, same, repeats=20, seed=0)
    bad = evaluation.matched_frechet(real, shifted, repeats=20, seed=0)
    assert good["frechet_floor"] > 0
    assert good["frechet_distance"] / good["frechet_floor"] == pytest.approx(1, abs=0.3)
    assert bad["frechet_floor"] == good["frechet_floor"]  # Same halvings.
    assert bad["frechet_distance"] == pytest.approx(5.0, rel=0.15)


def test_matched_frechet_needs_enough_generated_samples():
    with pytest.raises(ValueError, match="generated_features"):
        evaluation.matched_frechet(np.zeros((10, 2)), np.zeros((4, 2)))


def test_class_coverage_is_the_argmax_histogram_and_mean_top_probability():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(1000, 4)) * 3
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cov = evaluation.class_coverage(p)
    expected = np.array([np.mean(p.argmax(axis=1) == k) for k in range(4)])
    np.testing.assert_allclose(cov.fractions, expected)
    assert cov.fractions.sum() == pytest.approx(1.0)
    assert cov.mean_confidence == pytest.approx(float(np.mean(p.max(axis=1))))


def test_class_coverage_rejects_non_probabilities():
    with pytest.raises(ValueError, match="probabilities"):
        evaluation.class_coverage([[0.5, 0.2]])


def test_nearest_neighbour_distances_match_brute_force():
    rng = np.random.default_rng(8)
    q, r = rng.normal(size=(30, 2, 3)), rng.normal(size=(50, 2, 3))
    expected = pairwise_distances(q.reshape(30, -1), r.reshape(50, -1)).min(axis=1)
    got = evaluation.nearest_neighbour_distances(q, r)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_nn_distance_ratio_is_near_one_for_fresh_samples_and_zero_for_copies():
    rng = np.random.default_rng(9)
    train, test, fresh = (rng.normal(size=(n, 8)) for n in (500, 200, 200))
    assert evaluation.nn_distance_ratio(fresh, train, test) == pytest.approx(
        1.0, abs=0.15
    )
    assert evaluation.nn_distance_ratio(train[:100], train, test) == 0.0
    noisy_copies = train[:200] + 0.01 * rng.normal(size=(200, 8))
    assert evaluation.nn_distance_ratio(noisy_copies, train, test) < 0.05
