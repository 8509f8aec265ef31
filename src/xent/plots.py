"""The report's PNG plots: ROC, precision-recall, calibration, confusion, training.

Pure functions: every plot is returned as PNG bytes; the runner decides where
they are written. Figures are drawn with matplotlib's object API (`Figure` +
`FigureCanvasAgg`), so no global pyplot state or backend setting is touched.
`png_bytes` and `training_curves_png` are shared with the GAN report
(`xent.gan.plots`).
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import precision_recall_curve
from sklearn.metrics import roc_curve

from xent import evaluation

__all__ = [
    "BINARY_PLOTS",
    "CTR_PLOTS",
    "MULTICLASS_PLOTS",
    "Curve",
    "Panel",
    "calibration_buckets_png",
    "message_png",
    "png_bytes",
    "gain_png",
    "render_ctr_plots",
    "render_plots",
    "training_curves_png",
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

CTR_PLOTS = (
    "roc.png",
    "ctr_calibration.png",
    "gain.png",
    "pr.png",
    "training_curves.png",
)
"""File names `render_ctr_plots` returns, in display order."""

_DPI = 100
# Confusion-matrix plots stop annotating cells / labelling ticks beyond these.
_MAX_ANNOTATED_CLASSES = 20
_MAX_LABELLED_CLASSES = 40


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


def png_bytes(fig: Figure) -> bytes:
    """`fig` rendered as PNG bytes at the report's resolution.

    Args:
        fig: A `matplotlib.figure.Figure` (object API, no pyplot).

    Returns:
        The PNG file's bytes, independent of the matplotlib version.
    """
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No "Software" entry, so the bytes do not depend on the matplotlib version.
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def message_png(title: str, message: str) -> bytes:
    """A placeholder figure for a plot that is undefined for these data.

    Args:
        title: The plot's title.
        message: Why there is no plot.

    Returns:
        PNG bytes.
    """
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(_mpl_text(title))
    ax.text(0.5, 0.5, _mpl_text(message), ha="center", va="center", wrap=True)
    return png_bytes(fig)


def _roc_png(y: np.ndarray, p: np.ndarray, auc: float | None) -> bytes:
    if auc is None:
        return message_png("ROC curve", "Undefined: y_true holds a single class.")
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
    return png_bytes(fig)


def _pr_png(y: np.ndarray, p: np.ndarray, ap: float | None, base: float) -> bytes:
    if ap is None:
        return message_png(
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
    return png_bytes(fig)


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
    return png_bytes(fig)


def _two_five_label(value: float, _: Any) -> str:
    """A log axis' minor tick label: `"0.2"`, `"0.05"`, ..., else `""`."""
    if value <= 0:
        return ""
    digit = round(value / 10 ** math.floor(math.log10(value)))
    return f"{value:g}" if digit in (2, 5) else ""


def calibration_buckets_png(buckets: Mapping[str, Sequence[float]]) -> bytes:
    """Bucketed calibration plot (log-log): mean predicted vs observed CTR.

    Args:
        buckets: `mean_predicted`, `observed` and `count` lists, as returned
            by `xent.ctr.metrics.calibration_buckets` (equal-count buckets).
    """
    pred = np.asarray(buckets.get("mean_predicted", []), dtype=np.float64)
    obs = np.asarray(buckets.get("observed", []), dtype=np.float64)
    if pred.size == 0:
        return message_png("Calibration by bucket", "no predictions")
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    floor = 0.5 / max(int(np.sum(buckets.get("count", [1]))), 1)
    lo = max(min(pred.min(), obs[obs > 0].min() if np.any(obs > 0) else 1), floor)
    hi = max(pred.max(), obs.max(), lo * 10)
    ax.plot([lo, hi], [lo, hi], color="0.6", linestyle="--", label="perfect")
    ax.plot(pred, np.maximum(obs, floor), marker="o", label="model")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        # Plain numbers (0.05, not 5x10^-2); of the minor ticks only 2 and 5
        # are labelled, so that labels do not overlap.
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(FuncFormatter(_two_five_label))
    ax.set_xlabel("mean predicted CTR (equal-count buckets)")
    ax.set_ylabel("observed CTR")
    ax.set_title("Calibration by bucket")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3, which="both")
    return png_bytes(fig)


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
    return png_bytes(fig)


@dataclasses.dataclass(frozen=True)
class Curve:
    """One history series drawn in a training-curves panel.

    Attributes:
        key: The history key.
        label: The legend label.
        dashed: Whether to draw the line dashed (a reference level).
    """

    key: str
    label: str
    dashed: bool = False


@dataclasses.dataclass(frozen=True)
class Panel:
    """One subplot of `training_curves_png`.

    Attributes:
        title: The subplot title.
        curves: The series drawn in it; those missing from the history are
            skipped.
    """

    title: str
    curves: tuple[Curve, ...]


def _history_panels(history: Mapping[str, Sequence[float]]) -> list[Panel]:
    """One panel per `name`, with its `"val_" + name`, in first-seen order."""
    panels: list[Panel] = []
    for key in history:
        if key.startswith("val_") and key[4:] in history:
            continue  # Plotted with its training series.
        if f"val_{key}" in history:
            curves = (Curve(key, "train"), Curve(f"val_{key}", "validation"))
        else:
            label = "validation" if key.startswith("val_") else "train"
            curves = (Curve(key, label),)
        panels.append(Panel(key, curves))
    return panels


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


def training_curves_png(
    history: Mapping[str, Sequence[float]] | None,
    panels: Sequence[Panel] | None = None,
) -> bytes:
    """Training curves over epochs, up to three subplots a row.

    Args:
        history: A Keras `History.history`-like dict, metric name -> one value
            per epoch. None or empty draws a "no history" placeholder.
        panels: The subplots to draw. Default: one per metric `name`, with its
            `val_name` series when there is one.

    Returns:
        PNG bytes.

    Raises:
        ValueError: If `history` is not a dict of numeric lists.
    """
    series = _history_series(history)
    if panels is None:
        chosen = _history_panels(series)
    else:
        chosen = [
            Panel(p.title, tuple(c for c in p.curves if c.key in series))
            for p in panels
        ]
        chosen = [p for p in chosen if p.curves]
    if not chosen:
        return message_png("Training curves", "No training history recorded.")
    ncols = min(3, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    fig = Figure(figsize=(4.5 * ncols, 3.5 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, panel in zip(axes, chosen, strict=False):  # Spare axes stay empty.
        for curve in panel.curves:
            values = series[curve.key]
            epochs = np.arange(1, values.size + 1)
            ax.plot(
                epochs,
                values,
                "--" if curve.dashed else "-",
                marker="." if values.size < 30 else None,
                label=_mpl_text(curve.label),
            )
        ax.set(title=_mpl_text(panel.title), xlabel="Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes[len(chosen) :]:
        ax.set_axis_off()
    return png_bytes(fig)


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
    series = _history_series(history)  # Validates before any plotting.
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
            "training_curves.png": training_curves_png(series),
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
        "training_curves.png": training_curves_png(series),
    }


def gain_png(y_true: Any, prob: Any, bins: int = 10) -> bytes:
    """Cumulative gain and lift of ranking by predicted probability.

    Top: the share of all positives (clicks) found in the top x% of rows
    ranked by predicted probability, against random ranking (the diagonal)
    and a perfect one. Bottom: the lift of each of `bins` equal-count slices
    of that ranking (its positive rate over the overall rate).

    Args:
        y_true: {0, 1} labels, `[n]`.
        prob: Predicted probabilities of class 1, `[n]`.
        bins: Slices of the lift bars (deciles by default).

    Returns:
        PNG bytes (a placeholder with a message without positives).
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(prob, dtype=np.float64).reshape(-1)
    positives = float(y.sum())
    if y.size == 0 or positives <= 0:
        return message_png("Cumulative gain", "Undefined: y_true holds no positive.")
    order = np.argsort(-p, kind="stable")
    ranked = y[order]
    share = np.arange(0, y.size + 1) / y.size
    gain = np.concatenate([[0.0], np.cumsum(ranked)]) / positives
    rate = positives / y.size
    fig = Figure(figsize=(5, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    top.plot(100 * share, 100 * gain, lw=2, label="model")
    top.plot([0, 100], [0, 100], ls="--", color="grey", lw=1, label="random")
    top.plot(
        [0, 100 * rate, 100], [0, 100, 100], ls=":", color="0.4", lw=1, label="perfect"
    )
    top.set(
        xlabel="Top rows by predicted probability (%)",
        ylabel="Positives found (%)",
        title="Cumulative gain",
        xlim=(0, 100),
        ylim=(0, 101),
    )
    top.legend(loc="lower right")
    top.grid(alpha=0.3)
    slices = np.array_split(ranked, bins)
    lifts = [s.mean() / rate if s.size else 0.0 for s in slices]
    bottom.bar(np.arange(1, len(lifts) + 1), lifts, color="C0", alpha=0.8)
    bottom.axhline(1.0, ls="--", color="grey", lw=1)
    bottom.set(
        xlabel=f"Slice of the ranking (1 = top {100 / bins:.0f}%)",
        ylabel="Lift",
        title="Lift by slice",
    )
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.grid(alpha=0.3, axis="y")
    return png_bytes(fig)


def render_ctr_plots(
    y_true: Any,
    prob: Any,
    history: Mapping[str, Sequence[float]] | None,
    calibration_buckets: Mapping[str, Sequence[float]],
) -> dict[str, bytes]:
    """The CTR report's plots: ranking, calibration on log axes, gain/lift.

    Unlike `render_plots("binary", ...)` there is no confusion matrix at
    threshold 0.5 (clicks are rare: the threshold means nothing) and the
    calibration plot is the equal-count bucket plot on log axes
    (`calibration_buckets_png`), not the equal-width reliability diagram.

    Args:
        y_true: {0, 1} clicks, `[n]`.
        prob: Predicted click probabilities, `[n]`.
        history: As in `render_plots`.
        calibration_buckets: `xent.ctr.metrics.calibration_buckets`'s dict.

    Returns:
        PNG bytes keyed by the file names of `CTR_PLOTS`, in that order.

    Raises:
        ValueError: If the labels, probabilities or history are invalid.
    """
    series = _history_series(history)
    metrics = evaluation.binary_metrics(y_true, prob)  # Also validates.
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(prob, dtype=np.float64).reshape(-1)
    return {
        "roc.png": _roc_png(y, p, metrics["auc"]),
        "ctr_calibration.png": calibration_buckets_png(calibration_buckets),
        "gain.png": gain_png(y, p),
        "pr.png": _pr_png(y, p, metrics["pr_auc"], metrics["positive_rate"]),
        "training_curves.png": training_curves_png(series),
    }
