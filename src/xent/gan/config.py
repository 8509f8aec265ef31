"""The GAN pipeline's configuration: the shared sections of `xent.sections`,
extended where the GAN needs more, plus its own model and eval sections.

Field defaults are the defaults; `pipelines/gan.yaml` holds only the values
in which the GAN differs from them.
"""

from __future__ import annotations

import dataclasses

from xent import sections

__all__ = [
    "EvalConfig",
    "GANConfig",
    "GANDataConfig",
    "GANLossConfig",
    "GANTrainConfig",
    "ModelConfig",
]


@dataclasses.dataclass(frozen=True)
class GANDataConfig(sections.SplitConfig):
    """The real images (`xent.sections.SplitConfig` plus their source).

    The validation images give the Frechet curve over epochs; the test
    fraction applies to `digits` only (tfds data sets have their own test
    split).

    Attributes:
        source: `digits` (scikit-learn's 8x8 digits) or `tfds:<name>` (a
            tensorflow-datasets image data set, e.g. `tfds:mnist`).
        max_rows: Optional cap on the rows read per tfds split.
    """

    source: str = "digits"
    max_rows: int | None = None


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
class GANLossConfig(sections.LossConfig):
    """The shared `xent.losses.BinaryCrossentropy(from_logits=True)`.

    Of the shared loss options only `label_smoothing` applies, one-sided: to
    the discriminator's real term only. The loss smooths targets towards
    0.5, `y (1 - s) + s / 2`, so the real target becomes `1 - s / 2`
    (0.1 -> 0.95); fake targets stay 0 and the generator's targets stay 1.

    Raises:
        ValueError: For another loss name, or a set `pos_weight`, `gamma`,
            `alpha` or `apply_class_balancing`, naming the key.
    """

    def __post_init__(self):
        if self.name != "BinaryCrossentropy":
            raise ValueError(
                "Invalid value for loss.name. The GAN trains with "
                f"BinaryCrossentropy. Received: {self.name!r}"
            )
        for key in ("pos_weight", "gamma", "alpha", "apply_class_balancing"):
            if getattr(self, key) is not None:
                raise ValueError(
                    f"loss.{key} must be null for the GAN (only "
                    "loss.label_smoothing applies)"
                )


@dataclasses.dataclass(frozen=True)
class GANTrainConfig(sections.TrainConfig):
    """Optimization: Adam for both networks (`xent.sections.TrainConfig`
    plus the two learning rates and Adam's `beta_1`).

    `batch_size` counts the real images per step (and as many generated
    ones). The GAN has no validation loss and trains in one process:
    `early_stopping_patience` and `monitor` must stay null, `ema_momentum`
    too, and `strategy` must stay `default`.

    Attributes:
        d_learning_rate: Discriminator learning rate.
        g_learning_rate: Generator learning rate.
        beta_1: Adam's first-moment decay (0.5 in the DCGAN paper).

    Raises:
        ValueError: For a setting the GAN does not support, naming the key.
    """

    d_learning_rate: float = 3e-4
    g_learning_rate: float = 3e-4
    beta_1: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if self.early_stopping_patience is not None:
            raise ValueError(
                "train.early_stopping_patience must be null for the GAN (it "
                "has no validation loss to monitor)"
            )
        if self.monitor is not None:
            raise ValueError(
                "train.monitor must be null for the GAN (it has no validation "
                "loss to monitor; every epoch is checkpointed)"
            )
        if self.ema_momentum is not None:
            raise ValueError(
                "train.ema_momentum must be null for the GAN (its generator "
                "and discriminator are trained against each other)"
            )
        if self.strategy != "default":
            raise ValueError(
                "Invalid value for train.strategy: the gan trains in one "
                f"process (`default`). Received: {self.strategy!r}"
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
    data: GANDataConfig = GANDataConfig()
    model: ModelConfig = ModelConfig()
    loss: GANLossConfig = GANLossConfig()
    train: GANTrainConfig = GANTrainConfig()
    eval: EvalConfig = EvalConfig()
