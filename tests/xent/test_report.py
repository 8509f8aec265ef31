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


def test_render_summary_binary_beside_the_best_baseline():
    from xent.report import render_summary

    report = {
        "task": "binary",
        "metrics": {"test": {"auc": 0.9, "log_loss": 0.3, "accuracy": 0.8, "f1": 0.1}},
        "baseline": {
            "logistic_regression": {"auc": 0.95, "log_loss": 0.2, "accuracy": 0.85},
            "hist_gradient_boosting": {"auc": 0.85, "log_loss": 0.1, "accuracy": 0.9},
        },
    }
    text = render_summary(report)
    header, *rows, last = text.splitlines()
    assert header.split() == ["test", "metrics", "model", "logistic_regression"]
    assert [row.split()[0] for row in rows] == ["ROC", "log", "accuracy"]
    assert last == (
        "The network trails the best baseline, logistic_regression, by -0.0500 "
        "test ROC AUC (0.9000 vs 0.9500)."
    )
    assert rows[0].split()[-3:] == ["0.9000", "0.9500", "*"]
    assert rows[1].split()[-3:] == ["0.3000", "0.2000", "*"]
    assert "f1" not in text.lower()


def test_render_summary_ctr_has_its_metrics_and_excess_over_bayes():
    from xent.report import render_summary

    test = {
        "auc": 0.75,
        "log_loss": 0.45,
        "normalized_entropy": 0.9,
        "calibration": 1.01,
        "gauc": 0.7,
        "excess_log_loss_pct": 1.5,
        "calibration_buckets": {"count": [1, 2]},
    }
    base = {**test, "auc": 0.7, "calibration": 0.9, "train_rows": 3200}
    text = render_summary(
        {"task": "ctr", "metrics": {"test": test}, "baseline": {"lr": base}}
    )
    labels = [line.split("  ")[0] for line in text.splitlines()[1:-1]]
    assert text.splitlines()[-1].startswith(
        "The network beats the best baseline, lr, by +0.0500 test ROC AUC"
    )
    assert labels == [
        "ROC AUC",
        "log loss (nats)",
        "normalized entropy",
        "calibration (pred/obs)",
        "GAUC",
        "excess over Bayes (%)",
    ]
    lines = text.splitlines()
    assert lines[1].endswith("0.7500 *   0.7000")
    assert lines[4].split()[-3:] == ["1.0100", "*", "0.9000"]  # Closer to 1.
    del test["excess_log_loss_pct"]
    assert "Bayes" not in render_summary({"task": "ctr", "metrics": {"test": test}})


def test_verdict_signs_ties_and_missing_baselines():
    from xent.report import verdict

    def report(task, ours, theirs):
        return {
            "task": task,
            "metrics": {"test": ours},
            "baseline": {"b": theirs} if theirs is not None else {},
        }

    # Lower is better for the GAN's Frechet ratio: a smaller one beats.
    gan = verdict(report("gan", {"frechet_ratio": 1.5}, {"frechet_ratio": 3.0}))
    assert gan.startswith("The network beats the best baseline, b, by -1.5000")
    tie = verdict(report("multiclass", {"accuracy": 0.9}, {"accuracy": 0.9}))
    assert tie == (
        "The network ties the best baseline, b, test accuracy (0.9000 vs 0.9000)."
    )
    assert verdict(report("multiclass", {"accuracy": 0.9}, None)) == ""
    assert verdict(report("multiclass", {}, {"accuracy": 0.9})) == ""
    assert verdict(report("binary", {"auc": 0.9}, {"log_loss": 0.1})) == ""


def test_render_summary_gan_and_unknown_reports():
    from xent.report import render_summary

    coverage = {str(k): 0.1 for k in range(10)}
    report = {
        "task": "gan",
        "metrics": {
            "test": {
                "frechet_ratio": 1.5,
                "class_coverage": coverage,
                "min_class_fraction": 0.1,
            }
        },
        "baseline": {
            "gaussian_pixels": {"frechet_ratio": 3.0, "class_coverage": {"0": 1.0}},
        },
    }
    lines = render_summary(report).splitlines()
    assert "gaussian_pixels" in lines[0]
    assert lines[1].split()[-3:] == ["1.5000", "*", "3.0000"]
    assert lines[2].split()[-3:] == ["10/10", "*", "1/1"]
    assert render_summary({"task": "gan"}) == ""
    assert render_summary({}) == ""


def _ctr_report():
    test = {
        "rows": 400,
        "auc": 0.7,
        "log_loss": 0.47,
        "normalized_entropy": 0.94,
        "calibration": 0.97,
        "gauc": 0.71,
        "observed_ctr": 0.2,
        "calibration_buckets": {"mean_predicted": [0.1], "observed": [0.1]},
    }
    return {
        "task": "ctr",
        "dataset": {
            "name": "clicks.csv",
            "rows": {"train": 3200, "test": 400},
            "class_balance": {
                "train": {"click": 648, "no_click": 2552},
                "test": {"click": 82, "no_click": 318},
            },
        },
        "metrics": {"test": test},
        "baseline": {
            "logistic_regression": {**test, "calibration": 1.02, "train_rows": 3200}
        },
        "config": {
            "model": {"kind": "deepfm", "embedding_dim": 8, "hidden": [64, 32]},
            "train": {"batch_size": 2048, "learning_rate": 0.005},
        },
    }


def test_render_html_speaks_ctr():
    page = report.render_html(_ctr_report(), {"ctr_calibration.png": "x"})
    title = page[page.index("<h1>") : page.index("</h1>")]
    assert "CTR report" in title and "deepfm" in title
    assert "embedding_dim 8" in title and "hidden [64, 32]" in title
    assert "click: 648 (20.2%)" in page and "no_click: 318 (79.5%)" in page
    rows = [
        "ROC AUC",
        "Log loss (nats)",
        "Normalized entropy",
        "Calibration (predicted / observed CTR)",
        "GAUC",
    ]
    at = [page.index(f"<th>{html.escape(r)}</th>") for r in rows]
    assert at == sorted(at) and at[0] < page.index("<th>Observed CTR</th>")
    assert "train_rows" not in page
    assert "logistic_regression was fitted on 3200 training rows" in page
    assert "Confusion matrix" not in page and "threshold" not in page.lower()
    # Calibration closest to 1 is the best: 1.02 (baseline), not 0.97.
    assert '<td class="num best">1.0200</td>' in page


def test_render_html_fills_class_balance_from_fractions_and_captions():
    data = {
        "task": "binary",
        "dataset": {
            "rows": {"train": 100},
            "class_balance": {"train": {"no": 0.25, "yes": 0.75}},
        },
    }
    page = report.render_html(data, {"roc.png": "roc.png"})
    assert "no: 25.0% &middot; yes: 75.0%" in page
    assert "<figcaption>ROC curve</figcaption>" in page


def test_the_page_names_the_training_precision_and_why():
    from xent.report import render_html

    report = {
        "task": "binary",
        "training": {
            "precision": {
                "requested": "auto",
                "policy": "mixed_bfloat16",
                "reason": "auto: the CPU has AMX bfloat16 units (amx_bf16)",
            }
        },
    }
    page = render_html(report, {})
    assert (
        "Training precision: <strong>mixed_bfloat16 (auto: the CPU has AMX "
        "bfloat16 units (amx_bf16)); evaluated and exported in float32</strong>"
    ) in page
    assert "Training precision" not in render_html({"task": "binary"}, {})


def test_the_page_says_what_the_nearest_neighbour_head_does():
    from xent.report import render_html

    blend = {
        "k": 50,
        "weight": 0.2,
        "rows": 2330,
        "val_cross_entropy": 0.9131,
        "val_cross_entropy_network": 1.7679,
    }
    page = render_html(
        {"task": "multiclass", "metrics": {"test": {"neighbor_blend": blend}}}, {}
    )
    assert "Nearest-neighbour head" in page
    assert (
        "(20%) with the inverse-distance-weighted labels of the 50 nearest of 2330"
        in page
    )
    assert "1.7679 &rarr; 0.9131 nats" in page
    dropped = {**blend, "weight": 1.0}
    page = render_html(
        {"task": "binary", "metrics": {"test": {"neighbor_blend": dropped}}}, {}
    )
    assert "Not used" in page and "(1.7679 nats)" in page
    assert "Nearest-neighbour head" not in render_html({"task": "binary"}, {})


def test_the_page_lists_the_networks_of_an_ensemble():
    from xent.report import render_html

    members = [
        {"seed": 0, "epochs_run": 6, "best_validation": {"val_auc": 0.95954}},
        {"seed": 1, "epochs_run": 8, "best_validation": {"val_auc": 0.9578}},
    ]
    ensemble = {"members": members, "validation": {"val_auc": 0.96081}}
    report = {"task": "ctr", "training": {"ensemble": ensemble}}
    page = render_html(report, {})
    assert "the ensemble's val_auc is <strong>0.9608</strong>" in page
    assert "<h2>Ensemble</h2>" in page
    assert "ensemble of 2 networks" in page
    assert "<th>best val_auc</th>" in page
    assert "<tr><td>1</td><td>8</td><td>0.9578</td></tr>" in page
    assert "<h2>Ensemble</h2>" not in render_html({"task": "ctr"}, {})
