"""Keras callbacks that monitor training in TensorBoard, and a reader for the logs.

`build_tensorboard_callbacks` returns the callbacks a run passes to
`model.fit(..., callbacks=...)`. They write only under the `log_dir` they are
given, and only once training starts. The layout is the one of the Keras
`TensorBoard` callback, so one TensorBoard run shows everything:

* `log_dir/train`: `epoch_<metric>` scalars of the training logs (including
  `epoch_loss_gap` from `LossGap` and the Keras callback's own
  `epoch_learning_rate`) and the weight histograms `<weight.path>/histogram`.
* `log_dir/validation`: `epoch_<metric>` scalars of the `val_` logs (so
  `epoch_loss_gap` again), plus `pr_curve` (binary tasks) or
  `confusion_matrix` (multiclass tasks).
* `log_dir`: the hyperparameters (`_hparams_/session_start_info` and
  `_hparams_/session_end_info`), so the HParams dashboard lists the run; its
  metric columns are the scalars of the two subdirectories.

Models output logits: `loss` is our compile loss plus the model's
regularization penalties (`model.losses`, e.g. an embedding L2), `data_loss`
(`build_data_loss_metric`) our loss alone and `builtin_loss` the Keras
built-in loss, both tracked as metrics on the same batches; `LossGap` logs
`data_loss - builtin_loss`, like with like (`loss - builtin_loss` where a
model has no `data_loss` metric).

`read_event_plugins` and `read_event_tags` read event files back (for tests and
reports).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2 as hparams_api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary_v1
from tensorboard.plugins.pr_curve import summary as pr_summary

from xent.stages import predict_arrays

__all__ = [
    "CONFUSION_MATRIX_TAG",
    "DATA_LOSS",
    "PR_CURVE_TAG",
    "TASKS",
    "VALIDATION_SUBDIR",
    "ConfusionMatrixLogger",
    "HParamsLogger",
    "LossGap",
    "PRCurveLogger",
    "build_data_loss_metric",
    "build_tensorboard_callbacks",
    "confusion_matrix_counts",
    "confusion_matrix_image",
    "loss_gaps",
    "read_event_plugins",
    "read_event_tags",
]

PredictFn = Callable[[keras.Model, Any], Any]
"""`predict_fn(model, x) -> probabilities`, `[n]`/`[n, 1]` binary or `[n, K]`."""

TASKS = ("binary", "multiclass", "ctr", "gan")
"""Task names `build_tensorboard_callbacks` accepts."""

_PR_CURVE_TASKS = ("binary", "ctr")
_CONFUSION_MATRIX_TASKS = ("multiclass",)

PR_CURVE_TAG = "pr_curve"
"""Tag of the PR curve summary (plugin `pr_curves`), in `VALIDATION_SUBDIR`."""

CONFUSION_MATRIX_TAG = "confusion_matrix"
"""Tag of the confusion-matrix image (plugin `images`), in `VALIDATION_SUBDIR`."""

DATA_LOSS = "data_loss"
"""Name of the `build_data_loss_metric` metric (`epoch_data_loss` in TensorBoard)."""

VALIDATION_SUBDIR = "validation"
"""The run subdirectory the Keras `TensorBoard` callback writes `val_` logs to."""

_NUM_THRESHOLDS = 201  # TensorBoard's default for PR curves.
_MAX_ANNOTATED_CLASSES = 20
_FIGURE_DPI = 100


# --------------------------------------------------------------------------
# Loss gap.
# --------------------------------------------------------------------------


def build_data_loss_metric(loss: keras.losses.Loss) -> keras.metrics.Metric:
    """Our loss without the model's regularization penalties, as a metric.

    Keras logs `loss` as the compile loss plus `model.losses` (the
    regularization penalties), while a metric sees only targets and
    predictions; this metric averages `loss`'s per-example values (its
    options, e.g. class weights, included) over the epoch exactly as
    `builtin_loss` does, so `data_loss - builtin_loss` compares like with
    like.

    Args:
        loss: The compile loss (a `keras.losses.Loss`, e.g. from
            `xent.losses.get`).

    Returns:
        A `MeanMetricWrapper` named `DATA_LOSS`.

    >>> from xent import losses
    >>> metric = build_data_loss_metric(losses.get("BinaryCrossentropy"))
    >>> metric.update_state([[1.0]], [[0.5]])
    >>> round(float(metric.result()), 4)
    0.6931
    """
    if not isinstance(loss, keras.losses.Loss):
        raise ValueError(
            "Invalid value for argument loss. Expected a keras.losses.Loss. "
            f"Received: loss={loss!r}"
        )

    def per_example(y_true, y_pred):
        # As `Loss.__call__` converts its inputs, without its reduction.
        y_true = keras.ops.convert_to_tensor(y_true, dtype=loss.dtype)
        y_pred = keras.ops.convert_to_tensor(y_pred, dtype=loss.dtype)
        return loss.call(y_true, y_pred)

    return keras.metrics.MeanMetricWrapper(per_example, name=DATA_LOSS)


def loss_gaps(logs: Mapping[str, Any]) -> dict[str, float]:
    """`data_loss - builtin_loss` for the training and validation logs.

    Where the logs have no `data_loss` (a model compiled without
    `build_data_loss_metric`), `loss` stands for it: it includes the
    regularization penalties, if any.

    Args:
        logs: Epoch logs as Keras passes them to callbacks.

    Returns:
        `{"loss_gap": ..., "val_loss_gap": ...}`, each key present only when
        both of its operands are in `logs`.

    >>> loss_gaps({"loss": 0.5, "builtin_loss": 0.25, "val_loss": 0.5})
    {'loss_gap': 0.25}
    >>> loss_gaps({"loss": 0.6, "data_loss": 0.25, "builtin_loss": 0.25})
    {'loss_gap': 0.0}
    """
    gaps = {}
    for prefix in ("", "val_"):
        ours = logs.get(f"{prefix}{DATA_LOSS}", logs.get(f"{prefix}loss"))
        builtin = logs.get(f"{prefix}builtin_loss")
        if ours is not None and builtin is not None:
            gaps[f"{prefix}loss_gap"] = float(ours) - float(builtin)
    return gaps


class LossGap(keras.callbacks.Callback):
    """Adds `loss_gap` and `val_loss_gap` (see `loss_gaps`) to the epoch logs.

    The logs are updated in place, so callbacks after this one (the Keras
    `TensorBoard` callback, `History`, `CSVLogger`) see the gaps. The learning
    rate is not added: the Keras `TensorBoard` callback already writes it as
    `epoch_learning_rate` (`epoch_learning_rate_<name>` per optimizer of a
    multi-optimizer).
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Adds the gaps to `logs`."""
        if logs is not None:
            logs.update(loss_gaps(logs))


# --------------------------------------------------------------------------
# Validation predictions.
# --------------------------------------------------------------------------


def _split_validation(validation_data: Any) -> tuple[Any, np.ndarray, Any]:
    """`(x, y)` or `(x, y, sample_weight)` as `(x, y, sample_weight or None)`."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (
        2,
        3,
    ):
        raise ValueError(
            "Invalid value for argument validation_data. Expected a tuple "
            f"(x, y) or (x, y, sample_weight). Received: {type(validation_data)}"
        )
    x, y, *rest = validation_data
    weight = None
    if rest and rest[0] is not None:
        weight = np.asarray(rest[0], "float64").reshape(-1)
        if weight.shape[0] != len(y):
            raise ValueError(
                "Invalid value for argument validation_data. Expected one "
                f"sample_weight per label ({len(y)}). Received: {weight.shape[0]}"
            )
    return x, np.asarray(y), weight


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function: `exp(-log(1 + exp(-z)))`."""
    return np.exp(-np.logaddexp(0.0, -z))


class _ValidationLogger(keras.callbacks.Callback):
    """Writes one summary per epoch, computed on `validation_data`, to
    `log_dir/validation`; the writer lives from train begin to train end."""

    def __init__(
        self,
        log_dir: str | Path,
        validation_data: tuple[Any, ...],
        predict_fn: PredictFn | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.x, self.y, self.sample_weight = _split_validation(validation_data)
        self.predict_fn = predict_fn
        self._writer = None

    def _predict(self) -> np.ndarray:
        """Probabilities (with `predict_fn`) or the model's raw outputs."""
        if self.predict_fn is not None:
            return np.asarray(self.predict_fn(self.model, self.x), "float64")
        return np.asarray(predict_arrays(self.model, self.x), "float64")

    def _write(self, epoch: int) -> None:
        raise NotImplementedError

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Opens the writer of `log_dir/validation`."""
        self._writer = tf.summary.create_file_writer(
            str(self.log_dir / VALIDATION_SUBDIR)
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Writes this epoch's summary, with the epoch as its step."""
        with self._writer.as_default():
            self._write(epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Closes the writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# --------------------------------------------------------------------------
# Binary: precision-recall curve.
# --------------------------------------------------------------------------


class PRCurveLogger(_ValidationLogger):
    """Writes the validation precision-recall curve every epoch.

    The summary (tag `PR_CURVE_TAG`, plugin `pr_curves`, 201 thresholds) is
    computed by TensorBoard's own `pr_curve.summary.pb` and shown in the
    "PR Curves" dashboard of the `validation` run.

    Args:
        log_dir: The run's log directory; writes to `log_dir/validation`.
        validation_data: `(x, y)` or `(x, y, sample_weight)`; `x` an array or a
            dict of arrays, `y` in {0, 1} of shape `[n]` or `[n, 1]`.
        predict_fn: `predict_fn(model, x)` returning probabilities of class 1;
            default `sigmoid(model.predict(x))`, for a model outputting logits.
        num_thresholds: Number of thresholds, evenly spaced in `[0, 1]`.

    Raises:
        ValueError: If `validation_data` or `num_thresholds` is invalid, or (at
            epoch end) the probabilities are not in `[0, 1]` or do not match `y`.
    """

    def __init__(
        self,
        log_dir: str | Path,
        validation_data: tuple[Any, ...],
        predict_fn: PredictFn | None = None,
        num_thresholds: int = _NUM_THRESHOLDS,
    ) -> None:
        super().__init__(log_dir, validation_data, predict_fn)
        if not isinstance(num_thresholds, int) or num_thresholds < 2:
            raise ValueError(
                "Invalid value for argument num_thresholds. Expected an int >= 2. "
                f"Received: {num_thresholds!r}"
            )
        self.num_thresholds = num_thresholds
        labels = self.y.reshape(-1)
        if not np.isin(labels, (0, 1)).all():
            raise ValueError(
                "Invalid value for argument validation_data. Expected binary "
                f"labels in {{0, 1}}. Received values: {np.unique(labels)[:10]}"
            )
        self.labels = labels.astype(bool)

    def _probabilities(self) -> np.ndarray:
        out = self._predict()
        prob = out.reshape(-1) if self.predict_fn else _sigmoid(out.reshape(-1))
        if prob.shape != self.labels.shape:
            raise ValueError(
                f"Expected one probability per validation label "
                f"({self.labels.shape[0]}). Received predictions of shape "
                f"{out.shape}."
            )
        if not ((prob >= 0.0) & (prob <= 1.0)).all():
            raise ValueError(
                "Invalid value returned by predict_fn. Expected probabilities in "
                f"[0, 1]. Received min {np.nanmin(prob)}, max {np.nanmax(prob)} "
                f"({np.isnan(prob).sum()} NaN)."
            )
        return prob

    def _write(self, epoch: int) -> None:
        proto = pr_summary.pb(
            PR_CURVE_TAG,
            labels=self.labels,
            predictions=self._probabilities(),
            num_thresholds=self.num_thresholds,
            weights=self.sample_weight,
            display_name="Validation precision-recall",
        )
        (value,) = proto.value
        # Re-written through the TF2 API under the plain tag (`pb` appends
        # "/pr_curves" to the name, a TF1 naming convention).
        tf.summary.write(
            PR_CURVE_TAG,
            tensor=tf.make_ndarray(value.tensor),
            step=epoch,
            metadata=value.metadata.SerializeToString(),
        )


# --------------------------------------------------------------------------
# Multiclass: confusion matrix.
# --------------------------------------------------------------------------


def confusion_matrix_counts(
    y_true: Any, y_pred: Any, n_classes: int, sample_weight: Any = None
) -> np.ndarray:
    """The `[K, K]` confusion matrix; rows are true classes, columns predicted.

    Args:
        y_true: Integer class ids in `[0, K)`, shape `[n]` (or `[n, 1]`).
        y_pred: Predicted class ids in `[0, K)`, shape `[n]`.
        n_classes: K.
        sample_weight: Optional per-sample weights; counts are weight sums.

    Returns:
        A float64 array of shape `[K, K]`.

    Raises:
        ValueError: If the ids are out of range or the lengths differ.

    >>> confusion_matrix_counts([0, 1, 1], [0, 1, 0], 2).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(y_pred).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(
            f"Expected one prediction per label. Received {y.shape[0]} labels "
            f"and {p.shape[0]} predictions."
        )
    for name, ids in (("y_true", y), ("y_pred", p)):
        if ids.size and not (
            np.all(ids == np.round(ids)) and ids.min() >= 0 and ids.max() < n_classes
        ):
            raise ValueError(
                f"Invalid value for argument {name}. Expected class ids in "
                f"[0, {n_classes}). Received values: {np.unique(ids)[:10]}"
            )
    flat = y.astype(np.int64) * n_classes + p.astype(np.int64)
    weights = None if sample_weight is None else np.asarray(sample_weight).reshape(-1)
    counts = np.bincount(flat, weights=weights, minlength=n_classes * n_classes)
    return counts.astype(np.float64).reshape(n_classes, n_classes)


def confusion_matrix_image(
    cm: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix"
) -> np.ndarray:
    """Renders a confusion matrix as an RGB image (no pyplot, no disk).

    Args:
        cm: The `[K, K]` counts; rows are true classes, columns predicted.
        class_names: K names for the axes.
        title: The figure title.

    Returns:
        A `uint8` array of shape `[height, width, 3]`.
    """
    k = cm.shape[0]
    side = min(4.0 + 0.4 * k, 12.0)
    fig = Figure(figsize=(side + 1.0, side), dpi=_FIGURE_DPI, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="Count")
    ax.set(xlabel="Predicted class", ylabel="True class", title=title)
    labels = [str(n).replace("$", r"\$") for n in class_names]
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    if k <= _MAX_ANNOTATED_CLASSES:
        threshold = cm.max() / 2 if cm.size else 0.0
        integral = np.all(cm == np.round(cm))
        for (i, j), count in np.ndenumerate(cm):
            ax.text(
                j,
                i,
                f"{count:.0f}" if integral else f"{count:.3g}",
                ha="center",
                va="center",
                color="white" if count > threshold else "black",
            )
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class ConfusionMatrixLogger(_ValidationLogger):
    """Writes the validation confusion matrix as an image every epoch.

    The image (tag `CONFUSION_MATRIX_TAG`, plugin `images`) is shown in the
    "Images" dashboard of the `validation` run; the predicted class is the
    argmax of the model's outputs (logits or probabilities alike).

    Args:
        log_dir: The run's log directory; writes to `log_dir/validation`.
        validation_data: `(x, y)` or `(x, y, sample_weight)`; `x` an array or a
            dict of arrays, `y` integer class ids of shape `[n]` or `[n, 1]`.
        class_names: The K class names, in class-id order.
        predict_fn: `predict_fn(model, x)` returning `[n, K]` probabilities;
            default `model.predict(x)`.

    Raises:
        ValueError: If an argument is invalid, or (at epoch end) the model's
            outputs are not `[n, K]`.
    """

    def __init__(
        self,
        log_dir: str | Path,
        validation_data: tuple[Any, ...],
        class_names: Sequence[str],
        predict_fn: PredictFn | None = None,
    ) -> None:
        super().__init__(log_dir, validation_data, predict_fn)
        if isinstance(class_names, str) or len(class_names) < 2:
            raise ValueError(
                "Invalid value for argument class_names. Expected a sequence of "
                f"at least 2 names. Received: {class_names!r}"
            )
        self.class_names = [str(n) for n in class_names]
        k = len(self.class_names)
        labels = self.y.reshape(-1)
        if labels.size and not (
            np.all(labels == np.round(labels))
            and labels.min() >= 0
            and labels.max() < k
        ):
            raise ValueError(
                "Invalid value for argument validation_data. Expected class ids "
                f"in [0, {k}) for {k} class_names. Received values: "
                f"{np.unique(labels)[:10]}"
            )

    def _write(self, epoch: int) -> None:
        out = self._predict()
        k = len(self.class_names)
        if out.ndim != 2 or out.shape != (self.y.reshape(-1).shape[0], k):
            raise ValueError(
                f"Expected predictions of shape (n, {k}) = "
                f"({self.y.reshape(-1).shape[0]}, {k}) for {k} class_names. "
                f"Received: {out.shape}"
            )
        cm = confusion_matrix_counts(self.y, out.argmax(axis=1), k, self.sample_weight)
        image = confusion_matrix_image(cm, self.class_names, f"Epoch {epoch}")
        tf.summary.image(CONFUSION_MATRIX_TAG, image[np.newaxis], step=epoch)


# --------------------------------------------------------------------------
# Hyperparameters.
# --------------------------------------------------------------------------


def _check_hparams(hparams: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    if not isinstance(hparams, Mapping):
        raise ValueError(
            "Invalid value for argument hparams. Expected a dict. "
            f"Received: {type(hparams)}"
        )
    checked = {}
    for key, value in hparams.items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(key, str) or not isinstance(value, (bool, int, float, str)):
            raise ValueError(
                f"Invalid value for argument hparams[{key!r}]. Expected a str key "
                f"and a bool, int, float or str value. Received: {value!r}"
            )
        checked[key] = value
    return checked


class HParamsLogger(keras.callbacks.Callback):
    """Records the run's hyperparameters for TensorBoard's HParams dashboard.

    Writes `hp.hparams(hparams)` (tag `_hparams_/session_start_info`) at train
    begin and a success status (`_hparams_/session_end_info`) at train end, in
    `log_dir` itself. The dashboard takes its metric columns from the scalars
    of the run's subdirectories (`train/epoch_loss`, `validation/epoch_loss`,
    ...), so no metric is written here.

    Args:
        log_dir: The run's log directory.
        hparams: Hyperparameter name -> `bool`, `int`, `float` or `str` value
            (NumPy scalars are accepted).
        trial_id: Optional id grouping runs of the same trial; defaults to a
            hash of `hparams`.

    Raises:
        ValueError: If a hyperparameter name or value has an unsupported type.
    """

    def __init__(
        self,
        log_dir: str | Path,
        hparams: Mapping[str, bool | int | float | str],
        trial_id: str | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.hparams = _check_hparams(hparams)
        self.trial_id = trial_id
        self._writer = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Writes the hyperparameters."""
        self._writer = tf.summary.create_file_writer(str(self.log_dir))
        with self._writer.as_default():
            hp.hparams(self.hparams, trial_id=self.trial_id)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Marks the session as finished, then closes the writer."""
        if self._writer is None:
            return
        proto = hparams_summary_v1.session_end_pb(hparams_api_pb2.STATUS_SUCCESS)
        with self._writer.as_default():
            tf.summary.experimental.write_raw_pb(proto.SerializeToString(), step=0)
        self._writer.close()
        self._writer = None


# --------------------------------------------------------------------------
# Factory.
# --------------------------------------------------------------------------


def build_tensorboard_callbacks(
    log_dir: Path,
    task: str,
    validation_data: tuple[Any, ...] | None,
    class_names: Sequence[str],
    hparams: Mapping[str, float | int | str | bool],
    predict_fn: PredictFn | None = None,
) -> list[keras.callbacks.Callback]:
    """The TensorBoard monitoring callbacks of one run, in the order to pass them.

    Returns `[LossGap, keras.callbacks.TensorBoard, <task logger>,
    HParamsLogger]`. `LossGap` comes first so that the `TensorBoard` callback
    sees the gaps. The task logger is a `PRCurveLogger` for `"binary"` and
    `"ctr"`, a `ConfusionMatrixLogger` for `"multiclass"`, and is left out for
    `"gan"` or when `validation_data` is None. Nothing is written before
    `model.fit` starts.

    Args:
        log_dir: The run's TensorBoard directory (created on train begin).
        task: One of `TASKS`.
        validation_data: `(x, y)` or `(x, y, sample_weight)` for the task
            logger, or None.
        class_names: The class names (used by the confusion matrix; at least
            2 for `"multiclass"`).
        hparams: Hyperparameters to record for the HParams dashboard.
        predict_fn: Optional `predict_fn(model, x) -> probabilities` for the
            task logger (see `PRCurveLogger`, `ConfusionMatrixLogger`).

    Returns:
        The list of callbacks.

    Raises:
        ValueError: If `task` is unknown or another argument is invalid.

    >>> cbs = build_tensorboard_callbacks(Path("runs/x/tb"), "gan", None, [], {})
    >>> [type(cb).__name__ for cb in cbs]
    ['LossGap', 'TensorBoard', 'HParamsLogger']
    """
    if task not in TASKS:
        raise ValueError(
            f"Invalid value for argument task. Expected one of {set(TASKS)}. "
            f"Received: {task!r}"
        )
    log_dir = Path(log_dir)
    callbacks: list[keras.callbacks.Callback] = [
        LossGap(),
        keras.callbacks.TensorBoard(
            log_dir=str(log_dir), histogram_freq=1, write_graph=False
        ),
    ]
    if validation_data is not None and task in _PR_CURVE_TASKS:
        callbacks.append(PRCurveLogger(log_dir, validation_data, predict_fn))
    elif validation_data is not None and task in _CONFUSION_MATRIX_TASKS:
        callbacks.append(
            ConfusionMatrixLogger(log_dir, validation_data, class_names, predict_fn)
        )
    callbacks.append(HParamsLogger(log_dir, hparams))
    return callbacks


# --------------------------------------------------------------------------
# Reading event files back.
# --------------------------------------------------------------------------


def _event_files(log_dir: Path) -> list[Path]:
    # TensorBoard's rule (`io_wrapper.IsSummaryEventsFile`): "tfevents" in the
    # name.
    return sorted(p for p in log_dir.rglob("*") if p.is_file() and "tfevents" in p.name)


def read_event_plugins(log_dir: str | Path) -> dict[str, dict[str, set[str]]]:
    """Which tags each run of a log directory holds, grouped by plugin.

    Reads every event file under `log_dir` (recursively) with TensorBoard's
    own loader, which tolerates a truncated last record (a file still being
    written) and maps TF1-style values to their plugins (`simple_value` ->
    `scalars`, `histo` -> `histograms`, `image` -> `images`).

    Args:
        log_dir: A TensorBoard log directory.

    Returns:
        Run -> plugin name -> set of tags. A run is the directory of the event
        files relative to `log_dir` in POSIX form, `"."` for `log_dir` itself
        (e.g. `"train"`, `"validation"`). Tags whose plugin is unknown (a raw
        tensor without metadata) are under plugin `""`.

    Raises:
        FileNotFoundError: If `log_dir` is not a directory.
    """
    log_dir = Path(log_dir)
    if not log_dir.is_dir():
        raise FileNotFoundError(
            f"Invalid value for argument log_dir: {log_dir} is not a directory."
        )
    runs: dict[str, dict[str, set[str]]] = {}
    for path in _event_files(log_dir):
        run = path.parent.relative_to(log_dir).as_posix()
        plugins = runs.setdefault(run, {})
        # TF2 writers put the metadata on the first value of a tag only.
        tag_plugin: dict[str, str] = {}
        for event in EventFileLoader(str(path)).Load():
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                name = value.metadata.plugin_data.plugin_name
                if name:
                    tag_plugin[value.tag] = name
                plugin = tag_plugin.get(value.tag, "")
                plugins.setdefault(plugin, set()).add(value.tag)
    return runs


def read_event_tags(log_dir: str | Path) -> dict[str, set[str]]:
    """The tags and plugin names present in each run of a log directory.

    Args:
        log_dir: A TensorBoard log directory.

    Returns:
        Run (as in `read_event_plugins`: `"train"`, `"validation"`, `"."`) ->
        the union of its tags (e.g. `"epoch_loss"`, `"dense/kernel/histogram"`,
        `"pr_curve"`, `"confusion_matrix"`, `"_hparams_/session_start_info"`)
        and its plugin names (e.g. `"scalars"`, `"histograms"`, `"pr_curves"`,
        `"images"`, `"hparams"`).

    Raises:
        FileNotFoundError: If `log_dir` is not a directory.
    """
    out = {}
    for run, plugins in read_event_plugins(log_dir).items():
        names = {name for name in plugins if name}
        out[run] = names.union(*plugins.values())
    return out
