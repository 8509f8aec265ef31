"""Tests of `xent.models.cnn`."""

import keras
import numpy as np
import pytest

from xent.models import build_small_cnn

# Tiny layers keep the tests fast; the defaults are tested for shapes only.
_TINY = {"filters": (4, 8), "dense": 8}


def _images(n=16, shape=(28, 28, 1), seed=0):
    # Large inputs, so random-weight logits leave [0, 1] on both sides.
    return np.random.default_rng(seed).normal(scale=10.0, size=(n, *shape))


def test_default_output_shape():
    model = build_small_cnn()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize(
    ("input_shape", "n_classes"), [((28, 28, 1), 10), ((32, 24, 3), 4)]
)
def test_output_shape(input_shape, n_classes):
    model = build_small_cnn(input_shape, n_classes=n_classes, **_TINY)
    out = model.predict(_images(n=3, shape=input_shape), verbose=0)
    assert out.shape == (3, n_classes)


def test_outputs_logits_without_final_activation():
    keras.utils.set_random_seed(0)
    model = build_small_cnn(**_TINY)
    assert model.layers[-1].activation is keras.activations.linear
    out = model.predict(_images(), verbose=0)
    assert out.min() < 0.0
    assert out.max() > 1.0
    # Rows are not probability distributions.
    assert not np.allclose(out.sum(axis=-1), 1.0)


def test_conv_blocks_and_dropout():
    model = build_small_cnn(filters=(4, 8, 16), dense=8, dropout=0.5)
    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)]
    assert [la.filters for la in convs] == [4, 8, 16]
    assert any(isinstance(la, keras.layers.Dropout) for la in model.layers)
    x = _images(n=4)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_from_config_round_trip():
    model = build_small_cnn(n_classes=5, dropout=0.2, name="c", **_TINY)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.name == "c"
    x = _images()
    np.testing.assert_allclose(
        clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


def test_saving_round_trip(tmp_path):
    model = build_small_cnn(n_classes=5, **_TINY)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _images()
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"input_shape": (28, 0, 1)}, "input_shape"),
        ({"input_shape": (3, 3, 1)}, "input_shape"),  # Too small for 2 pools.
        ({"n_classes": 0}, "n_classes"),
        ({"filters": (4, -1)}, "filters"),
        ({"dense": 0}, "dense"),
        ({"dropout": 1.5}, "dropout"),
        ({"translate": -0.1}, "translate"),
        ({"rotate": 1.0}, "rotate"),
        ({"zoom": 2.0}, "zoom"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=f"argument `{arg}`"):
        build_small_cnn(**{**_TINY, **kwargs})


_AUGMENT = {"translate": 0.125, "rotate": 0.05, "zoom": 0.1}


def test_augmentation_is_active_in_training_only():
    keras.utils.set_random_seed(0)
    model = build_small_cnn((8, 8, 1), **_TINY, **_AUGMENT)
    names = [la.name for la in model.layers]
    assert names[1:4] == ["translate", "rotate", "zoom"]
    plain = build_small_cnn((8, 8, 1), **_TINY)
    plain.set_weights(model.get_weights())
    x = _images(shape=(8, 8, 1))
    # Inference passes the images through unchanged: same as no augmentation.
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    np.testing.assert_allclose(
        model(x, training=False), plain(x, training=False), rtol=1e-6
    )
    np.testing.assert_allclose(
        model.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-6
    )
    # Training transforms them (no dropout or batch norm here to differ).
    assert not np.allclose(model(x, training=True), plain(x, training=True))


def test_no_augmentation_layers_by_default():
    model = build_small_cnn(**_TINY)
    assert not any(
        isinstance(la, keras.layers.RandomTranslation | keras.layers.RandomRotation)
        for la in model.layers
    )


def test_batch_norm_follows_each_convolution():
    model = build_small_cnn(filters=(4, 8), dense=8, batch_norm=True)
    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)]
    norms = [
        la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)
    ]
    assert len(norms) == len(convs) == 2
    assert not any(conv.use_bias for conv in convs)
    x = _images(n=4)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_augmented_batch_norm_model_saving_round_trip(tmp_path):
    model = build_small_cnn((8, 8, 1), batch_norm=True, **_TINY, **_AUGMENT)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _images(shape=(8, 8, 1))
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
