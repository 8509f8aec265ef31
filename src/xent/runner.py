"""The one runner: data -> model -> train -> evaluate -> report -> export.

A task is a small plug-in (see `Task`); the runner owns every side effect,
and writes only under the run directory and the export base directory:

    runs/<task>/<run-key>/
        config.yaml        the resolved config
        logs/              TensorBoard (train/, validation/)
        checkpoints/       best.weights.h5 (the best weights so far) and,
                           until the report is written, backup.npz (the
                           training state after the last completed epoch);
                           with `train.ensemble` > 1, member<i>.weights.h5
                           and .json, each further member once trained
        report.json, report.html, *.png
    saved_models/<task>/<version>/   the SavedModel (TF Serving layout)

Faults. The run directory is named by `run_key` (config, seed and data
files), so running the same command again finds an interrupted run: it
continues from the last completed epoch with the model, optimizer, random
generator, early-stopping and checkpoint state and the data order of that
epoch, and ends with the metrics of an uninterrupted run. A run whose
`report.json` exists is complete; running it again returns its report. Every
file is written through a temporary file (folder, for exports) and a rename;
a diverging loss stops the run with `TrainingDivergedError` before anything
but the checkpoints and logs of the good epochs is written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from typing import Protocol

import keras
import numpy as np
import yaml

from xent import backup as backup_lib
from xent import config as config_lib
from xent import distribute as distribute_lib
from xent import precision as precision_lib
from xent import progress
from xent import report as report_lib
from xent.stages import Evaluation
from xent.stages import Prepared
from xent.stages import Validated

__all__ = [
    "RunResult",
    "StopOnNonFinite",
    "Task",
    "TrainingDivergedError",
    "best_value",
    "direction",
    "hparams",
    "make_run_dir",
    "run_key",
    "run",
    "scalars",
    "write_atomic",
]

CONFIG_FILE = "config.yaml"
REPORT_FILE = "report.json"
"""Written last: a run directory holding it is complete."""
BACKUP_FILE = "checkpoints/backup.npz"
"""The training state after the last completed epoch (`xent.backup`); removed
once the report is written."""
_EXPORT_RECORD = "checkpoints/export.json"


class Task(Protocol):
    """The stages a pipeline implements; `run` calls them in order.

    Supervised tasks get every hook but `build_inputs`, `build_model`,
    `evaluate` and friends from `xent.supervised.SupervisedTask`; the GAN
    implements them itself.
    """

    name: str
    config_class: type
    defaults: Path
    monitor: str | None
    """Validation metric for checkpoints and early stopping, or None."""
    distributable: bool
    """`train.strategy` may be other than `default` (`--strategy`)."""
    reads_files: bool
    """Reads data files, with the bad-row policy (`--on-bad-rows`)."""
    crossed_features: bool
    """Takes crossed features (`--cross`)."""

    def prepare(self, config, log: Callable[[str], None]) -> None:
        """Builds what the task needs besides its data, before the run is
        seeded (e.g. the GAN's cached evaluation classifier); usually
        nothing. `log` takes progress lines (silent under `--quiet`)."""

    def build_inputs(self, config) -> Prepared: ...

    def create_model(self, config, data: Prepared) -> keras.Model:
        """The compiled training model."""

    def monitor_callbacks(
        self, config, data: Prepared, log_dir: Path
    ) -> list[keras.callbacks.Callback]: ...

    def fit(
        self,
        model: keras.Model,
        config,
        data: Prepared,
        callbacks: list[keras.callbacks.Callback],
        verbose: int,
        initial_epoch: int = 0,
    ) -> dict[str, list[float]]:
        """Trains from `initial_epoch` (the epochs a resumed run completed);
        returns the Keras history dict of the epochs it ran.

        Epoch k must see the batches of epoch k of an uninterrupted run:
        train on `xent.backup.resumable_epochs` of a dataset that reshuffles
        every iteration from a fixed seed, with its `steps_per_epoch`.
        """

    def evaluate_model(
        self,
        model: keras.Model,
        config,
        data: Prepared,
        history: dict,
        validated: Validated | None = None,
    ) -> Evaluation:
        """Test metrics and plots of `model`. `validated`: after
        `train.refit` (`data` is then `refit_inputs`' data), the networks
        trained without the validation rows and their data, for the steps
        that must be fitted on held-out validation predictions; None
        otherwise."""

    def baselines(self, config, data: Prepared) -> dict: ...

    def refit_inputs(self, config, data: Prepared) -> Prepared:
        """The data of `train.refit`: `data` (preprocessed) with the training
        and validation rows as its training split; the refit networks are
        built on it, and the test evaluation, the baselines and the export
        take it (only called for tasks whose config has `train.refit`)."""

    def combine(self, models: list[keras.Model]) -> keras.Model:
        """One model of the same inputs whose output combines `models`' (the
        members of `train.ensemble`; only called for tasks whose config has
        it)."""

    def validation_logs(self, model: keras.Model, config, data: Prepared) -> dict:
        """`model`'s validation metrics, named as training's `val_` logs
        (the ensemble's, beside its members' best; only called for tasks
        whose config has `train.ensemble`)."""

    def export_model(
        self,
        model: keras.Model,
        config,
        data: Prepared,
        base_dir: Path,
        metrics: dict,
    ) -> Path: ...


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a run produced."""

    run_dir: Path
    report_path: Path
    export_path: Path | None
    report: dict


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, naming the epoch and step.

    Keras' `TerminateOnNaN` only sets `stop_training`; this raises
    `TrainingDivergedError` so that no report or export is written from a broken
    model (the checkpoint of the last good epoch and earlier exports stay).

    Args:
        keys: The batch logs to check (e.g. a GAN's `d_loss` and `g_loss`).
    """

    def __init__(self, keys: tuple[str, ...] = ("loss",)):
        super().__init__()
        self.keys = tuple(keys)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for key in self.keys:
            value = (logs or {}).get(key)
            if value is not None and not np.isfinite(float(value)):
                raise TrainingDivergedError(
                    f"training diverged: {key} is {float(value)} at epoch "
                    f"{self._epoch + 1}, step {batch + 1}"
                )


def run_key(config) -> str:
    """The name of a config's default run directory: a hash of the resolved
    config (seed included) and of the size and modification time of the data
    files it names, so that the same command finds the same run.

    >>> from xent.sections import TrainConfig
    >>> run_key(TrainConfig()) == run_key(TrainConfig(seed=1))
    False
    """
    resolved = config_lib.to_dict(config)
    files = {}
    data = resolved.get("data")
    for key in ("source", "test_source"):
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, str) and os.path.isfile(value):
            stat = os.stat(value)
            files[key] = [stat.st_size, stat.st_mtime_ns]
    text = json.dumps({"config": resolved, "files": files}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_run_dir(
    task: str, run_dir: str | Path | None, config, root: str | Path = "runs"
) -> Path:
    """Creates (and returns) the run directory of `config`.

    The default is `<root>/<task>/<run_key(config)>`: the same command (same
    config and seed, same data files) gets the same directory, so a run that
    was interrupted is found and resumed. An explicit `run_dir` may be new,
    empty, or hold a run of the same config.

    Raises:
        ValueError: If the directory holds something else than a run of this
            config (the message names the first differing key).
    """
    path = Path(root) / task / run_key(config) if run_dir is None else Path(run_dir)
    if path.exists() and any(path.iterdir()):
        saved = path / CONFIG_FILE
        if not saved.is_file():
            raise ValueError(
                f"Run directory {path} exists, is not empty and holds no run "
                f"({CONFIG_FILE}); choose another --run-dir"
            )
        expected = yaml.safe_load(yaml.safe_dump(config_lib.to_dict(config)))
        difference = _first_difference(
            yaml.safe_load(saved.read_text(encoding="utf-8")), expected
        )
        if difference is not None:
            raise ValueError(
                f"Run directory {path} holds a run of another config "
                f"({difference}); choose another --run-dir, or delete it"
            )
    path.mkdir(parents=True, exist_ok=True)
    return path


def _first_difference(saved, expected, prefix: str = "") -> str | None:
    """`key: saved -> expected` for the first key whose values differ, or None."""
    if isinstance(saved, dict) and isinstance(expected, dict):
        for key in sorted(set(saved) | set(expected), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved or key not in expected:
                side = "saved" if key in saved else "new"
                return f"`{where}` only in the {side} config"
            found = _first_difference(saved[key], expected[key], where)
            if found is not None:
                return found
        return None
    if saved != expected:
        return f"`{prefix}`: {saved!r} in the run, {expected!r} now"
    return None


def write_atomic(path: Path, data: bytes | str) -> None:
    """Writes a file through a temporary sibling and a rename.

    The file gets the permissions of a plain `open` (the umask's), not the
    owner-only ones of `tempfile.mkstemp`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "xb" if isinstance(data, bytes) else "x"
    tmp = backup_lib.temporary_sibling(path)
    try:
        with open(tmp, mode, **({} if mode == "xb" else {"encoding": "utf-8"})) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run(
    task: Task,
    config,
    run_dir: str | Path | None = None,
    saved_models: str | Path = "saved_models",
    export: bool = True,
    verbose: int = 1,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Runs a task end to end.

    Args:
        task: The task plug-in.
        config: Its resolved config (a frozen dataclass with a `train` section
            holding at least `seed`, `epochs` and `early_stopping_patience`).
        run_dir: Where to write; defaults to `runs/<task>/<run_key(config)>`.
            A directory holding an interrupted run of the same config is
            resumed; one holding a complete run (`report.json`) is returned
            as it is, without training.
        saved_models: Export base directory; the model goes to
            `<saved_models>/<task>/<version>`.
        export: Whether to export the SavedModel.
        verbose: Keras progress bar setting; 0 also silences every other
            progress output of the run (`xent.progress`): data preparation,
            the stage lines and their bars. The results table, the paths
            written and errors are still logged.
        log: Where the run's lines go (progress and results).

    `train.strategy` (absent: `default`) picks the `tf.distribute` strategy
    (`xent.distribute`); the model is created in its scope. Under
    `multi_worker` every worker runs this same function; only the chief
    writes `run_dir` and the export, the others write into a scratch
    directory that is removed before returning (their `RunResult` paths
    point there). Such a run starts in a new `run_dir`: it is not resumed.

    Returns:
        A `RunResult` with the paths and the report.

    Raises:
        TrainingDivergedError: If the loss became NaN or infinite; the message
            names the epoch and step. Nothing but the config, the logs, the
            best checkpoint and the backup of the last completed epoch is
            written; earlier exports are untouched.
        ValueError: If `run_dir` holds something else than a run of `config`.
        xent.backup.BackupMismatchError: If the backup of an interrupted run
            does not fit the model (written by other code).
        ConfigError: For an unknown strategy, `multi_worker` without a
            valid `TF_CONFIG`, or a `multi_worker` chief whose `run_dir`
            holds an earlier run (interrupted or complete).
    """
    # First: MultiWorkerMirroredStrategy must exist before any TensorFlow op.
    dist = distribute_lib.build_distribution(config.train.strategy)
    options = {"export": export, "verbose": verbose, "log": log}
    with progress.reporting(enabled=verbose > 0, log=log):
        if dist.is_chief:
            run_path = make_run_dir(task.name, run_dir, config)
            if dist.num_workers > 1 and (run_path / CONFIG_FILE).is_file():
                # The other workers cannot see this run's backup: resuming
                # would train different weights on each (or leave them waiting).
                raise config_lib.ConfigError(
                    f"Run directory {run_path} holds an earlier run; a "
                    "multi_worker run is not resumed or reused: give a new "
                    "--run-dir"
                )
            return _run(task, config, dist, run_path, Path(saved_models), **options)
        # Other workers take part in every collective step but keep nothing.
        with tempfile.TemporaryDirectory(prefix="xent-worker-") as scratch:
            scratch = Path(scratch)
            return _run(
                task, config, dist, scratch / "run", scratch / "saved_models", **options
            )


def _run(
    task: Task,
    config,
    dist: distribute_lib.Distribution,
    run_path: Path,
    saved_models: Path,
    export: bool,
    verbose: int,
    log: Callable[[str], None],
) -> RunResult:
    """`run` in an existing run directory, under the distribution `dist`,
    with the progress setting of `run` (`progress.current()`)."""
    train_cfg = config.train
    shown = progress.current()
    run_path.mkdir(parents=True, exist_ok=True)
    if (run_path / REPORT_FILE).is_file():
        return _completed_run(run_path, log)
    write_atomic(run_path / CONFIG_FILE, yaml.safe_dump(config_lib.to_dict(config)))
    if train_cfg.deterministic:
        import tensorflow as tf

        # Process-wide and irreversible (TensorFlow has no switch back).
        tf.config.experimental.enable_op_determinism()
    # Its lines are progress: silent under verbose=0.
    task.prepare(config, shown.line)
    precision = precision_lib.resolve(train_cfg.precision)
    shown.line(f"training precision: {precision.policy} ({precision.reason})")
    model, data, history, ensemble = _train(
        task, config, dist, run_path, precision, verbose, log
    )
    # The test evaluation and the export see the exported model: float32.
    precision_lib.compute_in_float32(model)
    if ensemble is not None:
        monitor = _monitor(task, config.train)
        if monitor:
            with dist.scope():
                logs = task.validation_logs(model, config, data)
            if monitor in logs:
                ensemble["validation"] = {monitor: logs[monitor]}
    refit = None
    # The networks whose validation predictions were held out, where a
    # refit replaces them: what needs held-out validation predictions (the
    # tabular nearest-neighbour head, CTR Platt scaling) is fitted on them.
    validated = None
    # What the evaluation, the baselines and the export see: after a refit,
    # its data (the baselines learn from the same rows as the networks).
    final_data = data
    if getattr(train_cfg, "refit", False):
        networks = (
            ensemble["members"]
            if ensemble is not None
            else [{"seed": train_cfg.seed, **_member_summary(task, config, history)}]
        )
        validated = Validated(model, data)
        model, final_data, refit = _refit(
            task, config, data, dist, run_path, precision, verbose, networks
        )
        precision_lib.compute_in_float32(model)
    with shown.stage("evaluating on the test split"):
        outcome = task.evaluate_model(
            model, config, final_data, history, validated=validated
        )
    baselines = {}
    if dist.is_chief:
        with shown.stage("fitting the baselines"):
            baselines = task.baselines(config, final_data)
    report = _report(
        task, config, data, dist, model, run_path, history, outcome, baselines
    )
    report["training"]["precision"] = precision.as_dict()
    if ensemble is not None:
        report["training"]["ensemble"] = ensemble
    if refit is not None:
        report["training"]["refit"] = refit

    export_path = None
    if export:
        # A run killed after its export and before its report exports once.
        export_path = _recorded_export(run_path)
        if export_path is None:
            with shown.stage("exporting the SavedModel"):
                export_path = task.export_model(
                    model,
                    config,
                    final_data,
                    Path(saved_models) / task.name,
                    outcome.metrics,
                )
            write_atomic(
                run_path / _EXPORT_RECORD, json.dumps({"export": str(export_path)})
            )
        report["export"] = str(export_path)

    report = report_lib.to_jsonable(report)
    for name, png in outcome.plots.items():
        write_atomic(run_path / name, png)
    html = report_lib.render_html(report, {name: name for name in outcome.plots})
    write_atomic(run_path / "report.html", html)
    report_path = run_path / REPORT_FILE
    write_atomic(report_path, json.dumps(report, indent=2, allow_nan=False))
    # Complete: the training state is no longer needed (the best weights stay).
    (run_path / BACKUP_FILE).unlink(missing_ok=True)
    (run_path / _EXPORT_RECORD).unlink(missing_ok=True)
    if dist.num_workers > 1:
        log(
            f"worker {dist.worker_index}/{dist.num_workers}: weights sha256 "
            f"{report['training']['weights_sha256']}"
        )
    if dist.is_chief:
        _log_result(report, log)
        log(f"run dir: {run_path}")
        log(f"report:  {report_path}")
        log(f"page:    {run_path / 'report.html'}")
        if export_path is not None:
            log(f"export:  {export_path}")
    return RunResult(run_path, report_path, export_path, report)


def _train(
    task, config, dist, run_path: Path, precision, verbose: int, log
) -> tuple[keras.Model, Prepared, dict, dict | None]:
    """Prepares the data, builds the model in `precision` and trains it
    (resuming from the run's backup), then the further members of
    `train.ensemble`: `(model, data, history, ensemble)`, with the history of
    the first network's whole run, and the members' seeds, epochs and best
    validation values (None without an ensemble). The model is the ensemble
    where there is one (`task.combine`). The data and their preprocessing
    stay float32."""
    train_cfg = config.train
    shown = progress.current()
    keras.utils.set_random_seed(train_cfg.seed)

    with shown.stage("preparing the data"):
        data = task.build_inputs(config)
    # Seeded again (`_network`): preparing data (e.g. writing a file's
    # TFRecord shards the first time, not when they are cached) may draw from
    # the global generators, and the weights must not depend on that.
    model = _network(task, config, data, dist, precision)
    ckpt = run_path / "checkpoints" / "best.weights.h5"
    cbs = _callbacks(task, config, data, run_path, ckpt)
    backup_path = run_path / BACKUP_FILE
    state = backup_lib.read_backup(backup_path)
    initial_epoch = 0 if state is None else state.next_epoch(train_cfg.epochs)
    # Last: it restores after EarlyStopping resets itself, and saves after
    # every other callback has updated its state and the logs.
    backup = backup_lib.TrainingBackup(backup_path, cbs, restore=state)
    cbs.append(backup)
    if state is not None:
        log(
            f"resuming {run_path} at epoch {initial_epoch + 1} of "
            f"{train_cfg.epochs} ({state.epoch} completed"
            f"{', training had stopped early' if state.stopped else ''})"
        )
    try:
        task.fit(model, config, data, cbs, verbose, initial_epoch=initial_epoch)
    except TrainingDivergedError as err:
        kept = (
            f"the state after epoch {backup.epoch} is kept in {backup_path} and "
            f"the best weights in {ckpt}"
            if backup.epoch
            else "no epoch was completed"
        )
        raise TrainingDivergedError(
            f"{err}; {kept}; no report or export was written"
        ) from None
    members = _train_members(task, config, data, dist, run_path, precision, verbose)
    if members:
        summary = _member_summary(task, config, backup.history)
        first = {"seed": train_cfg.seed, **summary}
        ensemble = {"members": [first, *(info for _, info in members)]}
        model = task.combine([model, *(member for member, _ in members)])
        return model, data, backup.history, ensemble
    return model, data, backup.history, None


def _train_members(
    task, config, data: Prepared, dist, run_path: Path, precision, verbose: int
) -> list[tuple[keras.Model, dict]]:
    """The further members of `train.ensemble` (none when it is 1 or
    absent): `(model, summary)` each. Member `i` starts from seed
    `seed + i` (weights and data order) and trains like the first network,
    without checkpoints or TensorBoard; once trained, its weights and summary
    are kept in `checkpoints/member<i>.weights.h5` and `.json`, so a resumed
    run trains only the members it had not finished."""
    count = getattr(config.train, "ensemble", 1)
    shown = progress.current()
    members = []
    for i in range(1, count):
        seed = config.train.seed + i
        cfg = dataclasses.replace(
            config, train=dataclasses.replace(config.train, seed=seed)
        )
        weights = run_path / "checkpoints" / f"member{i}.weights.h5"
        summary_path = weights.with_name(f"member{i}.json")
        kept = weights.is_file() and summary_path.is_file()
        member = _network(task, cfg, data, dist, precision, weights if kept else None)
        if kept:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        else:
            with shown.stage(f"training ensemble member {i + 1} of {count}"):
                history = task.fit(
                    member, cfg, data, _training_callbacks(task, cfg), verbose
                )
            summary = {"seed": seed, **_member_summary(task, cfg, history)}
            backup_lib.write_weights_atomic(member, weights)
            write_atomic(summary_path, json.dumps(summary))
        members.append((member, summary))
    return members


def _network(
    task, config, data: Prepared, dist, precision, kept: Path | None = None
) -> keras.Model:
    """A new compiled network of `config`, seeded with `train.seed`, built in
    `precision` under `dist`; with the weights (and optimizer state) of the
    file `kept` where given (a finished ensemble member or refit)."""
    keras.utils.set_random_seed(config.train.seed)
    with dist.scope(), precision_lib.training_policy(precision):
        model = task.create_model(config, data)
    distribute_lib.prepare_model(model, dist)
    if kept is not None:
        # The file holds the optimizer's variables too: build them first.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(kept)
    return model


def _member_summary(task, config, history: dict) -> dict:
    """Epochs run, and the best value of the monitored validation metric
    with the epoch (from 1) that first reached it."""
    summary = {"epochs_run": len(next(iter(history.values()), []))}
    monitor = _monitor(task, config.train)
    if monitor and history.get(monitor):
        best = best_value(history, monitor, direction(monitor))
        summary["best_validation"] = {monitor: best}
        summary["best_epoch"] = 1 + [float(v) for v in history[monitor]].index(best)
    return summary


def _refit(
    task, config, data: Prepared, dist, run_path: Path, precision, verbose, networks
) -> tuple[keras.Model, Prepared, dict]:
    """`train.refit`: each of the run's `networks` (their `seed`, and
    `best_epoch` or `epochs_run` from `_member_summary`) trained again from
    its seed on the training and validation rows together, for that many
    epochs, without early stopping.

    Returns `(model, data, summary)`: the new network (their `task.combine`
    for an ensemble), the data it was trained on (`task.refit_inputs`), and
    `{"rows", "networks": [{"seed", "epochs"}]}` for the report. Each
    trained network's weights are kept in `checkpoints/refit<i>.weights.h5`,
    so a resumed run trains only the ones it had not finished.
    """
    shown = progress.current()
    with shown.stage("preparing the training and validation rows for the refit"):
        joined = task.refit_inputs(config, data)
    train = joined.features.train
    models, done = [], []
    for i, network in enumerate(networks):
        seed = network["seed"]
        epochs = network.get("best_epoch") or network["epochs_run"]
        cfg = dataclasses.replace(
            config,
            train=dataclasses.replace(
                config.train, seed=seed, epochs=epochs, early_stopping_patience=None
            ),
        )
        weights = run_path / "checkpoints" / f"refit{i}.weights.h5"
        kept = weights.is_file()
        net = _network(task, cfg, joined, dist, precision, weights if kept else None)
        if not kept:
            with shown.stage(
                f"refitting network {i + 1} of {len(networks)} on the training "
                f"and validation rows ({epochs} epochs)"
            ):
                task.fit(
                    net,
                    cfg,
                    joined,
                    _training_callbacks(task, cfg),
                    verbose,
                    validate=False,
                )
            backup_lib.write_weights_atomic(net, weights)
        models.append(net)
        done.append({"seed": seed, "epochs": epochs})
    model = models[0] if len(models) == 1 else task.combine(models)
    return model, joined, {"rows": int(train.rows), "networks": done}


def _monitor(task, train_cfg) -> str | None:
    """The validation metric of checkpoints and early stopping, or None."""
    return task.monitor and (train_cfg.monitor or task.monitor)


def direction(metric: str) -> Literal["minimize", "maximize"]:
    """Whether a metric is minimized (a loss or entropy) or maximized.

    >>> direction("val_loss"), direction("val_auc")
    ('minimize', 'maximize')
    """
    name = metric.lower()
    return "minimize" if "loss" in name or "entropy" in name else "maximize"


def best_value(history: Mapping[str, Sequence[float]], metric: str, goal: str) -> float:
    """The best finite value of `metric` over the epochs of a training history.

    Raises:
        ConfigError: If the history has no such metric (names the ones it has).
        TrainingDivergedError: If no epoch has a finite value (the search
            counts the trial as failed and goes on).
    """
    if metric not in history:
        raise config_lib.ConfigError(
            f"The training history has no `{metric}` to tune on (train.monitor); "
            f"it has {sorted(history)}"
        )
    values = [float(v) for v in history[metric] if v is not None]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        raise TrainingDivergedError(
            f"`{metric}` has no finite value in the training history"
        )
    return min(finite) if goal == "minimize" else max(finite)


def _training_callbacks(
    task, config, monitoring=(), checkpoint=None
) -> list[keras.callbacks.Callback]:
    """What every trained network of a run gets, in the order they must run:
    the stop on a non-finite loss, the `monitoring` callbacks (TensorBoard),
    the weight average's swap (`train.ema_momentum`), the `checkpoint`, and
    early stopping with the best weights restored (when a metric is
    monitored with a patience)."""
    train_cfg = config.train
    cbs: list[keras.callbacks.Callback] = [StopOnNonFinite(), *monitoring]
    if train_cfg.ema_momentum is not None:
        # Validation, checkpoints and early stopping see the averaged
        # weights: swapped in at every epoch end, before the checkpoint and
        # EarlyStopping, whose best weights (restored when fit ends) are
        # then averaged ones.
        cbs.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if checkpoint is not None:
        cbs.append(checkpoint)
    monitor = _monitor(task, train_cfg)
    if monitor and train_cfg.early_stopping_patience:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=train_cfg.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    return cbs


def _log_result(report: dict, log: Callable[[str], None]) -> None:
    """Logs the key test metrics beside the best baseline (`render_summary`)."""
    summary = report_lib.render_summary(report)
    if summary:
        log("")
        for line in summary.splitlines():
            log(line)
        log("")


def _callbacks(
    task: Task, config, data: Prepared, run_path: Path, ckpt: Path
) -> list[keras.callbacks.Callback]:
    """The run's callbacks (`_training_callbacks` with TensorBoard and the
    best-weights checkpoint; the backup of the training state is added last
    by `_run`)."""
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    monitor = _monitor(task, config.train)
    return _training_callbacks(
        task,
        config,
        monitoring=task.monitor_callbacks(config, data, run_path / "logs"),
        checkpoint=backup_lib.AtomicModelCheckpoint(
            ckpt, monitor=monitor or "loss", save_best_only=monitor is not None
        ),
    )


def _report(
    task: Task,
    config,
    data: Prepared,
    dist: distribute_lib.Distribution,
    model: keras.Model,
    run_path: Path,
    history: dict,
    outcome: Evaluation,
    baselines: dict,
) -> dict:
    """`report.json` (before the export path is added)."""
    return {
        "task": task.name,
        "dataset": {"name": data.name, **data.summary},
        "metrics": {"test": outcome.metrics},
        "baseline": baselines,
        "training": {
            "epochs_run": len(next(iter(history.values()), [])),
            # The network built (e.g. `tabular` where `model.kind` is auto).
            "network": model.name,
            "history": history,
            "strategy": dist.name,
            "workers": dist.num_workers,
            "replicas": dist.num_replicas,
            "weights_sha256": distribute_lib.weights_digest(model),
        },
        **outcome.sections,
        "class_names": list(data.class_names),
        "config": config_lib.to_dict(config),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run_path),
    }


def _completed_run(run_path: Path, log: Callable[[str], None]) -> RunResult:
    """The result of a run whose report exists; nothing is trained again."""
    report_path = run_path / REPORT_FILE
    report = json.loads(report_path.read_text(encoding="utf-8"))
    export_path = Path(report["export"]) if report.get("export") else None
    log(
        f"run dir {run_path} holds a complete run (report.json): nothing to do. "
        "To train again, delete it or choose another --run-dir."
    )
    log(f"report:  {report_path}")
    if export_path is not None:
        log(f"export:  {export_path}")
    return RunResult(run_path, report_path, export_path, report)


def _recorded_export(run_path: Path) -> Path | None:
    """The export this run already wrote, if its version folder still exists."""
    record = run_path / _EXPORT_RECORD
    if not record.is_file():
        return None
    path = Path(json.loads(record.read_text(encoding="utf-8"))["export"])
    return path if path.is_dir() else None


def scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def hparams(config) -> dict:
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (int, float, str, bool)):
            flat[prefix] = value
        elif isinstance(value, list):
            flat[prefix] = str(value)

    walk("", config_lib.to_dict(config))
    return flat
