"""Evaluation report rendering: JSON values and a standalone HTML page.

Pure functions: the page is returned as a string; the runner decides where it
is written. The PNG plots the page shows live in `xent.plots` (re-exported here
as `render_plots`, `calibration_buckets_png`, `BINARY_PLOTS` and
`MULTICLASS_PLOTS` for existing callers).

`render_html` reads the `report.json` dict as the runner writes it (every key
optional):

* `task` (`"binary"`, `"multiclass"`, ...), `created` (str), `config` (any
  JSON-able value), `class_names` ([str]).
* `dataset`: `{"name": str, "rows": {split: int}, "features": {"numeric":
  [str], "categorical": [str], ...}, "bad_rows": {"count": int, "examples":
  ["file:line: reason"]}}`; a split may also be given as `{"n": int,
  "class_counts": {class: int}}`; `bad_rows` (malformed rows skipped while
  reading files) is shown when present.
* `metrics.test`: the model's metrics on the test split (e.g.
  `xent.evaluation.binary_metrics` or `multiclass_metrics`), with
  `metrics.test.cross_entropy` the dict of
  `xent.evaluation.cross_entropy_decomposition` (plus, for CTR, the truth
  decomposition keys `bayes_log_loss`, `expected_log_loss`,
  `excess_log_loss`, `excess_log_loss_pct`).
* `baseline`: `{name: metrics}`, as returned by `xent.evaluation.baselines`.
* `html`: a task's own `title` (str) and `metrics_note` (str, replaces the
  note under the metrics table).
* `tuning` (added by `xent tune` to its final run): `metric`, `direction`,
  `best` and `trials`, rows of `{"trial", "state", "settings", "value",
  "seconds", "run_dir"}` (`xent.tune.TrialRow`): one table row per trial.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import html
import json
import math
import pathlib
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from xent.plots import BINARY_PLOTS
from xent.plots import MULTICLASS_PLOTS
from xent.plots import calibration_buckets_png
from xent.plots import render_plots

__all__ = [
    "BINARY_PLOTS",
    "MULTICLASS_PLOTS",
    "calibration_buckets_png",
    "render_html",
    "render_plots",
    "render_summary",
    "to_jsonable",
    "verdict",
]

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
_LOWER_IS_BETTER = frozenset(
    {
        "log_loss",
        "brier",
        "ece",
        "normalized_entropy",
        "expected_log_loss",
        "excess_log_loss",
        "excess_log_loss_pct",
    }
)
_HIGHER_IS_BETTER = _HIGHER_IS_BETTER | {"gauc"}
_CLOSEST_TO_ONE = frozenset({"calibration"})
# Numbers of a metrics dict that describe a model rather than measure it: not
# rows of the metrics table (`train_rows` is stated in the note).
_NOT_METRICS = frozenset({"train_rows"})
# CTR reports lead with the metrics CTR work is judged by.
_CTR_METRIC_ORDER = (
    "auc",
    "log_loss",
    "normalized_entropy",
    "calibration",
    "gauc",
    "excess_log_loss_pct",
    "excess_log_loss",
    "expected_log_loss",
    "bayes_log_loss",
    "oracle_auc",
    "oracle_log_loss",
    "observed_ctr",
    "mean_predicted_ctr",
    "gauc_groups",
    "rows",
)
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
    "normalized_entropy": "Normalized entropy",
    "calibration": "Calibration (predicted / observed CTR)",
    "gauc": "GAUC",
    "gauc_groups": "GAUC groups",
    "observed_ctr": "Observed CTR",
    "mean_predicted_ctr": "Mean predicted CTR",
    "bayes_log_loss": "Bayes log loss (nats)",
    "expected_log_loss": "Expected log loss (nats)",
    "excess_log_loss": "Excess log loss (nats)",
    "excess_log_loss_pct": "Excess over Bayes (%)",
    "oracle_auc": "Oracle ROC AUC",
    "oracle_log_loss": "Oracle log loss (nats)",
    "rows": "Test rows",
}
# Captions of the plots a run writes, by file name.
_CAPTIONS = {
    "roc.png": "ROC curve",
    "pr.png": "Precision-recall curve",
    "calibration.png": "Reliability diagram",
    "ctr_calibration.png": "Calibration: equal-count buckets, log axes",
    "gain.png": "Cumulative gain and lift",
    "confusion_matrix.png": "Confusion matrix",
    "training_curves.png": "Training curves",
    "samples.png": "Generated samples",
    "real_images.png": "Real test images",
    "interpolation.png": "Latent interpolation",
    "class_coverage.png": "Class coverage of generated images",
}
# The model settings a CTR report's title names, per `config.model.kind`.
_CTR_MODEL_SETTINGS = {
    "lr": ("l2_embedding",),
    "fm": ("embedding_dim", "l2_embedding"),
    "deepfm": ("embedding_dim", "hidden", "dropout", "l2_embedding"),
    "dcnv2": ("embedding_dim", "cross_layers", "hidden", "l2_embedding"),
    "finalmlp": ("embedding_dim", "mlp1_hidden", "mlp2_hidden", "l2_embedding"),
}
_DIGITS = 4
# The column of the trained model in the metrics table.
_MODEL_NAME = "model"


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


def _test_metrics(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """`report["metrics"]["test"]`, or `{}`."""
    return _dict(_dict(report.get("metrics")).get("test"))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; cells are pre-rendered HTML (`<td>`/`<th>` included)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metrics_section(report: Mapping[str, Any]) -> str:
    columns: dict[str, Mapping[str, Any]] = {}
    test = _dict(report.get("metrics")).get("test")
    if isinstance(test, Mapping):
        columns[_MODEL_NAME] = test
    for name, metrics in _dict(report.get("baseline")).items():
        if isinstance(metrics, Mapping):
            columns.setdefault(str(name), metrics)
    if not columns:
        return ""
    keys: list[str] = []
    for metrics in columns.values():
        for key, value in metrics.items():
            if (
                (_is_number(value) or value is None)
                and key not in keys
                and key not in _NOT_METRICS
            ):
                keys.append(key)
    ctr = report.get("task") == "ctr"
    order = {k: i for i, k in enumerate(_CTR_METRIC_ORDER if ctr else _METRIC_ORDER)}
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
        elif shown and len(columns) > 1 and key in _CLOSEST_TO_ONE:
            best = min(shown, key=lambda v: abs(v - 1.0))
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
    note = _dict(report.get("html")).get("metrics_note")
    if isinstance(note, str):
        note_html = _e(note)
    elif ctr:
        note_html = _CTR_NOTE
    else:
        note_html = (
            "Bold: the best value in each row (higher is better, "
            "except log loss, Brier score and ECE). Thresholded metrics predict "
            "the positive class when the probability is at least the threshold. "
            "ECE: expected calibration error over 15 equal-width confidence "
            "bins. Log losses are in nats. Baselines are scikit-learn models "
            "with default hyperparameters fitted on the training split."
        )
    trained = [
        f"{_e(name)} was fitted on {_fmt(m['train_rows'])} training rows"
        for name, m in columns.items()
        if _is_number(m.get("train_rows"))
    ]
    if trained:
        note_html += " The baseline " + "; ".join(trained) + "."
    return (
        "<section><h2>Metrics (test split)</h2>"
        f'{table}<p class="note">{note_html}</p></section>'
    )


_CTR_NOTE = (
    "Bold: the best value in each row. ROC AUC: ranking quality; GAUC: the "
    "ROC AUC within each group of the group field (e.g. user), weighted by "
    "impressions; both higher is better. Log loss (nats) and normalized "
    "entropy (log loss over the entropy of the training CTR; below 1 beats "
    "always predicting the base rate): lower is better. Calibration: mean "
    "predicted over observed CTR, best at 1. Where the true click "
    "probabilities are known (the synthetic log), the excess log loss is "
    "the model's log loss above the Bayes log loss no model can beat."
)


def _neighbor_section(report: Mapping[str, Any]) -> str:
    """What the nearest-neighbour head of a table network (`xent.neighbors`,
    `metrics.test.neighbor_blend`) does in the exported model."""
    blend = _dict(_test_metrics(report).get("neighbor_blend"))
    network = blend.get("val_cross_entropy_network")
    if not _is_number(network) or not _is_number(blend.get("weight")):
        return ""
    weight = float(blend["weight"])
    if weight >= 1.0:
        text = (
            "Not used: no blend of the network with the labels of its nearest "
            "training rows lowered the validation cross-entropy "
            f"({network:.4f} nats) by more than twice its standard error."
        )
    else:
        text = (
            f"The model blends the network's probabilities ({weight:.0%}) with "
            "the inverse-distance-weighted labels of the "
            f"{_fmt(blend.get('k'))} nearest of {_fmt(blend.get('rows'))} "
            f"training rows ({1 - weight:.0%}), chosen on the validation "
            f"split: cross-entropy {network:.4f} &rarr; "
            f"{_fmt(blend.get('val_cross_entropy'))} nats. The test metrics "
            "and the export include it."
        )
    return (
        f'<section><h2>Nearest-neighbour head</h2><p class="note">{text}</p></section>'
    )


def _refit_section(report: Mapping[str, Any]) -> str:
    """`train.refit` (`training.refit`): the rows and epochs each network
    was trained again with."""
    refit = _dict(_dict(report.get("training")).get("refit"))
    networks = refit.get("networks")
    if not isinstance(networks, list) or not networks:
        return ""
    networks = [_dict(n) for n in networks]
    rows = [
        [f"<td>{_fmt(n.get('seed'))}</td>", f"<td>{_fmt(n.get('epochs'))}</td>"]
        for n in networks
    ]
    text = (
        f"After training, each network was trained again from its seed on the "
        f"training and validation rows together ({_fmt(refit.get('rows'))} "
        "rows), for the epochs at which its validation metric was best. The "
        "test metrics and the export are those networks'. The validation "
        "figures, and a nearest-neighbour head's choices, are those of the "
        "networks trained without the validation rows (CTR Platt scaling is "
        "fitted on the refit networks' own validation logits); the baselines "
        "learn from the same rows as the refit networks."
    )
    return (
        f'<section><h2>Refit on training and validation rows</h2><p class="note">'
        f"{text}</p>{_table(['seed', 'epochs'], rows)}</section>"
    )


def _ensemble_section(report: Mapping[str, Any]) -> str:
    """The networks of `train.ensemble` (`training.ensemble`): seed, epochs
    and best validation value of each."""
    members = _dict(_dict(report.get("training")).get("ensemble")).get("members")
    if not isinstance(members, list) or not members:
        return ""
    members = [_dict(m) for m in members]
    monitors = sorted({k for m in members for k in _dict(m.get("best_validation"))})
    rows = [
        [
            f"<td>{_fmt(m.get('seed'))}</td>",
            f"<td>{_fmt(m.get('epochs_run'))}</td>",
            *(
                f"<td>{_fmt(_dict(m.get('best_validation')).get(k))}</td>"
                for k in monitors
            ),
        ]
        for m in members
    ]
    text = (
        f"The model is an ensemble of {len(members)} networks of the same "
        "settings, trained from different seeds (initial weights and data "
        "order), each with its own early stopping; the test metrics and the "
        "export use the mean of their logits."
    )
    validation = _dict(
        _dict(_dict(report.get("training")).get("ensemble")).get("validation")
    )
    for name, value in validation.items():
        if _is_number(value):
            text += (
                f" On the validation split the ensemble's {_e(name)} is "
                f"<strong>{_fmt(value)}</strong>."
            )
    header = ["seed", "epochs", *(f"best {_e(k)}" for k in monitors)]
    return (
        f'<section><h2>Ensemble</h2><p class="note">{text}</p>'
        f"{_table(header, rows)}</section>"
    )


def _class_balance(counts: Mapping[str, Any]) -> str:
    """`name: count (share%)` per class; shares alone if given as fractions."""
    numbers = {k: v for k, v in counts.items() if _is_number(v)}
    total = sum(float(v) for v in numbers.values())
    fractions = (
        bool(numbers)
        and abs(total - 1.0) < 1e-6
        and any(not float(v).is_integer() for v in numbers.values())
    )
    parts = []
    for name, count in numbers.items():
        if fractions:
            parts.append(f"{_e(name)}: {100 * float(count):.1f}%")
            continue
        share = f" ({100 * float(count) / total:.1f}%)" if total > 0 else ""
        parts.append(f"{_e(name)}: {_fmt(count)}{share}")
    return " &middot; ".join(parts) if parts else "&mdash;"


def _data_section(report: Mapping[str, Any]) -> str:
    dataset = _dict(report.get("dataset"))
    splits = _dict(dataset.get("rows"))
    balances = _dict(dataset.get("class_balance"))
    parts = []
    if splits:
        rows = []
        for split, info in splits.items():
            if isinstance(info, Mapping):
                n = info.get("n")
                balance = _class_balance(_dict(info.get("class_counts")))
            else:
                n = info
                balance = _class_balance(_dict(balances.get(split)))
            rows.append(
                [
                    f"<th>{_e(split)}</th>",
                    f'<td class="num">{_fmt(n)}</td>',
                    f"<td>{balance}</td>",
                ]
            )
        parts.append(_table(["Split", "Rows", "Class balance"], rows))
    names = _feature_names(dataset.get("features"))
    if names:
        parts.append(f"<p><strong>Features:</strong> {_fmt(len(names))}</p>")
        listed = ", ".join(_e(n) for n in names)
        parts.append(
            f"<details><summary>Feature names</summary><p>{listed}</p></details>"
        )
    parts.append(_bad_rows_html(_dict(dataset.get("bad_rows"))))
    if not any(parts):
        return ""
    return "<section><h2>Data</h2>" + "".join(parts) + "</section>"


def _feature_names(features: Any) -> list[str]:
    """The numeric then categorical input columns of `dataset.features`."""
    features = _dict(features)
    names = []
    for kind in ("numeric", "categorical"):
        listed = features.get(kind)
        if isinstance(listed, Sequence) and not isinstance(listed, str):
            names.extend(str(n) for n in listed)
    return names


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
    ce = _dict(_test_metrics(report).get("cross_entropy"))
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
    ratio = _num(ce, "log_loss_over_label_entropy")
    gain = _num(ce, "information_gain")
    if ratio is not None:
        verdict = (
            "below 1: the features carry information about the label"
            if ratio < 1
            else "not below 1: the model does no better than the base rate"
        )
        paragraphs.append(
            "<p>Log loss over the entropy of the test labels H(p, q) / "
            f"H(p&#770;) = <strong>{f(ratio)}"
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
    figures = []
    for name, caption in images.items():
        if caption == name:  # No caption given: the plot's own.
            caption = _CAPTIONS.get(name, caption)
        figures.append(
            f'<figure><img src="{_e(name)}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    if not figures:
        return ""
    return "<section><h2>Plots</h2>" + "".join(figures) + "</section>"


def _class_names_for(report: Mapping[str, Any], k: int) -> list[str]:
    names = report.get("class_names")
    if isinstance(names, Sequence) and not isinstance(names, str) and len(names) == k:
        return [str(n) for n in names]
    per_class = _dict(_test_metrics(report).get("per_class"))
    if len(per_class) == k:
        return [str(n) for n in per_class]
    return [str(i) for i in range(k)]


def _per_class_section(report: Mapping[str, Any]) -> str:
    per_class = _dict(_test_metrics(report).get("per_class"))
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
    metrics = _test_metrics(report)
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
    created = report.get("created")
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


def _ctr_model(report: Mapping[str, Any]) -> str:
    """`"fm (embedding_dim 4, l2_embedding 1e-05), batch 2048, lr 0.005"`:
    the CTR model and its main settings, from `config`."""
    config = _dict(report.get("config"))
    model = _dict(config.get("model"))
    kind = model.get("kind")
    if not kind:
        return _MODEL_NAME
    settings = [
        f"{key} {_setting(model[key])}"
        for key in _CTR_MODEL_SETTINGS.get(str(kind), ())
        if key in model
    ]
    train = _dict(config.get("train"))
    if config.get("calibration") not in (None, "none"):
        settings.append(f"{config['calibration']} calibration")
    text = f"{kind} ({', '.join(settings)})" if settings else str(kind)
    extra = [
        f"{label} {_setting(train[key])}"
        for key, label in (("batch_size", "batch"), ("learning_rate", "lr"))
        if key in train
    ]
    return ", ".join([text, *extra])


def _setting(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_setting(v) for v in value) + "]"
    return str(value)


def _tuning_section(report: Mapping[str, Any]) -> str:
    """The search that chose the settings (`tuning`, written by `xent.tune`):
    one row per trial with its settings and validation value, best marked."""
    tuning = _dict(report.get("tuning"))
    trials = [t for t in tuning.get("trials") or () if isinstance(t, Mapping)]
    if not trials:
        return ""
    metric = str(tuning.get("metric") or "value")
    best = _dict(tuning.get("best")).get("trial")
    keys = list(dict.fromkeys(k for t in trials for k in _dict(t.get("settings"))))
    rows = []
    for t in trials:
        is_best = best is not None and t.get("trial") == best
        num = '<td class="num best">' if is_best else '<td class="num">'
        value, seconds = t.get("value"), t.get("seconds")
        settings = _dict(t.get("settings"))
        rows.append(
            [
                f"<th>{_e(t.get('trial'))}{' (best)' if is_best else ''}</th>",
                f"<td>{_e(t.get('state', ''))}</td>",
                num
                + (_e(f"{value:.6g}") if _is_number(value) else "&mdash;")
                + "</td>",
                num
                + (_e(f"{seconds:.1f}") if _is_number(seconds) else "&mdash;")
                + "</td>",
                *(
                    f"<td>{_e(_setting(settings[k])) if k in settings else '&mdash;'}"
                    "</td>"
                    for k in keys
                ),
            ]
        )
    header = ["Trial", "State", _e(metric), "Seconds"]
    goal = {"minimize": "lowest", "maximize": "highest"}.get(
        str(tuning.get("direction")), "best"
    )
    note = (
        f"{len(trials)} trials, each scored on its {goal} {_e(metric)} (the "
        "validation split) over its epochs; the test split was used once, for "
        f"this model, trained again with the settings of trial {_e(best)}."
    )
    return (
        "<section><h2>Hyperparameter search</h2>"
        f'<p class="note">{note}</p>'
        f"{_table([*header, *(_e(k) for k in keys)], rows)}</section>"
    )


def render_html(report: Mapping[str, Any], images: Mapping[str, str]) -> str:
    """Render a standalone HTML page for an evaluation report.

    The page has inline CSS and no scripts or external assets other than the
    plots, referenced by relative file name (`<img src="roc.png">`), so it
    reads correctly when written next to them. Every string from `report` and
    `images` is HTML-escaped. Missing keys drop their section.

    Args:
        report: The `report.json` dict (schema in the module docstring).
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
    dataset = _dict(report.get("dataset")).get("name")
    model = _ctr_model(report) if task == "ctr" else _MODEL_NAME
    default_title = (
        ["CTR report", *(str(x) for x in (dataset, model) if x)]
        if task == "ctr"
        else ["Evaluation report"]
        + [str(x) for x in (dataset, task and f"{task} classification") if x]
    )
    title = _dict(report.get("html")).get("title") or " — ".join(default_title)
    precision = _dict(_dict(report.get("training")).get("precision"))
    trained_in = precision.get("policy") and (
        f"{precision['policy']} ({precision.get('reason', '')}); "
        "evaluated and exported in float32"
    )
    subtitle = " &middot; ".join(
        f"{label}: <strong>{_e(value)}</strong>"
        for label, value in (
            ("Task", task),
            ("Dataset", dataset),
            ("Model", model),
            ("Training precision", trained_in),
        )
        if value
    )
    body = "".join(
        [
            f"<h1>{_e(title)}</h1>",
            f"<p>{subtitle}</p>" if subtitle else "",
            f'<p class="verdict"><strong>{_e(verdict(report))}</strong></p>'
            if verdict(report)
            else "",
            _data_section(report),
            _metrics_section(report),
            _neighbor_section(report),
            _ensemble_section(report),
            _refit_section(report),
            _cross_entropy_section(report),
            _images_section(images),
            _per_class_section(report),
            _confusion_section(report),
            _tuning_section(report),
            _footer(report),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------
# Terminal summary.
# --------------------------------------------------------------------------

# Per task: the key test metrics `(key, label, better)` shown at the end of a
# run, the first one deciding which baseline is the best. `better` is "max",
# "min" or "one" (closest to 1 is best).
_SUMMARY_METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "binary": (
        ("auc", "ROC AUC", "max"),
        ("log_loss", "log loss (nats)", "min"),
        ("accuracy", "accuracy @ 0.5", "max"),
    ),
    "multiclass": (
        ("accuracy", "accuracy", "max"),
        ("log_loss", "log loss (nats)", "min"),
    ),
    "ctr": (
        ("auc", "ROC AUC", "max"),
        ("log_loss", "log loss (nats)", "min"),
        ("normalized_entropy", "normalized entropy", "min"),
        ("calibration", "calibration (pred/obs)", "one"),
        ("gauc", "GAUC", "max"),
        ("excess_log_loss_pct", "excess over Bayes (%)", "min"),
    ),
    "gan": (
        ("frechet_ratio", "Frechet ratio (goal <= 2)", "min"),
        ("classes_covered", "classes covered (>= 5%)", "max"),
        ("min_class_fraction", "rarest class share", "max"),
    ),
}
_COVERED_SHARE = 0.05
"""A class is covered when at least this share of generated images is in it."""


def _summary_values(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics with the derived summary values (`classes_covered`)."""
    values = dict(metrics)
    coverage = _dict(metrics.get("class_coverage"))
    shares = [float(v) for v in coverage.values() if _is_number(v)]
    if shares:
        covered = sum(share >= _COVERED_SHARE for share in shares)
        values["classes_covered"] = f"{covered}/{len(shares)}"
        values["_classes_covered"] = covered
    return values


def _best_baseline(
    baselines: Mapping[str, Any], key: str, better: str
) -> tuple[str, Mapping[str, Any]] | None:
    """The baseline with the best `key` (the first one if none has it)."""
    candidates = [
        (str(name), _summary_values(m))
        for name, m in baselines.items()
        if isinstance(m, Mapping)
    ]
    if not candidates:
        return None
    scored = [(name, m) for name, m in candidates if _num(m, key) is not None]
    if not scored:
        return candidates[0]
    pick = max if better == "max" else min
    return pick(scored, key=lambda item: _num(item[1], key))


def _summary_cell(value: Any) -> str:
    if _is_number(value) and not isinstance(value, (bool, np.bool_)):
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        return f"{float(value):.{_DIGITS}f}" if math.isfinite(value) else "-"
    return "-" if value is None else str(value)


def verdict(report: Mapping[str, Any]) -> str:
    """One line: does the network earn its place beside the best baseline?

    Compares the task's headline test metric (the first of the summary
    table: ROC AUC, accuracy, the Frechet ratio) with the best baseline's and
    states the difference with its sign (ours minus theirs).

    >>> verdict({"task": "binary", "metrics": {"test": {"auc": 0.95}},
    ...          "baseline": {"logistic_regression": {"auc": 0.93},
    ...                       "hist_gradient_boosting": {"auc": 0.96}}})
    ... # doctest: +NORMALIZE_WHITESPACE
    'The network trails the best baseline, hist_gradient_boosting,
     by -0.0100 test ROC AUC (0.9500 vs 0.9600).'

    Returns:
        The sentence, or `""` without a baseline or a headline metric.
    """
    specs = _SUMMARY_METRICS.get(str(report.get("task")), ())
    model = _summary_values(_test_metrics(report))
    if not specs or _num(model, specs[0][0]) is None:
        return ""
    key, label, better = specs[0]
    best = _best_baseline(_dict(report.get("baseline")), key, better)
    if best is None or _num(best[1], key) is None:
        return ""
    ours, theirs = _num(model, key), _num(best[1], key)
    diff = ours - theirs
    gain = diff if better == "max" else -diff
    word = "beats" if gain > 0 else "trails" if gain < 0 else "ties"
    by = "" if gain == 0 else f" by {diff:+.{_DIGITS}f}"
    return (
        f"The network {word} the best baseline, {best[0]},{by} test {label} "
        f"({ours:.{_DIGITS}f} vs {theirs:.{_DIGITS}f})."
    )


def render_summary(report: Mapping[str, Any]) -> str:
    """The key test metrics of a run beside its best baseline, as plain text.

    The terminal's last word on a run (the runner prints it before the
    paths). The metrics are the task's headline ones: binary ROC AUC, log
    loss and accuracy; multiclass accuracy and log loss; CTR ROC AUC, log
    loss, normalized entropy, calibration, GAUC and, for a synthetic log
    whose true click probabilities are known, the excess log loss over the
    Bayes log loss in %; GAN the Frechet ratio and the class coverage. The
    baseline shown is the best one on the first of them; a `*` marks the
    better value of each comparable row.

    >>> print(render_summary({"task": "multiclass",
    ...     "metrics": {"test": {"accuracy": 0.9, "log_loss": 0.31}},
    ...     "baseline": {"logistic_regression": {"accuracy": 0.95,
    ...                                          "log_loss": 0.2}}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    test metrics      model    logistic_regression
    accuracy          0.9000   0.9500 *
    log loss (nats)   0.3100   0.2000 *
    The network trails the best baseline, logistic_regression,
    by -0.0500 test accuracy (0.9000 vs 0.9500).

    Args:
        report: The `report.json` dict (see the module docstring).

    Returns:
        The table, one line per metric, then the `verdict` line when there
        is a baseline (no trailing newline); `""` when the report has no
        test metrics of a known task.
    """
    specs = _SUMMARY_METRICS.get(str(report.get("task")), ())
    model = _summary_values(_test_metrics(report))
    rows = [spec for spec in specs if spec[0] in model]
    if not rows:
        return ""
    key, _, better = rows[0]
    baseline = _best_baseline(_dict(report.get("baseline")), key, better)
    header = ["test metrics", _MODEL_NAME] + ([baseline[0]] if baseline else [])
    table = [header]
    for key, label, better in rows:
        ours = model.get(key)
        cells = [label, _summary_cell(ours)]
        if baseline is not None:
            theirs = baseline[1].get(key)
            cells.append(_summary_cell(theirs))
            a = _num(model, f"_{key}") if key == "classes_covered" else _num(model, key)
            b = (
                _num(baseline[1], f"_{key}")
                if key == "classes_covered"
                else _num(baseline[1], key)
            )
            if better == "one" and a is not None and b is not None:
                a, b = -abs(a - 1.0), -abs(b - 1.0)
            if a is not None and b is not None and a != b:
                wins = (a > b) == (better != "min")
                cells[1 + (0 if wins else 1)] += " *"
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in table
    ]
    return "\n".join([*lines, verdict(report)] if verdict(report) else lines)
