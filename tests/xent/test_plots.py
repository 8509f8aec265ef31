"""Tests for xent.plots (the report's PNG plots)."""

import io

import matplotlib.image
import numpy as np
import pytest

from xent import plots
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
    images = plots.render_plots("binary", y, p, HISTORY, ["neg", "pos"])
    assert tuple(images) == plots.BINARY_PLOTS
    for data in images.values():
        _assert_png(data)


def test_render_plots_multiclass_returns_readable_pngs(multiclass_data):
    y, prob = multiclass_data
    images = plots.render_plots("multiclass", y, prob, HISTORY, ["a", "b", "c"])
    assert tuple(images) == plots.MULTICLASS_PLOTS
    for data in images.values():
        _assert_png(data)


def test_render_plots_degenerate_inputs_do_not_crash():
    # Single class (ROC/PR undefined), no history, names matplotlib could
    # misread as math text or markup.
    images = plots.render_plots(
        "binary", [0, 0, 0], [0.1, 0.5, 0.9], {}, ["$x$ <script>", "$"]
    )
    assert tuple(images) == plots.BINARY_PLOTS
    for data in images.values():
        _assert_png(data)
    images = plots.render_plots("multiclass", [0, 1], np.eye(2), None)
    _assert_png(images["training_curves.png"])


def test_render_plots_invalid_arguments():
    with pytest.raises(ValueError, match="task"):
        plots.render_plots("regression", [0, 1], [0.2, 0.8], {})
    with pytest.raises(ValueError, match="prob"):
        plots.render_plots("binary", [0, 1], [0.2, 1.8], {})
    with pytest.raises(ValueError, match="class_names"):
        plots.render_plots("binary", [0, 1], [0.2, 0.8], {}, ["only one"])
    with pytest.raises(ValueError, match="prob"):
        plots.render_plots("multiclass", [0, 1], [0.2, 0.8], {})
    with pytest.raises(ValueError, match=r"history\['loss'\]"):
        plots.render_plots("binary", [0, 1], [0.2, 0.8], {"loss": ["a", "b"]})


def test_report_reexports_the_plots_for_existing_callers():
    assert report.render_plots is plots.render_plots
    assert report.calibration_buckets_png is plots.calibration_buckets_png
    assert report.BINARY_PLOTS == plots.BINARY_PLOTS


def test_calibration_buckets_png_is_readable():
    buckets = {"mean_predicted": [0.01, 0.05, 0.2], "observed": [0.0, 0.04, 0.25]}
    _assert_png(plots.calibration_buckets_png({**buckets, "count": [10, 10, 10]}))
    _assert_png(plots.calibration_buckets_png({}))


def test_training_curves_png_with_panels_skips_missing_series():
    panels = (
        plots.Panel("Losses", (plots.Curve("d_loss", "D"), plots.Curve("g_loss", "G"))),
        plots.Panel("Absent", (plots.Curve("nope", "x", dashed=True),)),
    )
    _assert_png(plots.training_curves_png({"d_loss": [1.0, 0.5]}, panels))
    _assert_png(plots.training_curves_png({}, panels))  # placeholder
    _assert_png(plots.training_curves_png(HISTORY))
    with pytest.raises(ValueError, match="history"):
        plots.training_curves_png(["loss"])


def test_render_ctr_plots_has_gain_and_log_calibration_but_no_confusion(
    binary_data,
):
    y, p = binary_data
    buckets = {"mean_predicted": [0.1, 0.3], "observed": [0.12, 0.28], "count": [5, 5]}
    images = plots.render_ctr_plots(y, p, HISTORY, buckets)
    assert tuple(images) == plots.CTR_PLOTS
    assert "confusion_matrix.png" not in images
    assert "calibration.png" not in images
    for png in images.values():
        _assert_png(png)


def test_gain_png_is_a_placeholder_without_positives():
    _assert_png(plots.gain_png(np.zeros(10), np.linspace(0, 1, 10)))
    _assert_png(plots.gain_png(np.array([1, 0, 1]), np.array([0.9, 0.1, 0.8]), 2))
