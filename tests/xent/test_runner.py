"""The generic runner's own pieces: run dirs, atomic writes, divergence stop."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from tests.pipelines.conftest import TINY_CTR
from xent import backup as backup_lib
from xent import config as config_lib
from xent import runner


def test_stop_on_non_finite_names_epoch_and_step():
    cb = runner.StopOnNonFinite()
    cb.on_epoch_begin(2)
    cb.on_train_batch_end(0, {"loss": 0.3})
    with pytest.raises(runner.TrainingDivergedError, match="epoch 3, step 5"):
        cb.on_train_batch_end(4, {"loss": float("nan")})
    with pytest.raises(runner.TrainingDivergedError, match="inf"):
        cb.on_train_batch_end(0, {"loss": float("inf")})


def test_a_diverging_fit_stops_at_the_first_bad_step():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e30), loss="mse")
    x = np.full((64, 1), 1e10, dtype="float32")
    with pytest.raises(runner.TrainingDivergedError, match="epoch 1, step"):
        model.fit(
            x,
            x,
            epochs=3,
            batch_size=8,
            verbose=0,
            callbacks=[runner.StopOnNonFinite()],
        )


def test_the_default_run_dir_is_named_by_config_seed_and_data_files(tmp_path):
    from xent.pipelines.classification import ClassifierConfig

    config = ClassifierConfig()
    root = tmp_path / "runs"
    first = runner.make_run_dir("binary", None, config, root=root)
    assert first == root / "binary" / runner.run_key(config)
    # The same command finds the same directory ...
    assert runner.make_run_dir("binary", None, config, root=root) == first
    # ... another seed, or the same path with other contents, another one.
    reseeded = dataclasses.replace(
        config, train=dataclasses.replace(config.train, seed=1)
    )
    assert runner.run_key(reseeded) != runner.run_key(config)
    data = tmp_path / "data.csv"
    data.write_text("a,y\n1,0\n")
    on_file = dataclasses.replace(
        config, data=dataclasses.replace(config.data, source=str(data))
    )
    before = runner.run_key(on_file)
    data.write_text("a,y\n1,0\n2,1\n")
    assert runner.run_key(on_file) != before


def test_an_explicit_run_dir_must_be_new_empty_or_of_the_same_config(tmp_path):
    from xent.pipelines.classification import ClassifierConfig

    config = ClassifierConfig()
    path = tmp_path / "run"
    assert runner.make_run_dir("t", path, config) == path
    (path / "x").write_text("x")
    with pytest.raises(ValueError, match="holds no run"):
        runner.make_run_dir("t", path, config)
    runner.write_atomic(
        path / runner.CONFIG_FILE, yaml.safe_dump(config_lib.to_dict(config))
    )
    assert runner.make_run_dir("t", path, config) == path
    other = dataclasses.replace(
        config, train=dataclasses.replace(config.train, epochs=7)
    )
    with pytest.raises(ValueError, match=r"`train.epochs`: 30 in the run, 7 now"):
        runner.make_run_dir("t", path, other)


def test_write_atomic_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "report.json"
    runner.write_atomic(target, "old")

    with pytest.raises(TypeError):
        runner.write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_write_atomic_gives_the_mode_of_a_plain_open(tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    runner.write_atomic(tmp_path / "atomic.txt", "x")
    backup_lib.write_weights_atomic(
        keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]),
        tmp_path / "w.weights.h5",
    )
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes["atomic.txt"] == modes["w.weights.h5"] == modes["plain.txt"]


@pytest.mark.parametrize(
    "metric, expected",
    [
        ("val_loss", "minimize"),
        ("val_data_loss", "minimize"),
        ("val_cross_entropy", "minimize"),
        ("val_auc", "maximize"),
        ("val_accuracy", "maximize"),
    ],
)
def test_direction(metric, expected):
    assert runner.direction(metric) == expected


def test_best_value_is_the_best_finite_epoch():
    history = {"val_loss": [0.5, 0.3, float("nan"), 0.4], "val_auc": [0.9, 0.95, 0.93]}
    assert runner.best_value(history, "val_loss", "minimize") == 0.3
    assert runner.best_value(history, "val_auc", "maximize") == 0.95
    with pytest.raises(config_lib.ConfigError, match="no `val_accuracy`.*val_auc"):
        runner.best_value(history, "val_accuracy", "maximize")
    with pytest.raises(runner.TrainingDivergedError, match="no finite value"):
        runner.best_value({"val_loss": [float("nan")]}, "val_loss", "minimize")


def test_hparams_flatten_the_config():
    from xent.pipelines.classification import ClassifierConfig

    flat = runner.hparams(ClassifierConfig())
    assert flat["train.epochs"] == 30
    assert flat["model.hidden"] == "[64, 32]"


# --------------------------------------------------------------------------
# Faults, on the binary pipeline (breast cancer, a few epochs).
# --------------------------------------------------------------------------


# Small batches make epochs long enough to kill a process in one; early
# stopping ends the run (after about a dozen of the 30 epochs), so its patience
# counter and best weights must survive an interruption too.
_BINARY = [
    "train.epochs=30",
    "train.batch_size=8",
    "train.learning_rate=0.05",
    "train.early_stopping_patience=3",
]


def _binary(overrides=()):
    from xent import config as config_lib
    from xent.pipelines import TASKS

    task = TASKS["binary"]
    config = config_lib.load_config(
        task.config_class, task.defaults, overrides=[*_BINARY, *overrides]
    )
    return task, config


def _quiet_run(task, config, run_dir, saved_models):
    return runner.run(
        task,
        config,
        run_dir=run_dir,
        saved_models=saved_models,
        verbose=0,
        log=lambda _: None,
    )


class _WithCallback:
    """A task whose monitor callbacks get one more (delegates the rest)."""

    def __init__(self, task, callback):
        self._task = task
        self._callback = callback
        self.fits = 0

    def __getattr__(self, name):
        return getattr(self._task, name)

    def monitor_callbacks(self, *args):
        return [*self._task.monitor_callbacks(*args), self._callback]

    def fit(self, *args, **kwargs):
        self.fits += 1
        return self._task.fit(*args, **kwargs)


class _PoisonAt(keras.callbacks.Callback):
    """Makes every weight NaN when epoch `epoch` (0-based) begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.set_weights(
                [np.full_like(w, np.nan) for w in self.model.get_weights()]
            )


def _files(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    """A complete binary run with its export: `(task, config, result, tmp)`."""
    tmp = tmp_path_factory.mktemp("binary")
    task, config = _binary()
    return task, config, _quiet_run(task, config, tmp / "run", tmp / "saved"), tmp


def test_a_diverging_run_keeps_its_last_good_state_and_earlier_exports(binary_run):
    _, _, first, tmp = binary_run
    exports_before = _files(tmp / "saved")
    task, config = _binary(["train.seed=1"])
    run_dir = tmp / "diverging"
    poisoned = _WithCallback(task, _PoisonAt(epoch=2))

    with pytest.raises(
        runner.TrainingDivergedError,
        match=r"loss is nan at epoch 3, step 1; the state after epoch 2 is kept",
    ):
        _quiet_run(poisoned, config, run_dir, tmp / "saved")

    # No report, no export; the earlier export is byte for byte the same.
    assert not (run_dir / runner.REPORT_FILE).exists()
    assert _files(tmp / "saved") == exports_before
    # The last good state: epoch 2's backup and the best checkpoint, finite.
    state = backup_lib.read_backup(run_dir / runner.BACKUP_FILE)
    assert state.epoch == 2 and len(state.history["loss"]) == 2
    assert all(
        np.isfinite(a).all() for a in state.arrays.values() if a.dtype.kind == "f"
    )
    model = task.create_model(config, task.build_inputs(config))
    model.optimizer.build(model.trainable_variables)
    model.load_weights(run_dir / "checkpoints" / "best.weights.h5")
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "backup.npz",
        "best.weights.h5",
    ]


def test_the_cli_stops_a_diverging_run_with_one_line(tmp_path, capsys):
    from xent.cli import main

    # Adam steps of 3e38 overflow the weights in the first steps.
    argv = ["train", "binary", "--run-dir", str(tmp_path / "run"), "--no-export"]
    argv += ["--quiet", "--set", "train.learning_rate=3e38"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(
        r"xent train: error: training diverged: loss is (nan|inf) at epoch 1, "
        r"step \d+; no epoch was completed; no report or export was written",
        err,
    ), err
    assert not (tmp_path / "run" / runner.REPORT_FILE).exists()


def test_a_complete_run_started_again_returns_its_report_untrained(binary_run):
    task, config, first, tmp = binary_run
    report_bytes = first.report_path.read_bytes()
    counting = _WithCallback(task, keras.callbacks.Callback())
    lines = []

    again = runner.run(
        counting,
        config,
        run_dir=first.run_dir,
        saved_models=tmp / "saved",
        verbose=0,
        log=lines.append,
    )

    assert counting.fits == 0
    assert again.report == first.report and again.export_path == first.export_path
    assert first.report_path.read_bytes() == report_bytes
    assert "complete run" in lines[0]
    assert sorted(p.name for p in (tmp / "saved" / "binary").iterdir()) == ["1"]
    # The training state went away with completion; the best weights stay.
    assert [p.name for p in (first.run_dir / "checkpoints").iterdir()] == [
        "best.weights.h5"
    ]


_KILL_COMMAND = [
    "-m",
    "xent",
    "train",
    "binary",
    *(arg for override in _BINARY for arg in ("--set", override)),
    "--no-export",
    "--quiet",
]


def _train_process(cwd, **kwargs):
    """`xent train binary ...` in `cwd`: its run dir is `cwd/runs/binary/<key>`."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, *_KILL_COMMAND],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def _finish(process) -> str:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    return out


def test_a_killed_training_process_resumes_and_ends_like_an_uninterrupted_one(
    binary_run, tmp_path
):
    # The uninterrupted reference: this process's run of the same config.
    _, config, reference, _ = binary_run

    # The same command, killed (SIGKILL: no cleanup) once an epoch completed.
    work = tmp_path / "killed"
    process = _train_process(work)
    backup_path = None
    deadline = time.monotonic() + 240
    while backup_path is None and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        found = list(work.glob("runs/binary/*/" + runner.BACKUP_FILE))
        backup_path = found[0] if found else None
        time.sleep(0.02)
    assert backup_path is not None, "no epoch completed in time"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    run_dir = backup_path.parents[1]
    assert run_dir.name == runner.run_key(config)  # Same command, same run.
    assert not (run_dir / runner.REPORT_FILE).exists()
    completed = backup_lib.read_backup(backup_path).epoch
    assert completed >= 1

    # Started again: it continues after the last completed epoch ...
    resumed = _finish(_train_process(work))
    assert (
        f"resuming {Path('runs', 'binary', run_dir.name)} at epoch {completed + 1} "
        f"of 30 ({completed} completed)"
    ) in resumed

    # ... and ends exactly like the uninterrupted run (CPU: bit for bit).
    got = json.loads((run_dir / runner.REPORT_FILE).read_text())
    want = reference.report
    epochs_run = want["training"]["epochs_run"]
    assert completed < epochs_run < 30  # Early stopping ended both.
    assert got["training"]["epochs_run"] == epochs_run
    assert got["training"]["history"] == want["training"]["history"]
    assert got["metrics"] == want["metrics"]
    assert _h5_arrays(run_dir / "checkpoints" / "best.weights.h5") == _h5_arrays(
        reference.run_dir / "checkpoints" / "best.weights.h5"
    )


def _h5_arrays(path) -> dict[str, bytes]:
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[()].tobytes())
                if isinstance(obj, h5py.Dataset)
                else None
            )
        )
    return arrays


# --------------------------------------------------------------------------
# Determinism: the same seed gives the same metrics, bit for bit (CPU).
# --------------------------------------------------------------------------

_TINY_CTR = [*TINY_CTR, "train.epochs=2"]


def _same_training(first: dict, second: dict) -> None:
    assert second["metrics"] == first["metrics"]
    assert second["baseline"] == first["baseline"]
    assert second["training"]["history"] == first["training"]["history"]


def test_the_same_seed_gives_the_same_binary_metrics(binary_run, tmp_path):
    task, config, first, _ = binary_run
    second = runner.run(
        task, config, run_dir=tmp_path / "again", export=False, verbose=0, log=len
    )
    _same_training(first.report, second.report)


def test_the_same_seed_gives_the_same_ctr_metrics(tmp_path, monkeypatch):
    from xent import config as config_lib
    from xent.pipelines import TASKS

    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    task = TASKS["ctr"]
    config = config_lib.load_config(
        task.config_class, task.defaults, overrides=_TINY_CTR
    )
    reports = [
        runner.run(
            task, config, run_dir=tmp_path / name, export=False, verbose=0, log=len
        ).report
        for name in ("first", "second")
    ]
    _same_training(*reports)
    assert 0.5 < reports[0]["metrics"]["test"]["auc"] < 1.0


# ---- train.ensemble ------------------------------------------------------
_ENSEMBLE = ["train.ensemble=3", "model.neighbors=false", "train.batch_size=32"]


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """A binary run of 3 members with its export: `(task, config, result)`."""
    tmp = tmp_path_factory.mktemp("ensemble")
    task, config = _binary(_ENSEMBLE)
    return task, config, _quiet_run(task, config, tmp / "run", tmp / "saved")


def _member_logits(
    task, config, run_dir: Path, split: str = "test"
) -> tuple[np.ndarray, list]:
    """Labels and each member's logits on `split`, from networks built anew
    with the weights the run kept."""
    names = ["best.weights.h5", "member1.weights.h5", "member2.weights.h5"]
    return _kept_logits(task, config, run_dir, names, split)


def _kept_logits(task, config, run_dir: Path, names, split="test"):
    """Labels and the logits on `split` of networks built anew with the
    weights `checkpoints/<name>` of each of `names`."""
    data = task.build_inputs(config)
    logits = []
    for name in names:
        model = task.build_model(config, data.features.train.feature_shape(), data)
        model.load_weights(run_dir / "checkpoints" / name)
        y, z, _ = getattr(data.features, split).predict(model)
        logits.append(np.asarray(z, "float64").reshape(-1))
    return np.asarray(y).reshape(-1), logits


def test_an_ensemble_averages_the_logits_of_members_from_further_seeds(
    ensemble_run,
):
    from sklearn.metrics import log_loss
    from sklearn.metrics import roc_auc_score

    task, config, result = ensemble_run
    members = result.report["training"]["ensemble"]["members"]
    assert [m["seed"] for m in members] == [0, 1, 2]
    assert all(1 <= m["epochs_run"] <= 30 for m in members)
    assert all(m["best_validation"]["val_loss"] > 0.0 for m in members)
    # The first member is the run's own network and history.
    history = result.report["training"]["history"]
    assert members[0]["epochs_run"] == result.report["training"]["epochs_run"]
    assert members[0]["best_validation"]["val_loss"] == min(history["val_loss"])
    assert result.report["training"]["network"] == "tabular"

    y, logits = _member_logits(task, config, result.run_dir)
    # The ensemble's own validation loss: that of the mean of the logits.
    y_val, val_logits = _member_logits(task, config, result.run_dir, "validation")
    mean_val = np.mean(val_logits, axis=0)
    want = log_loss(y_val, 1.0 / (1.0 + np.exp(-mean_val)))
    got = result.report["training"]["ensemble"]["validation"]["val_loss"]
    assert got == pytest.approx(want, rel=1e-4)
    # Different seeds gave different networks ...
    assert not np.allclose(logits[0], logits[1], atol=1e-3)
    # ... and the test metrics are those of the mean of their logits.
    mean = np.mean(logits, axis=0)
    test = result.report["metrics"]["test"]
    prob = 1.0 / (1.0 + np.exp(-mean))
    assert test["auc"] == pytest.approx(roc_auc_score(y, mean), abs=1e-9)
    assert test["log_loss"] == pytest.approx(log_loss(y, prob), rel=1e-5)
    single = log_loss(y, 1.0 / (1.0 + np.exp(-logits[0])))
    assert test["log_loss"] != pytest.approx(single, rel=1e-5)


def test_the_export_of_an_ensemble_serves_the_mean_of_its_logits(ensemble_run):
    import tensorflow as tf

    task, config, result = ensemble_run
    y, logits = _member_logits(task, config, result.run_dir)
    data = task.build_inputs(config)
    raw = data.splits.test.arrays()[0]
    served = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    feed = {k: tf.constant(v) for k, v in raw.items()}
    prob = np.asarray(served(**feed)["probabilities"], "float64").reshape(-1)
    want = 1.0 / (1.0 + np.exp(-np.mean(logits, axis=0)))
    np.testing.assert_allclose(prob, want, rtol=1e-5, atol=1e-6)


class _StopAtFit(_WithCallback):
    """Raises KeyboardInterrupt when its `fit` is called the `at`-th time."""

    def __init__(self, task, at):
        super().__init__(task, keras.callbacks.Callback())
        self.at = at

    def fit(self, *args, **kwargs):
        if self.fits + 1 == self.at:
            raise KeyboardInterrupt
        return super().fit(*args, **kwargs)


def test_an_interrupted_ensemble_trains_only_the_members_it_had_not_kept(
    ensemble_run, tmp_path
):
    task, config, reference = ensemble_run
    # Stopped as the third member (the second of seed >= 1) starts training.
    stopped = _StopAtFit(task, at=3)
    with pytest.raises(KeyboardInterrupt):
        _quiet_run(stopped, config, tmp_path / "run", tmp_path / "saved")
    kept = tmp_path / "run" / "checkpoints"
    assert (kept / "member1.weights.h5").is_file()
    assert not (kept / "member2.weights.h5").exists()
    assert not (tmp_path / "run" / runner.REPORT_FILE).exists()

    # Started again: the first network resumes from its finished backup
    # (no epoch to run), member 1 is loaded, member 2 is trained.
    again = _WithCallback(task, keras.callbacks.Callback())
    result = _quiet_run(again, config, tmp_path / "run", tmp_path / "saved")
    assert again.fits == 2
    assert result.report["metrics"] == reference.report["metrics"]
    assert (
        result.report["training"]["ensemble"]
        == (reference.report["training"]["ensemble"])
    )


# ---- train.refit ---------------------------------------------------------
_REFIT = ["train.ensemble=2", "train.refit=true", *_ENSEMBLE[1:]]


class _RecordingFits(_WithCallback):
    """Records, for every `fit`: training rows, epochs, seed and `validate`."""

    def __init__(self, task):
        super().__init__(task, keras.callbacks.Callback())
        self.calls = []

    def fit(self, model, config, data, *args, **kwargs):
        self.calls.append(
            (
                data.features.train.rows,
                config.train.epochs,
                config.train.seed,
                kwargs.get("validate", True),
            )
        )
        return super().fit(model, config, data, *args, **kwargs)


@pytest.fixture(scope="module")
def refit_run(tmp_path_factory):
    """A binary run of 2 members, refit, with its export:
    `(task, config, result, fits)`."""
    tmp = tmp_path_factory.mktemp("refit")
    task, config = _binary(_REFIT)
    recording = _RecordingFits(task)
    result = _quiet_run(recording, config, tmp / "run", tmp / "saved")
    return task, config, result, recording.calls


def test_a_refit_trains_each_network_again_on_training_and_validation_rows(
    refit_run,
):
    task, config, result, fits = refit_run
    data = task.build_inputs(config)
    n_train, n_val = data.features.train.rows, data.features.validation.rows
    training = result.report["training"]
    members = training["ensemble"]["members"]
    history = training["history"]["val_loss"]
    # The first network's best epoch is where its validation loss was least.
    assert members[0]["best_epoch"] == 1 + int(np.argmin(history))
    assert training["refit"] == {
        "rows": n_train + n_val,
        "networks": [{"seed": m["seed"], "epochs": m["best_epoch"]} for m in members],
    }
    # Two networks on the training rows with validation, then each again
    # from its seed on both splits' rows, for its best epochs, without it.
    full = config.train.epochs
    assert fits == [
        (n_train, full, 0, True),
        (n_train, full, 1, True),
        (n_train + n_val, members[0]["best_epoch"], 0, False),
        (n_train + n_val, members[1]["best_epoch"], 1, False),
    ]
    # The validation figures are those of the networks trained without the
    # validation rows.
    for m in members:
        assert m["best_validation"]["val_loss"] > 0.0


def test_a_refit_is_what_is_tested_and_exported(refit_run):
    import tensorflow as tf
    from sklearn.metrics import log_loss
    from sklearn.metrics import roc_auc_score

    task, config, result, _ = refit_run
    y, refit = _kept_logits(
        task, config, result.run_dir, ["refit0.weights.h5", "refit1.weights.h5"]
    )
    _, validated = _kept_logits(
        task, config, result.run_dir, ["best.weights.h5", "member1.weights.h5"]
    )
    # The refit networks are other networks than those validated ...
    assert not np.allclose(refit[0], validated[0], atol=1e-3)
    # ... and the test metrics are those of the mean of their logits.
    mean = np.mean(refit, axis=0)
    test = result.report["metrics"]["test"]
    assert test["auc"] == pytest.approx(roc_auc_score(y, mean), abs=1e-9)
    assert test["log_loss"] == pytest.approx(
        log_loss(y, 1.0 / (1.0 + np.exp(-mean))), rel=1e-5
    )
    # The export serves them.
    data = task.build_inputs(config)
    raw = data.splits.test.arrays()[0]
    served = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    prob = np.asarray(
        served(**{k: tf.constant(v) for k, v in raw.items()})["probabilities"],
        "float64",
    ).reshape(-1)
    np.testing.assert_allclose(prob, 1.0 / (1.0 + np.exp(-mean)), rtol=1e-5, atol=1e-6)
    assert (
        "Refit on training and validation rows"
        in (result.run_dir / "report.html").read_text()
    )


def test_an_interrupted_refit_trains_only_the_networks_it_had_not_kept(
    refit_run, tmp_path
):
    task, config, reference, _ = refit_run
    # Stopped as the second refit (the fourth fit) starts.
    with pytest.raises(KeyboardInterrupt):
        _quiet_run(_StopAtFit(task, at=4), config, tmp_path / "run", tmp_path / "s")
    kept = tmp_path / "run" / "checkpoints"
    assert (kept / "refit0.weights.h5").is_file()
    assert not (kept / "refit1.weights.h5").exists()

    again = _WithCallback(task, keras.callbacks.Callback())
    result = _quiet_run(again, config, tmp_path / "run", tmp_path / "s")
    # The first network resumes from its finished backup (no epoch to run),
    # member 1 and refit 0 are loaded, refit 1 is trained.
    assert again.fits == 2
    assert result.report["metrics"] == reference.report["metrics"]
    assert result.report["training"]["refit"] == reference.report["training"]["refit"]
