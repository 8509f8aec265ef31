"""Platt scaling against scikit-learn's unregularized logistic regression."""

import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from xent.calibration import PlattScaling
from xent.calibration import fit_platt


def _miscalibrated(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.normal(-1.0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true))).astype(int)
    # An overconfident, shifted model: logits 2.5x too large, offset +1.
    return 2.5 * true + 1.0, y


def test_fit_matches_sklearn_logistic_regression():
    z, y = _miscalibrated()
    scale, shift = fit_platt(z, y)
    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(z[:, None], y)
    np.testing.assert_allclose(scale, lr.coef_[0, 0], rtol=1e-5)
    np.testing.assert_allclose(shift, lr.intercept_[0], rtol=1e-5, atol=1e-6)
    # It undoes the distortion: about 1 / 2.5 and -1 / 2.5.
    assert scale == pytest.approx(0.4, abs=0.05)
    assert shift == pytest.approx(-0.4, abs=0.1)


def test_fit_improves_log_loss_and_calibration():
    z, y = _miscalibrated(seed=1)
    scale, shift = fit_platt(z, y)

    def log_loss(logits):
        return np.mean(np.logaddexp(0, logits) - y * logits)

    def ratio(logits):
        return np.mean(1 / (1 + np.exp(-logits))) / y.mean()

    assert log_loss(scale * z + shift) < log_loss(z)
    assert abs(ratio(scale * z + shift) - 1) < 0.02 < abs(ratio(z) - 1)


def test_calibrated_logits_are_left_alone():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, 20000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(int)
    scale, shift = fit_platt(z, y)
    assert scale == pytest.approx(1.0, abs=0.05)
    assert shift == pytest.approx(0.0, abs=0.05)


def test_separable_data_stays_finite():
    z = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    y = np.array([0, 0, 0, 1, 1, 1])
    scale, shift = fit_platt(z, y)
    assert np.isfinite(scale) and np.isfinite(shift) and scale > 1


@pytest.mark.parametrize(
    ("z", "y", "match"),
    [
        ([0.0, 1.0], [0], "length"),
        ([0.0, np.nan], [0, 1], "finite"),
        ([0.0, 1.0], [0, 2], "0 or 1"),
        ([0.0, 1.0], [1, 1], "both classes"),
    ],
)
def test_bad_input_is_refused(z, y, match):
    with pytest.raises(ValueError, match=match):
        fit_platt(z, y)


def test_layer_applies_the_map_and_round_trips(tmp_path):
    layer = PlattScaling(0.5, -0.25)
    z = np.array([[2.0], [-1.0]], "float32")
    np.testing.assert_allclose(layer(z), [[0.75], [-0.75]])
    clone = PlattScaling.from_config(layer.get_config())
    assert (clone.scale, clone.shift) == (0.5, -0.25)
    inputs = keras.Input((1,))
    model = keras.Model(inputs, PlattScaling(0.5, -0.25)(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(z, verbose=0), [[0.75], [-0.75]])
