"""The config sections every task composes, each defined once.

A task's config (`pipelines/*.py`) is a frozen dataclass made of these
sections and its own (model, features, eval). Where a task needs more fields
it extends a section by subclassing; it never declares a shared field again.

Defaults: the field defaults below are the defaults of every task; a task's
YAML file (`pipelines/<task>.yaml`) holds only the values in which that task
differs, each with the reason (tests check that no YAML value repeats the
field default, so a default lives in exactly one place).

The runner reads `TrainConfig` fields directly; nothing probes a config with
`getattr`/`hasattr`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import keras
import numpy as np

from xent import bad_rows as bad_rows_lib
from xent import losses

__all__ = [
    "BadRowsConfig",
    "ClassWeightLossConfig",
    "LossConfig",
    "SplitConfig",
    "SupervisedTrainConfig",
    "TrainConfig",
    "balanced_class_weights",
    "build_builtin_loss_metric",
    "build_loss",
    "loss_options",
]

_KERAS_FUNCTIONS = {
    "BinaryCrossentropy": "binary_crossentropy",
    "BinaryFocalCrossentropy": "binary_focal_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}


def _check_fraction(value: float, key: str) -> None:
    """`value` in [0, 1), else a ValueError naming the dotted `key`."""
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"Invalid value for {key}. Expected a number in [0, 1). Received: {value!r}"
        )


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How one data source is split into train, validation and test rows.

    Attributes:
        validation_fraction: Fraction of rows held out for validation.
        test_fraction: Fraction of rows held out for test (when the source
            has no test split of its own).
    """

    validation_fraction: float = 0.15
    test_fraction: float = 0.2

    def __post_init__(self):
        _check_fraction(self.validation_fraction, "data.validation_fraction")
        _check_fraction(self.test_fraction, "data.test_fraction")


@dataclasses.dataclass(frozen=True)
class BadRowsConfig:
    """What a file reader does with a malformed row.

    Attributes:
        on_bad_rows: `fail` at the first malformed row, or `skip` it (wrong
            number of fields, a line that is not UTF-8, a missing or invalid
            label, an unparsable number, ...); the skipped rows are counted
            in the report (`dataset.bad_rows`).
        max_bad_rows: With `skip`, fail when more than this many malformed
            rows were skipped (all files together).
    """

    on_bad_rows: Literal["fail", "skip"] = "fail"
    max_bad_rows: int = 100

    def __post_init__(self):
        bad_rows_lib.check_config_bound(self.max_bad_rows)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What the runner reads of every task's training.

    Attributes:
        epochs: Maximum number of epochs.
        batch_size: Examples per step (the global batch with more than one
            replica).
        early_stopping_patience: Epochs without validation improvement before
            stopping (the best weights are restored); null disables.
        seed: The run's only seed (weights, shuffling, splits).
        monitor: Validation metric for checkpoints and early stopping (e.g.
            `val_auc`); null uses the task's (`val_loss`).
        strategy: `default`, `mirrored` or `multi_worker` (a
            `tf.distribute` strategy; see `xent.distribute`).
        ema_momentum: When set (e.g. 0.999), the weights used for
            validation, checkpoints, the test report and the export are an
            exponential moving average of the training weights (Polyak
            averaging; Keras' `use_ema`), which removes most of the
            step-to-step noise of the last iterate; null uses the last
            iterate.
        precision: `float32`, `mixed_bfloat16` (Keras mixed precision:
            float32 variables, bfloat16 compute) or `auto`: bfloat16 where
            the hardware runs it fast (AMX CPUs, GPUs of compute capability
            >= 8.0), float32 elsewhere; see `xent.precision`. Only training
            uses bfloat16: the test evaluation and the export compute in
            float32. The run's log and report say which was used and why.
        deterministic: Turn on TensorFlow's op determinism
            (`tf.config.experimental.enable_op_determinism`, for the whole
            process): deterministic kernels or an error for ops that have
            none. Needed for repeatable runs on a GPU; on a CPU the same seed
            already gives the same metrics bit for bit.
    """

    epochs: int = 30
    batch_size: int = 32
    early_stopping_patience: int | None = None
    seed: int = 0
    monitor: str | None = None
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"
    ema_momentum: float | None = None
    precision: Literal["auto", "float32", "mixed_bfloat16"] = "float32"
    deterministic: bool = False

    def __post_init__(self):
        for key in ("epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Invalid value for train.{key}. Expected an integer >= 1. "
                    f"Received: {value!r}"
                )
        if (
            self.early_stopping_patience is not None
            and self.early_stopping_patience < 0
        ):
            raise ValueError(
                "Invalid value for train.early_stopping_patience. Expected an "
                f"integer >= 0 or null. Received: {self.early_stopping_patience!r}"
            )
        if self.ema_momentum is not None and not 0.0 < self.ema_momentum < 1.0:
            raise ValueError(
                "Invalid value for train.ema_momentum. Expected a number in "
                f"(0, 1) or null. Received: {self.ema_momentum!r}"
            )


@dataclasses.dataclass(frozen=True)
class SupervisedTrainConfig(TrainConfig):
    """Training of a logits network with Adam (binary, multiclass, CTR).

    Attributes:
        learning_rate: Adam learning rate.
        steps_per_execution: Training steps run per call into TensorFlow
            (Keras' `steps_per_execution`): fewer Python round trips per
            step for small models; batch-level callbacks then see every
            N-th step. An epoch's rows are then spread evenly over a
            multiple of N batches of at most `batch_size` rows (see
            `xent.supervised.even_batches`).
        weight_decay: Decoupled weight decay (AdamW, Loshchilov & Hutter
            2019) of the kernels; 0 is plain Adam.
        optimizer: `adam` (Keras' Adam), or `lazy_adam`: Adam that updates
            only the embedding rows a batch looked up, and their moments
            (`xent.supervised.LazyAdam`; TF Addons' LazyAdam), so a step's
            cost does not grow with the embedding tables. Equal to `adam`
            for models without embedding lookups, and for tables whose
            gradient is dense (a CTR model with `l2_embedding_mode: table`).
        schedule: `constant` learning rate, or `warmup_cosine`: a linear
            warm-up over the first `warmup_fraction` of the steps of
            `epochs` epochs, then a cosine decay to 0 at the last one.
        warmup_fraction: Warm-up share of the steps, in [0, 1).
        jit_compile: Compile the training step with XLA (Keras'
            `jit_compile`): fused kernels, one compilation per batch shape.
            Under a distribution strategy other than `default` both are
            left at Keras' defaults (1 and false): the multi-worker step
            patch (`xent.distribute.prepare_model`) is written for those.
        ensemble: Networks trained, one after another, from different
            initial weights and data orders (seeds `seed`, `seed + 1`, ...),
            each with its own early stopping; the evaluation and the
            export use the mean of their logits (a deep ensemble,
            Lakshminarayanan et al. 2017; `SupervisedTask.combine`). 1
            trains one network. Training takes about `ensemble` times as
            long.
        refit: After training (early stopping and every choice made on the
            validation split), train each network again from its seed on
            the training and validation rows together, for the epochs at
            which its validation metric was best (all its epochs without a
            monitored metric), and evaluate and export those networks
            (`Task.refit_inputs`: the CTR task fits its vocabularies and
            crosses again on those rows). The report's validation figures
            are the first networks', and what is fitted on held-out
            validation predictions (the nearest-neighbour head, CTR Platt
            scaling) is fitted on theirs. The baselines learn from the same
            rows. More rows to learn from, at the cost of a second, shorter
            training.
    """

    learning_rate: float = 1e-3
    steps_per_execution: int = 1
    jit_compile: bool = False
    weight_decay: float = 0.0
    optimizer: Literal["adam", "lazy_adam"] = "adam"
    schedule: Literal["constant", "warmup_cosine"] = "constant"
    warmup_fraction: float = 0.05
    ensemble: int = 1
    refit: bool = False

    def __post_init__(self):
        super().__post_init__()
        _check_fraction(self.weight_decay, "train.weight_decay")
        _check_fraction(self.warmup_fraction, "train.warmup_fraction")
        if not self.learning_rate > 0.0 or not np.isfinite(self.learning_rate):
            raise ValueError(
                "Invalid value for train.learning_rate. Expected a number > 0. "
                f"Received: {self.learning_rate!r}"
            )
        if not isinstance(self.refit, bool):
            raise ValueError(
                "Invalid value for train.refit. Expected true or false. "
                f"Received: {self.refit!r}"
            )
        for key in ("steps_per_execution", "ensemble"):
            if getattr(self, key) < 1:
                raise ValueError(
                    f"Invalid value for train.{key}. Expected an integer >= 1. "
                    f"Received: {getattr(self, key)!r}"
                )


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The shared cross-entropy loss (always from logits).

    Attributes:
        name: A class of `xent.losses`.
        label_smoothing: Label smoothing in [0, 1].
        pos_weight: Binary losses: weight of the positive term.
        gamma: Focal losses: focusing parameter.
        alpha: Focal losses: balancing factor.
        apply_class_balancing: Binary focal loss: weight classes by alpha.
    """

    name: str = "BinaryCrossentropy"
    label_smoothing: float = 0.0
    pos_weight: float | None = None
    gamma: float | None = None
    alpha: float | None = None
    apply_class_balancing: bool | None = None


@dataclasses.dataclass(frozen=True)
class ClassWeightLossConfig(LossConfig):
    """`LossConfig` with per-class weights (binary and multiclass).

    Attributes:
        class_weight: `balanced` (inverse class frequency in the training
            split), a list with one weight per class, or null.
    """

    class_weight: str | tuple[float, ...] | None = None


def loss_options(cfg: LossConfig) -> dict:
    """Options of `xent.losses.get` from a loss config: always from logits,
    plus label smoothing and the set ones of `pos_weight`, `gamma`, `alpha`,
    `apply_class_balancing` (class weights are the caller's)."""
    options: dict = {"from_logits": True}
    if cfg.label_smoothing:
        options["label_smoothing"] = cfg.label_smoothing
    for key in ("pos_weight", "gamma", "alpha", "apply_class_balancing"):
        value = getattr(cfg, key)
        if value is not None:
            options[key] = value
    return options


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> list[float]:
    """Inverse class frequencies `n / (k * count)` (0 for an absent class)."""
    counts = np.bincount(np.asarray(labels).astype(int), minlength=n_classes)
    counts = counts.astype("float64")
    return [float(len(labels) / (n_classes * c)) if c else 0.0 for c in counts]


def build_loss(
    cfg: LossConfig, class_weight: list[float] | None = None
) -> keras.losses.Loss:
    """The configured `xent.losses` loss.

    Raises:
        ValueError: For options the loss does not take, or invalid values;
            the message names the `loss` section.
    """
    options = loss_options(cfg)
    if class_weight is not None:
        options["class_weight"] = class_weight
    try:
        return losses.get(cfg.name, **options)
    except TypeError as err:
        raise ValueError(
            f"Invalid loss options for `loss.name={cfg.name}`: {err}"
        ) from None
    except ValueError as err:
        raise ValueError(f"Invalid `loss` config: {err}") from None


def build_builtin_loss_metric(cfg: LossConfig) -> keras.metrics.Metric:
    """The Keras built-in version of the configured loss, as a metric.

    Logged next to the loss every epoch (and their difference as `loss_gap`);
    options Keras lacks (class weights, `pos_weight`, sparse label smoothing)
    are left out of it, so the gap shows them.
    """
    kwargs = {"from_logits": True}
    if cfg.label_smoothing and cfg.name != "SparseCategoricalCrossentropy":
        kwargs["label_smoothing"] = cfg.label_smoothing
    for key in ("gamma", "alpha", "apply_class_balancing"):
        value = getattr(cfg, key)
        if value is not None:
            kwargs[key] = value
    function = getattr(keras.losses, _KERAS_FUNCTIONS[cfg.name])

    def builtin(y_true, y_pred, **options):
        # As the Keras loss class converts its inputs (to float32): a
        # bfloat16 model's logits are compared in float32, like our loss.
        dtype = keras.config.floatx()
        y_true = keras.ops.convert_to_tensor(y_true, dtype=dtype)
        y_pred = keras.ops.convert_to_tensor(y_pred, dtype=dtype)
        return function(y_true, y_pred, **options)

    return keras.metrics.MeanMetricWrapper(builtin, name="builtin_loss", **kwargs)
