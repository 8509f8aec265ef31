"""Training-state backups: an interrupted run continues from its last completed epoch.

`TrainingBackup` writes, at the end of every epoch, one file that holds all
the state the rest of the run depends on:

* the model's variables, including the states of its
  `keras.random.SeedGenerator`s (dropout masks, random augmentation, a GAN's
  noise), which `model.save_weights` leaves out;
* the variables of every optimizer (iterations, moments): `model.optimizer`
  and optimizer attributes such as a GAN's `d_optimizer` and `g_optimizer`;
* the state of the `EarlyStopping` (wait, best value, best epoch, best
  weights), `ModelCheckpoint` (best value) and `SwapEMAWeights` (whether the
  averaged weights are in the model) callbacks of the run;
* the history so far, the number of completed epochs, and whether training
  stopped early.

The file is written through a temporary sibling and a rename, so a process
killed while saving leaves the previous backup. `read_backup` reads it back
and `TrainingBackup(..., restore=backup)` restores it when training begins.
What is left to the caller: start `fit` at `initial_epoch` (`Backup.
next_epoch`) and feed the same batches an uninterrupted run would see. The
pipelines train on `tf.data` pipelines that reshuffle every epoch from a
fixed seed; `skip_epochs` advances one to a given epoch.

Keras' own `keras.callbacks.BackupAndRestore` keeps the weights, the
optimizer and the epoch only: a resumed run would draw other dropout masks
and noise, restart early stopping's patience and forget the best weights,
and its backup is deleted when `fit` returns, so a run killed during
evaluation or export would train again from scratch.

`AtomicModelCheckpoint` is `keras.callbacks.ModelCheckpoint` (weights only)
writing through a temporary file and a rename.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xent._compat import ema_weights_in_model
from xent._compat import set_ema_weights_in_model

__all__ = [
    "AtomicModelCheckpoint",
    "Backup",
    "BackupMismatchError",
    "TrainingBackup",
    "read_backup",
    "resumable_epochs",
    "skip_epochs",
    "temporary_sibling",
    "write_weights_atomic",
]

_FORMAT = 1
_META = "meta"
_EARLY_STOPPING_KEYS = ("wait", "stopped_epoch", "best", "best_epoch")
# Callbacks whose state outlives an epoch.
_STATEFUL = (
    keras.callbacks.EarlyStopping,
    keras.callbacks.ModelCheckpoint,
    keras.callbacks.SwapEMAWeights,
)


class BackupMismatchError(ValueError):
    """A backup does not fit the model or callbacks it is restored into."""


@dataclasses.dataclass(frozen=True)
class Backup:
    """A training state read by `read_backup`.

    Attributes:
        path: The backup file.
        epoch: Epochs completed when it was written.
        stopped: Whether training had stopped (early stopping) at that point.
        history: The epoch logs so far, `{key: [value per epoch]}`.
        arrays: The saved variables, keyed by `model/<i>`,
            `optimizer/<name>/<i>` and `callback/<i>/<j>`.
        callbacks: The saved callback states, in callback order.
    """

    path: Path
    epoch: int
    stopped: bool
    history: dict[str, list[float]]
    arrays: dict[str, np.ndarray]
    callbacks: list[dict]

    def next_epoch(self, epochs: int) -> int:
        """The `initial_epoch` of the resumed `fit`: `epochs` (nothing left to
        train) when training had stopped early."""
        return epochs if self.stopped else min(self.epoch, epochs)


def read_backup(path: str | Path) -> Backup | None:
    """Reads the backup that `TrainingBackup` wrote to `path`.

    Args:
        path: The backup file.

    Returns:
        The `Backup`, or None when there is no file.

    Raises:
        BackupMismatchError: When the file is not a backup of this format.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop(_META)))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise BackupMismatchError(
            f"{path} is not a training backup ({err}); delete it to train from scratch"
        ) from None
    if meta.get("format") != _FORMAT:
        raise BackupMismatchError(
            f"{path} has backup format {meta.get('format')!r}, expected {_FORMAT}; "
            "delete it to train from scratch"
        )
    return Backup(
        path=path,
        epoch=int(meta["epoch"]),
        stopped=bool(meta["stopped"]),
        history={k: list(v) for k, v in meta["history"].items()},
        arrays=arrays,
        callbacks=list(meta["callbacks"]),
    )


def temporary_sibling(path: Path, suffix: str = "") -> Path:
    """A fresh hidden name next to `path` (`.<name>.<random>.tmp<suffix>`) to
    write to and rename; not created, so the file gets the umask's mode."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{suffix}")


def write_weights_atomic(model: keras.Model, path: str | Path) -> None:
    """`model.save_weights(path)` through a temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path, ".weights.h5")  # The suffix save_weights wants.
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` with `save_weights_only=True` that
    writes through a temporary file and a rename: a process killed while
    saving leaves the previous checkpoint, never a truncated one.

    Args:
        filepath: The checkpoint, ending in `.weights.h5`.
        monitor: As in `ModelCheckpoint`.
        save_best_only: As in `ModelCheckpoint`.
    """

    def __init__(self, filepath: str | Path, monitor: str, save_best_only: bool):
        super().__init__(
            str(filepath),
            monitor=monitor,
            save_best_only=save_best_only,
            save_weights_only=True,
        )

    def _save_model(self, epoch, batch, logs):
        # Same decision (and `best` bookkeeping) as the parent; only the write
        # differs.
        filepath = self._get_file_path(epoch, batch, logs)
        if self._should_save_model(epoch, batch, logs, filepath):
            write_weights_atomic(self.model, filepath)


def skip_epochs(dataset: Any, epochs: int) -> Any:
    """Advances a dataset that reshuffles every iteration by `epochs` iterations.

    A `tf.data` pipeline with `shuffle(..., seed=s, reshuffle_each_iteration=
    True)` (or `Dataset.random(seed=s, rerandomize_each_iteration=True)`)
    draws the order of its k-th iteration when the k-th iterator is created,
    from `s` and the global seed. Creating and dropping `epochs` iterators
    therefore makes the next iteration the one an uninterrupted run sees at
    epoch `epochs`, without reading the data.

    Args:
        dataset: The training dataset, before `fit` iterates it.
        epochs: Completed epochs to skip.

    Returns:
        `dataset` itself.
    """
    for _ in range(epochs):
        iterator = iter(dataset)
        del iterator
    return dataset


def resumable_epochs(dataset: Any, initial_epoch: int = 0) -> tuple[Any, int]:
    """The dataset to `fit` from `initial_epoch`, and its steps per epoch.

    Epoch k of the returned dataset is iteration k of `dataset`, whatever
    epoch the fit starts at: it is `dataset` advanced by `initial_epoch`
    iterations (`skip_epochs`) and repeated. Pass the steps as `fit(...,
    steps_per_epoch=steps, initial_epoch=initial_epoch)`: with them Keras
    keeps one iterator for the whole fit, so the epochs are not tied to how
    often Keras re-creates iterators (twice per epoch without them).

    Args:
        dataset: A finite, batched `tf.data` pipeline that reshuffles every
            iteration from a fixed seed (or does not shuffle).
        initial_epoch: Completed epochs.

    Returns:
        `(dataset, steps_per_epoch)`. A dataset of unknown length (a stream
        read from files) is counted once, by one pass over it, in every run
        alike (the count's iteration is iteration 0, epoch 0 gets the next).

    Raises:
        ValueError: For an infinite or empty dataset.
    """
    import tensorflow as tf

    steps = int(dataset.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "Invalid value for argument dataset. Expected a finite dataset (one "
            "epoch). Received an infinite one."
        )
    if steps == tf.data.UNKNOWN_CARDINALITY:
        steps = int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
    if steps < 1:
        raise ValueError(
            "Invalid value for argument dataset. Expected at least one batch. "
            "Received an empty dataset."
        )
    dataset = skip_epochs(dataset, initial_epoch).repeat()
    return dataset.prefetch(tf.data.AUTOTUNE), steps


def _optimizers(model: keras.Model) -> dict[str, keras.optimizers.Optimizer]:
    """The model's optimizers by attribute name: `optimizer` and any other
    attribute holding one (a GAN's `d_optimizer` and `g_optimizer`)."""
    found = {}
    if getattr(model, "optimizer", None) is not None:
        found["optimizer"] = model.optimizer
    for name, value in sorted(vars(model).items()):
        if isinstance(value, keras.optimizers.Optimizer) and all(
            value is not o for o in found.values()
        ):
            found[name.lstrip("_")] = value
    return found


def _callback_state(callback: keras.callbacks.Callback) -> tuple[dict, list]:
    """`(JSON state, arrays)` of one of the `_STATEFUL` callbacks."""
    if isinstance(callback, keras.callbacks.EarlyStopping):
        state = {k: _plain(getattr(callback, k)) for k in _EARLY_STOPPING_KEYS}
        weights = callback.best_weights
        state["has_best_weights"] = weights is not None
        return state, list(weights or [])
    if isinstance(callback, keras.callbacks.SwapEMAWeights):
        # At epoch end the model holds the averaged weights and the
        # optimizer the raw ones; the next epoch begins by swapping back.
        return {"ema_weights_in_model": ema_weights_in_model(callback)}, []
    return {"best": _plain(callback.best)}, []


def _set_callback_state(callback, state: dict, arrays: list) -> None:
    if isinstance(callback, keras.callbacks.EarlyStopping):
        for key in _EARLY_STOPPING_KEYS:
            setattr(callback, key, state[key])
        callback.best_weights = list(arrays) if state["has_best_weights"] else None
    elif isinstance(callback, keras.callbacks.SwapEMAWeights):
        set_ema_weights_in_model(callback, state["ema_weights_in_model"])
    else:
        callback.best = state["best"]


def _plain(value):
    """A JSON-able scalar (None stays None; inf stays inf)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


class TrainingBackup(keras.callbacks.Callback):
    """Backs up the training state after every epoch; restores it at train begin.

    Put it **last** in the callbacks list: its `on_train_begin` must run after
    `EarlyStopping` resets itself, and its `on_epoch_end` after every other
    callback has updated its state and the epoch logs.

    Args:
        path: The backup file (e.g. `checkpoints/backup.npz`).
        callbacks: The run's callbacks; the state of its `EarlyStopping`,
            `ModelCheckpoint` and `SwapEMAWeights` ones is backed up (the
            others keep none that outlives an epoch).
        restore: A backup to restore in `on_train_begin` (from `read_backup`),
            or None for a fresh run.

    Attributes:
        history: The epoch logs of the whole run, restored ones included.

    Raises:
        BackupMismatchError: (at train begin) When `restore` does not fit the
            model: other variable count or shapes, other callbacks.
    """

    def __init__(
        self,
        path: str | Path,
        callbacks: Sequence[keras.callbacks.Callback],
        restore: Backup | None = None,
    ):
        super().__init__()
        self.path = Path(path)
        self.tracked = [c for c in callbacks if isinstance(c, _STATEFUL)]
        self.restore = restore
        self.epoch = 0 if restore is None else restore.epoch
        self.history: dict[str, list[float]] = (
            {} if restore is None else {k: list(v) for k, v in restore.history.items()}
        )

    # ---- restore -----------------------------------------------------------
    def on_train_begin(self, logs=None):
        if self.restore is None:
            return
        arrays = self.restore.arrays
        where = self.restore.path
        _assign(
            self.model.variables,
            [arrays[k] for k in _sorted_keys(arrays, "model/")],
            f"{where}: model variables",
        )
        optimizers = _optimizers(self.model)
        saved = {k.split("/")[1] for k in arrays if k.startswith("optimizer/")}
        if not saved <= set(optimizers):
            raise BackupMismatchError(
                f"{where} holds the optimizers {sorted(saved)}, the model has "
                f"{sorted(optimizers)}; delete it to train from scratch"
            )
        for name in sorted(saved):
            optimizer = optimizers[name]
            if not optimizer.built:
                if optimizer is not getattr(self.model, "optimizer", None):
                    raise BackupMismatchError(
                        f"The optimizer `{name}` is not built when training "
                        "begins, so its state cannot be restored; build it "
                        "when the model is compiled"
                    )
                optimizer.build(self.model.trainable_variables)
            _assign(
                optimizer.variables,
                [arrays[k] for k in _sorted_keys(arrays, f"optimizer/{name}/")],
                f"{where}: optimizer `{name}`",
            )
        states = self.restore.callbacks
        kinds = [type(c).__name__ for c in self.tracked]
        if [s["class"] for s in states] != kinds:
            raise BackupMismatchError(
                f"{where} holds the state of the callbacks "
                f"{[s['class'] for s in states]}, the run has {kinds}; delete it "
                "to train from scratch"
            )
        for i, (callback, state) in enumerate(zip(self.tracked, states, strict=True)):
            _set_callback_state(
                callback,
                state["state"],
                [arrays[k] for k in _sorted_keys(arrays, f"callback/{i}/")],
            )

    # ---- back up -----------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        self.epoch = epoch + 1
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self._save()

    def _save(self) -> None:
        arrays = {}
        for i, v in enumerate(self.model.variables):
            arrays[f"model/{i:06d}"] = keras.ops.convert_to_numpy(v)
        for name, optimizer in _optimizers(self.model).items():
            if optimizer.built:
                for i, v in enumerate(optimizer.variables):
                    arrays[f"optimizer/{name}/{i:06d}"] = keras.ops.convert_to_numpy(v)
        states = []
        for i, callback in enumerate(self.tracked):
            state, values = _callback_state(callback)
            states.append({"class": type(callback).__name__, "state": state})
            for j, value in enumerate(values):
                arrays[f"callback/{i}/{j:06d}"] = np.asarray(value)
        meta = {
            "format": _FORMAT,
            "epoch": self.epoch,
            "stopped": bool(getattr(self.model, "stop_training", False)),
            "history": self.history,
            "callbacks": states,
        }
        arrays[_META] = np.array(json.dumps(meta))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(self.path)
        try:
            with open(tmp, "xb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _sorted_keys(arrays: dict, prefix: str) -> list[str]:
    return sorted(k for k in arrays if k.startswith(prefix))


def _assign(variables, values: list[np.ndarray], what: str) -> None:
    if len(variables) != len(values):
        raise BackupMismatchError(
            f"{what}: the backup has {len(values)}, the model {len(variables)}; "
            "it was written by another model or code version (delete it to "
            "train from scratch)"
        )
    for variable, value in zip(variables, values, strict=True):
        if tuple(variable.shape) != tuple(value.shape):
            raise BackupMismatchError(
                f"{what}: `{variable.path}` has shape {tuple(variable.shape)}, "
                f"the backup {tuple(value.shape)} (delete it to train from scratch)"
            )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
