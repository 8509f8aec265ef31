"""Tests of the GAN's training callbacks (`xent.gan.callbacks`) and of the
runner's non-finite check on the GAN's losses."""

import numpy as np
import pytest

from xent import runner
from xent.gan.callbacks import FrechetMonitor


def test_non_finite_d_or_g_loss_stops_naming_the_loss_epoch_and_step():
    cb = runner.StopOnNonFinite(keys=("d_loss", "g_loss"))
    cb.on_epoch_begin(2)
    cb.on_train_batch_end(0, {"d_loss": 0.7, "g_loss": 0.7})
    with pytest.raises(runner.TrainingDivergedError, match="g_loss is nan"):
        cb.on_train_batch_end(0, {"d_loss": 0.7, "g_loss": float("nan")})
    with pytest.raises(runner.TrainingDivergedError, match="epoch 3, step 5"):
        cb.on_train_batch_end(4, {"d_loss": float("inf"), "g_loss": 0.7})
    with pytest.raises(runner.TrainingDivergedError, match="d_loss is inf"):
        cb.on_train_batch_end(4, {"d_loss": float("inf")})
    cb.on_train_batch_end(1, {})  # Nothing to check: no error.


def test_frechet_monitor_adds_the_distance_and_a_fixed_floor():
    rng = np.random.default_rng(0)
    val = rng.uniform(size=(40, 8, 8, 1)).astype("float32")

    def embed(images):
        flat = np.asarray(images, "float64").reshape(len(images), -1)[:, :3]
        return flat, np.full((len(images), 2), 0.5)

    class _GAN:
        @staticmethod
        def generator(noise, training=False):
            return np.tanh(np.resize(np.asarray(noise), (len(noise), 8, 8, 1)))

    monitor = FrechetMonitor(embed, val, rng.standard_normal((40, 2)), repeats=2)
    monitor.set_model(_GAN())
    first, second = {}, {}
    monitor.on_epoch_end(0, first)
    monitor.on_epoch_end(1, second)
    assert first["val_frechet_floor"] == second["val_frechet_floor"] > 0
    assert first["val_frechet_distance"] > 0
