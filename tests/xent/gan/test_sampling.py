"""Tests of `xent.gan.sampling`: fixed generator inputs and batched inference."""

import keras
import numpy as np

from xent.gan import plots
from xent.gan import sampling


def test_noise_streams_are_fixed_and_independent():
    a = sampling.noise_inputs(0, 1, 5, 3)
    np.testing.assert_array_equal(a, sampling.noise_inputs(0, 1, 5, 3))
    assert not np.allclose(a, sampling.noise_inputs(0, 2, 5, 3))
    assert not np.allclose(a, sampling.noise_inputs(1, 1, 5, 3))
    expected = np.random.default_rng([0, 1]).standard_normal((5, 3))
    np.testing.assert_array_equal(a, expected.astype("float32"))
    assert a.dtype == np.float32


def test_conditional_inputs_cycle_through_the_classes_unless_given():
    noise, labels = sampling.noise_inputs(0, 0, 5, 2, n_classes=3)
    assert noise.shape == (5, 2) and labels.dtype == np.int32
    assert labels.tolist() == [0, 1, 2, 0, 1]
    _, given = sampling.noise_inputs(0, 0, 2, 2, n_classes=3, labels=[2, 2])
    assert given.tolist() == [2, 2]


def test_grid_rows_show_one_class_each():
    assert sampling.grid_inputs(0, 0, 3, 2).shape == (9, 2)
    _, labels = sampling.grid_inputs(0, 0, 3, 2, n_classes=2)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]


def test_interpolation_rows_are_slerps_between_two_draws():
    noise = sampling.interpolation_inputs(0, 3, latent_dim=4, rows=2, steps=5)
    assert noise.shape == (10, 4)
    rng = np.random.default_rng([0, 3])
    z0, z1 = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(noise[:5], plots.slerp(z0, z1, 5), rtol=1e-6)
    _, labels = sampling.interpolation_inputs(0, 3, 4, 2, 5, n_classes=3)
    assert labels.tolist() == [0] * 5 + [1] * 5


def _two_outputs():
    x = keras.Input((3,))
    h = keras.layers.Dense(2, name="h")(x)
    return keras.Model(x, [h, keras.layers.Dense(1)(h)])


def test_predict_in_batches_matches_one_call_for_list_outputs():
    keras.utils.set_random_seed(0)
    model = _two_outputs()
    x = np.random.default_rng(0).standard_normal((7, 3)).astype("float32")
    h, y = sampling.predict_in_batches(model, x, batch_size=3)
    want_h, want_y = model(x)
    np.testing.assert_allclose(h, np.asarray(want_h), rtol=1e-6)
    np.testing.assert_allclose(y, np.asarray(want_y), rtol=1e-6)


def test_generate_maps_tanh_outputs_to_unit_range():
    noise = keras.Input((2,))
    generator = keras.Model(noise, keras.layers.Activation("tanh")(noise * 10.0))
    images = sampling.generate(generator, np.array([[-1.0, 1.0], [0.0, 0.0]]))
    np.testing.assert_allclose(images, [[0.0, 1.0], [0.5, 0.5]], atol=1e-6)
