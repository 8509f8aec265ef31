"""Parity report: `xent.losses` against the Keras built-ins and a float64 reference.

    python -m xent.parity --out reports

writes `reports/parity.md` and `reports/parity.json`. For each loss,
`from_logits` and dtype (float16, bfloat16, float32, float64) it gives the
largest absolute and relative errors of the per-example loss values and of
their gradients with respect to `y_pred`:

1. ours against the Keras built-in, on random moderate inputs;
2. ours and Keras against the float64 NumPy reference (`xent.reference`), on
   the same inputs plus a grid of extreme inputs.

The computation (`build_report`) and the rendering (`render_markdown`) touch
no files; only `main` writes, and only under `--out`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import ml_dtypes
import numpy as np
import tensorflow as tf

from xent import losses
from xent import reference

__all__ = [
    "DTYPES",
    "FUNCTION_NAMES",
    "LOSS_NAMES",
    "build_report",
    "error_stats",
    "evaluate",
    "extreme_grid",
    "main",
    "random_inputs",
    "reference_value_and_grad",
    "render_markdown",
    "round_to_dtype",
]

LOSS_NAMES = (
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
)
DTYPES = ("float16", "bfloat16", "float32", "float64")
HALF_DTYPES = ("float16", "bfloat16")

EXTREME_LOGITS = (-1e4, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1e4)
EXTREME_PROBS = (0.0, 1e-12, 0.5, 1.0 - 1e-12, 1.0)
BINARY_LABELS = (0.0, 0.25, 1.0)
ROW_LABELS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.25, 0.25, 0.5))
LOGIT_SCALE = 3.0  # Random logits are N(0, LOGIT_SCALE**2).

# Loss class name -> per-example function name, the same in `xent.losses` and
# `xent.reference` (whose gradients add `_grad`).
FUNCTION_NAMES = {
    "BinaryCrossentropy": "binary_crossentropy",
    "BinaryFocalCrossentropy": "binary_focal_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}
_SHORT_NAMES = {
    "BinaryCrossentropy": "binary",
    "BinaryFocalCrossentropy": "binary_focal",
    "CategoricalCrossentropy": "categorical",
    "CategoricalFocalCrossentropy": "categorical_focal",
    "SparseCategoricalCrossentropy": "sparse",
}


# --------------------------------------------------------------------------
# Inputs.
# --------------------------------------------------------------------------
def _numpy_dtype(dtype: str):
    return ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)


def round_to_dtype(x, dtype: str) -> np.ndarray:
    """Rounds `x` to `dtype` (`ml_dtypes` for bfloat16); returns float64 values."""
    return np.asarray(x, np.float64).astype(_numpy_dtype(dtype)).astype(np.float64)


def _is_binary(name: str) -> bool:
    return name.startswith("Binary")


def extreme_grid(name: str, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """The grid of extreme inputs, as float64 arrays `(y_true, y_pred)`.

    `y_pred` takes the values `EXTREME_LOGITS` (logits) or `EXTREME_PROBS`
    (probabilities). Binary losses: shape `(N, 1)`, every value with every
    label in `BINARY_LABELS` (0, 0.25, 1). Categorical losses: rows of 3
    classes, every triple of values, with each target of `ROW_LABELS` (the
    three one-hot rows and a soft row); sparse: with each class id.

    Args:
        name: A loss class name, one of `LOSS_NAMES`.
        from_logits: Whether `y_pred` holds logits.

    Returns:
        `(y_true, y_pred)`; `y_true` holds class ids for the sparse loss.
    """
    values = EXTREME_LOGITS if from_logits else EXTREME_PROBS
    if _is_binary(name):
        pairs = list(itertools.product(BINARY_LABELS, values))
    else:
        labels = (0.0, 1.0, 2.0) if name.startswith("Sparse") else ROW_LABELS
        pairs = list(itertools.product(labels, itertools.product(values, repeat=3)))
    y_true, y_pred = (np.array(v, np.float64) for v in zip(*pairs, strict=True))
    if _is_binary(name):
        return y_true[:, None], y_pred[:, None]
    return y_true, y_pred


def random_inputs(
    name: str, from_logits: bool, rng: np.random.Generator, batch: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random moderate inputs in three shapes, as float64 arrays.

    Logits are `N(0, 3^2)`; probabilities are their sigmoid (binary) or softmax
    (categorical); labels are random 0/1, one-hot rows or class ids. Shapes:
    `(batch, 1)`, `(batch, 8)`, `(2, batch, 3)` for the binary losses and
    `(batch, 3)`, `(batch, 10)`, `(2, batch, 5)` for the categorical ones.

    Args:
        name: A loss class name, one of `LOSS_NAMES`.
        from_logits: Whether `y_pred` holds logits.
        rng: The random generator.
        batch: The batch size.

    Returns:
        A list of `(y_true, y_pred)` pairs.
    """
    widths = (1, 8, 3) if _is_binary(name) else (3, 10, 5)
    shapes = ((batch, widths[0]), (batch, widths[1]), (2, batch, widths[2]))
    out = []
    for shape in shapes:
        logits = rng.normal(0.0, LOGIT_SCALE, shape)
        if _is_binary(name):
            y_true = rng.integers(0, 2, shape).astype(np.float64)
            probs = 1.0 / (1.0 + np.exp(-logits))
        else:
            ids = rng.integers(0, shape[-1], shape[:-1])
            sparse = name.startswith("Sparse")
            y_true = ids.astype(np.float64) if sparse else np.eye(shape[-1])[ids]
            e = np.exp(logits - logits.max(axis=-1, keepdims=True))
            probs = e / e.sum(axis=-1, keepdims=True)
        out.append((y_true, logits if from_logits else probs))
    return out


# --------------------------------------------------------------------------
# Evaluation.
# --------------------------------------------------------------------------
def evaluate(
    loss: keras.losses.Loss, y_true: np.ndarray, y_pred: np.ndarray, dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-example values and gradient of their sum w.r.t. `y_pred`.

    `y_pred` must already be rounded to `dtype`. It is held in a variable of
    `dtype` (float32 for float16/bfloat16, which the loss then casts to its
    half `dtype`, so the gradient passes through that dtype too).

    Args:
        loss: A loss instance with `reduction="none"` and `dtype=dtype`.
        y_true: Targets (exactly representable in `dtype`).
        y_pred: Predictions, rounded to `dtype`.
        dtype: The dtype under test.

    Returns:
        `(values, grad)` as float64 arrays (non-finite entries kept).
    """
    var_dtype = "float32" if dtype in HALF_DTYPES else dtype
    variable = tf.Variable(np.asarray(y_pred, var_dtype))
    with tf.GradientTape() as tape:
        values = loss(np.asarray(y_true, np.float64), variable)
        total = tf.reduce_sum(values)
    grad = tape.gradient(total, variable)
    return (
        np.asarray(tf.cast(values, "float64")),
        np.asarray(tf.cast(grad, "float64")),
    )


def reference_value_and_grad(
    name: str, y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Float64 reference values and analytic gradient (`xent.reference`)."""
    fn = FUNCTION_NAMES[name]
    if name.startswith("Sparse"):
        y_true = np.asarray(y_true).astype(np.int64)
    value = getattr(reference, fn)(y_true, y_pred, from_logits=from_logits)
    grad = getattr(reference, fn + "_grad")(y_true, y_pred, from_logits=from_logits)
    return value, grad


def _finfo(dtype: str):
    return ml_dtypes.finfo(_numpy_dtype(dtype))


def _nan_aware_max(x: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    if np.isnan(x).any():
        return math.nan
    return float(x.max())


def error_stats(
    actual: np.ndarray, expected: np.ndarray, dtype: str, scale=None
) -> dict:
    """Largest absolute and relative errors of `actual` against `expected`.

    The relative error is `|a - e| / max(scale, tiny)`, `scale` being `|e|`
    unless given, and `tiny` the smallest normal number of `dtype` (so that
    values that underflow in `dtype` do not count as 100% errors). A NaN
    anywhere makes the maximum NaN.

    Args:
        actual: The values under test.
        expected: The values compared against, same size.
        dtype: The dtype under test (for `tiny`).
        scale: Optional denominators, same size (e.g. per-example norms).

    Returns:
        `{"max_abs", "max_rel", "nonfinite"}`, the last the number of
        non-finite entries of `actual`.
    """
    actual = np.asarray(actual, np.float64).ravel()
    expected = np.asarray(expected, np.float64).ravel()
    scale = np.abs(expected) if scale is None else np.asarray(scale).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        abs_err = np.abs(actual - expected)
        rel_err = abs_err / np.maximum(scale, float(_finfo(dtype).tiny))
    return {
        "max_abs": _nan_aware_max(abs_err),
        "max_rel": _nan_aware_max(rel_err),
        "nonfinite": int((~np.isfinite(actual)).sum()),
    }


def _compare_row(name, from_logits, dtype, batch, seed):
    """All the errors for one loss, `from_logits` and dtype."""
    ours = getattr(losses, name)(from_logits=from_logits, reduction="none", dtype=dtype)
    keras_loss = getattr(keras.losses, name)(
        from_logits=from_logits, reduction="none", dtype=dtype
    )
    rng = np.random.default_rng(seed)
    random_sets = random_inputs(name, from_logits, rng, batch)
    sets = [*random_sets, extreme_grid(name, from_logits)]
    results = {"ours": [], "keras": [], "ref": []}
    for y_true, y_pred in sets:
        y_pred = round_to_dtype(y_pred, dtype)
        results["ours"].append(evaluate(ours, y_true, y_pred, dtype))
        results["keras"].append(evaluate(keras_loss, y_true, y_pred, dtype))
        results["ref"].append(
            reference_value_and_grad(name, y_true, y_pred, from_logits)
        )

    def joined(who, part, n_sets):
        return np.concatenate([r[part].ravel() for r in results[who][:n_sets]])

    def example_scale(who, n_sets):
        """Largest `|grad|` of each example (last axis), for every entry."""
        return np.concatenate(
            [
                np.broadcast_to(np.abs(g).max(axis=-1, keepdims=True), g.shape).ravel()
                for _, g in results[who][:n_sets]
            ]
        )

    n_random, n_all = len(random_sets), len(sets)
    row = {"loss": name, "from_logits": from_logits, "dtype": dtype}
    for key, who, against, n in (
        ("ours_vs_keras", "ours", "keras", n_random),
        ("ours_vs_reference", "ours", "ref", n_all),
        ("keras_vs_reference", "keras", "ref", n_all),
    ):
        row[key] = {
            "value": error_stats(joined(who, 0, n), joined(against, 0, n), dtype),
            "grad": error_stats(
                joined(who, 1, n),
                joined(against, 1, n),
                dtype,
                scale=example_scale(against, n),
            ),
        }
    return row


def build_report(
    loss_names: Sequence[str] = LOSS_NAMES,
    dtypes: Sequence[str] = DTYPES,
    batch: int = 64,
    seed: int = 0,
) -> dict:
    """Computes the parity report (no side effects).

    Args:
        loss_names: Loss class names, a subset of `LOSS_NAMES`.
        dtypes: Dtypes, a subset of `DTYPES`.
        batch: Batch size of the random inputs (shrink it for a quick run).
        seed: Seed of the random inputs (the same for every row).

    Returns:
        `{"config": {...}, "rows": [...]}`; each row has `loss`,
        `from_logits`, `dtype` and, under `ours_vs_keras`,
        `ours_vs_reference` and `keras_vs_reference`, `value` and `grad`
        error statistics (see `error_stats`).

    Raises:
        ValueError: On an unknown loss name or dtype, naming it.
    """
    for arg, given, allowed in (
        ("loss_names", loss_names, LOSS_NAMES),
        ("dtypes", dtypes, DTYPES),
    ):
        unknown = [v for v in given if v not in allowed]
        if unknown:
            raise ValueError(
                f"Invalid value for argument `{arg}`. Expected a subset of "
                f"{list(allowed)}. Received: {unknown}"
            )
    rows = [
        _compare_row(name, from_logits, dtype, batch, seed)
        for name in loss_names
        for from_logits in (True, False)
        for dtype in dtypes
    ]
    config = {
        "losses": list(loss_names),
        "dtypes": list(dtypes),
        "batch": batch,
        "seed": seed,
        "logit_scale": LOGIT_SCALE,
        "epsilon": reference.EPSILON,
        "extreme_logits": list(EXTREME_LOGITS),
        "extreme_probs": list(EXTREME_PROBS),
        "binary_labels": list(BINARY_LABELS),
        "row_labels": [list(r) for r in ROW_LABELS],
        "gradient_reference": "analytic float64 gradients (xent.reference *_grad)",
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }
    return {"config": config, "rows": rows}


# --------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------
_HEADER = """\
# Parity of `xent.losses` with `keras.losses` and a float64 reference

Generated by `python -m xent.parity` (Keras {keras_version}, TensorFlow
{tensorflow_version}, seed {seed}, batch {batch}).

**What is compared.** For each loss, `from_logits` (`logits`: yes/no) and
dtype, our loss and the Keras built-in are called as classes with
`dtype=<dtype>` and `reduction="none"` on inputs already rounded to the
dtype. `value` is the per-example loss; `grad` is the gradient of the sum of
the per-example losses w.r.t. `y_pred` (`tf.GradientTape`; for float16 and
bfloat16 `y_pred` is a float32 variable that the loss casts to the dtype, so
the gradient is rounded to the dtype as well).

* Table 1: ours vs Keras on random moderate inputs: logits `N(0, 3^2)`,
  probabilities their sigmoid/softmax, random hard labels, three shapes.
* Tables 2 and 3: ours and Keras vs the float64 NumPy reference
  (`xent.reference`, checked against mpmath at 50 digits), on the same random
  inputs plus the extreme grid: logits {logits}, probabilities {probs};
  binary labels {binary_labels}; categorical rows of 3 classes (every triple
  of grid values) with one-hot and soft ({soft}) targets, or class ids.
  The reference is evaluated in float64 on the rounded inputs. Reference
  gradients are the analytic float64 derivatives in `xent.reference`
  (`*_grad`), not finite differences and not autodiff of our code.

**Columns.** `abs`: largest `|a - b|` (`b`: Keras in table 1, the
reference in tables 2 and 3); `rel`: largest `|a - b| / max(s, tiny)`, with
`s = |b|` for loss values and, for gradients, `s` the largest `|b|` over the
example's last axis (a normwise error, so that an entry that cancels to 0 in
`b` and to 1e-18 in `a` is not an infinite relative error), and `tiny` the
smallest normal number of the dtype (values that underflow do not count as
100% errors); `inf`/`nan`: some output was infinite/NaN (NaN wins); `bad`:
the number of non-finite outputs.

**Semantics of the reference (and of Keras).** Probabilities are clipped to
`[1e-7, 1 - 1e-7]` (`keras.config.epsilon()`); categorical probabilities are
first normalized to sum to 1 (an all-zero row stays zero, then is clipped);
sparse probabilities go through `log(clip(p))` and a log-softmax. From
logits, the reference is exact (log-sigmoid, log-softmax, no clipping, the
focal losses included: Keras applies sigmoid/softmax and clips there, which
caps a loss of 1e4 at about 16). The binary focal factor `(1 - p_t)^gamma`
uses the unclipped `p`; the categorical focal loss uses the clipped
normalized `q` in both factors. The clip bounds themselves are rounded to the
compute dtype: in float32 `1 - 1e-7` is `1 - 1.19e-7`, so a clipped
probability differs from the reference by up to about 0.18 in loss for ours
and Keras alike; in float16/bfloat16 Keras's upper bound rounds to 1 (so
`log(1 - p)` can be `-inf`), while ours computes half precision in float32.

**Reading the tables.** A relative error near 1 with a tiny absolute error
is a value or gradient far below the dtype's resolution around 1, e.g. a loss
of 1e-26 that float32 returns as 0 because `1 - q` rounds to 0 for `q` near
1 (ours and Keras alike). In table 1 a huge relative error with a small
absolute one in bfloat16 is the other way round: Keras, computing in
bfloat16, returns 0 where ours, computing in float32, keeps a small value. In
float16, gradients from probabilities overflow where the true gradient
exceeds 65504 (e.g. `-1/p` for `p` below 1e-5): `ours bad` counts those.
"""


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf"
    return "0" if x == 0 else f"{x:.1e}"


def _table(rows, title, columns):
    head = ["loss", "logits", "dtype", *(c[0] for c in columns)]
    lines = [
        f"## {title}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * 3 + ["--:"] * len(columns)) + "|",
    ]
    for row in rows:
        cells = [
            _SHORT_NAMES[row["loss"]],
            "yes" if row["from_logits"] else "no",
            row["dtype"],
        ]
        for _, getter in columns:
            value = getter(row)
            cells.append(str(value) if isinstance(value, int) else _fmt(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(report: dict) -> str:
    """Renders `build_report`'s result as Markdown (no side effects)."""
    config = report["config"]
    header = _HEADER.format(
        keras_version=config["keras_version"],
        tensorflow_version=config["tensorflow_version"],
        seed=config["seed"],
        batch=config["batch"],
        logits=", ".join(f"{v:g}" for v in config["extreme_logits"]),
        probs=", ".join(f"{v:.13g}" for v in config["extreme_probs"]),
        binary_labels=", ".join(f"{v:g}" for v in config["binary_labels"]),
        soft=", ".join(f"{v:g}" for v in config["row_labels"][-1]),
    )

    def stat(group, part, key):
        return lambda row: row[group][part][key]

    rows = report["rows"]
    ours_vs_keras = _table(
        rows,
        "1. Ours vs Keras, random moderate inputs",
        [
            ("value abs", stat("ours_vs_keras", "value", "max_abs")),
            ("value rel", stat("ours_vs_keras", "value", "max_rel")),
            ("grad abs", stat("ours_vs_keras", "grad", "max_abs")),
            ("grad rel", stat("ours_vs_keras", "grad", "max_rel")),
        ],
    )
    tables = [header, ours_vs_keras]
    for number, part, title in ((2, "value", "Loss values"), (3, "grad", "Gradients")):
        tables.append(
            _table(
                rows,
                f"{number}. {title} vs the float64 reference, random + extreme",
                [
                    ("ours abs", stat("ours_vs_reference", part, "max_abs")),
                    ("ours rel", stat("ours_vs_reference", part, "max_rel")),
                    ("ours bad", stat("ours_vs_reference", part, "nonfinite")),
                    ("Keras abs", stat("keras_vs_reference", part, "max_abs")),
                    ("Keras rel", stat("keras_vs_reference", part, "max_rel")),
                    ("Keras bad", stat("keras_vs_reference", part, "nonfinite")),
                ],
            )
        )
    return "\n".join(tables)


def _jsonable(x):
    """Non-finite floats as the strings "inf", "-inf", "nan" (valid JSON)."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Writes `parity.md` and `parity.json` under `--out`.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).

    Returns:
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m xent.parity", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="Output folder.")
    parser.add_argument(
        "--losses", nargs="+", default=list(LOSS_NAMES), choices=LOSS_NAMES
    )
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    parser.add_argument(
        "--batch", type=int, default=64, help="Batch size of the random inputs."
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = build_report(args.losses, args.dtypes, args.batch, args.seed)
    from xent.runner import write_atomic

    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "parity.md", render_markdown(report))
    write_atomic(
        args.out / "parity.json",
        json.dumps(_jsonable(report), indent=1, allow_nan=False) + "\n",
    )
    elapsed = time.perf_counter() - start
    print(f"Wrote {args.out / 'parity.md'} and parity.json in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
