"""The GAN report's figures, as PNG bytes (pure: no disk, no pyplot state).

Rendering and the training-curve layout are shared with the classifier reports
(`xent.plots`); this module holds the GAN-only figures and panel choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from xent import plots as plots_lib
from xent.plots import Curve
from xent.plots import Panel
from xent.plots import png_bytes

__all__ = [
    "TRAINING_PANELS",
    "class_coverage_png",
    "image_grid_png",
    "slerp",
    "tile_images",
    "training_curves_png",
]

TRAINING_PANELS = (
    Panel(
        "Losses",
        (Curve("d_loss", "discriminator"), Curve("g_loss", "generator")),
    ),
    Panel(
        "Mean discriminator output",
        (Curve("d_real", "D(x), real"), Curve("d_fake", "D(G(z)), generated")),
    ),
    Panel(
        "Frechet distance to validation images",
        (
            Curve("val_frechet_distance", "generated"),
            Curve("val_frechet_floor", "floor (real vs real)", dashed=True),
        ),
    ),
)
"""The GAN training-curve subplots; series missing from a history are skipped."""


def tile_images(images, rows: int, pad: int = 1, scale: int = 1) -> np.ndarray:
    """Tiles `[n, h, w, c]` images in [0, 1] into one `[H, W, c]` grid.

    Args:
        images: The images, in row-major order; `rows` must divide `n`.
        rows: Rows of the grid.
        pad: Pixels of white (1.0) between images.
        scale: Integer upscaling (nearest neighbour) of each image, so that
            8x8 digits stay visible.

    Returns:
        A float32 array in [0, 1].

    >>> tile_images(np.zeros((6, 2, 2, 1)), rows=2, pad=1).shape
    (5, 8, 1)
    """
    x = np.clip(np.asarray(images, "float32"), 0.0, 1.0)
    if x.ndim != 4 or len(x) % rows:
        raise ValueError(
            f"Invalid value for argument `images`. Expected [n, h, w, c] with n "
            f"divisible by rows={rows}. Received shape: {x.shape}"
        )
    if scale > 1:
        x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = x.shape
    cols = n // rows
    grid = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, c), "float32")
    for i, image in enumerate(x):
        r, col = divmod(i, cols)
        grid[
            r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w
        ] = image
    return grid


def slerp(z0, z1, steps: int) -> np.ndarray:
    """Spherical interpolation from `z0` to `z1` (`[steps, d]`, ends included).

    Keeps the norm typical of Gaussian noise along the path, unlike a straight
    line through the low-density centre.
    """
    z0, z1 = np.asarray(z0, "float64"), np.asarray(z1, "float64")
    cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if omega < 1e-6:
        return (1 - t) * z0 + t * z1
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


def image_grid_png(
    images, rows: int, title: str, row_labels: Sequence[str] | None = None
) -> bytes:
    """A grid of `[n, h, w, c]` images in [0, 1] as a PNG."""
    images = np.asarray(images)
    grid = tile_images(images, rows, pad=1)
    cols = len(images) // rows
    fig = Figure(
        figsize=(max(4.0, 0.45 * cols + 0.8), 0.45 * rows + 0.8),
        layout="constrained",
    )
    ax = fig.add_subplot()
    cmap = "gray" if grid.shape[-1] == 1 else None
    ax.imshow(grid.squeeze(-1) if cmap else grid, cmap=cmap, vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    if row_labels:
        side = images.shape[1] + 1
        ax.set_yticks([i * side + side / 2 - 1 for i in range(rows)], list(row_labels))
    else:
        ax.set_yticks([])
    return png_bytes(fig)


def training_curves_png(history: Mapping[str, Sequence[float]]) -> bytes:
    """Losses, mean discriminator outputs and the Frechet curve over epochs.

    Args:
        history: Metric name -> one value per epoch (`TRAINING_PANELS` keys).

    Returns:
        PNG bytes (a placeholder when none of the keys was recorded).
    """
    return plots_lib.training_curves_png(history, TRAINING_PANELS)


def class_coverage_png(
    fractions, class_names: Sequence[str], mean_confidence: float, target: float
) -> bytes:
    """Bar chart of the predicted class fractions of generated images."""
    fractions = np.asarray(fractions, "float64")
    k = len(fractions)
    fig = Figure(figsize=(max(5.0, 0.5 * k + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(k), fractions, color="#36c", alpha=0.8)
    ax.axhline(1 / k, ls="--", color="grey", lw=1, label=f"uniform ({1 / k:.0%})")
    ax.axhline(target, ls=":", color="red", lw=1, label=f"goal ({target:.0%})")
    ax.set_xticks(range(k), [str(n) for n in class_names])
    ax.set(
        xlabel="Predicted class",
        ylabel="Fraction of generated images",
        title=f"Class coverage (mean confidence {mean_confidence:.3f})",
    )
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return png_bytes(fig)
