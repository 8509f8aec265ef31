"""Tests of `xent.backup`: a fit interrupted and resumed from its backup ends
exactly where an uninterrupted fit ends."""

import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent import backup

EPOCHS = 8


class _Interrupt(keras.callbacks.Callback):
    """Stands for a killed process: the backup on disk is all that is left."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _data(n=96, seed=0, flip=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = x @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=n) > 0
    y ^= rng.uniform(size=n) < flip
    return x, y.astype("float32").reshape(-1, 1)


def _fit(path, interrupt_at=None, stream=False, patience=3):
    """A fit with dropout (a SeedGenerator), Adam, early stopping and a
    checkpoint, resumed from `path` when a backup is there."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.5)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    checkpoint = backup.AtomicModelCheckpoint(
        path.with_name("best.weights.h5"), monitor="val_loss", save_best_only=True
    )
    state = backup.read_backup(path)
    start = 0 if state is None else state.next_epoch(EPOCHS)
    callbacks = [stopping, checkpoint]
    if interrupt_at is not None:
        callbacks.append(_Interrupt(interrupt_at))
    saver = backup.TrainingBackup(path, callbacks, restore=state)
    x, y = _data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        len(y), seed=7, reshuffle_each_iteration=True
    )
    if stream:  # Unknown length, like a stream read from files.
        dataset = dataset.filter(lambda *_: True)
    dataset, steps = backup.resumable_epochs(dataset.batch(10), start)
    # Noisy validation labels: the validation loss soon stops improving.
    xv, yv = _data(40, seed=1, flip=0.4)
    try:
        model.fit(
            dataset,
            steps_per_epoch=steps,
            shuffle=False,
            validation_data=(xv, yv),
            epochs=EPOCHS,
            initial_epoch=start,
            callbacks=[*callbacks, saver],
            verbose=0,
        )
    except KeyboardInterrupt:
        return None
    return model, saver, stopping


def test_a_resumed_fit_ends_exactly_like_an_uninterrupted_one(tmp_path):
    ref_model, ref_saver, ref_stopping = _fit(tmp_path / "ref" / "backup.npz")
    epochs_run = len(ref_saver.history["loss"])
    assert 3 < epochs_run < EPOCHS  # Early stopping ended it: part of the test.
    # Cut after the best epoch, while the patience was running down.
    path = tmp_path / "cut" / "backup.npz"
    assert _fit(path, interrupt_at=epochs_run - 1) is None
    state = backup.read_backup(path)
    assert state.epoch == epochs_run - 1 and not state.stopped
    assert state.callbacks[0]["state"]["wait"] > 0

    model, saver, stopping = _fit(path)

    # Bit for bit: history (dropout masks, batch order and Adam moments all
    # continued), early stopping's decision and restored weights, and the
    # checkpoint's notion of the best epoch.
    assert saver.history == ref_saver.history
    assert stopping.stopped_epoch == ref_stopping.stopped_epoch
    for got, want in zip(model.get_weights(), ref_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    best = keras.models.clone_model(model)
    best.load_weights(path.with_name("best.weights.h5"))
    for got, want in zip(best.get_weights(), ref_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)

    # The backup now says training stopped: a third start trains no more.
    assert backup.read_backup(path).stopped
    _, again, _ = _fit(path)
    assert again.history == ref_saver.history


class _Batches(keras.layers.Layer):
    """Records the first feature of every training batch (run eagerly)."""

    seen: list = []

    def call(self, x, training=None):
        if training:
            self.seen.append(np.asarray(x[:, 0]).tolist())
        return x


@pytest.mark.parametrize("stream", [False, True], ids=["known_length", "stream"])
def test_fit_from_a_later_epoch_sees_that_epochs_batches(stream):
    def batches_seen(initial_epoch):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((1,))
        model = keras.Model(inputs, keras.layers.Dense(1)(_Batches()(inputs)))
        model.compile("sgd", "mse", run_eagerly=True)
        x = np.arange(12, dtype="float32").reshape(-1, 1)
        dataset = tf.data.Dataset.from_tensor_slices((x, x)).shuffle(
            12, seed=1, reshuffle_each_iteration=True
        )
        if stream:  # Unknown length, like a stream read from files.
            dataset = dataset.filter(lambda *_: True)
        dataset, steps = backup.resumable_epochs(
            dataset.batch(4).prefetch(2), initial_epoch
        )
        _Batches.seen = []
        model.fit(
            dataset,
            steps_per_epoch=steps,
            shuffle=False,
            epochs=5,
            initial_epoch=initial_epoch,
            verbose=0,
        )
        return _Batches.seen

    every = batches_seen(0)
    assert len(every) == 15
    epochs = [every[i : i + 3] for i in range(0, 15, 3)]
    assert all(sorted(sum(e, [])) == list(range(12)) for e in epochs)
    assert len({str(e) for e in epochs}) == 5  # Reshuffled every epoch.
    assert batches_seen(3) == every[9:]


def test_skip_epochs_gives_the_order_of_a_later_iteration():
    def pipeline():
        tf.random.set_seed(3)
        return tf.data.Dataset.range(10).shuffle(10, seed=1).batch(5)

    first = pipeline()
    orders = [[b.numpy().tolist() for b in first] for _ in range(4)]
    assert len({str(o) for o in orders}) == 4  # It does reshuffle.
    later = backup.skip_epochs(pipeline(), 2)
    assert [b.numpy().tolist() for b in later] == orders[2]
    repeated, steps = backup.resumable_epochs(pipeline(), 1)
    assert steps == 2
    batches = [b.numpy().tolist() for b in repeated.take(4)]
    assert batches == orders[1] + orders[2]


def test_resumable_epochs_rejects_infinite_and_empty_data():
    with pytest.raises(ValueError, match="infinite"):
        backup.resumable_epochs(tf.data.Dataset.range(3).repeat(), 0)
    with pytest.raises(ValueError, match="empty"):
        backup.resumable_epochs(tf.data.Dataset.range(0).batch(2), 0)


def test_backup_restores_optimizer_attributes_of_a_gan_like_model(tmp_path):
    from xent.gan.model import GAN
    from xent.losses import BinaryCrossentropy
    from xent.models.gan import build_discriminator
    from xent.models.gan import build_generator

    def gan():
        keras.utils.set_random_seed(0)
        model = GAN(
            build_generator(latent_dim=4, filters=(8,)),
            build_discriminator(filters=(8,)),
            latent_dim=4,
            seed=0,
        )
        model.compile(
            d_optimizer=keras.optimizers.Adam(1e-3),
            g_optimizer=keras.optimizers.Adam(2e-3),
            loss=BinaryCrossentropy(from_logits=True),
        )
        return model

    images = np.random.default_rng(0).uniform(-1, 1, (32, 8, 8, 1)).astype("float32")

    class CopyAfterFirstEpoch(keras.callbacks.Callback):
        """Keeps the backup that a process killed in epoch 2 would leave."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                shutil.copy(tmp_path / "ref.npz", tmp_path / "cut.npz")

    def fit(model, path, start, restore=None):
        saver = backup.TrainingBackup(path, [], restore=restore)
        dataset = (
            tf.data.Dataset.from_tensor_slices(images).shuffle(32, seed=2).batch(8)
        )
        dataset, steps = backup.resumable_epochs(dataset, start)
        model.fit(
            dataset,
            steps_per_epoch=steps,
            shuffle=False,
            epochs=2,
            initial_epoch=start,
            callbacks=[saver, CopyAfterFirstEpoch()],
            verbose=0,
        )
        return saver

    ref = gan()
    ref_saver = fit(ref, tmp_path / "ref.npz", 0)
    state = backup.read_backup(tmp_path / "cut.npz")
    assert state.epoch == 1
    assert {k.split("/")[1] for k in state.arrays if k.startswith("optimizer/")} == {
        "d_optimizer",
        "g_optimizer",
    }
    resumed = gan()
    saver = fit(resumed, tmp_path / "resumed.npz", 1, restore=state)
    assert saver.history == ref_saver.history
    # The noise SeedGenerator continued too: same next draw.
    np.testing.assert_array_equal(resumed.sample_inputs(4), ref.sample_inputs(4))
    for got, want in zip(resumed.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def _small_model(units=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units)])
    model.compile(keras.optimizers.Adam(), "mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _save_epoch(path, model, epoch):
    saver = backup.TrainingBackup(path, [])
    saver.set_model(model)
    saver.epoch = epoch
    saver.on_epoch_end(epoch, {"loss": 0.5})


def test_a_backup_of_another_model_is_refused(tmp_path):
    path = tmp_path / "backup.npz"
    _save_epoch(path, _small_model(units=1), 0)
    saver = backup.TrainingBackup(path, [], restore=backup.read_backup(path))
    saver.set_model(_small_model(units=3))
    with pytest.raises(
        backup.BackupMismatchError, match=r"shape \(4, 3\), the backup \(4, 1\)"
    ):
        saver.on_train_begin()


def test_the_backup_is_replaced_through_a_rename(tmp_path, monkeypatch):
    path = tmp_path / "backup.npz"
    model = _small_model()
    _save_epoch(path, model, 0)
    before = path.read_bytes()

    # A save that fails half way (a full disk) leaves the previous backup.
    def broken_savez(file, **arrays):
        file.write(b"half a backup")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="No space"):
        _save_epoch(path, model, 1)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["backup.npz"]
    assert backup.read_backup(path).epoch == 1


def test_the_checkpoint_is_replaced_through_a_rename(tmp_path, monkeypatch):
    path = tmp_path / "best.weights.h5"
    model = _small_model()
    backup.write_weights_atomic(model, path)
    before = path.read_bytes()

    def broken_save(self, filepath, overwrite=True):
        with open(filepath, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", broken_save)
    with pytest.raises(OSError, match="No space"):
        backup.write_weights_atomic(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.weights.h5"]


def test_reading_a_file_that_is_no_backup_names_it(tmp_path):
    assert backup.read_backup(tmp_path / "missing.npz") is None
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(backup.BackupMismatchError, match="junk.npz"):
        backup.read_backup(tmp_path / "junk.npz")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 a zip cut short")
    with pytest.raises(backup.BackupMismatchError, match="cut.npz"):
        backup.read_backup(tmp_path / "cut.npz")
