"""Tests for xent.report."""

import dataclasses
import html.parser
import json
import math
import pathlib

import numpy as np
import pytest

from xent import evaluation
from xent import report


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
    # The report.json layout the runner writes.
    return {
        "task": task,
        "dataset": {
            "name": "toy <data>",
            "rows": {
                "train": {"n": 1000, "class_counts": {"x": 600, "y": 400}},
                "test": {
                    "n": len(y),
                    "class_counts": dict(
                        zip(class_names, counts.tolist(), strict=True)
                    ),
                },
            },
            "features": {"numeric": ["f1", "f2"], "categorical": ["f<3>"]},
        },
        "metrics": {
            "test": {
                **metrics,
                "cross_entropy": evaluation.cross_entropy_decomposition(y, prob),
            }
        },
        "baseline": {"logistic_regression": other},
        "class_names": class_names,
        "config": {"seed": np.int64(7), "lr": np.float32(0.5), "note": "a<b"},
        "created": "2025-01-02T03:04:05+00:00",
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
    assert "<th>model</th><th>logistic_regression</th>" in page
    assert "ROC AUC" in page and "Log loss (nats)" in page
    # Bold marks the lower log loss, and both AUCs: the baseline's
    # probabilities are a monotone transform of the model's, so they tie.
    test = rep["metrics"]["test"]
    losses = [test["log_loss"], rep["baseline"]["logistic_regression"]]
    losses[1] = losses[1]["log_loss"]
    assert f'<td class="num best">{min(losses):.4f}</td>' in page
    assert f'<td class="num">{max(losses):.4f}</td>' in page
    auc = f"{test['auc']:.4f}"
    assert page.count(f'<td class="num best">{auc}</td>') == 2  # A tie.
    # Cross-entropy section with its numbers.
    assert "H(p, q) = H(p) + KL(p &#8741; q)" in page
    assert f"{test['cross_entropy']['label_entropy']:.4f}" in page
    assert f"{test['cross_entropy']['log_loss_over_label_entropy']:.4f}" in page
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
    support = rep["metrics"]["test"]["per_class"][names[0]]["support"]
    assert f'<td class="num">{support}</td>' in page


def test_render_html_tolerates_missing_and_odd_keys():
    for rep in (
        {},
        {"task": "binary"},
        {"metrics": {"test": {"auc": None, "log_loss": float("nan")}}},
        {"baseline": None, "metrics": None, "dataset": "name only"},
        {
            "dataset": {"rows": {"train": 10}, "features": 3},
            "metrics": {"test": {"cross_entropy": {"log_loss": 0.3}}},
        },
        {"metrics": {"test": {"confusion_matrix": "oops", "per_class": []}}},
        {"html": {"title": None}, "class_names": "ab"},
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
    rep["metrics"]["test"]["auc"] = np.float64(np.nan)
    json.dumps(report.to_jsonable(rep), allow_nan=False)


def test_render_html_reads_the_task_title_note_and_bad_rows():
    rep = {
        "task": "gan",
        "dataset": {
            "name": "digits",
            "bad_rows": {"count": 2, "examples": ["a.csv:3: <bad>"]},
        },
        "metrics": {"test": {"frechet_ratio": 1.5}},
        "html": {"title": "GAN <report>", "metrics_note": "Note & more"},
    }
    page = report.render_html(rep, {})
    assert "<title>GAN &lt;report&gt;</title>" in page
    assert "Note &amp; more" in page
    assert "Malformed rows skipped:</strong> 2" in page
    assert "a.csv:3: &lt;bad&gt;" in page
