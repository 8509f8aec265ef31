"""Tests of `xent.models.tabular`: expected values from float64/mpmath."""

import math

import keras
import mpmath
import numpy as np
import pytest

from xent.models.tabular import PeriodicEmbedding
from xent.models.tabular import build_tabular_network
from xent.models.tabular import log_mean_probability_logits
from xent.models.tabular import soft_clip


def _mp_log_mean_sigmoid_logit(z):
    """logit(mean_m sigmoid(z_m)) in 50-digit arithmetic."""
    mpmath.mp.dps = 50
    p = sum(1 / (1 + mpmath.exp(-mpmath.mpf(v))) for v in z) / len(z)
    return float(mpmath.log(p) - mpmath.log(1 - p))


def _mp_log_mean_softmax(z):
    mpmath.mp.dps = 50
    rows = [[mpmath.exp(mpmath.mpf(v)) for v in member] for member in z]
    probs = [[e / sum(row) for e in row] for row in rows]
    mean = [sum(col) / len(z) for col in zip(*probs, strict=True)]
    return [float(mpmath.log(p)) for p in mean]


@pytest.mark.parametrize(
    "members",
    [[0.3], [-2.0, 1.0, 4.0], [60.0, -60.0], [80.0, 85.0, 90.0], [-80.0, -85.0]],
)
def test_binary_ensemble_logit_is_the_logit_of_the_mean_probability(members):
    z = np.asarray(members, dtype="float32").reshape(1, -1, 1)
    got = float(keras.ops.convert_to_numpy(log_mean_probability_logits(z, True))[0, 0])
    want = _mp_log_mean_sigmoid_logit(members)
    assert math.isfinite(got)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-4)


def test_softmax_ensemble_logits_are_log_mean_probabilities():
    z = [[1.0, -3.0, 0.5], [90.0, 0.0, -90.0], [-5.0, 5.0, 0.0]]
    got = keras.ops.convert_to_numpy(
        log_mean_probability_logits(np.asarray([z], dtype="float32"), False)
    )[0]
    np.testing.assert_allclose(got, _mp_log_mean_softmax(z), rtol=1e-5, atol=1e-5)
    # Already normalized: the softmax of the logits is exp(logits).
    np.testing.assert_allclose(np.exp(got).sum(), 1.0, rtol=1e-6)


def test_soft_clip_matches_its_formula():
    x = np.array([-1e9, -3.0, 0.0, 0.5, 3.0, 1e9])
    want = x / np.sqrt(1.0 + (x / 3.0) ** 2)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(soft_clip(x)), want, rtol=1e-12
    )


def test_periodic_embedding_matches_numpy():
    keras.utils.set_random_seed(1)
    layer = PeriodicEmbedding(frequencies=3, dim=2, scale=0.5)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    c = keras.ops.convert_to_numpy(layer.coefficients).astype(np.float64)
    w = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
    b = keras.ops.convert_to_numpy(layer.bias).astype(np.float64)
    angles = 2 * np.pi * x.astype(np.float64)[..., None] * c
    periodic = np.concatenate([np.cos(angles), np.sin(angles)], axis=-1)
    want = np.maximum(np.einsum("bcf,cfd->bcd", periodic, w) + b, 0).reshape(4, 10)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spread", [1.0, 100.0])
def test_initial_frequency_scales_are_geometric_from_scale_over_spread(spread):
    keras.utils.set_random_seed(2)
    layer = PeriodicEmbedding(frequencies=5, dim=2, scale=3.0, spread=spread)
    layer.build((None, 4000))
    want = np.geomspace(3.0 / spread, 3.0, 5)
    got = keras.ops.convert_to_numpy(layer.initial_scales())
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # 4,000 columns of N(0, s_k^2) draws: the sample standard deviation of
    # each frequency index is s_k within a few percent.
    c = keras.ops.convert_to_numpy(layer.coefficients)
    np.testing.assert_allclose(c.std(axis=0), want, rtol=0.05)


@pytest.mark.parametrize(
    "kwargs, needle", [({"scale": 0.0}, "scale"), ({"spread": 0.5}, "spread")]
)
def test_periodic_embedding_checks_its_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        PeriodicEmbedding(**kwargs)


def test_network_shapes_and_that_members_differ():
    keras.utils.set_random_seed(0)
    model = build_tabular_network(9, 3, n_outputs=4, hidden=(8,), members=3)
    assert model.output_shape == (None, 4)
    scaling = keras.ops.convert_to_numpy(model.get_layer("member_scaling").scaling)
    assert set(np.unique(scaling)) == {-1.0, 1.0}
    assert len({tuple(row) for row in scaling}) == 3
    x = np.random.default_rng(0).normal(size=(6, 9)).astype("float32")
    # The ensemble's logits are log mean probabilities: softmax rows sum to 1
    # and equal exp(logits).
    logits = model.predict(x, verbose=0)
    np.testing.assert_allclose(np.exp(logits).sum(axis=1), 1.0, rtol=1e-5)


def test_no_numeric_columns_and_plain_inputs():
    model = build_tabular_network(5, 0, hidden=(4,), members=1)
    assert "numeric_embedding" not in [layer.name for layer in model.layers]
    assert model.predict(np.ones((2, 5), "float32"), verbose=0).shape == (2, 1)
    plain = build_tabular_network(6, 3, hidden=(4,), embedding_dim=0)
    assert "numeric_embedding" not in [layer.name for layer in plain.layers]


def test_weights_survive_a_keras_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_tabular_network(7, 2, n_outputs=3, hidden=(5,), members=2)
    x = np.random.default_rng(1).normal(size=(3, 7)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_numeric": 6}, "n_numeric"),
        ({"members": 0}, "members"),
        ({"hidden": (0,)}, "hidden"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, argument):
    args = {"input_dim": 10, "n_numeric": 2, **kwargs}
    with pytest.raises(ValueError, match=argument):
        build_tabular_network(**args)
