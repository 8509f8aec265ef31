"""How good are generated images? Pure functions on arrays, in float64.

* `frechet_distance`: the Frechet (2-Wasserstein) distance between two
  Gaussians, `|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2)`, applied
  to classifier features (the FID recipe with a small digits classifier in
  place of Inception).
* `matched_frechet`: the distance from generated images to held-out real
  images next to its floor, the same distance between two halves of the real
  images, with the same sample sizes, so that both carry the same
  finite-sample bias (a sample of the data distribution itself scores the
  floor on average).
* `class_coverage`: how often a classifier predicts each class on generated
  images (mode collapse drops classes) and how confident it is.
* `nn_distance_ratio`: the memorization check; generated images that copy
  training images lie much closer to them than unseen real images do.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = [
    "ClassCoverage",
    "FeatureStatistics",
    "MatchedFrechet",
    "class_coverage",
    "feature_statistics",
    "frechet_distance",
    "matched_frechet",
    "nearest_neighbour_distances",
    "nn_distance_ratio",
]


@dataclasses.dataclass(frozen=True)
class FeatureStatistics:
    """Mean and covariance of a set of feature vectors.

    Attributes:
        mean: `[d]`.
        cov: `[d, d]`, the unbiased sample covariance (`n - 1`).
        n: Number of vectors.
    """

    mean: np.ndarray
    cov: np.ndarray
    n: int


def _matrix(x, name: str, min_rows: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < min_rows:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a [n, d] array with "
            f"n >= {min_rows}. Received shape: {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ValueError(f"Invalid value for argument `{name}`: non-finite values")
    return x


def feature_statistics(features) -> FeatureStatistics:
    """Mean and unbiased covariance of `[n, d]` features (n >= 2).

    >>> feature_statistics([[0.0], [2.0]]).cov.tolist()
    [[2.0]]
    """
    x = _matrix(features, "features", min_rows=2)
    return FeatureStatistics(
        mean=x.mean(axis=0), cov=np.atleast_2d(np.cov(x, rowvar=False)), n=len(x)
    )


def _one_blas_thread(fn):
    """Runs `fn` with one BLAS thread: for these small matrices, OpenBLAS's
    threads cost far more than they save (10x on a busy 2-core machine)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _frechet_with_root(mu1, cov1, root1, mu2, cov2) -> float:
    """`frechet_distance` given `root1 = cov1^1/2`."""
    middle = root1 @ cov2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)
    return max(value, 0.0)


@_one_blas_thread
def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Frechet distance between `N(mu1, cov1)` and `N(mu2, cov2)`.

    `|mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1^1/2 C2 C1^1/2)^1/2)`; the
    last trace equals `tr((C1 C2)^1/2)` and is computed from the eigenvalues
    of the symmetric matrix `C1^1/2 C2 C1^1/2`, so rank-deficient covariances
    (fewer samples than dimensions) give a real, finite value without the
    complex round-off of a general matrix square root.

    Args:
        mu1: Mean `[d]`.
        cov1: Covariance `[d, d]` (symmetric positive semi-definite).
        mu2: Mean `[d]`.
        cov2: Covariance `[d, d]`.

    Returns:
        The squared 2-Wasserstein distance (>= 0; round-off below 0 is
        clipped).

    Raises:
        ValueError: If the shapes do not match, naming the argument.

    >>> frechet_distance([0.0], [[1.0]], [1.0], [[4.0]])
    2.0
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    cov1 = np.atleast_2d(np.asarray(cov1, dtype=np.float64))
    cov2 = np.atleast_2d(np.asarray(cov2, dtype=np.float64))
    d = mu1.shape[0]
    for name, value, shape in (
        ("mu1", mu1, (d,)),
        ("mu2", mu2, (d,)),
        ("cov1", cov1, (d, d)),
        ("cov2", cov2, (d, d)),
    ):
        if value.shape != shape:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected shape {shape}. "
                f"Received: {value.shape}"
            )
    return _frechet_with_root(mu1, cov1, _psd_sqrt(cov1), mu2, cov2)


class MatchedFrechet:
    """Frechet distances to held-out real features, with their floor.

    Each of `repeats` random halvings splits the real features into halves A
    and B. The floor is the mean of `FD(B, A)`; the distance of a generated
    set is the mean of `FD(B, G)` over the halvings, with G a random draw of
    `len(B)` generated features. Both compare equally large samples with the
    same B, so they carry the same finite-sample bias, and the floor is what
    a perfect generator (fresh samples of the real distribution) scores on
    average. B's statistics are computed once, so scoring a generator every
    epoch is cheap.

    Args:
        real_features: `[n, d]` features of held-out real images (n >= 4).
        repeats: Random halvings to average over.
        seed: Seed of the halvings and of the draws of generated features.

    Raises:
        ValueError: If `real_features` is too small or `repeats` invalid.
    """

    @_one_blas_thread
    def __init__(self, real_features, repeats: int = 10, seed: int = 0) -> None:
        real = _matrix(real_features, "real_features", min_rows=4)
        if not (isinstance(repeats, int) and repeats >= 1):
            raise ValueError(
                "Invalid value for argument `repeats`. Expected an integer >= 1. "
                f"Received: {repeats!r}"
            )
        self.half = len(real) // 2
        self.dim = real.shape[1]
        self.seed = seed
        rng = np.random.default_rng(seed)
        self._references = []
        floors = []
        for _ in range(repeats):
            order = rng.permutation(len(real))
            a = feature_statistics(real[order[: self.half]])
            b = feature_statistics(real[order[self.half : 2 * self.half]])
            root = _psd_sqrt(b.cov)
            self._references.append((b, root))
            floors.append(_frechet_with_root(b.mean, b.cov, root, a.mean, a.cov))
        self.floors = np.asarray(floors)

    @_one_blas_thread
    def distances(self, generated_features) -> np.ndarray:
        """`FD(B, G)` per halving, `[repeats]`.

        Raises:
            ValueError: If there are fewer than `n // 2` generated features
                or their dimension differs.
        """
        gen = _matrix(generated_features, "generated_features", min_rows=self.half)
        if gen.shape[1] != self.dim:
            raise ValueError(
                "Invalid value for argument `generated_features`. Expected "
                f"{self.dim} features per row. Received: {gen.shape[1]}"
            )
        rng = np.random.default_rng([self.seed, 1])
        out = []
        for b, root in self._references:
            g = feature_statistics(
                gen[rng.choice(len(gen), size=self.half, replace=False)]
            )
            out.append(_frechet_with_root(b.mean, b.cov, root, g.mean, g.cov))
        return np.asarray(out)

    def __call__(self, generated_features) -> dict[str, float]:
        """`frechet_distance`, `frechet_floor` (means over the halvings) and
        their standard deviations `frechet_distance_std`, `frechet_floor_std`."""
        distances = self.distances(generated_features)
        return {
            "frechet_distance": float(distances.mean()),
            "frechet_floor": float(self.floors.mean()),
            "frechet_distance_std": float(distances.std()),
            "frechet_floor_std": float(self.floors.std()),
        }


def matched_frechet(
    real_features, generated_features, repeats: int = 10, seed: int = 0
) -> dict[str, float]:
    """Frechet distance of generated to real features, and its floor.

    `MatchedFrechet(real_features, repeats, seed)(generated_features)`: see
    `MatchedFrechet` for the protocol.

    Args:
        real_features: `[n, d]` features of held-out real images (n >= 4).
        generated_features: `[m, d]` features of generated images, m >= n // 2.
        repeats: Random halvings to average over.
        seed: Seed of the halvings and the draws.

    Returns:
        `frechet_distance` and `frechet_floor` (means over the repeats) and
        their standard deviations over the repeats, `frechet_distance_std`
        and `frechet_floor_std`.

    Raises:
        ValueError: If an array is too small or the dimensions differ.
    """
    return MatchedFrechet(real_features, repeats, seed)(generated_features)


@dataclasses.dataclass(frozen=True)
class ClassCoverage:
    """Predicted classes of generated images.

    Attributes:
        fractions: `[K]`, the fraction of images predicted as each class.
        mean_confidence: Mean top-class probability.
    """

    fractions: np.ndarray
    mean_confidence: float


def class_coverage(probabilities) -> ClassCoverage:
    """Histogram of a classifier's arg-max class and its mean confidence.

    Args:
        probabilities: `[n, K]` class probabilities, rows summing to 1.

    Returns:
        A `ClassCoverage`.

    Raises:
        ValueError: If `probabilities` is not a non-empty `[n, K]` array of
            probabilities.

    >>> c = class_coverage([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> c.fractions.round(3).tolist(), round(c.mean_confidence, 3)
    ([0.667, 0.333], 0.767)
    """
    p = _matrix(probabilities, "probabilities")
    if (p < 0).any() or (p > 1).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(
            "Invalid value for argument `probabilities`. Expected rows of "
            "probabilities summing to 1."
        )
    k = p.shape[1]
    counts = np.bincount(p.argmax(axis=1), minlength=k)
    return ClassCoverage(
        fractions=counts / len(p), mean_confidence=float(p.max(axis=1).mean())
    )


def nearest_neighbour_distances(queries, reference) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row.

    Args:
        queries: `[n, ...]` (flattened to `[n, d]`).
        reference: `[m, ...]` with the same `d`.

    Returns:
        `[n]` float64 distances.
    """
    from sklearn.neighbors import NearestNeighbors

    q = _matrix(np.reshape(queries, (len(queries), -1)), "queries")
    r = _matrix(np.reshape(reference, (len(reference), -1)), "reference")
    if q.shape[1] != r.shape[1]:
        raise ValueError(
            f"Invalid value for argument `queries`. Expected {r.shape[1]} "
            f"values per row, like `reference`. Received: {q.shape[1]}"
        )
    index = NearestNeighbors(n_neighbors=1).fit(r)
    distances, _ = index.kneighbors(q)
    return distances[:, 0]


def nn_distance_ratio(generated, train, test) -> float:
    """Memorization check: median nearest-training-image distance, generated / test.

    About 1 when generated images are as far from the training images as
    unseen real images are; near 0 when they copy training images.

    Args:
        generated: `[n, ...]` generated images.
        train: `[m, ...]` the training images.
        test: `[k, ...]` held-out real images.

    Returns:
        `median(d(generated, train)) / median(d(test, train))`.

    Raises:
        ValueError: If the test images sit on training images (zero median).
    """
    d_gen = np.median(nearest_neighbour_distances(generated, train))
    d_test = np.median(nearest_neighbour_distances(test, train))
    if d_test <= 0:
        raise ValueError(
            "Invalid value for argument `test`: its median distance to the "
            "training images is 0 (duplicates of training images?)"
        )
    return float(d_gen / d_test)
