"""The GAN pipeline's configuration: typed, frozen dataclasses (see `xent.config`)."""

from __future__ import annotations

import dataclasses

__all__ = [
    "DataConfig",
    "EvalConfig",
    "GANConfig",
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The real images.

    Attributes:
        source: `digits` (scikit-learn's 8x8 digits) or `tfds:<name>` (a
            tensorflow-datasets image data set, e.g. `tfds:mnist`).
        max_rows: Optional cap on the rows read per tfds split.
        validation_fraction: Fraction held out for validation (the Frechet
            curve over epochs).
        test_fraction: Fraction held out for test (digits only; tfds data
            sets have their own test split).
    """

    source: str = "digits"
    max_rows: int | None = None
    validation_fraction: float = 0.15
    test_fraction: float = 0.2


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator (see `xent.models.gan`).

    Attributes:
        latent_dim: Size of the noise vector.
        conditional: Class-conditional GAN (both networks also take the class
            id).
        generator_filters: Filters of the generator's upsampling blocks; the
            image side must be divisible by `2 ** len(generator_filters)`.
        discriminator_filters: Filters of the discriminator's strided
            convolutions.
        discriminator_dropout: Dropout after each discriminator block.
        embedding_dim: Size of the generator's class embedding (conditional).
    """

    latent_dim: int = 32
    conditional: bool = False
    generator_filters: tuple[int, ...] = (64, 32)
    discriminator_filters: tuple[int, ...] = (64, 128)
    discriminator_dropout: float = 0.0
    embedding_dim: int = 16


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The shared `xent.losses.BinaryCrossentropy(from_logits=True)`.

    Attributes:
        label_smoothing: One-sided label smoothing: applied to the
            discriminator's real term only. The loss smooths targets towards
            0.5, `y (1 - s) + s / 2`, so the real target becomes `1 - s / 2`
            (0.1 -> 0.95); fake targets stay 0 and the generator's targets
            stay 1.
    """

    label_smoothing: float = 0.1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimization (Adam for both networks).

    Attributes:
        epochs: Passes over the training images.
        batch_size: Real images per step (and as many generated ones).
        d_learning_rate: Discriminator learning rate.
        g_learning_rate: Generator learning rate.
        beta_1: Adam's first-moment decay (0.5 in the DCGAN paper).
        early_stopping_patience: Unused (a GAN has no validation loss to
            monitor); must stay null.
        seed: The run's only seed (weights, noise, shuffling, splits).
        deterministic: Turn on TensorFlow's op determinism for the process
            (see the classification pipelines' `train.deterministic`).
    """

    epochs: int = 150
    batch_size: int = 32
    d_learning_rate: float = 3e-4
    g_learning_rate: float = 3e-4
    beta_1: float = 0.5
    early_stopping_patience: int | None = None
    seed: int = 0
    deterministic: bool = False

    def __post_init__(self):
        if self.early_stopping_patience is not None:
            raise ValueError(
                "train.early_stopping_patience must be null for the GAN (it "
                "has no validation loss to monitor)"
            )


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """The evaluation report.

    Attributes:
        samples: Generated images for class coverage and the Frechet
            distance.
        frechet_repeats: Random halvings of the test images averaged in the
            Frechet distance and its floor.
        frechet_every_epoch: Also log the Frechet distance to the validation
            images every epoch (TensorBoard and the report's curve).
        nn_queries: Images (generated, and test) whose nearest training image
            is searched for the memorization check.
        classifier_cache: Folder of the cached evaluation classifiers; null
            means `$XENT_CACHE` or `~/.cache/xent`.
        classifier_overrides: `key=value` overrides of the multiclass
            pipeline's config for the evaluation classifier (part of the
            cache key), e.g. `[train.epochs=5]`.
    """

    samples: int = 10_000
    frechet_repeats: int = 10
    frechet_every_epoch: bool = True
    nn_queries: int = 2_000
    classifier_cache: str | None = None
    classifier_overrides: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """A GAN run.

    Attributes:
        task: `gan`.
        data: Real images.
        model: Networks.
        loss: Loss.
        train: Optimization.
        eval: Evaluation.
    """

    task: str = "gan"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
