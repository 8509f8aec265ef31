"""Tests for xent.gan.plots."""

import io

import matplotlib.image
import numpy as np

from xent.gan import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image(data):
    assert data.startswith(PNG_MAGIC)
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def test_training_curves_png_draws_the_gan_panels():
    history = {
        "d_loss": [1.2, 1.0, 0.9],
        "g_loss": [0.8, 0.9, 1.1],
        "d_real": [0.6, 0.7, 0.7],
        "d_fake": [0.4, 0.3, 0.3],
        "val_frechet_distance": [40.0, 30.0, 25.0],
        "val_frechet_floor": [5.0, 5.0, 5.0],
    }
    full = _image(plots.training_curves_png(history))
    losses_only = _image(plots.training_curves_png({"d_loss": [1.0, 0.5]}))
    # Three panels side by side, one for the losses alone.
    assert full.shape[1] > 2.5 * losses_only.shape[1]
    assert _image(plots.training_curves_png({})).ndim == 3  # placeholder


def test_tile_images_lays_out_rows_and_padding():
    images = np.zeros((6, 2, 2, 1))
    grid = plots.tile_images(images, rows=2, pad=1)
    assert grid.shape == (5, 8, 1)
    assert grid[2].min() == 1.0  # the white padding row


def test_image_grid_and_class_coverage_pngs():
    rng = np.random.default_rng(0)
    _image(plots.image_grid_png(rng.uniform(size=(4, 8, 8, 1)), 2, "t", ["a", "b"]))
    _image(plots.class_coverage_png([0.5, 0.3, 0.2], ["x", "y", "z"], 0.9, 0.05))
