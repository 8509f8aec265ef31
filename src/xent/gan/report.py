"""The GAN's part of the run report: its figures and extra sections (pure).

`build_plots` renders the report's figures as PNG bytes (`xent.gan.plots`);
`build_sections` gives the report's `evaluation_classifier`, `html` and
`goal` sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np

from xent.gan import plots
from xent.gan.classifier import EvaluationClassifier

__all__ = [
    "COVERAGE_GOAL",
    "FRECHET_RATIO_GOAL",
    "METRICS_NOTE",
    "build_plots",
    "build_sections",
]

COVERAGE_GOAL = 0.05
"""Every class in at least 5% of the samples."""
FRECHET_RATIO_GOAL = 2.0
"""Frechet distance at most twice its floor."""

METRICS_NOTE = (
    "Frechet distances are measured in the penultimate-layer features of the "
    "evaluation classifier (the multiclass pipeline's model, test accuracy "
    "in the last row), between the test images and equally many generated "
    "images, averaged over random halvings of the test images; the floor is "
    "the same distance between the two halves, i.e. what fresh real images "
    "score (frechet_ratio = distance / floor; goal <= 2). class_coverage: "
    "fraction of generated images the classifier assigns to each class (goal: "
    "every class >= 5%); mean_confidence: its mean top-class probability. "
    "nn_distance_ratio: median pixel distance from generated images to their "
    "nearest training image over the same for test images (about 1: no "
    "copying; 0: copies). Baselines are scored identically: gaussian_pixels "
    "samples a Gaussian fitted to the training pixels, copy_training_images "
    "returns random training images (which the classifier also trained on)."
)


def build_plots(
    grid: np.ndarray,
    grid_rows: int,
    row_labels: Sequence[str] | None,
    real: np.ndarray,
    interpolation: np.ndarray,
    interpolation_rows: int,
    metrics: Mapping,
    history: Mapping[str, Sequence[float]],
) -> dict[str, bytes]:
    """The report's figures, PNG bytes by file name, in display order.

    Args:
        grid: Generated images of fixed noise, `grid_rows` rows.
        grid_rows: Rows of the sample grid (and of the real-image grid).
        row_labels: Class name of each grid row (conditional GAN), or None.
        real: Real test images (the first `grid_rows ** 2` are shown).
        interpolation: Images of the latent interpolations, row after row.
        interpolation_rows: Rows of the interpolation grid.
        metrics: `score_images` metrics (`class_coverage`,
            `mean_confidence`).
        history: The Keras history of the run.
    """
    coverage = metrics["class_coverage"]
    return {
        "samples.png": plots.image_grid_png(
            grid, grid_rows, "Generated images (fixed noise)", row_labels=row_labels
        ),
        "real_images.png": plots.image_grid_png(
            real[: grid_rows**2], grid_rows, "Real test images"
        ),
        "interpolation.png": plots.image_grid_png(
            interpolation,
            interpolation_rows,
            "Latent interpolation (spherical, left to right)",
        ),
        "class_coverage.png": plots.class_coverage_png(
            list(coverage.values()),
            list(coverage),
            metrics["mean_confidence"],
            COVERAGE_GOAL,
        ),
        "training_curves.png": plots.training_curves_png(history),
    }


def build_sections(
    classifier: EvaluationClassifier,
    dataset: str,
    conditional: bool,
    metrics: Mapping,
) -> dict:
    """The report's `evaluation_classifier`, `html` and `goal` sections.

    Args:
        classifier: The evaluation classifier (its provenance is reported).
        dataset: The data set name, for the HTML title.
        conditional: Whether the GAN is class-conditional.
        metrics: `score_images` metrics (`frechet_ratio`,
            `min_class_fraction`).
    """
    met = (
        metrics["frechet_ratio"] <= FRECHET_RATIO_GOAL
        and metrics["min_class_fraction"] >= COVERAGE_GOAL
    )
    return {
        "evaluation_classifier": {
            "path": str(classifier.path),
            "key": classifier.info["key"],
            "source": classifier.info["source"],
            "test_metrics": classifier.info["test_metrics"],
        },
        "html": {
            "title": f"Evaluation report — {dataset} — "
            f"{'class-conditional ' if conditional else ''}DCGAN",
            "metrics_note": METRICS_NOTE,
        },
        "goal": {
            "frechet_ratio_max": FRECHET_RATIO_GOAL,
            "min_class_fraction": COVERAGE_GOAL,
            "met": bool(met),
        },
    }
