"""Encodings shared by the tabular and the CTR preprocessors.

* `rank_vocabulary` / `build_vocabulary`: the values seen at least
  `min_count` times, most frequent first (ties in string order), capped;
* `ImputeStandardize`: numeric columns to standardized values plus
  missing-value indicators (NaN and +-inf are missing), optionally after a
  signed `log1p` and clipped.

Both preprocessors compute their statistics on the training split with NumPy
and pass them as constants, so the layers need no `adapt`, serialize with
their config and survive `keras.Model.export`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from xent.data.counts import Counts

__all__ = [
    "OOV_TOKEN",
    "ImputeStandardize",
    "build_vocabulary",
    "rank_vocabulary",
]

OOV_TOKEN = "[UNK]"
"""StringLookup's out-of-vocabulary token; never a vocabulary entry itself."""


def rank_vocabulary(
    counts: Mapping[str, int], min_count: int = 1, max_size: int | None = None
) -> list[str]:
    """A vocabulary from value counts.

    >>> rank_vocabulary({"b": 2, "a": 2, "c": 5, "d": 1}, min_count=2)
    ['c', 'a', 'b']

    Args:
        counts: `{value: training occurrences}`.
        min_count: Fewest occurrences for a value to be kept.
        max_size: Most values kept (the most frequent), or `None`.

    Returns:
        The values seen at least `min_count` times, most frequent first (ties
        in string order), at most `max_size` of them.
    """
    return Counts.of(counts).top(min_count, max_size).value_array.to_pylist()


def build_vocabulary(
    values: np.ndarray, max_vocabulary: int | None = None, min_count: int = 1
) -> list[str]:
    """The vocabulary of one categorical column (see `rank_vocabulary`).

    The missing value `""` counts like any other value; `OOV_TOKEN` is left
    out (it maps to the out-of-vocabulary index anyway).

    Args:
        values: The column's training values (str).
        max_vocabulary: Maximum vocabulary size, or `None` for no limit.
        min_count: Minimum number of occurrences.

    Returns:
        The vocabulary (possibly empty).
    """
    counts = Counter(str(v) for v in np.ravel(values))
    counts.pop(OOV_TOKEN, None)
    return rank_vocabulary(counts, min_count, max_vocabulary)


@keras.saving.register_keras_serializable(package="xent")
class ImputeStandardize(keras.layers.Layer):
    """Missing-value indicators plus imputed, standardized values.

    For inputs `x` of shape `[..., N]` (or `[batch]` when N = 1), with
    `t = sign(x) * log1p(|x|)` if `log1p` else `t = x`, computes the
    indicators `m = 1 - isfinite(x)` and the values
    `z = clip((where(isfinite(x), t, mean) - mean) / std, -clip, clip)` (so a
    missing value becomes 0.0; no clipping when `clip` is `None`), and
    returns `[..., 2N]`: `[m, z]` with `indicators_first` (the tabular
    layout), else `[z, m]` (the CTR layout, per column).

    Args:
        mean: N per-column means of `t` (the imputed value).
        std: N positive per-column standard deviations of `t`.
        log1p: Whether to transform by a signed `log1p` first (heavy-tailed
            counts).
        clip: Bound on `|z|`, so an outlier at serving time cannot blow up
            the logits; `None` for none.
        indicators_first: The output order, see above.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Raises:
        ValueError: If `mean` and `std` differ in length, are empty or not
            finite, a `std` is not positive, or `clip` is not positive.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        log1p: bool = False,
        clip: float | None = None,
        indicators_first: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        mean = [float(m) for m in np.ravel(mean)]
        std = [float(s) for s in np.ravel(std)]
        if not mean or len(mean) != len(std):
            raise ValueError(
                "Invalid value for arguments mean/std. Expected two non-empty "
                f"sequences of the same length. Received lengths {len(mean)} "
                f"and {len(std)}"
            )
        if not np.all(np.isfinite(mean)) or not all(
            np.isfinite(s) and s > 0 for s in std
        ):
            raise ValueError(
                "Invalid value for arguments mean/std. Expected finite means and "
                f"positive finite standard deviations. Received: mean={mean}, "
                f"std={std}"
            )
        if clip is not None and not clip > 0:
            raise ValueError(
                "Invalid value for argument clip. Expected None or a positive "
                f"number. Received: clip={clip!r}"
            )
        self.mean = mean
        self.std = std
        self.log1p = bool(log1p)
        self.clip = None if clip is None else float(clip)
        self.indicators_first = bool(indicators_first)

    def call(self, inputs):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        if len(x.shape) == 1 and len(self.mean) == 1:
            x = ops.expand_dims(x, -1)  # One column without a feature axis.
        mean = ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
        std = ops.convert_to_tensor(self.std, dtype=self.compute_dtype)
        finite = ops.isfinite(x)
        indicator = ops.cast(ops.logical_not(finite), self.compute_dtype)
        if self.log1p:
            safe = ops.where(finite, x, ops.zeros_like(x))
            x = ops.sign(safe) * ops.log1p(ops.abs(safe))
        z = (ops.where(finite, x, mean) - mean) / std
        if self.clip is not None:
            z = ops.clip(z, -self.clip, self.clip)
        parts = [indicator, z] if self.indicators_first else [z, indicator]
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 1 and len(self.mean) == 1:
            return (input_shape[0], 2)
        return (*input_shape[:-1], 2 * len(self.mean))

    def get_config(self):
        return {
            **super().get_config(),
            "mean": self.mean,
            "std": self.std,
            "log1p": self.log1p,
            "clip": self.clip,
            "indicators_first": self.indicators_first,
        }
