"""Tests of `xent.gan.scoring` with a stand-in classifier."""

import numpy as np
import pytest

from xent.gan import evaluation
from xent.gan.config import EvalConfig
from xent.gan.scoring import baseline_images
from xent.gan.scoring import score_images

_CFG = EvalConfig(frechet_repeats=3, nn_queries=20)


def _embed(images):
    """Features: the first 4 pixels; class 0 when the mean pixel is < 0.5."""
    flat = np.asarray(images, "float64").reshape(len(images), -1)
    p1 = (flat.mean(axis=1) >= 0.5).astype("float64") * 0.8 + 0.1
    return flat[:, :4], np.stack([1.0 - p1, p1], axis=1)


def _images(n, seed):
    return np.random.default_rng(seed).uniform(size=(n, 4, 4, 1)).astype("float32")


def test_scores_match_the_evaluation_functions():
    train, test, gen = _images(50, 0), _images(30, 1), _images(40, 2)
    got = score_images(gen, _embed, train, test, ("a", "b"), _CFG, seed=3)
    frechet = evaluation.matched_frechet(
        _embed(test)[0], _embed(gen)[0], _CFG.frechet_repeats, seed=3
    )
    assert got["frechet_distance"] == frechet["frechet_distance"]
    assert got["frechet_ratio"] == pytest.approx(
        frechet["frechet_distance"] / frechet["frechet_floor"]
    )
    coverage = evaluation.class_coverage(_embed(gen)[1])
    assert got["class_coverage"] == dict(zip("ab", coverage.fractions, strict=True))
    assert got["min_class_fraction"] == coverage.fractions.min()
    assert got["nn_distance_ratio"] == evaluation.nn_distance_ratio(
        gen[:20], train, test[:20]
    )
    assert got["samples"] == 40 and "label_accuracy" not in got


def test_label_accuracy_compares_the_classifier_with_the_requested_labels():
    train, test = _images(50, 0), _images(30, 1)
    gen = np.concatenate([np.zeros((10, 4, 4, 1)), np.ones((10, 4, 4, 1))])
    labels = np.array([0] * 10 + [0] * 10)
    got = score_images(gen, _embed, train, test, ("a", "b"), _CFG, 0, labels)
    assert got["label_accuracy"] == 0.5


def test_baselines_are_a_clipped_gaussian_and_training_copies():
    train = _images(60, 0)
    out = baseline_images(train, 25, np.random.default_rng(0))
    assert list(out) == ["gaussian_pixels", "copy_training_images"]
    gaussian, copies = out["gaussian_pixels"], out["copy_training_images"]
    assert gaussian.shape == copies.shape == (25, 4, 4, 1)
    assert gaussian.dtype == np.float32
    assert gaussian.min() >= 0.0 and gaussian.max() <= 1.0
    flat = train.reshape(60, -1)
    assert all((flat == c.reshape(1, -1)).all(axis=1).any() for c in copies)
    again = baseline_images(train, 25, np.random.default_rng(0))
    np.testing.assert_array_equal(again["gaussian_pixels"], gaussian)
