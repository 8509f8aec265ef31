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
from xent import export as export_lib
from xent import report as report_lib

__all__ = ["Prepared", "RunResult", "Task", "make_run_dir", "run", "write_atomic"]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A task's data, ready for the runner.

    Attributes:
        name: Data set name for the report.
        summary: JSON-serializable description (rows per split, balance, ...).
        splits: `{"train"|"validation"|"test": (raw_x, y)}`; `raw_x` is what
            the serving model takes (a dict of columns or an array).
        class_names: Class names in class-id order.
        preprocessor: Keras model mapping raw inputs to model features.
        baseline: `(x_train, y_train, x_test, y_test)` numeric matrices for
            the scikit-learn baselines, or None to skip them.
        metadata: Extra export metadata (feature schema, label mapping).
    """

    name: str
    summary: dict
    splits: dict[str, tuple[Any, np.ndarray]]
    class_names: tuple[str, ...]
    preprocessor: keras.Model
    baseline: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    metadata: dict = dataclasses.field(default_factory=dict)


class Task(Protocol):
    """The hooks a pipeline implements; the runner calls them in order."""

    name: str
    config_class: type
    defaults: Path

    def build_inputs(self, config) -> Prepared: ...

    def build_model(
        self, config, feature_shape: tuple[int, ...], data: Prepared
    ) -> keras.Model: ...

    def build_losses(self, config, data: Prepared) -> keras.losses.Loss: ...

    def build_metrics(self, config, data: Prepared) -> list: ...

    def build_targets(
        self, config, labels: np.ndarray, data: Prepared
    ) -> np.ndarray: ...

    def evaluate(
        self, y_true: np.ndarray, prob: np.ndarray, data: Prepared
    ) -> dict: ...

    def baselines(self, config, data: Prepared) -> dict: ...


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a run produced."""

    run_dir: Path
    report_path: Path
    export_path: Path | None
    report: dict


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


def _batched_predict(model: keras.Model, x, batch_size: int = 1024) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def _probabilities(logits: np.ndarray, binary: bool) -> np.ndarray:
    if binary:
        return 1.0 / (1.0 + np.exp(-logits.reshape(-1).astype("float64")))
    z = logits.astype("float64")
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


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
            holding `seed`, `epochs`, `batch_size`, `learning_rate` and
            `early_stopping_patience`).
        run_dir: Where to write; defaults to `runs/<task>/<timestamp>`.
        saved_models: Export base directory; the model goes to
            `<saved_models>/<task>/<version>`.
        export: Whether to export the SavedModel.
        verbose: Keras progress bar setting.
        log: Where progress lines go.

    Returns:
        A `RunResult` with the paths and the report.
    """
    from xent import callbacks as callbacks_lib
    from xent.layers import CrossEntropyEndpoint

    train_cfg = config.train
    run_path = make_run_dir(task.name, run_dir)
    write_atomic(run_path / "config.yaml", yaml.safe_dump(config_lib.to_dict(config)))
    keras.utils.set_random_seed(train_cfg.seed)

    data = task.build_inputs(config)
    binary = len(data.class_names) == 2 and task.name != "multiclass"
    features = {
        split: (_batched_predict(data.preprocessor, x), y)
        for split, (x, y) in data.splits.items()
    }
    feature_shape = features["train"][0].shape[1:]
    model = task.build_model(config, feature_shape, data)
    loss = task.build_losses(config, data)
    model.compile(
        optimizer=keras.optimizers.Adam(train_cfg.learning_rate),
        loss=loss,
        metrics=task.build_metrics(config, data),
    )

    logs_dir = run_path / "logs"
    x_val, y_val = features["validation"]
    hparams = _hparams(config)
    cbs = callbacks_lib.build_tensorboard_callbacks(
        logs_dir,
        task="binary" if binary else "multiclass",
        validation_data=(x_val, y_val),
        class_names=data.class_names,
        hparams=hparams,
    )
    ckpt = run_path / "checkpoints" / "best.weights.h5"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    cbs.append(
        keras.callbacks.ModelCheckpoint(
            ckpt, monitor="val_loss", save_best_only=True, save_weights_only=True
        )
    )
    if train_cfg.early_stopping_patience:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=train_cfg.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    x_train, y_train = features["train"]
    history = model.fit(
        x_train,
        task.build_targets(config, y_train, data),
        validation_data=(x_val, task.build_targets(config, y_val, data)),
        epochs=train_cfg.epochs,
        batch_size=train_cfg.batch_size,
        callbacks=cbs,
        verbose=verbose,
    )

    x_test, y_test = features["test"]
    prob = _probabilities(_batched_predict(model, x_test), binary)
    test_metrics = task.evaluate(y_test, prob, data)
    report = {
        "task": task.name,
        "dataset": {"name": data.name, **data.summary},
        "metrics": {"test": test_metrics},
        "baseline": task.baselines(config, data),
        "training": {
            "epochs_run": len(history.history.get("loss", [])),
            "history": history.history,
        },
        "class_names": list(data.class_names),
        "config": config_lib.to_dict(config),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run_path),
    }

    export_path = None
    if export:
        raw_inputs = data.preprocessor.inputs
        raw = raw_inputs if len(raw_inputs) > 1 else raw_inputs[0]
        if isinstance(data.preprocessor.input, dict):
            raw = data.preprocessor.input
        head = CrossEntropyEndpoint(loss, name="probabilities")
        serving = keras.Model(raw, head(model(data.preprocessor(raw))), name="serving")
        metadata = {
            "task": task.name,
            "dataset": data.name,
            "class_names": list(data.class_names),
            "test_metrics": _scalars(test_metrics),
            **data.metadata,
        }
        export_path = export_lib.export_classifier(
            serving,
            Path(saved_models) / task.name,
            class_names=data.class_names,
            metadata=report_lib.to_jsonable(metadata),
        )
        report["export"] = str(export_path)

    report = report_lib.to_jsonable(report)
    y_true = np.asarray(y_test)
    plots = report_lib.render_plots(
        "binary" if binary else "multiclass",
        y_true,
        prob,
        history.history,
        class_names=list(data.class_names),
    )
    for name, png in plots.items():
        write_atomic(run_path / name, png)
    html = report_lib.render_html(_html_view(report), {name: name for name in plots})
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
    }


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _hparams(config) -> dict:
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
