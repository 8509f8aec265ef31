"""The GAN: a `keras.Model` with its own `train_step`, trackers and seed generator.

The discriminator outputs logits; both players are trained with the loss
given to `compile` (the shared `xent.losses.BinaryCrossentropy(from_logits=
True)` in the pipeline):

* discriminator: `real_loss(1, D(x)) + loss(0, D(G(z)))`, the negative
  log-likelihood of telling real from generated images (`2 log 2` at the
  game's equilibrium, D = 1/2 everywhere);
* generator, non-saturating: `loss(1, D(G(z)))`, i.e. `-log D(G(z))`, whose
  gradient does not vanish when the discriminator wins early on.

One-sided label smoothing comes from `real_loss`, a second instance of the
same loss with `label_smoothing`: it smooths only the real term. (The loss
smooths towards 0.5 on both sides, `y (1 - s) + s / 2`, so applying it to the
fake term too would turn the fake target 0 into `s / 2`: two-sided.)
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

__all__ = ["GAN"]


@keras.saving.register_keras_serializable(package="xent")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other.

    Args:
        generator: Maps `noise` `[batch, latent_dim]` (and, conditional,
            `label` `[batch]` int32) to images in [-1, 1].
        discriminator: Maps images (and `label`) to logits `[batch, 1]`.
        latent_dim: Size of the noise vector.
        n_classes: Number of classes of a class-conditional GAN, or None.
            Generated images get uniformly drawn class ids in training.
        seed: Seed of the noise (a `keras.random.SeedGenerator`).

    Training data: batches of real images in [-1, 1] (or `(images, labels)`
    for a conditional GAN). Call: `gan(noise)` or `gan([noise, label])`
    returns generated images.

    >>> from xent.models.gan import build_discriminator, build_generator
    >>> gan = GAN(build_generator(latent_dim=4, filters=(8,)),
    ...           build_discriminator(filters=(8,)), latent_dim=4, seed=0)
    >>> tuple(gan(ops.zeros((2, 4))).shape)
    (2, 8, 8, 1)
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int,
        n_classes: int | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.n_classes = None if n_classes is None else int(n_classes)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.loss_fn = None
        self.real_loss_fn = None
        self.d_optimizer = None
        self.g_optimizer = None
        # Both networks are built functional models: nothing left to build.
        self.built = True

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        loss: keras.losses.Loss,
        real_loss: keras.losses.Loss | None = None,
        **kwargs,
    ) -> None:
        """Sets the two optimizers and the loss.

        Args:
            d_optimizer: Updates the discriminator.
            g_optimizer: Updates the generator.
            loss: A binary cross-entropy on logits, called `(y_true, logits)`.
            real_loss: The loss of the discriminator's real term (e.g. the
                same loss with `label_smoothing`); defaults to `loss`.
            **kwargs: Passed to `keras.Model.compile` (e.g. `run_eagerly`).
        """
        super().compile(**kwargs)
        # The two optimizers live here; a `model.optimizer` would be an unused
        # third one (and the TensorBoard callback would log its learning rate).
        self.optimizer = None
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss
        self.real_loss_fn = loss if real_loss is None else real_loss
        # Built now (both networks are built), as `apply_gradients` would on
        # the first step: a resumed run restores their state before it
        # (`xent.backup.TrainingBackup`).
        for optimizer, network in (
            (d_optimizer, self.discriminator),
            (g_optimizer, self.generator),
        ):
            if not optimizer.built:
                optimizer.build(network.trainable_weights)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listed here so that Keras resets them at the start of every epoch.
        return [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.d_real_tracker,
            self.d_fake_tracker,
        ]

    def call(self, inputs, training: bool = False):
        return self.generator(inputs, training=training)

    # ---- the two losses, also used by the tests -------------------------
    def discriminator_loss(self, real_logits, fake_logits):
        """`real_loss(1, D(x)) + loss(0, D(G(z)))`."""
        ones = ops.ones_like(real_logits)
        zeros = ops.zeros_like(fake_logits)
        return self.real_loss_fn(ones, real_logits) + self.loss_fn(zeros, fake_logits)

    def generator_loss(self, fake_logits):
        """The non-saturating loss: generated images labelled real."""
        return self.loss_fn(ops.ones_like(fake_logits), fake_logits)

    # ---- sampling ---------------------------------------------------------
    def sample_inputs(self, batch_size):
        """Generator inputs drawn from the seed generator: noise (and labels)."""
        noise = keras.random.normal(
            (batch_size, self.latent_dim), seed=self.seed_generator
        )
        if self.n_classes is None:
            return noise
        labels = keras.random.randint(
            (batch_size,), 0, self.n_classes, seed=self.seed_generator, dtype="int32"
        )
        return [noise, labels]

    def _discriminate(self, images, generator_inputs_or_labels, training):
        if self.n_classes is None:
            return self.discriminator(images, training=training)
        return self.discriminator(
            [images, generator_inputs_or_labels], training=training
        )

    def train_step(self, data):
        if self.loss_fn is None:
            raise RuntimeError("Call `compile(d_optimizer, g_optimizer, loss)` first")
        if self.n_classes is None:
            real, real_labels = data, None
        else:
            real, real_labels = data
            real_labels = ops.cast(real_labels, "int32")
        batch_size = ops.shape(real)[0]

        # Discriminator step, on a batch generated by the current generator.
        z = self.sample_inputs(batch_size)
        fake_labels = None if self.n_classes is None else z[1]
        fake = self.generator(z, training=True)
        with tf.GradientTape() as tape:
            real_logits = self._discriminate(real, real_labels, training=True)
            fake_logits = self._discriminate(fake, fake_labels, training=True)
            d_loss = self.discriminator_loss(real_logits, fake_logits)
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(
            zip(tape.gradient(d_loss, d_weights), d_weights, strict=True)
        )

        # Generator step, on fresh noise, against the updated discriminator.
        z = self.sample_inputs(batch_size)
        fake_labels = None if self.n_classes is None else z[1]
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            g_logits = self._discriminate(fake, fake_labels, training=True)
            g_loss = self.generator_loss(g_logits)
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(
            zip(tape.gradient(g_loss, g_weights), g_weights, strict=True)
        )

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(fake_logits)))
        return {m.name: m.result() for m in self.metrics}

    # ---- serialization ----------------------------------------------------
    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "n_classes": self.n_classes,
            "seed": self.seed,
        }

    def get_compile_config(self) -> dict | None:
        if self.loss_fn is None:
            return None
        ser = keras.saving.serialize_keras_object
        return {
            "d_optimizer": ser(self.d_optimizer),
            "g_optimizer": ser(self.g_optimizer),
            "loss": ser(self.loss_fn),
            "real_loss": ser(self.real_loss_fn),
        }

    def compile_from_config(self, config: dict) -> None:
        self.compile(
            **{k: keras.saving.deserialize_keras_object(v) for k, v in config.items()}
        )

    @classmethod
    def from_config(cls, config: dict) -> GAN:
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
