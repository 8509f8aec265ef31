"""Evaluation report rendering: PNG plots, a standalone HTML page, JSON values.

Pure functions: plots are returned as PNG bytes and the page as a string; the
runner decides where they are written. Figures are drawn with matplotlib's
object API (`Figure` + `FigureCanvasAgg`), so no global pyplot state or
backend setting is touched.

The `report` dict rendered by `render_html` (every key optional):

* `title` (str), `task` (`"binary"` or `"multiclass"`), `dataset` (str),
  `model_name` (str, default `"model"`), `created_at` (str).
* `data`: `{"splits": {split: {"n": int, "class_counts": {class: int}}},
  "n_features": int, "feature_names": [str], "class_names": [str],
  "bad_rows": {"count": int, "examples": ["file:line: reason"]}}`; a split
  may also be given as a bare row count; `bad_rows` (malformed rows skipped
  while reading files) is shown when present.
* `metrics`: the model's `xent.evaluation.binary_metrics` or
  `multiclass_metrics` dict on the test split.
* `baselines`: `{name: metrics}`, as returned by `xent.evaluation.baselines`.
* `cross_entropy`: `xent.evaluation.cross_entropy_decomposition`'s dict.
* `config`: the run's resolved config (any JSON-able value).
* `metrics_note` (str): replaces the note under the metrics table.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import html
import io
import json
import math
import pathlib
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import precision_recall_curve
from sklearn.metrics import roc_curve

from xent import evaluation

__all__ = [
    "calibration_buckets_png",
    "BINARY_PLOTS",
    "MULTICLASS_PLOTS",
    "render_html",
    "render_plots",
    "to_jsonable",
]

BINARY_PLOTS = (
    "roc.png",
    "pr.png",
    "calibration.png",
    "confusion_matrix.png",
    "training_curves.png",
)
"""File names `render_plots` returns for a binary task, in display order."""

MULTICLASS_PLOTS = ("confusion_matrix.png", "calibration.png", "training_curves.png")
"""File names `render_plots` returns for a multiclass task, in display order."""

_DPI = 100
# Confusion-matrix plots stop annotating cells / labelling ticks beyond these.
_MAX_ANNOTATED_CLASSES = 20
_MAX_LABELLED_CLASSES = 40

# Metric rows where a best value is marked; other rows are descriptive.
_HIGHER_IS_BETTER = frozenset(
    {
        "auc",
        "pr_auc",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "best_f1",
        "precision_at_best_f1",
        "recall_at_best_f1",
        "macro_f1",
        "weighted_f1",
    }
)
_LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece"})
_METRIC_ORDER = (
    "auc",
    "pr_auc",
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "log_loss",
    "brier",
    "ece",
    "precision",
    "recall",
    "f1",
    "best_f1",
    "best_f1_threshold",
    "precision_at_best_f1",
    "recall_at_best_f1",
    "positive_rate",
    "n_classes",
    "n",
)
_METRIC_LABELS = {
    "auc": "ROC AUC",
    "pr_auc": "PR AUC (average precision)",
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "weighted_f1": "Weighted F1",
    "log_loss": "Log loss (nats)",
    "brier": "Brier score",
    "ece": "ECE",
    "precision": "Precision @ 0.5",
    "recall": "Recall @ 0.5",
    "f1": "F1 @ 0.5",
    "best_f1": "Best F1",
    "best_f1_threshold": "Best-F1 threshold",
    "precision_at_best_f1": "Precision @ best F1",
    "recall_at_best_f1": "Recall @ best F1",
    "positive_rate": "Positive rate",
    "n_classes": "Classes",
    "n": "Test samples",
}
_DIGITS = 4


# --------------------------------------------------------------------------
# JSON.
# --------------------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """A copy of `obj` made of JSON values only.

    NumPy scalars become Python scalars and arrays become (nested) lists;
    non-finite floats (NaN, +-inf) become None, so that
    `json.dumps(to_jsonable(obj), allow_nan=False)` succeeds. Mappings become
    dicts with `str` keys, tuples and lists become lists, sets sorted lists,
    dataclasses dicts, enums their value, paths strings and dates ISO strings.
    Objects with an `__array__` method (e.g. TensorFlow tensors) go through
    `np.asarray`.

    Args:
        obj: The value to convert.

    Returns:
        The converted value.

    Raises:
        TypeError: For any other type, naming where in `obj` it was found.

    >>> to_jsonable({"auc": np.float32(0.5), "loss": float("nan")})
    {'auc': 0.5, 'loss': None}
    """
    return _jsonable(obj, "obj")


def _jsonable(obj: Any, where: str) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)  # Plain int, also for subclasses such as IntEnum.
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, enum.Enum):
        return _jsonable(obj.value, where)
    if isinstance(obj, np.generic):
        return _jsonable(obj.item(), where)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), where)
    if isinstance(obj, Mapping):
        return {_json_key(k): _jsonable(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        items = [_jsonable(v, f"{where}{{...}}") for v in obj]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj), where)
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if hasattr(obj, "__array__"):
        return _jsonable(np.asarray(obj), where)
    raise TypeError(
        f"Cannot convert {where} of type {type(obj).__name__} to a JSON value."
    )


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    value = _jsonable(key, "key")
    return value if isinstance(value, str) else json.dumps(value)


# --------------------------------------------------------------------------
# Plots.
# --------------------------------------------------------------------------


def _plot_class_names(class_names: Sequence[str] | None, k: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(k)]
    if isinstance(class_names, str) or len(class_names) != k:
        raise ValueError(
            f"Invalid value for argument class_names. Expected {k} names. "
            f"Received: {class_names!r}"
        )
    return [str(n) for n in class_names]


def _mpl_text(text: Any) -> str:
    """`text` shown literally by matplotlib (`$` would start math mode)."""
    return str(text).replace("$", r"\$")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No "Software" entry, so the bytes do not depend on the matplotlib version.
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _message_png(title: str, message: str) -> bytes:
    """A placeholder figure for a plot that is undefined for these data."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(_mpl_text(title))
    ax.text(0.5, 0.5, _mpl_text(message), ha="center", va="center", wrap=True)
    return _png(fig)


def _roc_png(y: np.ndarray, p: np.ndarray, auc: float | None) -> bytes:
    if auc is None:
        return _message_png("ROC curve", "Undefined: y_true holds a single class.")
    fpr, tpr, _ = roc_curve(y, p)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, lw=2, label=f"model (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.set(
        xlabel="False positive rate",
        ylabel="True positive rate",
        title="ROC curve",
        xlim=(0, 1),
        ylim=(0, 1.01),
        aspect="equal",
    )
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _png(fig)


def _pr_png(y: np.ndarray, p: np.ndarray, ap: float | None, base: float) -> bytes:
    if ap is None:
        return _message_png(
            "Precision-recall curve", "Undefined: y_true holds no positive."
        )
    precision, recall, _ = precision_recall_curve(y, p)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.step(recall, precision, where="post", lw=2, label=f"model (AP = {ap:.4f})")
    ax.axhline(base, ls="--", color="grey", lw=1, label=f"base rate ({base:.3f})")
    ax.set(
        xlabel="Recall",
        ylabel="Precision",
        title="Precision-recall curve",
        xlim=(0, 1),
        ylim=(0, 1.01),
        aspect="equal",
    )
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return _png(fig)


def _calibration_png(curve: dict[str, Any], title: str, xlabel: str) -> bytes:
    fig = Figure(figsize=(5, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    top.plot(
        curve["mean_predicted"],
        curve["observed_rate"],
        marker="o",
        lw=2,
        label=f"model (ECE = {curve['ece']:.4f})",
    )
    top.set(
        ylabel="Observed frequency",
        title=title,
        xlim=(0, 1),
        ylim=(-0.02, 1.04),
    )
    top.legend(loc="best")
    top.grid(alpha=0.3)
    lower = np.asarray(curve["bin_lower"])
    upper = np.asarray(curve["bin_upper"])
    bottom.bar(lower, curve["count"], width=upper - lower, align="edge", alpha=0.7)
    bottom.set(xlabel=xlabel, ylabel="Count")
    bottom.grid(alpha=0.3)
    return _png(fig)


def calibration_buckets_png(buckets: Mapping[str, Sequence[float]]) -> bytes:
    """Bucketed calibration plot (log-log): mean predicted vs observed CTR.

    Args:
        buckets: `mean_predicted`, `observed` and `count` lists, as returned
            by `xent.ctr.metrics.calibration_buckets` (equal-count buckets).
    """
    pred = np.asarray(buckets.get("mean_predicted", []), dtype=np.float64)
    obs = np.asarray(buckets.get("observed", []), dtype=np.float64)
    if pred.size == 0:
        return _message_png("Calibration by bucket", "no predictions")
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    floor = 0.5 / max(int(np.sum(buckets.get("count", [1]))), 1)
    lo = max(min(pred.min(), obs[obs > 0].min() if np.any(obs > 0) else 1), floor)
    hi = max(pred.max(), obs.max(), lo * 10)
    ax.plot([lo, hi], [lo, hi], color="0.6", linestyle="--", label="perfect")
    ax.plot(pred, np.maximum(obs, floor), marker="o", label="model")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean predicted CTR (equal-count buckets)")
    ax.set_ylabel("observed CTR")
    ax.set_title("Calibration by bucket")
    ax.legend(loc="upper left")
    return _png(fig)


def _confusion_png(cm: np.ndarray, names: Sequence[str], title: str) -> bytes:
    k = cm.shape[0]
    side = min(4 + 0.4 * k, 16)
    fig = Figure(figsize=(side + 1, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="Count", ticks=MaxNLocator(integer=True))
    ax.set(xlabel="Predicted class", ylabel="True class", title=title)
    if k <= _MAX_LABELLED_CLASSES:
        labels = [_mpl_text(n) for n in names]
        ax.set_xticks(range(k), labels, rotation=45, ha="right")
        ax.set_yticks(range(k), labels)
    if k <= _MAX_ANNOTATED_CLASSES:
        threshold = cm.max() / 2 if cm.size else 0
        for (i, j), count in np.ndenumerate(cm):
            ax.text(
                j,
                i,
                f"{count:d}",
                ha="center",
                va="center",
                color="white" if count > threshold else "black",
            )
    return _png(fig)


def _history_groups(history: Mapping[str, Sequence[float]]) -> list[list[str]]:
    """Keys grouped as `[name, "val_" + name]` pairs, in first-seen order."""
    groups: list[list[str]] = []
    for key in history:
        if key.startswith("val_") and key[4:] in history:
            continue  # Plotted with its training series.
        group = [key]
        if f"val_{key}" in history:
            group.append(f"val_{key}")
        groups.append(group)
    return groups


def _history_series(history: Any) -> dict[str, np.ndarray]:
    """`history` checked and converted to float64 arrays (None -> empty)."""
    if history is None:
        return {}
    if not isinstance(history, Mapping):
        raise ValueError(
            "Invalid value for argument history. Expected a dict of lists. "
            f"Received: {type(history).__name__}"
        )
    series: dict[str, np.ndarray] = {}
    for key, values in history.items():
        if not isinstance(key, str):
            raise ValueError(
                f"Invalid key in argument history. Expected str. Received: {key!r}"
            )
        try:
            series[key] = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"Invalid value for argument history[{key!r}]. Expected a list "
                "of numbers."
            ) from err
    return series


def _training_curves_png(series: Mapping[str, np.ndarray]) -> bytes:
    if not series:
        return _message_png("Training curves", "No training history recorded.")
    groups = _history_groups(series)
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = Figure(figsize=(4.5 * ncols, 3.5 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, group in zip(axes, groups, strict=False):  # Spare axes stay empty.
        for key in group:
            values = series[key]
            epochs = np.arange(1, values.size + 1)
            label = "validation" if key.startswith("val_") else "train"
            ax.plot(
                epochs, values, marker="." if values.size < 30 else None, label=label
            )
        ax.set(title=_mpl_text(group[0]), xlabel="Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes[len(groups) :]:
        ax.set_axis_off()
    return _png(fig)


def render_plots(
    task: str,
    y_true: Any,
    prob: Any,
    history: Mapping[str, Sequence[float]] | None,
    class_names: Sequence[str] | None = None,
) -> dict[str, bytes]:
    """Draw the report's plots as PNG images.

    Args:
        task: `"binary"` or `"multiclass"`.
        y_true: Test labels: {0, 1} (binary) or class ids (multiclass).
        prob: Predicted probabilities: of class 1, `[n]`, (binary) or of each
            class, `[n, K]` (multiclass).
        history: A Keras `History.history`-like dict, metric name -> one value
            per epoch. Each `name` is plotted with its `val_name` in one
            subplot. None or empty draws a "no history" placeholder.
        class_names: Optional class names for the confusion-matrix axes.

    Returns:
        PNG bytes keyed by file name, in display order: `BINARY_PLOTS` or
        `MULTICLASS_PLOTS`. Plots that are undefined for the data (ROC with a
        single class, PR without positives) are placeholders with a message.

    Raises:
        ValueError: If `task` is unknown or the labels, probabilities, history
            or class names are invalid.
    """
    if task not in evaluation.TASKS:
        raise ValueError(
            "Invalid value for argument task. Expected one of "
            f"{set(evaluation.TASKS)}. Received: {task!r}"
        )
    series = _history_series(history)
    if task == "binary":
        metrics = evaluation.binary_metrics(y_true, prob)  # Also validates.
        y = np.asarray(y_true).reshape(-1).astype(np.int64)
        p = np.asarray(prob, dtype=np.float64).reshape(-1)
        names = _plot_class_names(class_names, 2)
        curve = evaluation.calibration_curve(y, p)
        return {
            "roc.png": _roc_png(y, p, metrics["auc"]),
            "pr.png": _pr_png(y, p, metrics["pr_auc"], metrics["positive_rate"]),
            "calibration.png": _calibration_png(
                curve,
                "Reliability diagram",
                f"Predicted probability of class {_mpl_text(names[1])}",
            ),
            "confusion_matrix.png": _confusion_png(
                np.asarray(metrics["confusion_matrix"]),
                names,
                "Confusion matrix (threshold 0.5)",
            ),
            "training_curves.png": _training_curves_png(series),
        }
    metrics = evaluation.multiclass_metrics(y_true, prob, class_names)  # Validates.
    names = list(metrics["per_class"])
    curve = evaluation.calibration_curve(y_true, prob)
    return {
        "confusion_matrix.png": _confusion_png(
            np.asarray(metrics["confusion_matrix"]), names, "Confusion matrix"
        ),
        "calibration.png": _calibration_png(
            curve, "Top-label reliability diagram", "Top-label confidence"
        ),
        "training_curves.png": _training_curves_png(series),
    }


# --------------------------------------------------------------------------
# HTML.
# --------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222;
  line-height: 1.5; }
h1 { border-bottom: 2px solid #36c; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .95em; }
th, td { border: 1px solid #ccc; padding: .35em .7em; }
th { background: #f3f5f9; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; }
.note { color: #555; font-size: .9em; }
.identity { font-family: Georgia, serif; font-size: 1.15em; margin: .8em 0; }
figure { display: inline-block; margin: 1em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; text-align: center; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: .85em; }
footer { margin-top: 3em; border-top: 1px solid #ddd; color: #555;
  font-size: .9em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not (
        isinstance(value, (bool, np.bool_))
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, (bool, np.bool_)):
        return _e(value)
    if isinstance(value, (int, np.integer)):
        return _e(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "&mdash;"
        if float(value).is_integer() and abs(value) >= 1e4:
            return _e(f"{value:.0f}")
        return _e(f"{value:.{_DIGITS}f}")
    return _e(value)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; cells are pre-rendered HTML (`<td>`/`<th>` included)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metrics_section(report: Mapping[str, Any]) -> str:
    columns: dict[str, Mapping[str, Any]] = {}
    if isinstance(report.get("metrics"), Mapping):
        columns[str(report.get("model_name") or "model")] = report["metrics"]
    for name, metrics in _dict(report.get("baselines")).items():
        if isinstance(metrics, Mapping):
            columns.setdefault(str(name), metrics)
    if not columns:
        return ""
    keys: list[str] = []
    for metrics in columns.values():
        for key, value in metrics.items():
            if (_is_number(value) or value is None) and key not in keys:
                keys.append(key)
    order = {k: i for i, k in enumerate(_METRIC_ORDER)}
    keys.sort(key=lambda k: order.get(k, len(order)))
    rows = []
    for key in keys:
        values = [m.get(key) for m in columns.values()]
        best = None
        shown = [
            round(float(v), _DIGITS)
            for v in values
            if _is_number(v) and math.isfinite(v)
        ]
        if shown and len(columns) > 1 and key in _HIGHER_IS_BETTER:
            best = max(shown)
        elif shown and len(columns) > 1 and key in _LOWER_IS_BETTER:
            best = min(shown)
        cells = [f"<th>{_e(_METRIC_LABELS.get(key, key))}</th>"]
        for v in values:
            is_best = (
                best is not None
                and _is_number(v)
                and math.isfinite(v)
                and round(float(v), _DIGITS) == best
            )
            css = "num best" if is_best else "num"
            cells.append(f'<td class="{css}">{_fmt(v)}</td>')
        rows.append(cells)
    table = _table(["Metric", *(_e(name) for name in columns)], rows)
    note = report.get("metrics_note")
    note_html = (
        _e(note)
        if isinstance(note, str)
        else "Bold: the best value in each row (higher is better, "
        "except log loss, Brier score and ECE). Thresholded metrics predict the "
        "positive class when the probability is at least the threshold. ECE: "
        "expected calibration error over 15 equal-width confidence bins. Log "
        "losses are in nats. Baselines are scikit-learn models with default "
        "hyperparameters fitted on the training split."
    )
    return (
        "<section><h2>Metrics (test split)</h2>"
        f'{table}<p class="note">{note_html}</p></section>'
    )


def _class_balance(counts: Mapping[str, Any]) -> str:
    numbers = {k: v for k, v in counts.items() if _is_number(v)}
    total = sum(float(v) for v in numbers.values())
    parts = []
    for name, count in numbers.items():
        share = f" ({100 * float(count) / total:.1f}%)" if total > 0 else ""
        parts.append(f"{_e(name)}: {_fmt(count)}{share}")
    return " &middot; ".join(parts) if parts else "&mdash;"


def _data_section(report: Mapping[str, Any]) -> str:
    data = _dict(report.get("data"))
    splits = _dict(data.get("splits"))
    parts = []
    if splits:
        rows = []
        for split, info in splits.items():
            if isinstance(info, Mapping):
                n = info.get("n")
                balance = _class_balance(_dict(info.get("class_counts")))
            else:
                n, balance = info, "&mdash;"
            rows.append(
                [
                    f"<th>{_e(split)}</th>",
                    f'<td class="num">{_fmt(n)}</td>',
                    f"<td>{balance}</td>",
                ]
            )
        parts.append(_table(["Split", "Rows", "Class balance"], rows))
    names = data.get("feature_names")
    n_features = data.get("n_features")
    if (
        n_features is None
        and isinstance(names, Sequence)
        and not isinstance(names, str)
    ):
        n_features = len(names)
    if n_features is not None:
        parts.append(f"<p><strong>Features:</strong> {_fmt(n_features)}</p>")
        if isinstance(names, Sequence) and not isinstance(names, str) and names:
            listed = ", ".join(_e(n) for n in names)
            parts.append(
                f"<details><summary>Feature names</summary><p>{listed}</p></details>"
            )
    parts.append(_bad_rows_html(_dict(data.get("bad_rows"))))
    if not any(parts):
        return ""
    return "<section><h2>Data</h2>" + "".join(parts) + "</section>"


def _bad_rows_html(bad_rows: Mapping[str, Any]) -> str:
    """The count and first reasons of the malformed rows that were skipped."""
    count = bad_rows.get("count")
    if not _is_number(count):
        return ""
    examples = bad_rows.get("examples")
    listed = ""
    if isinstance(examples, Sequence) and not isinstance(examples, str) and examples:
        items = "".join(f"<li><code>{_e(e)}</code></li>" for e in examples)
        shown = "" if len(examples) >= count else f" (the first {len(examples)})"
        listed = (
            f"<details open><summary>Skipped rows{shown}</summary>"
            f"<ul>{items}</ul></details>"
        )
    return f"<p><strong>Malformed rows skipped:</strong> {_fmt(count)}</p>{listed}"


def _num(d: Mapping[str, Any], key: str) -> float | None:
    value = d.get(key)
    if _is_number(value) and math.isfinite(value):
        return float(value)
    return None


def _cross_entropy_section(report: Mapping[str, Any]) -> str:
    ce = _dict(report.get("cross_entropy"))
    loss = _num(ce, "log_loss")
    h = _num(ce, "label_entropy")
    if loss is None and h is None:
        return ""

    def f(x: float | None) -> str:
        return _fmt(x)

    paragraphs = [
        '<p class="identity">H(p, q) = H(p) + KL(p &#8741; q)</p>',
        "<p>The cross-entropy H(p, q) between the true label distribution p and "
        "the model's predicted distribution q is the entropy of p (the "
        "uncertainty inherent in the labels) plus the Kullback&ndash;Leibler "
        "divergence KL(p &#8741; q) (the extra cost of predicting q when the "
        "labels follow p). Only the KL part depends on the model, so lowering "
        "the log loss means moving q towards p.</p>",
    ]
    if loss is not None:
        paragraphs.append(
            f"<p>On the test split the log loss is <strong>H(p, q) = {f(loss)} "
            "nats</strong>. Each observed label is certain (one-hot), so its "
            "entropy is 0 and this whole number is KL divergence between the "
            "observed labels and the predictions.</p>"
        )
    if h is not None:
        paragraphs.append(
            "<p>A model that ignores the features and always predicts the class "
            "frequencies p&#770; has log loss equal to the entropy of the label "
            f"marginal, <strong>H(p&#770;) = {f(h)} nats</strong>: the "
            "reference a useful model must beat.</p>"
        )
    ne = _num(ce, "normalized_entropy")
    gain = _num(ce, "information_gain")
    if ne is not None:
        verdict = (
            "below 1: the features carry information about the label"
            if ne < 1
            else "not below 1: the model does no better than the base rate"
        )
        paragraphs.append(
            f"<p>Normalized entropy H(p, q) / H(p&#770;) = <strong>{f(ne)}"
            f"</strong>, {verdict}. The information gain H(p&#770;) &minus; "
            f"H(p, q) = {f(gain)} nats estimates a lower bound on the mutual "
            "information between features and label.</p>"
        )
    mce = _num(ce, "marginal_cross_entropy")
    mkl = _num(ce, "marginal_kl")
    if mce is not None and mkl is not None and h is not None:
        paragraphs.append(
            "<p>The same identity for the label marginal p&#770; and the mean "
            f"prediction q&#772;: H(p&#770;, q&#772;) = {f(mce)} = {f(h)} + "
            f"{f(mkl)} = H(p&#770;) + KL(p&#770; &#8741; q&#772;). The KL term "
            "measures calibration in the large: it is 0 when the model predicts "
            "each class as often, on average, as it occurs.</p>"
        )
    bayes = _num(ce, "bayes_log_loss")
    expected = _num(ce, "expected_log_loss")
    excess = _num(ce, "excess_log_loss")
    if bayes is not None and expected is not None and excess is not None:
        pct = _num(ce, "excess_log_loss_pct")
        paragraphs.append(
            "<p>Here the true click probability p(x) of every test row is known "
            "(synthetic data), so the identity holds per row with the true "
            "distribution instead of the observed click: the model's expected "
            f"log loss <strong>H(p, q) = {f(expected)}</strong> = H(p) "
            f"{f(bayes)} (the Bayes log loss: no model can do better) + "
            f"<strong>KL(p &#8741; q) = {f(excess)} nats</strong>, the model's "
            f"excess cross-entropy ({f(pct)}% of the Bayes log loss).</p>"
        )
    return (
        "<section><h2>Cross-entropy decomposition</h2>"
        + "".join(paragraphs)
        + "</section>"
    )


def _images_section(images: Mapping[str, str]) -> str:
    figures = [
        f'<figure><img src="{_e(name)}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
        for name, caption in images.items()
    ]
    if not figures:
        return ""
    return "<section><h2>Plots</h2>" + "".join(figures) + "</section>"


def _class_names_for(report: Mapping[str, Any], k: int) -> list[str]:
    names = _dict(report.get("data")).get("class_names")
    if isinstance(names, Sequence) and not isinstance(names, str) and len(names) == k:
        return [str(n) for n in names]
    per_class = _dict(_dict(report.get("metrics")).get("per_class"))
    if len(per_class) == k:
        return [str(n) for n in per_class]
    return [str(i) for i in range(k)]


def _per_class_section(report: Mapping[str, Any]) -> str:
    per_class = _dict(_dict(report.get("metrics")).get("per_class"))
    if not per_class:
        return ""
    keys = ("precision", "recall", "f1", "support")
    rows = [
        [f"<th>{_e(name)}</th>"]
        + [f'<td class="num">{_fmt(_dict(values).get(k))}</td>' for k in keys]
        for name, values in per_class.items()
    ]
    table = _table(["Class", "Precision", "Recall", "F1", "Support"], rows)
    return f"<section><h2>Per-class metrics</h2>{table}</section>"


def _confusion_section(report: Mapping[str, Any]) -> str:
    metrics = _dict(report.get("metrics"))
    try:
        cm = np.asarray(metrics.get("confusion_matrix"), dtype=np.float64)
    except (TypeError, ValueError):
        return ""
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        return ""
    names = _class_names_for(report, cm.shape[0])
    row_sums = cm.sum(axis=1)
    rows = []
    for i, name in enumerate(names):
        cells = [f"<th>{_e(name)}</th>"]
        for j in range(cm.shape[1]):
            share = cm[i, j] / row_sums[i] if row_sums[i] > 0 else 0.0
            # Shade by the share of the true class, readable without a legend.
            style = f"background: rgba(51, 102, 204, {0.6 * share:.3f})"
            count = int(cm[i, j]) if cm[i, j].is_integer() else cm[i, j]
            cells.append(f'<td class="num" style="{style}">{_fmt(count)}</td>')
        rows.append(cells)
    header = ["true &#8595; / predicted &#8594;", *(_e(n) for n in names)]
    note = (
        " at threshold 0.5"
        if report.get("task") == "binary" or cm.shape[0] == 2
        else " (arg-max prediction)"
    )
    return (
        "<section><h2>Confusion matrix</h2>"
        f'<p class="note">Rows: true class; columns: predicted class{note}. '
        "Shading: share of the row.</p>"
        f"{_table(header, rows)}</section>"
    )


def _footer(report: Mapping[str, Any]) -> str:
    created = report.get("created_at")
    created_html = (
        f"<p>Created {_e(created)}.</p>" if created is not None else "<p></p>"
    )
    config = ""
    if "config" in report:
        try:
            text = json.dumps(to_jsonable(report["config"]), indent=2, sort_keys=True)
        except TypeError:
            text = repr(report["config"])
        config = f"<details open><summary>Config</summary><pre>{_e(text)}</pre>" + (
            "</details>"
        )
    return f"<footer>{created_html}{config}</footer>"


def render_html(report: Mapping[str, Any], images: Mapping[str, str]) -> str:
    """Render a standalone HTML page for an evaluation report.

    The page has inline CSS and no scripts or external assets other than the
    plots, referenced by relative file name (`<img src="roc.png">`), so it
    reads correctly when written next to them. Every string from `report` and
    `images` is HTML-escaped. Missing keys drop their section.

    Args:
        report: The report dict (schema in the module docstring).
        images: Plot file name -> caption (also the image's alt text), in
            display order.

    Returns:
        The HTML document.

    Raises:
        ValueError: If `report` or `images` is not a mapping.
    """
    if not isinstance(report, Mapping):
        raise ValueError(
            "Invalid value for argument report. Expected a dict. Received: "
            f"{type(report).__name__}"
        )
    if not isinstance(images, Mapping):
        raise ValueError(
            "Invalid value for argument images. Expected a dict of file name -> "
            f"caption. Received: {type(images).__name__}"
        )
    task = report.get("task")
    dataset = report.get("dataset")
    model = report.get("model_name") or "model"
    title = report.get("title") or " — ".join(
        ["Evaluation report"]
        + [str(x) for x in (dataset, task and f"{task} classification") if x]
    )
    subtitle = " &middot; ".join(
        f"{label}: <strong>{_e(value)}</strong>"
        for label, value in (("Task", task), ("Dataset", dataset), ("Model", model))
        if value
    )
    body = "".join(
        [
            f"<h1>{_e(title)}</h1>",
            f"<p>{subtitle}</p>" if subtitle else "",
            _data_section(report),
            _metrics_section(report),
            _cross_entropy_section(report),
            _images_section(images),
            _per_class_section(report),
            _confusion_section(report),
            _footer(report),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
