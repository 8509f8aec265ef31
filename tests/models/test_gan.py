"""Tests of `xent.models.gan`."""

import keras
import numpy as np
import pytest

from xent.models.gan import build_discriminator
from xent.models.gan import build_generator


@pytest.mark.parametrize(
    ("image_shape", "filters"), [((8, 8, 1), (16, 8)), ((28, 28, 1), (16, 8))]
)
def test_generator_maps_noise_to_images_in_tanh_range(image_shape, filters):
    gen = build_generator(image_shape, latent_dim=6, filters=filters)
    noise = np.random.default_rng(0).normal(scale=30.0, size=(5, 6))
    out = np.asarray(gen(noise, training=False))
    assert out.shape == (5, *image_shape)
    assert np.abs(out).max() <= 1.0
    assert gen.layers[-1].activation is keras.activations.tanh


@pytest.mark.parametrize("image_shape", [(8, 8, 1), (28, 28, 1)])
def test_discriminator_outputs_one_logit_per_image(image_shape):
    keras.utils.set_random_seed(0)
    disc = build_discriminator(image_shape, filters=(4, 8), dropout=0.0)
    assert disc.layers[-1].activation is keras.activations.linear
    x = np.random.default_rng(0).normal(scale=50.0, size=(16, *image_shape))
    logits = np.asarray(disc(x, training=False))
    assert logits.shape == (16, 1)
    assert logits.min() < 0.0 < 1.0 < logits.max()  # Not probabilities.


def test_conditional_models_take_a_label_that_changes_the_output():
    keras.utils.set_random_seed(0)
    gen = build_generator((8, 8, 1), latent_dim=4, filters=(8,), n_classes=10)
    disc = build_discriminator((8, 8, 1), filters=(8,), n_classes=10, dropout=0.0)
    assert [t.name for t in gen.inputs] == ["noise", "label"]
    assert [t.name for t in disc.inputs] == ["images", "label"]
    noise = np.repeat(np.random.default_rng(0).normal(size=(1, 4)), 2, axis=0)
    labels = np.array([0, 7], "int32")
    images = np.asarray(gen([noise, labels], training=False))
    assert images.shape == (2, 8, 8, 1)
    assert not np.allclose(images[0], images[1])
    same = np.repeat(images[:1], 2, axis=0)
    logits = np.asarray(disc([same, labels], training=False))
    assert logits.shape == (2, 1)
    assert logits[0, 0] != logits[1, 0]


def test_weight_names_do_not_clash_between_the_two_networks():
    gen = build_generator(latent_dim=4, filters=(8,), n_classes=3)
    disc = build_discriminator(filters=(8,), n_classes=3)
    names = [w.path for w in gen.weights] + [w.path for w in disc.weights]
    layer_names = [p.split("/")[0] for p in names]
    gen_layers = {p.split("/")[0] for p in (w.path for w in gen.weights)}
    disc_layers = {p.split("/")[0] for p in (w.path for w in disc.weights)}
    assert not gen_layers & disc_layers, layer_names


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"image_shape": (6, 6, 1), "filters": (8, 8)}, "image_shape"),
        ({"image_shape": (8, 8)}, "image_shape"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"filters": ()}, "filters"),
        ({"n_classes": 0}, "n_classes"),
    ],
)
def test_generator_rejects_invalid_arguments_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        build_generator(**kwargs)


def test_discriminator_rejects_invalid_dropout():
    with pytest.raises(ValueError, match="dropout"):
        build_discriminator(dropout=1.0)
