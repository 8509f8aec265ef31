"""Resume, for every pipeline: a run interrupted after an epoch and started
again ends with the report of an uninterrupted run, bit for bit (CPU).

The binary pipeline is also killed for real, in a separate process
(`tests/xent/test_runner.py`); here the interruption is an exception raised
when an epoch begins, which leaves on disk what a kill leaves (the backup of
the last completed epoch), and the second run builds everything afresh.
"""

import keras
import pytest

from tests.pipelines.conftest import TINY_CTR
from tests.pipelines.conftest import TINY_GAN
from tests.pipelines.conftest import load_task
from tests.pipelines.test_ctr import _write_libfm
from xent import backup
from xent import runner

_INTERRUPT_AT = 2  # Epochs completed before the interruption.

_CASES = {
    # Batch norm, dropout and random translation: SeedGenerator states.
    "multiclass": [
        "train.epochs=4",
        "model.filters=[4]",
        "model.dense=8",
        "train.early_stopping_patience=1",
    ],
    # Its own train_step, two optimizers, noise from a SeedGenerator.
    "gan": ["train.epochs=4", *TINY_GAN],
    # In memory (the synthetic log).
    "ctr": [*TINY_CTR, "model.dropout=0.2", "train.epochs=4"],
    # A file streamed from its TFRecord shards (unknown length per epoch).
    "ctr_stream": [
        "data.categorical=[user, item, hour]",
        "data.group_field=user",
        "features.min_count=1",
        "model.kind=deepfm",
        "model.embedding_dim=4",
        "model.hidden=[16]",
        "train.epochs=4",
        "train.batch_size=128",
        "train.learning_rate=0.02",
    ],
}


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == _INTERRUPT_AT:
            raise KeyboardInterrupt


class _Interrupted:
    """The task, with `_Interrupt` among its callbacks."""

    def __init__(self, task):
        self._task = task

    def __getattr__(self, name):
        return getattr(self._task, name)

    def monitor_callbacks(self, *args):
        return [*self._task.monitor_callbacks(*args), _Interrupt()]


def _run(task, config, run_dir):
    return runner.run(
        task, config, run_dir=run_dir, export=False, verbose=0, log=lambda _: None
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(_CASES))
def test_an_interrupted_run_resumes_to_the_uninterrupted_report(
    case, tmp_path, monkeypatch
):
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    overrides = list(_CASES[case])
    if case == "gan":
        overrides.append(f"eval.classifier_cache={tmp_path / 'cache'}")
    if case == "ctr_stream":
        _write_libfm(tmp_path / "train.libfm", 3000, 0)
        overrides.append(f"data.source={tmp_path / 'train.libfm'}")
    task, config = load_task(case.split("_")[0], overrides)

    want = _run(task, config, tmp_path / "uninterrupted").report

    run_dir = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        _run(_Interrupted(task), config, run_dir)
    state = backup.read_backup(run_dir / runner.BACKUP_FILE)
    assert state.epoch == _INTERRUPT_AT
    got = _run(task, config, run_dir).report

    assert got["training"]["epochs_run"] == want["training"]["epochs_run"]
    assert want["training"]["epochs_run"] > _INTERRUPT_AT
    assert got["training"]["history"] == want["training"]["history"]
    assert got["metrics"] == want["metrics"]
