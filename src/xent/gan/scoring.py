"""The GAN report's scores of a set of images, and the baselines scored alike.

`score_images` measures images in [0, 1] with the evaluation classifier's
`embed` (`xent.gan.classifier`): the Frechet distance to the test images next
to its floor (`xent.gan.evaluation.matched_frechet`), class coverage and
confidence, and the memorization check. `baseline_images` draws the two
reference "generators" that the report scores exactly like the GAN.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence

import numpy as np

from xent.gan import evaluation
from xent.gan.config import EvalConfig

__all__ = ["baseline_images", "score_images"]

Embed = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def score_images(
    images: np.ndarray,
    embed: Embed,
    train: np.ndarray,
    test: np.ndarray,
    class_names: Sequence[str],
    cfg: EvalConfig,
    seed: int,
    labels: np.ndarray | None = None,
) -> dict:
    """The report's metrics for a set of images in [0, 1].

    Args:
        images: `[n, h, w, c]` images to score (generated, or a baseline's).
        embed: `embed(images) -> (features, class probabilities)`.
        train: The training images (the memorization check's reference).
        test: The held-out real images (the Frechet reference).
        class_names: The K class names, in class-id order.
        cfg: The eval section (`frechet_repeats`, `nn_queries`).
        seed: Seed of the Frechet halvings and draws.
        labels: The class ids a conditional generator was asked for; adds
            `label_accuracy` (the classifier's agreement with them).

    Returns:
        `frechet_distance`, `frechet_floor`, `frechet_ratio` (distance over
        floor; NaN for a zero floor), their standard deviations,
        `class_coverage` (fraction per class name), `min_class_fraction`,
        `mean_confidence`, `nn_distance_ratio`, `samples` and, with
        `labels`, `label_accuracy`.
    """
    features, prob = embed(images)
    test_features, _ = embed(test)
    frechet = evaluation.matched_frechet(
        test_features, features, cfg.frechet_repeats, seed=seed
    )
    coverage = evaluation.class_coverage(prob)
    queries = cfg.nn_queries
    metrics = {
        "frechet_distance": frechet["frechet_distance"],
        "frechet_floor": frechet["frechet_floor"],
        "frechet_ratio": (
            frechet["frechet_distance"] / frechet["frechet_floor"]
            if frechet["frechet_floor"] > 0
            else float("nan")
        ),
        "frechet_distance_std": frechet["frechet_distance_std"],
        "frechet_floor_std": frechet["frechet_floor_std"],
        "class_coverage": dict(
            zip(class_names, coverage.fractions.tolist(), strict=True)
        ),
        "min_class_fraction": float(coverage.fractions.min()),
        "mean_confidence": coverage.mean_confidence,
        "nn_distance_ratio": evaluation.nn_distance_ratio(
            images[:queries], train, test[:queries]
        ),
        "samples": len(images),
    }
    if labels is not None:
        metrics["label_accuracy"] = float(np.mean(prob.argmax(axis=1) == labels))
    return metrics


def baseline_images(
    train: np.ndarray, n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Two reference "generators" of `n` images each, from the training images.

    `gaussian_pixels`: a Gaussian fitted to the training pixels (no structure
    beyond second moments), clipped to [0, 1]. `copy_training_images`: random
    training images (a perfect memorizer; its `nn_distance_ratio` is 0).

    Args:
        train: `[m, h, w, c]` training images in [0, 1].
        n: Images per baseline.
        rng: The generator to draw from (the Gaussian first, then the copies).

    Returns:
        `{"gaussian_pixels": float32 images, "copy_training_images": images}`.
    """
    flat = train.reshape(len(train), -1).astype("float64")
    gaussian = rng.multivariate_normal(
        flat.mean(axis=0), np.cov(flat, rowvar=False), size=n, method="eigh"
    )
    gaussian = np.clip(gaussian, 0.0, 1.0).reshape(n, *train.shape[1:])
    copies = train[rng.integers(0, len(train), size=n)]
    return {
        "gaussian_pixels": gaussian.astype("float32"),
        "copy_training_images": copies,
    }
