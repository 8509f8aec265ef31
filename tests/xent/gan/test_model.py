"""Tests of `xent.gan.model.GAN`: its losses, train step and serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent import losses
from xent.gan.model import GAN
from xent.models.gan import build_discriminator
from xent.models.gan import build_generator

LATENT = 4


def _tiny_gan(seed=0, n_classes=None, smoothing=0.0, d_lr=1e-3, g_lr=1e-3):
    keras.utils.set_random_seed(seed)
    gan = GAN(
        build_generator(latent_dim=LATENT, filters=(4,), n_classes=n_classes),
        build_discriminator(filters=(4,), n_classes=n_classes, dropout=0.0),
        latent_dim=LATENT,
        n_classes=n_classes,
        seed=seed,
    )
    gan.compile(
        keras.optimizers.SGD(d_lr),
        keras.optimizers.SGD(g_lr),
        loss=losses.BinaryCrossentropy(from_logits=True),
        real_loss=losses.BinaryCrossentropy(
            from_logits=True, label_smoothing=smoothing
        ),
    )
    return gan


def _real(n=32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 1)).astype("float32")


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -np.asarray(z, "float64"))


def _bce(target, logits):
    """Float64 binary cross-entropy from logits, averaged."""
    return float(
        -np.mean(target * _log_sigmoid(logits) + (1 - target) * _log_sigmoid(-logits))
    )


def _constant_generator(bias):
    """A generator whose output ignores the noise: the fake batch is known."""
    noise = keras.Input((LATENT,), name="noise")
    x = keras.layers.Dense(
        64,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(bias.reshape(-1)),
    )(noise)
    return keras.Model(noise, keras.layers.Reshape((8, 8, 1))(x))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_train_step_losses_match_numpy_with_one_sided_label_smoothing(smoothing):
    keras.utils.set_random_seed(1)
    fake = np.random.default_rng(1).uniform(-1, 1, (8, 8, 1)).astype("float32")
    disc = build_discriminator(filters=(4,), dropout=0.0)
    gan = GAN(_constant_generator(fake), disc, latent_dim=LATENT, seed=0)
    gan.compile(
        keras.optimizers.SGD(0.5),
        keras.optimizers.SGD(0.5),
        loss=losses.BinaryCrossentropy(from_logits=True),
        real_loss=losses.BinaryCrossentropy(
            from_logits=True, label_smoothing=smoothing
        ),
    )
    real = _real(16)
    real_logits = np.asarray(disc(real)).reshape(-1)
    fake_logit = float(np.asarray(disc(fake[None]))[0, 0])

    logs = gan.train_step(tf.constant(real))

    # One-sided: the real target is 1 - s/2, the fake target stays 0.
    target = 1.0 - smoothing / 2
    expected_d = _bce(target, real_logits) + _bce(0.0, np.array([fake_logit]))
    assert float(logs["d_loss"]) == pytest.approx(expected_d, rel=1e-5)
    if smoothing:
        two_sided = _bce(target, real_logits) + _bce(
            smoothing / 2, np.array([fake_logit])
        )
        assert float(logs["d_loss"]) != pytest.approx(two_sided, rel=1e-3)
    # Non-saturating generator loss, -log D(G(z)), against the updated D.
    updated_logit = float(np.asarray(disc(fake[None]))[0, 0])
    assert updated_logit != fake_logit
    assert float(logs["g_loss"]) == pytest.approx(
        _bce(1.0, np.array([updated_logit])), rel=1e-5
    )
    sigmoid = 1 / (1 + np.exp(-real_logits))
    assert float(logs["d_real"]) == pytest.approx(sigmoid.mean(), rel=1e-5)
    assert float(logs["d_fake"]) == pytest.approx(
        1 / (1 + np.exp(-fake_logit)), rel=1e-5
    )


class _SpyLoss(losses.BinaryCrossentropy):
    """Records the targets it is called with (eager calls only)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.targets = []

    def call(self, y_true, y_pred):
        self.targets.append(float(np.unique(np.asarray(y_true))[0]))
        assert y_pred.shape == y_true.shape
        return super().call(y_true, y_pred)


def test_train_step_calls_the_shared_loss_targets_first():
    gan = _tiny_gan()
    loss = _SpyLoss(from_logits=True)
    real_loss = _SpyLoss(from_logits=True, label_smoothing=0.1)
    gan.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01), loss, real_loss)
    gan.train_step(tf.constant(_real(8)))
    assert isinstance(gan.loss_fn, losses.BinaryCrossentropy)
    assert real_loss.targets == [1.0]  # Real term of the discriminator.
    assert loss.targets == [0.0, 1.0]  # Fake term, then the generator.


def _trainable(model):
    return [np.array(w) for w in model.trainable_weights]


def _changed(before, model):
    return [
        not np.array_equal(b, np.array(w))
        for b, w in zip(before, model.trainable_weights, strict=True)
    ]


@pytest.mark.parametrize(("d_lr", "g_lr"), [(0.0, 0.1), (0.1, 0.0)])
def test_each_optimizer_updates_only_its_network(d_lr, g_lr):
    gan = _tiny_gan(d_lr=d_lr, g_lr=g_lr)
    d0, g0 = _trainable(gan.discriminator), _trainable(gan.generator)
    gan.train_step(tf.constant(_real(8)))
    assert any(_changed(d0, gan.discriminator)) == bool(d_lr)
    assert any(_changed(g0, gan.generator)) == bool(g_lr)


def test_fit_reports_the_trackers_and_is_reproducible_per_seed():
    histories = []
    for _ in range(2):
        gan = _tiny_gan(seed=3)
        ds = tf.data.Dataset.from_tensor_slices(_real(64)).batch(16)
        histories.append(gan.fit(ds, epochs=2, verbose=0, shuffle=False).history)
    first, second = histories
    assert set(first) == {"d_loss", "g_loss", "d_real", "d_fake"}
    for key, values in first.items():
        assert len(values) == 2
        assert np.isfinite(values).all()
        np.testing.assert_allclose(values, second[key], rtol=1e-6)
    assert 0 < first["d_real"][-1] < 1 and 0 < first["d_fake"][-1] < 1
    assert first["d_loss"][0] != first["d_loss"][1]


def test_conditional_gan_trains_on_images_and_labels():
    gan = _tiny_gan(n_classes=3)
    labels = np.arange(32) % 3
    ds = tf.data.Dataset.from_tensor_slices((_real(32), labels)).batch(8)
    history = gan.fit(ds, epochs=1, verbose=0, shuffle=False).history
    assert np.isfinite(history["d_loss"]).all()
    noise = np.zeros((3, LATENT), "float32")
    images = np.asarray(gan([noise, np.arange(3, dtype="int32")]))
    assert images.shape == (3, 8, 8, 1)


def test_config_round_trip_and_weights_file_give_the_same_generator(tmp_path):
    gan = _tiny_gan(n_classes=3, smoothing=0.2)
    gan.train_step((tf.constant(_real(8)), tf.constant(np.arange(8) % 3)))
    path = tmp_path / "gan.weights.h5"
    gan.save_weights(path)
    clone = GAN.from_config(gan.get_config())
    assert clone.latent_dim == LATENT and clone.n_classes == 3 and clone.seed == 0
    clone.load_weights(path)
    inputs = [np.random.default_rng(0).normal(size=(4, LATENT)), np.arange(4) % 3]
    np.testing.assert_array_equal(np.asarray(gan(inputs)), np.asarray(clone(inputs)))
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(gan)
    )
    assert isinstance(restored, GAN)
    # The compile config round-trips too: the shared loss and its smoothing.
    assert isinstance(restored.loss_fn, losses.BinaryCrossentropy)
    assert restored.real_loss_fn.label_smoothing == gan.real_loss_fn.label_smoothing
    assert float(restored.g_optimizer.learning_rate) == pytest.approx(1e-3)


def test_train_step_without_compile_raises():
    gan = GAN(
        build_generator(latent_dim=LATENT, filters=(4,)),
        build_discriminator(filters=(4,)),
        latent_dim=LATENT,
    )
    with pytest.raises(RuntimeError, match="compile"):
        gan.train_step(tf.constant(_real(4)))
