"""Callbacks of a GAN run: a sample grid and the Frechet distance per epoch.

`SampleGridLogger` writes the images generated from one fixed noise batch to
TensorBoard every epoch (tag `SAMPLES_TAG` in the run `SAMPLES_SUBDIR`), so
the same latent points can be watched as training goes. `FrechetMonitor`
adds `val_frechet_distance` and `val_frechet_floor` to the epoch logs; placed
before the Keras `TensorBoard` callback, they are written as
`validation/epoch_frechet_distance` and kept in the history. (Non-finite
losses stop a run through `xent.runner.StopOnNonFinite(keys=("d_loss",
"g_loss"))`.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xent.gan import evaluation
from xent.gan import plots
from xent.gan.sampling import generate

__all__ = [
    "SAMPLES_SUBDIR",
    "SAMPLES_TAG",
    "FrechetMonitor",
    "SampleGridLogger",
]

SAMPLES_SUBDIR = "samples"
SAMPLES_TAG = "generated_images"


class SampleGridLogger(keras.callbacks.Callback):
    """Writes a grid of images generated from a fixed batch of noise each epoch.

    Args:
        log_dir: The run's log directory; writes to `log_dir/samples`.
        generator_inputs: The fixed generator inputs: noise `[n, latent]`, or
            `[noise, labels]` for a conditional GAN.
        rows: Rows of the grid (dividing n).
        scale: Upscaling of each image (nearest neighbour).
    """

    def __init__(
        self, log_dir: str | Path, generator_inputs: Any, rows: int, scale: int = 4
    ) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.generator_inputs = generator_inputs
        self.rows = rows
        self.scale = scale
        self._writer = None

    def on_train_begin(self, logs=None) -> None:
        self._writer = tf.summary.create_file_writer(str(self.log_dir / SAMPLES_SUBDIR))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        images = generate(self.model.generator, self.generator_inputs)
        grid = plots.tile_images(images, self.rows, pad=self.scale, scale=self.scale)
        with self._writer.as_default():
            tf.summary.image(SAMPLES_TAG, grid[np.newaxis], step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class FrechetMonitor(keras.callbacks.Callback):
    """Adds the Frechet distance to the validation images to the epoch logs.

    Uses `evaluation.MatchedFrechet` with fixed halvings (so
    `val_frechet_floor` is the same every epoch) and a fixed noise batch.

    Args:
        embed: `embed(images in [0, 1]) -> (features, probabilities)`.
        validation_images: Real validation images in [0, 1].
        generator_inputs: Fixed generator inputs, at least half as many as
            the validation images.
        repeats: Halvings averaged per epoch.
        seed: Seed of the halvings.
    """

    def __init__(
        self,
        embed: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        validation_images: np.ndarray,
        generator_inputs: Any,
        repeats: int = 3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.embed = embed
        self.frechet = evaluation.MatchedFrechet(
            embed(validation_images)[0], repeats=repeats, seed=seed
        )
        self.generator_inputs = generator_inputs

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is None:
            return
        features, _ = self.embed(generate(self.model.generator, self.generator_inputs))
        result = self.frechet(features)
        logs["val_frechet_distance"] = result["frechet_distance"]
        logs["val_frechet_floor"] = result["frechet_floor"]
