"""Config round trips, `.keras` save/load, and training equal to the built-in."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from xent import losses

NAMES = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
]
NON_DEFAULT = {
    "BinaryCrossentropy": {"label_smoothing": 0.1, "pos_weight": 3.0},
    "BinaryFocalCrossentropy": {"apply_class_balancing": True, "gamma": 1.5},
    "CategoricalCrossentropy": {"class_weight": [1.0, 2.0, 0.5]},
    "CategoricalFocalCrossentropy": {"alpha": [0.2, 0.3, 0.5], "gamma": 3.0},
    "SparseCategoricalCrossentropy": {"label_smoothing": 0.2, "ignore_class": 2},
}


def _inputs(name, rng):
    logits = rng.normal(0, 2, (6, 3)).astype("float32")
    labels = rng.integers(0, 3, 6)
    if name.startswith("Binary"):
        return rng.integers(0, 2, (6, 3)).astype("float32"), logits
    if name.startswith("Sparse"):
        return labels, logits
    return np.eye(3, dtype="float32")[labels], logits


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_gives_same_loss(name):
    loss = getattr(losses, name)(
        from_logits=True, reduction="sum", name="custom", **NON_DEFAULT[name]
    )
    config = keras.saving.serialize_keras_object(loss)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    y_true, y_pred = _inputs(name, np.random.default_rng(0))
    np.testing.assert_allclose(restored(y_true, y_pred), loss(y_true, y_pred))
    again = type(loss).from_config(loss.get_config())
    np.testing.assert_allclose(again(y_true, y_pred), loss(y_true, y_pred))


@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_config_keys_match_keras(name):
    ours = getattr(losses, name)().get_config()
    theirs = getattr(keras.losses, name)().get_config()
    for key, value in theirs.items():
        assert ours[key] == value, key


def test_get_builds_by_name_and_rejects_unknown_names():
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    with pytest.raises(ValueError, match="argument `name`.*'Hinge'"):
        losses.get("Hinge")


def _breast_cancer():
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype("float32")
    return x, y.astype("float32")


def _train(loss, x, y, epochs=3):
    keras.utils.set_random_seed(42)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(16, "relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    history = model.fit(x, y, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    return model, history.history["loss"]


def test_training_three_epochs_gives_the_builtin_weights():
    """Same seed, same data: weights agree to 1e-5 (float32 rounding of the
    gradient formulas differs by an ulp, and Adam carries that through
    3 x 18 steps)."""
    x, y = _breast_cancer()
    ours, ours_loss = _train(losses.BinaryCrossentropy(from_logits=True), x, y)
    theirs, theirs_loss = _train(
        keras.losses.BinaryCrossentropy(from_logits=True), x, y
    )
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-5)
    for w1, w2 in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(w1, w2, atol=1e-5, rtol=1e-5)
    assert ours_loss[-1] < ours_loss[0]


def test_compiled_model_saved_as_keras_reloads_with_our_loss(tmp_path):
    x, y = _breast_cancer()
    loss = losses.BinaryFocalCrossentropy(from_logits=True, gamma=1.0, pos_weight=2.0)
    model, _ = _train(loss, x, y, epochs=1)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.loss, losses.BinaryFocalCrossentropy)
    assert restored.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(
        restored.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6
    )
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )
