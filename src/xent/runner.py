"""The one runner: data -> model -> train -> evaluate -> report -> export.

A task is a small plug-in (see `Task`); the runner owns every side effect,
and writes only under the run directory and the export base directory:

    runs/<task>/<run-id>/
        config.yaml        the resolved config
        logs/              TensorBoard (train/, validation/)
        checkpoints/       the best weights so far
        report.json, report.html, *.png
    saved_models/<task>/<version>/   the SavedModel (TF Serving layout)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import Protocol

import keras
import numpy as np
import yaml

from xent import config as config_lib
from xent import report as report_lib

__all__ = [
    "Evaluation",
    "Prepared",
    "RunResult",
    "StopOnNonFinite",
    "Task",
    "TrainingDivergedError",
    "hparams",
    "make_run_dir",
    "run",
    "scalars",
    "write_atomic",
]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A task's data, ready for the runner.

    Attributes:
        name: Data set name for the report.
        summary: JSON-serializable description (rows per split, balance, ...).
        splits: `{"train"|"validation"|"test": (raw_x, y)}` in memory;
            `raw_x` is what the serving model takes (a dict of columns or an
            array). Empty when the data stream (see `streams`).
        class_names: Class names in class-id order.
        preprocessor: Keras model mapping raw inputs to model features (None
            for tasks without one, such as the GAN).
        baseline: `(x_train, y_train, x_test, y_test)` numeric matrices for
            the scikit-learn baselines, or None to skip them.
        metadata: Extra export metadata (feature schema, label mapping).
        streams: Optional `{split: callable() -> tf.data.Dataset}` of batched
            `(raw_x, y)` for data read from disk without loading it whole.
        extra: Task-specific values (e.g. the true click probabilities of a
            synthetic test split), keyed by name.
    """

    name: str
    summary: dict
    splits: dict[str, tuple[Any, np.ndarray]]
    class_names: tuple[str, ...]
    preprocessor: keras.Model | None
    baseline: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    streams: dict[str, Callable[[], Any]] | None = None
    extra: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What a task's evaluation hands to the report.

    Attributes:
        metrics: `metrics.test` of the report (JSON-serializable).
        plots: PNG bytes keyed by file name, in display order.
        sections: Extra top-level report sections (e.g. `curves`).
    """

    metrics: dict
    plots: dict[str, bytes] = dataclasses.field(default_factory=dict)
    sections: dict = dataclasses.field(default_factory=dict)


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
    ) -> dict[str, list[float]]:
        """Trains; returns the Keras history dict."""

    def evaluate_model(
        self, model: keras.Model, config, data: Prepared, history: dict
    ) -> Evaluation: ...

    def baselines(self, config, data: Prepared) -> dict: ...

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
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"training diverged: loss is {float(loss)} at epoch "
                f"{self._epoch + 1}, step {batch + 1}"
            )


def make_run_dir(
    task: str, run_dir: str | Path | None, root: str | Path = "runs"
) -> Path:
    """Creates (and returns) the run directory; an explicit one must be new or empty."""
    if run_dir is None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        base = Path(root) / task
        base.mkdir(parents=True, exist_ok=True)
        path = base / stamp
        n = 1
        while path.exists():
            n += 1
            path = base / f"{stamp}-{n}"
    else:
        path = Path(run_dir)
        if path.exists() and any(path.iterdir()):
            raise ValueError(f"Run directory {path} exists and is not empty")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Writes a file through a temporary sibling and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(
            fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})
        ) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
        run_dir: Where to write; defaults to `runs/<task>/<timestamp>`.
        saved_models: Export base directory; the model goes to
            `<saved_models>/<task>/<version>`.
        export: Whether to export the SavedModel.
        verbose: Keras progress bar setting.
        log: Where progress lines go.

    Returns:
        A `RunResult` with the paths and the report.

    Raises:
        TrainingDivergedError: If the loss became NaN or infinite; nothing but the
            config, the logs and the last good checkpoint is written.
    """
    train_cfg = config.train
    run_path = make_run_dir(task.name, run_dir)
    write_atomic(run_path / "config.yaml", yaml.safe_dump(config_lib.to_dict(config)))
    keras.utils.set_random_seed(train_cfg.seed)

    data = task.build_inputs(config)
    model = task.create_model(config, data)
    cbs = [StopOnNonFinite(), *task.monitor_callbacks(config, data, run_path / "logs")]
    ckpt = run_path / "checkpoints" / "best.weights.h5"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    monitor = task.monitor and (getattr(train_cfg, "monitor", None) or task.monitor)
    cbs.append(
        keras.callbacks.ModelCheckpoint(
            ckpt,
            monitor=monitor or "loss",
            save_best_only=monitor is not None,
            save_weights_only=True,
        )
    )
    if monitor and train_cfg.early_stopping_patience:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=train_cfg.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    history = task.fit(model, config, data, cbs, verbose)
    outcome = task.evaluate_model(model, config, data, history)
    report = {
        "task": task.name,
        "dataset": {"name": data.name, **data.summary},
        "metrics": {"test": outcome.metrics},
        "baseline": task.baselines(config, data),
        "training": {
            "epochs_run": len(next(iter(history.values()), [])),
            "history": history,
        },
        **outcome.sections,
        "class_names": list(data.class_names),
        "config": config_lib.to_dict(config),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run_path),
    }

    export_path = None
    if export:
        export_path = task.export_model(
            model, config, data, Path(saved_models) / task.name, outcome.metrics
        )
        report["export"] = str(export_path)

    report = report_lib.to_jsonable(report)
    for name, png in outcome.plots.items():
        write_atomic(run_path / name, png)
    html = report_lib.render_html(
        _html_view(report), {name: name for name in outcome.plots}
    )
    write_atomic(run_path / "report.html", html)
    report_path = run_path / "report.json"
    write_atomic(report_path, json.dumps(report, indent=2, allow_nan=False))
    log(f"run dir: {run_path}")
    log(f"report:  {report_path}")
    if export_path is not None:
        log(f"export:  {export_path}")
    return RunResult(run_path, report_path, export_path, report)


def _html_view(report: dict) -> dict:
    """Maps `report.json` onto the keys `report.render_html` reads."""
    dataset = report.get("dataset", {})
    features = dataset.get("features", {})
    names = []
    if isinstance(features, dict):
        names = [*features.get("numeric", []), *features.get("categorical", [])]
    test = dict(report.get("metrics", {}).get("test", {}))
    return {
        "task": report.get("task"),
        "dataset": dataset.get("name"),
        "created_at": report.get("created"),
        "data": {
            "splits": dataset.get("rows", {}),
            "class_names": report.get("class_names"),
            "feature_names": names,
            "n_features": len(names) or None,
        },
        "metrics": test,
        "baselines": report.get("baseline", {}),
        "cross_entropy": test.pop("cross_entropy", None),
        "config": report.get("config"),
        # A task's own title and metrics note (`Evaluation.sections["html"]`).
        **{
            k: v
            for k, v in (report.get("html") or {}).items()
            if k in ("title", "metrics_note")
        },
    }


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
