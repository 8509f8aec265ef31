"""Tests of `xent.models.mlp`."""

import keras
import numpy as np
import pytest

from xent.models import build_mlp


def _features(n=64, d=12, seed=0):
    # Large inputs, so random-weight logits leave [0, 1] on both sides.
    return np.random.default_rng(seed).normal(scale=10.0, size=(n, d))


@pytest.mark.parametrize(("hidden", "n_outputs"), [((16, 8), 1), ((4,), 3), ((), 2)])
def test_output_shape(hidden, n_outputs):
    model = build_mlp(12, hidden=hidden, n_outputs=n_outputs)
    out = model.predict(_features(n=5), verbose=0)
    assert out.shape == (5, n_outputs)
    assert model.output_shape == (None, n_outputs)


def test_outputs_logits_without_final_activation():
    keras.utils.set_random_seed(0)
    model = build_mlp(12, hidden=(16, 8))
    assert model.layers[-1].activation is keras.activations.linear
    out = model.predict(_features(), verbose=0)
    assert out.min() < 0.0
    assert out.max() > 1.0


def test_hidden_layers_and_dropout():
    model = build_mlp(12, hidden=(16, 8), dropout=0.5)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [16, 8, 1]
    assert all(layer.activation is keras.activations.relu for layer in dense[:-1])
    n_dropout = sum(isinstance(la, keras.layers.Dropout) for la in model.layers)
    assert n_dropout == 2
    # Dropout is inactive at inference: two predictions agree.
    x = _features()
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_no_dropout_layer_when_rate_is_zero():
    model = build_mlp(12, hidden=(16, 8))
    assert not any(isinstance(la, keras.layers.Dropout) for la in model.layers)


def test_from_config_round_trip():
    model = build_mlp(12, hidden=(16, 8), n_outputs=2, dropout=0.1, name="m")
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.name == "m"
    x = _features()
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_saving_round_trip(tmp_path):
    model = build_mlp(12, hidden=(16, 8), n_outputs=2)
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _features()
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"input_dim": 0}, "input_dim"),
        ({"n_outputs": 0}, "n_outputs"),
        ({"hidden": (8, 0)}, "hidden"),
        ({"hidden": (8.5,)}, "hidden"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, arg):
    kwargs = {"input_dim": 12, **kwargs}
    with pytest.raises(ValueError, match=f"argument `{arg}`"):
        build_mlp(**kwargs)
