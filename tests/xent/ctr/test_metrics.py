"""CTR metrics against scikit-learn, SciPy and direct float64 sums."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import log_loss
from sklearn.metrics import roc_auc_score

from xent.ctr import metrics


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-2.5, 1.0, n)))
    y = (rng.random(n) < p).astype(int)
    q = np.clip(p * np.exp(rng.normal(0, 0.3, n)), 1e-4, 0.999)
    return y, p, q


def test_truth_metrics_decompose_the_expected_log_loss():
    y, p, q = _data()
    out = metrics.truth_metrics(y, q, p)
    pairs = zip(p, q, strict=True)
    kl = np.mean([stats.entropy([a, 1 - a], [b, 1 - b]) for a, b in pairs])
    h = np.mean([stats.entropy([a, 1 - a]) for a in p])
    assert out["bayes_log_loss"] == pytest.approx(h, rel=1e-10)
    assert out["excess_log_loss"] == pytest.approx(kl, rel=1e-8)
    assert out["expected_log_loss"] == pytest.approx(h + kl, rel=1e-10)
    assert out["excess_log_loss_pct"] == pytest.approx(100 * kl / h, rel=1e-8)
    assert out["oracle_auc"] == pytest.approx(roc_auc_score(y, p))
    assert out["oracle_log_loss"] == pytest.approx(log_loss(y, p))


def test_the_truth_itself_has_no_excess():
    y, p, _ = _data()
    out = metrics.truth_metrics(y, p, p)
    assert out["excess_log_loss"] == pytest.approx(0.0, abs=1e-15)


def test_ctr_metrics_against_scikit_learn():
    y, p, q = _data()
    out = metrics.ctr_metrics(y, q, background_ctr=0.07, p_true=p)
    assert out["auc"] == pytest.approx(roc_auc_score(y, q))
    assert out["log_loss"] == pytest.approx(log_loss(y, q))
    h = -(0.07 * math.log(0.07) + 0.93 * math.log(0.93))
    assert out["normalized_entropy"] == pytest.approx(log_loss(y, q) / h)
    assert out["calibration"] == pytest.approx(q.mean() / y.mean())
    assert out["rows"] == y.size
    assert "bayes_log_loss" in out
    assert "gauc" not in out


def test_group_auc_weights_groups_by_size_and_drops_one_class_groups():
    y, _, q = _data(3000, seed=1)
    groups = np.arange(y.size) % 7
    groups[:50] = 99  # a group of 50 ...
    y[:50] = 0  # ... with no clicks: dropped
    total, weight = 0.0, 0
    for g in np.unique(groups):
        m = groups == g
        if 0 < y[m].sum() < m.sum():
            total += m.sum() * roc_auc_score(y[m], q[m])
            weight += m.sum()
    gauc, used = metrics.group_auc(y, q, groups)
    assert used == 7
    assert gauc == pytest.approx(total / weight)
    assert metrics.group_auc([0, 0, 1], [0.1, 0.2, 0.3], ["a", "a", "b"]) == (None, 0)


def test_calibration_buckets_have_equal_counts_and_observed_rates():
    y, _, q = _data(1000)
    b = metrics.calibration_buckets(y, q, buckets=10)
    assert b["count"] == [100] * 10
    order = np.argsort(q, kind="stable")
    assert b["observed"][0] == pytest.approx(y[order[:100]].mean())
    assert b["mean_predicted"] == sorted(b["mean_predicted"])


@pytest.mark.parametrize(
    ("y", "q", "match"),
    [
        ([0, 1], [0.5], "length"),
        ([0, 1], [0.5, float("nan")], "probabilities"),
        ([0, 2], [0.5, 0.5], "labels"),
        ([], [], "No rows"),
    ],
)
def test_bad_inputs_raise_named_errors(y, q, match):
    with pytest.raises(ValueError, match=match):
        metrics.ctr_metrics(y, q, background_ctr=0.5)


def test_background_ctr_must_be_strictly_between_zero_and_one():
    with pytest.raises(ValueError, match="background CTR"):
        metrics.ctr_metrics([0, 1], [0.2, 0.7], background_ctr=0.0)


def test_auc_and_gauc_rank_the_scores_given_not_saturated_probabilities():
    """Logits around 50: the probability of a logit above about 37 rounds to
    exactly 1 in float64, so ranking those ties clicks with non-clicks; the
    logits keep the order, and scikit-learn on them is the reference."""
    rng = np.random.default_rng(3)
    n = 2000
    y = rng.integers(0, 2, n)
    z = rng.normal(50.0, 10.0, n) + 5.0 * y
    prob = 1 / (1 + np.exp(-z))
    assert np.mean(prob == 1) > 0.8
    groups = np.arange(n) % 5
    plain = metrics.ctr_metrics(y, prob, background_ctr=0.5, groups=groups)
    ranked = metrics.ctr_metrics(y, prob, background_ctr=0.5, groups=groups, scores=z)
    expected = roc_auc_score(y, z)
    assert ranked["auc"] == pytest.approx(expected, abs=1e-12)
    assert abs(plain["auc"] - expected) > 0.05  # the ties the scores avoid
    gauc = np.mean([roc_auc_score(y[groups == g], z[groups == g]) for g in range(5)])
    assert ranked["gauc"] == pytest.approx(gauc, abs=1e-3)  # equal-size groups
    # What does not rank is computed from the probabilities either way.
    assert ranked["log_loss"] == plain["log_loss"]
    assert ranked["calibration"] == plain["calibration"]


@pytest.mark.parametrize(
    ("scores", "match"), [([0.1], "length"), ([0.0, float("inf")], "scores")]
)
def test_bad_scores_raise_named_errors(scores, match):
    with pytest.raises(ValueError, match=match):
        metrics.ctr_metrics([0, 1], [0.2, 0.7], background_ctr=0.5, scores=scores)
