"""The GAN's real images: loaded and split (`xent.data.images`), scaled to
[0, 1], and batched for training in the generator's `tanh` range."""

from __future__ import annotations

from xent.config import ConfigError
from xent.gan.config import GANDataConfig
from xent.stages import ArraySplit
from xent.stages import Prepared
from xent.stages import Splits

__all__ = ["check_source", "load_images", "training_dataset"]

_MIN_HELD_OUT = 4  # The Frechet distance halves the held-out images.


def check_source(source: str) -> None:
    """Raises `ConfigError` naming `data.source` unless it is `digits` or
    `tfds:<name>`."""
    from xent.data import sources

    if not sources.is_image_source(source):
        raise ConfigError(
            "Invalid value for `data.source`: expected `digits` or "
            f"`tfds:<name>`, received {source!r}"
        )


def load_images(cfg: GANDataConfig, seed: int) -> Prepared:
    """The real images of `cfg.source`, split with `seed`, pixels in [0, 1].

    Args:
        cfg: The data section.
        seed: The split seed (the run's seed).

    Returns:
        A `Prepared` of `ArraySplit`s (float32 `[n, h, w, c]` images, class
        ids) with the image shape and the source's pixel maximum in its
        metadata; no task state.

    Raises:
        ConfigError: For an unknown source, or fewer than 4 validation or
            test images.
    """
    from xent.data import sources

    check_source(cfg.source)
    data = sources.load_image_data(cfg, seed)
    splits = Splits(
        *(
            ArraySplit((x / data.pixel_max).astype("float32"), y)
            for x, y in (data.splits[k] for k in ("train", "validation", "test"))
        )
    )
    if min(splits.validation.rows, splits.test.rows) < _MIN_HELD_OUT:
        raise ConfigError(
            "The GAN needs at least 4 validation and 4 test images; raise "
            "`data.max_rows` or the fractions"
        )
    return Prepared(
        name=data.name,
        summary=data.summary(),
        splits=splits,
        class_names=data.class_names,
        metadata={
            "image_shape": list(splits.train.feature_shape()),
            "source_pixel_max": data.pixel_max,
        },
    )


def training_dataset(split: ArraySplit, conditional: bool, batch_size: int, seed: int):
    """Batches of real images in [-1, 1] (with their class ids when
    `conditional`), reshuffled every iteration from `seed`; the last partial
    batch is dropped when there is at least one full batch."""
    import tensorflow as tf

    real = split.x * 2.0 - 1.0  # The generator's tanh range.
    elements = (real, split.y) if conditional else real
    return (
        tf.data.Dataset.from_tensor_slices(elements)
        .shuffle(len(real), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=len(real) >= batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
