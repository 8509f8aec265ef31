"""Tests for xent.report."""

import dataclasses
import html.parser
import io
import json
import math
import pathlib

import matplotlib.image
import numpy as np
import pytest

from xent import evaluation
from xent import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HISTORY = {
    "loss": [0.7, 0.5, 0.4],
    "val_loss": [0.72, 0.6, 0.55],
    "auc": [0.7, 0.8, 0.85],
    "val_auc": [0.68, 0.75, float("nan")],
    "learning_rate": [1e-3, 1e-3, 5e-4],
}


def _assert_png(data):
    assert isinstance(data, bytes)
    assert data.startswith(PNG_MAGIC)
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, 200), 0, 1)
    return y, p


@pytest.fixture(scope="module")
def multiclass_data():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 150)
    logits = rng.normal(size=(150, 3)) + 2.0 * np.eye(3)[y]
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, prob.astype(np.float32)


def test_render_plots_binary_returns_readable_pngs(binary_data):
    y, p = binary_data
    images = report.render_plots("binary", y, p, HISTORY, ["neg", "pos"])
    assert tuple(images) == report.BINARY_PLOTS
    for data in images.values():
        _assert_png(data)


def test_render_plots_multiclass_returns_readable_pngs(multiclass_data):
    y, prob = multiclass_data
    images = report.render_plots("multiclass", y, prob, HISTORY, ["a", "b", "c"])
    assert tuple(images) == report.MULTICLASS_PLOTS
    for data in images.values():
        _assert_png(data)


def test_render_plots_degenerate_inputs_do_not_crash():
    # Single class (ROC/PR undefined), no history, names matplotlib could
    # misread as math text or markup.
    images = report.render_plots(
        "binary", [0, 0, 0], [0.1, 0.5, 0.9], {}, ["$x$ <script>", "$"]
    )
    assert tuple(images) == report.BINARY_PLOTS
    for data in images.values():
        _assert_png(data)
    images = report.render_plots("multiclass", [0, 1], np.eye(2), None)
    _assert_png(images["training_curves.png"])


def test_render_plots_invalid_arguments():
    with pytest.raises(ValueError, match="task"):
        report.render_plots("regression", [0, 1], [0.2, 0.8], {})
    with pytest.raises(ValueError, match="prob"):
        report.render_plots("binary", [0, 1], [0.2, 1.8], {})
    with pytest.raises(ValueError, match="class_names"):
        report.render_plots("binary", [0, 1], [0.2, 0.8], {}, ["only one"])
    with pytest.raises(ValueError, match="prob"):
        report.render_plots("multiclass", [0, 1], [0.2, 0.8], {})
    with pytest.raises(ValueError, match=r"history\['loss'\]"):
        report.render_plots("binary", [0, 1], [0.2, 0.8], {"loss": ["a", "b"]})


def _report(task, y, prob, class_names):
    if task == "binary":
        metrics = evaluation.binary_metrics(y, prob)
        other = evaluation.binary_metrics(y, np.clip(prob * 0.5 + 0.25, 0, 1))
    else:
        metrics = evaluation.multiclass_metrics(y, prob, class_names)
        other = evaluation.multiclass_metrics(
            y, np.full_like(prob, 1 / prob.shape[1]), class_names
        )
    counts = np.bincount(y, minlength=len(class_names))
    return {
        "task": task,
        "dataset": "toy <data>",
        "model_name": "mlp",
        "created_at": "2025-01-02T03:04:05+00:00",
        "data": {
            "splits": {
                "train": {"n": 1000, "class_counts": {"x": 600, "y": 400}},
                "test": {
                    "n": len(y),
                    "class_counts": dict(
                        zip(class_names, counts.tolist(), strict=True)
                    ),
                },
            },
            "n_features": 3,
            "feature_names": ["f1", "f2", "f<3>"],
            "class_names": class_names,
        },
        "metrics": metrics,
        "baselines": {"logistic_regression": other},
        "cross_entropy": evaluation.cross_entropy_decomposition(y, prob),
        "config": {"seed": np.int64(7), "lr": np.float32(0.5), "note": "a<b"},
    }


class _TagCounter(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.open = {}
        self.closed = {}
        self.images = []

    def handle_starttag(self, tag, attrs):
        self.open[tag] = self.open.get(tag, 0) + 1
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_endtag(self, tag):
        self.closed[tag] = self.closed.get(tag, 0) + 1


def test_render_html_binary(binary_data):
    y, p = binary_data
    rep = _report("binary", y, p, ["neg", "pos"])
    captions = {"roc.png": "ROC curve", "calibration.png": "Reliability diagram"}
    page = report.render_html(rep, captions)

    parser = _TagCounter()
    parser.feed(page)
    for tag in ("html", "table", "tr", "section", "pre", "figure"):
        assert parser.open.get(tag) == parser.closed.get(tag), tag
    assert parser.images == [
        {"src": "roc.png", "alt": "ROC curve"},
        {"src": "calibration.png", "alt": "Reliability diagram"},
    ]
    assert "<script" not in page and "http" not in page
    # Metric table: one column per model, rows labelled.
    assert "<th>mlp</th><th>logistic_regression</th>" in page
    assert "ROC AUC" in page and "Log loss (nats)" in page
    # Bold marks the lower log loss, and both AUCs: the baseline's
    # probabilities are a monotone transform of the model's, so they tie.
    losses = [rep["metrics"]["log_loss"], rep["baselines"]["logistic_regression"]]
    losses[1] = losses[1]["log_loss"]
    assert f'<td class="num best">{min(losses):.4f}</td>' in page
    assert f'<td class="num">{max(losses):.4f}</td>' in page
    auc = f"{rep['metrics']['auc']:.4f}"
    assert page.count(f'<td class="num best">{auc}</td>') == 2  # A tie.
    # Cross-entropy section with its numbers.
    assert "H(p, q) = H(p) + KL(p &#8741; q)" in page
    assert f"{rep['cross_entropy']['label_entropy']:.4f}" in page
    assert f"{rep['cross_entropy']['normalized_entropy']:.4f}" in page
    # Dataset table, confusion matrix, config and creation time.
    assert "x: 600 (60.0%)" in page
    assert "toy &lt;data&gt;" in page and "f&lt;3&gt;" in page
    assert "Confusion matrix" in page
    assert "&quot;seed&quot;: 7" in page and "a&lt;b" in page
    assert "2025-01-02T03:04:05+00:00" in page


def test_render_html_multiclass_escapes_class_names(multiclass_data):
    y, prob = multiclass_data
    names = ["<script>alert(1)</script>", "b&c", 'q"uote']
    rep = _report("multiclass", y, prob, names)
    page = report.render_html(rep, {"confusion_matrix.png": "<b>cm</b>"})

    assert "<script>" not in page and "<b>cm</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "b&amp;c" in page and "q&quot;uote" in page
    assert "Per-class metrics" in page
    assert "Macro F1" in page
    support = rep["metrics"]["per_class"][names[0]]["support"]
    assert f'<td class="num">{support}</td>' in page


def test_render_html_tolerates_missing_and_odd_keys():
    for rep in (
        {},
        {"task": "binary"},
        {"metrics": {"auc": None, "log_loss": float("nan")}, "baselines": None},
        {"data": {"splits": {"train": 10}}, "cross_entropy": {"log_loss": 0.3}},
        {"metrics": {"confusion_matrix": "oops", "per_class": []}},
        {"config": {"obj": object()}},
    ):
        page = report.render_html(rep, {})
        assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    with pytest.raises(ValueError, match="report"):
        report.render_html([], {})
    with pytest.raises(ValueError, match="images"):
        report.render_html({}, ["roc.png"])


@dataclasses.dataclass
class _Point:
    x: float
    y: np.ndarray


def test_to_jsonable_makes_strict_json():
    obj = {
        "f32": np.float32(0.25),
        "i64": np.int64(3),
        "flag": np.bool_(True),
        "nan": float("nan"),
        "inf": np.float64(-np.inf),
        "arr": np.array([[1.0, np.nan], [np.inf, 2.0]]),
        "ints": np.arange(3, dtype=np.int32),
        "tuple": (1, np.float16(0.5)),
        "set": {3, 1, 2},
        np.int64(5): "numpy key",
        "path": pathlib.PurePosixPath("runs/a"),
        "point": _Point(1.5, np.array([0.5])),
    }
    out = report.to_jsonable(obj)
    text = json.dumps(out, allow_nan=False)
    back = json.loads(text)
    assert back["f32"] == 0.25 and back["i64"] == 3 and back["flag"] is True
    assert back["nan"] is None and back["inf"] is None
    assert back["arr"] == [[1.0, None], [None, 2.0]]
    assert back["ints"] == [0, 1, 2]
    assert back["tuple"] == [1, 0.5]
    assert back["set"] == [1, 2, 3]
    assert back["5"] == "numpy key"
    assert back["path"] == "runs/a"
    assert back["point"] == {"x": 1.5, "y": [0.5]}
    assert type(out["i64"]) is int and type(out["f32"]) is float
    # The input is left alone.
    assert math.isnan(obj["nan"])


def test_to_jsonable_names_unsupported_values():
    with pytest.raises(TypeError, match=r"obj\['config'\]\['fn'\].*function"):
        report.to_jsonable({"config": {"fn": lambda: None}})


def test_full_report_is_strict_json(binary_data):
    y, p = binary_data
    rep = _report("binary", y, p, ["neg", "pos"])
    rep["metrics"]["auc"] = np.float64(np.nan)
    json.dumps(report.to_jsonable(rep), allow_nan=False)
