"""A nearest-neighbour head for table networks, blended in on validation.

Trees profit from rows that repeat or nearly repeat (white wine: a fifth of the
validation rows have an exact copy among the training rows); an MLP smooths
them away. Retrieval-augmented tabular networks (TabR, Gorishniy et al. 2024)
recover this by looking up the training rows nearest to the input. This module
does the simplest version of it, in the network's input space (the
preprocessor's feature vector):

* `neighbor_probabilities`: the class frequencies of the `k` nearest training
  rows, weighted by inverse distance (`1 / (distance + eps)`, scikit-learn's
  `weights="distance"` made finite), computed in float64 so that an exact
  copy is at distance 0 and not at float32 round-off;
* `blend_logits`: the mixture `w p_network + (1 - w) p_neighbors` as logits, in
  log space (`logaddexp`), so that the export's sigmoid/softmax returns the
  mixture;
* `fit_neighbor_blend`: `k` and `w` that minimize the cross-entropy on the
  validation split, kept only where they lower it by more than twice its
  standard error (otherwise `w = 1`: the network alone);
* `NeighborBlend`: the fitted head as a layer, holding the training rows and
  their labels as weights, so that the exported model is still raw columns in
  and probabilities out.

>>> import numpy as np
>>> train = np.array([[0.0], [0.0], [1.0], [5.0]])
>>> p = neighbor_probabilities(np.array([[0.0]]), train, np.array([1, 1, 0, 0]), 2, k=3)
>>> np.round(np.asarray(p), 4).tolist()
[[0.0005, 0.9995]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from xent import losses

__all__ = [
    "EPS",
    "QUERY_BATCH",
    "NeighborBlend",
    "blend_logits",
    "fit_neighbor_blend",
    "neighbor_probabilities",
    "nearest",
]

EPS = 1e-3
"""Added to the distances before inverting them: an exact copy weighs as much
as 1,000 rows at distance 1 (standardized units), and nothing is infinite."""

QUERY_BATCH = 512
"""Query rows per distance matrix (`QUERY_BATCH x n` float64), when fitting
and in the layer: the memory a batch of any size needs."""


def nearest(queries, candidates, k: int):
    """The `k` nearest candidates of each query, nearest first.

    Args:
        queries: `[b, d]` features.
        candidates: `[n, d]` features.
        k: Neighbours per query, `1 <= k <= n`.

    Returns:
        `(distances, indices)`, each `[b, k]`: float64 Euclidean distances and
        int32 candidate indices.
    """
    q = ops.cast(queries, "float64")
    c = ops.cast(candidates, "float64")
    squared = (
        ops.sum(ops.square(q), axis=-1, keepdims=True)
        - 2.0 * ops.matmul(q, ops.transpose(c))
        + ops.sum(ops.square(c), axis=-1)[None, :]
    )
    negative, indices = ops.top_k(-ops.maximum(squared, 0.0), k, sorted=True)
    return ops.sqrt(ops.maximum(-negative, 0.0)), indices


def _weighted_frequencies(distances, labels, n_classes: int, eps: float):
    """`[b, k]` distances and labels -> `[b, n_classes]` float64 frequencies."""
    weights = 1.0 / (ops.cast(distances, "float64") + eps)
    onehot = ops.one_hot(labels, n_classes, dtype="float64")
    counts = ops.sum(weights[..., None] * onehot, axis=1)
    return counts / ops.sum(weights, axis=1, keepdims=True)


def neighbor_probabilities(
    queries, candidates, labels, n_classes: int, k: int, eps: float = EPS
):
    """Inverse-distance-weighted class frequencies of the `k` nearest rows.

    Args:
        queries: `[b, d]` features.
        candidates: `[n, d]` training features.
        labels: `[n]` class ids of the candidates.
        n_classes: Classes K.
        k: Neighbours, `1 <= k <= n`.
        eps: Added to each distance before inverting it.

    Returns:
        `[b, K]` float64 probabilities (rows sum to 1).
    """
    distances, indices = nearest(queries, candidates, k)
    return _weighted_frequencies(
        distances, ops.take(ops.convert_to_tensor(labels), indices), n_classes, eps
    )


def blend_logits(logits, neighbor_probs, weight: float, binary: bool):
    """Logits of `weight * p_network + (1 - weight) * p_neighbors`.

    Args:
        logits: The network's `[b, 1]` (binary) or `[b, K]` logits.
        neighbor_probs: `[b, 2]` (binary: classes 0 and 1) or `[b, K]`
            probabilities.
        weight: The network's share, in (0, 1].
        binary: One sigmoid logit rather than a softmax.

    Returns:
        float64 logits of the mixture, shaped like `logits`: for the softmax
        `log p` (normalized), for the sigmoid `log p - log (1 - p)`. Computed
        with `logaddexp` of log probabilities, so a saturated network or a
        neighbour frequency of 0 gives no NaN or infinity.
    """
    if not 0.0 < weight <= 1.0:
        raise ValueError(
            f"Invalid value for argument weight. Expected a number in (0, 1]. "
            f"Received: weight={weight!r}"
        )
    z = ops.cast(logits, "float64")
    q = ops.maximum(ops.cast(neighbor_probs, "float64"), 1e-300)
    log_w = math.log(weight)
    log_rest = math.log1p(-weight) if weight < 1.0 else -math.inf

    def mix(log_net, log_neighbors):
        if weight == 1.0:
            return log_net
        return ops.logaddexp(log_w + log_net, log_rest + log_neighbors)

    if binary:
        log_p = mix(ops.log_sigmoid(z), ops.log(q[:, 1:2]))
        log_q = mix(ops.log_sigmoid(-z), ops.log(q[:, 0:1]))
        return log_p - log_q
    return mix(ops.log_softmax(z, axis=-1), ops.log(q))


def _cross_entropies(logits, labels, binary: bool) -> np.ndarray:
    """Per-row cross-entropy (nats) of float64 logits: the shared loss
    (`xent.losses`), from logits."""
    z = np.asarray(logits, dtype="float64")
    y = np.asarray(labels).reshape(-1)
    if binary:
        rows = losses.binary_crossentropy(
            y.reshape(-1, 1).astype("float64"), z.reshape(-1, 1), from_logits=True
        )
    else:
        rows = losses.sparse_categorical_crossentropy(y, z, from_logits=True)
    return np.asarray(rows, dtype="float64")


def fit_neighbor_blend(
    train_x,
    train_y,
    val_x,
    val_logits,
    val_y,
    binary: bool,
    n_classes: int,
    ks: Sequence[int] = (5, 10, 20, 50, 100, 200),
    weights: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    eps: float = EPS,
    min_z: float = 2.0,
) -> dict:
    """The `k` and network share `w` with the lowest validation cross-entropy,
    kept only where it beats the network alone beyond the noise.

    The best of many candidates on a small validation split beats the network
    by chance as well: the head is kept only where the mean per-row
    improvement in cross-entropy is at least `min_z` standard errors (of the
    paired per-row differences).

    Args:
        train_x: `[n, d]` training features (the candidates).
        train_y: `[n]` training class ids.
        val_x: `[m, d]` validation features.
        val_logits: The network's validation logits.
        val_y: `[m]` validation class ids.
        binary: One sigmoid logit per row.
        n_classes: Classes K (2 for binary).
        ks: Neighbour counts to try (those above `n` are dropped).
        weights: Network shares to try; 1.0 (the network alone) is always
            tried.
        eps: See `neighbor_probabilities`.
        min_z: Improvement needed, in standard errors.

    Returns:
        `{"k", "weight", "val_cross_entropy", "val_cross_entropy_network",
        "improvement", "standard_error", "candidates": [{"k", "weight",
        "val_cross_entropy"}, ...]}` for the best candidate; `weight` is 1.0
        (and `val_cross_entropy` the network's) where it is not kept.

    Raises:
        ValueError: Empty or mismatched inputs.
    """
    train_x = np.asarray(train_x, dtype="float64")
    val_x = np.asarray(val_x, dtype="float64")
    train_y = np.asarray(train_y).reshape(-1).astype("int64")
    val_y = np.asarray(val_y).reshape(-1).astype("int64")
    if train_x.ndim != 2 or val_x.ndim != 2 or train_x.shape[1] != val_x.shape[1]:
        raise ValueError(
            f"Expected [n, d] training and validation features of the same width. "
            f"Received: shapes {train_x.shape} and {val_x.shape}"
        )
    if len(train_x) != len(train_y) or len(val_x) != len(val_y) or not len(val_y):
        raise ValueError(
            f"Rows and labels differ: training {len(train_x)} and {len(train_y)}, "
            f"validation {len(val_x)} and {len(val_y)}"
        )
    ks = sorted({min(int(k), len(train_x)) for k in ks if int(k) >= 1})
    weights = sorted({float(w) for w in weights} | {1.0})
    network_rows = _cross_entropies(val_logits, val_y, binary)
    network = float(network_rows.mean())
    # The nearest max(ks) rows once; each k is a prefix of them.
    distances, indices = [], []
    for start in range(0, len(val_x), QUERY_BATCH):
        d, i = nearest(val_x[start : start + QUERY_BATCH], train_x, ks[-1])
        distances.append(np.asarray(d))
        indices.append(np.asarray(i))
    distances = np.concatenate(distances)
    neighbor_labels = train_y[np.concatenate(indices)]
    candidates, rows = [], {}
    for k in ks:
        probs = _weighted_frequencies(
            distances[:, :k], neighbor_labels[:, :k], n_classes, eps
        )
        for w in weights:
            z = np.asarray(blend_logits(val_logits, probs, w, binary))
            rows[k, w] = _cross_entropies(z, val_y, binary)
            candidates.append(
                {"k": k, "weight": w, "val_cross_entropy": float(rows[k, w].mean())}
            )
    best = min(candidates, key=lambda c: (c["val_cross_entropy"], -c["weight"], c["k"]))
    gain = network_rows - rows[best["k"], best["weight"]]
    improvement = float(gain.mean())
    error = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
    if best["weight"] == 1.0 or improvement <= min_z * error:
        best = {"k": ks[0], "weight": 1.0, "val_cross_entropy": network}
    return {
        "k": int(best["k"]),
        "weight": float(best["weight"]),
        "val_cross_entropy": float(best["val_cross_entropy"]),
        "val_cross_entropy_network": network,
        "improvement": improvement,
        "standard_error": error,
        "candidates": candidates,
    }


@keras.saving.register_keras_serializable(package="xent")
class NeighborBlend(keras.layers.Layer):
    """`(features, logits)` -> the logits of the network blended with the
    nearest training rows (see `blend_logits`).

    The training rows and labels are non-trainable weights, saved with the
    model. Computes in float64 and returns float32 logits.

    Args:
        rows: Training rows (candidates) n.
        features: Feature width d.
        n_classes: Classes K (2 for binary).
        k: Neighbours.
        weight: The network's share, in (0, 1].
        binary: One sigmoid logit.
        eps: See `neighbor_probabilities`.
    """

    def __init__(
        self,
        rows: int,
        features: int,
        n_classes: int,
        k: int,
        weight: float,
        binary: bool,
        eps: float = EPS,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 1 <= k <= rows:
            raise ValueError(
                f"Invalid value for argument k. Expected 1 <= k <= rows={rows}. "
                f"Received: k={k!r}"
            )
        self.rows, self.features, self.n_classes = (
            int(rows),
            int(features),
            int(n_classes),
        )
        self.k, self.weight, self.binary, self.eps = (
            int(k),
            float(weight),
            bool(binary),
            float(eps),
        )
        self.candidates = self.add_weight(
            shape=(self.rows, self.features),
            initializer="zeros",
            trainable=False,
            name="candidates",
        )
        self.labels = self.add_weight(
            shape=(self.rows,),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            name="labels",
        )

    @classmethod
    def from_rows(
        cls, x, y, n_classes: int, k: int, weight: float, binary: bool, **kwargs
    ):
        """The layer holding training rows `x` `[n, d]` and labels `y` `[n]`."""
        x = np.asarray(x, dtype="float32")
        layer = cls(x.shape[0], x.shape[1], n_classes, k, weight, binary, **kwargs)
        layer.candidates.assign(x)
        layer.labels.assign(np.asarray(y).reshape(-1).astype("int32"))
        return layer

    def call(self, inputs):
        features, logits = inputs
        # Queries in chunks of `QUERY_BATCH`: a batch of any size needs one
        # `[QUERY_BATCH, rows]` distance matrix at a time, not `[batch, rows]`.
        rows = ops.shape(features)[0]
        pad = (-rows) % QUERY_BATCH
        chunks = ops.reshape(
            ops.pad(ops.cast(features, "float32"), [[0, pad], [0, 0]]),
            (-1, QUERY_BATCH, self.features),
        )

        def chunk_probabilities(queries):
            return ops.cast(
                neighbor_probabilities(
                    queries,
                    self.candidates,
                    self.labels,
                    self.n_classes,
                    self.k,
                    self.eps,
                ),
                "float32",
            )

        probs = ops.reshape(ops.map(chunk_probabilities, chunks), (-1, self.n_classes))
        probs = probs[:rows]
        return ops.cast(
            blend_logits(logits, probs, self.weight, self.binary), "float32"
        )

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]

    def get_config(self):
        return {
            **super().get_config(),
            "rows": self.rows,
            "features": self.features,
            "n_classes": self.n_classes,
            "k": self.k,
            "weight": self.weight,
            "binary": self.binary,
            "eps": self.eps,
        }
