"""What the binary and multiclass pipelines share: config, data, model, loss.

`pipelines/binary.py` and `pipelines/multiclass.py` are small subclasses of
`ClassificationTask` that choose the default data, the metrics and the
output size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from xent import bad_rows as bad_rows_lib
from xent import evaluation
from xent import losses
from xent.config import ConfigError
from xent.runner import Prepared
from xent.supervised import SupervisedTask

__all__ = [
    "AugmentConfig",
    "ClassificationTask",
    "ClassifierConfig",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
    "builtin_loss_metric",
    "loss_options",
]

BUILTIN_TABLES = ("breast_cancer", "digits_table")
_KERAS_FUNCTIONS = {
    "BinaryCrossentropy": "binary_crossentropy",
    "BinaryFocalCrossentropy": "binary_focal_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}
BUILTIN_IMAGES = ("digits",)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data come from.

    Attributes:
        source: `breast_cancer`, `digits` (8x8 images), `digits_table`
            (64 pixel columns), `tfds:<name>` (an image data set), or a CSV
            file path.
        test_source: Optional CSV file with the test rows (same columns).
        label: The label column of a CSV file.
        categorical: Columns forced categorical (otherwise inferred).
        numeric: Columns forced numeric (otherwise inferred).
        validation_fraction: Fraction of rows held out for validation.
        test_fraction: Fraction of rows held out for test (without
            `test_source`).
        max_rows: Optional cap on the rows read per split (tfds).
        on_bad_rows: CSV files: `fail` at the first malformed row, or `skip`
            it (wrong number of fields, a line that is not UTF-8, a missing
            label, a non-number in a `numeric` column, a test label that is
            not a training class); the skipped rows are counted in the
            report (`dataset.bad_rows`).
        max_bad_rows: With `skip`, fail when more than this many malformed
            rows were skipped (both files together).
    """

    source: str = "breast_cancer"
    test_source: str | None = None
    label: str | None = None
    categorical: tuple[str, ...] | None = None
    numeric: tuple[str, ...] | None = None
    validation_fraction: float = 0.15
    test_fraction: float = 0.2
    max_rows: int | None = None
    on_bad_rows: Literal["fail", "skip"] = "fail"
    max_bad_rows: int = 100

    def __post_init__(self):
        bad_rows_lib.check_config_bound(self.max_bad_rows)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Random image augmentation of the CNN, active only in training.

    The layers are part of the network but pass images through unchanged at
    inference, so evaluation and the exported model see the images as sent.
    0 disables a transformation.

    Attributes:
        translate: Largest shift, as a fraction of the height and of the
            width, in [0, 1) (0.125 is one pixel of an 8x8 digit).
        rotate: Largest rotation, as a fraction of a full turn, in [0, 1)
            (0.03 is about 11 degrees).
        zoom: Largest zoom in or out, as a fraction of the size, in [0, 1).
    """

    translate: float = 0.0
    rotate: float = 0.0
    zoom: float = 0.0

    def __post_init__(self):
        for key in ("translate", "rotate", "zoom"):
            value = getattr(self, key)
            if not 0.0 <= value < 1.0:
                raise ValueError(
                    f"Invalid value for `{key}`: expected a number in [0, 1), "
                    f"received {value!r}"
                )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network that maps features to logits.

    Attributes:
        kind: `mlp` for tabular features, `cnn` for images.
        hidden: MLP hidden layer sizes.
        filters: CNN convolution filters per block.
        dense: CNN dense layer size.
        dropout: Dropout rate.
        batch_norm: CNN: batch normalization after each convolution (ignored
            by the MLP).
        augment: CNN: random augmentation in training (ignored by the MLP).
    """

    kind: Literal["mlp", "cnn"] = "mlp"
    hidden: tuple[int, ...] = (64, 32)
    filters: tuple[int, ...] = (32, 64)
    dense: int = 128
    dropout: float = 0.1
    batch_norm: bool = False
    augment: AugmentConfig = AugmentConfig()


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The shared cross-entropy loss (always from logits).

    Attributes:
        name: A class of `xent.losses`.
        label_smoothing: Label smoothing in [0, 1].
        class_weight: `balanced` (inverse class frequency in the training
            split), a list with one weight per class, or null.
        pos_weight: Binary losses: weight of the positive term.
        gamma: Focal losses: focusing parameter.
        alpha: Focal losses: balancing factor.
        apply_class_balancing: Binary focal loss: weight classes by alpha.
    """

    name: str = "BinaryCrossentropy"
    label_smoothing: float = 0.0
    class_weight: str | tuple[float, ...] | None = None
    pos_weight: float | None = None
    gamma: float | None = None
    alpha: float | None = None
    apply_class_balancing: bool | None = None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimization.

    Attributes:
        epochs: Maximum number of epochs.
        batch_size: Examples per step.
        learning_rate: Adam learning rate.
        early_stopping_patience: Epochs without validation improvement before
            stopping (the best weights are restored); null disables.
        seed: The run's only seed (weights, shuffling, splits).
        monitor: Validation metric for checkpoints and early stopping (e.g.
            `val_auc`); null uses the task's (`val_loss`).
        strategy: `default`, `mirrored` or `multi_worker` (a
            `tf.distribute` strategy; see `xent.distribute`). With more
            than one replica, `batch_size` is the global batch.
        ema_momentum: When set (e.g. 0.999), the weights used for
            validation, checkpoints, the test report and the export are an
            exponential moving average of the training weights (Polyak
            averaging; Keras' `use_ema`), which removes most of the
            step-to-step noise of the last iterate; null uses the last
            iterate.
        deterministic: Turn on TensorFlow's op determinism
            (`tf.config.experimental.enable_op_determinism`, for the whole
            process): deterministic kernels or an error for ops that have
            none. Needed for repeatable runs on a GPU; on a CPU the same seed
            already gives the same metrics bit for bit.
        steps_per_execution: Training steps run per call into TensorFlow
            (Keras' `steps_per_execution`): fewer Python round trips per
            step for small models; batch-level callbacks then see every
            N-th step. An epoch's rows are then spread evenly over a
            multiple of N batches of at most `batch_size` rows (see
            `xent.supervised.even_batches`).
        jit_compile: Compile the training step with XLA (Keras'
            `jit_compile`): fused kernels, one compilation per batch shape.
            Under a distribution strategy other than `default` both are
            left at Keras' defaults (1 and false): the multi-worker step
            patch (`xent.distribute.prepare_model`) is written for those.
    """

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    early_stopping_patience: int | None = 10
    seed: int = 0
    monitor: str | None = None
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"
    ema_momentum: float | None = None
    deterministic: bool = False
    steps_per_execution: int = 1
    jit_compile: bool = False

    def __post_init__(self):
        if self.ema_momentum is not None and not 0.0 < self.ema_momentum < 1.0:
            raise ValueError(
                "Invalid value for train.ema_momentum. Expected a number in "
                f"(0, 1) or null. Received: {self.ema_momentum!r}"
            )
        if self.steps_per_execution < 1:
            raise ValueError(
                "Invalid value for train.steps_per_execution. Expected an "
                f"integer >= 1. Received: {self.steps_per_execution!r}"
            )


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """A classification run.

    Attributes:
        task: `binary` or `multiclass`.
        data: Data source.
        model: Network.
        loss: Loss.
        train: Optimization.
    """

    task: str = "binary"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()


def _balanced_weights(y: np.ndarray, k: int) -> list[float]:
    counts = np.bincount(y.astype(int), minlength=k).astype("float64")
    return [float(len(y) / (k * c)) if c else 0.0 for c in counts]


def loss_options(cfg) -> dict:
    """Options of `xent.losses.get` from a loss config: always from logits,
    plus label smoothing and the set ones of `pos_weight`, `gamma`, `alpha`,
    `apply_class_balancing` (class weights are the caller's)."""
    options: dict = {"from_logits": True}
    if cfg.label_smoothing:
        options["label_smoothing"] = cfg.label_smoothing
    for key in ("pos_weight", "gamma", "alpha", "apply_class_balancing"):
        if getattr(cfg, key) is not None:
            options[key] = getattr(cfg, key)
    return options


def builtin_loss_metric(cfg) -> keras.metrics.Metric:
    """The Keras built-in version of the configured loss, as a metric.

    Logged next to the loss every epoch (and their difference as `loss_gap`);
    options Keras lacks (class weights, `pos_weight`, sparse label smoothing)
    are left out of it, so the gap shows them.

    Args:
        cfg: A loss config (`name`, `label_smoothing`, `gamma`, `alpha`,
            `apply_class_balancing`).
    """
    fn_name = _KERAS_FUNCTIONS[cfg.name]
    kwargs = {"from_logits": True}
    if cfg.label_smoothing and cfg.name != "SparseCategoricalCrossentropy":
        kwargs["label_smoothing"] = cfg.label_smoothing
    for key in ("gamma", "alpha", "apply_class_balancing"):
        if getattr(cfg, key) is not None:
            kwargs[key] = getattr(cfg, key)
    return keras.metrics.MeanMetricWrapper(
        getattr(keras.losses, fn_name), name="builtin_loss", **kwargs
    )


class ClassificationTask(SupervisedTask):
    """The classification plug-in; subclasses set `name`, `kind`, `binary`
    and the hooks `n_outputs` and `evaluate`."""

    name = "classification"
    config_class = ClassifierConfig
    defaults: Path

    def n_outputs(self, data: Prepared) -> int:
        raise NotImplementedError

    def evaluate(self, y_true, prob, data: Prepared) -> dict:
        raise NotImplementedError

    # Hooks called by `SupervisedTask`.
    def load_inputs(self, config: ClassifierConfig) -> Prepared:
        from xent.data import images as images_lib

        cfg = config.data
        seed = config.train.seed
        if cfg.source in BUILTIN_IMAGES or cfg.source.startswith("tfds:"):
            if cfg.source == "digits":
                data = images_lib.load_digits_images(
                    seed, cfg.validation_fraction, cfg.test_fraction
                )
            else:
                data = images_lib.load_tfds_images(
                    cfg.source.split(":", 1)[1],
                    seed,
                    cfg.validation_fraction,
                    max_rows=cfg.max_rows,
                )
            shape = data.splits["train"][0].shape[1:]
            flat = {
                k: x.reshape(len(x), -1) / data.pixel_max
                for k, (x, _) in data.splits.items()
            }
            return Prepared(
                name=data.name,
                summary=data.summary(),
                splits=data.splits,
                class_names=data.class_names,
                preprocessor=images_lib.build_image_preprocessor(shape, data.pixel_max),
                baseline=(
                    flat["train"],
                    data.splits["train"][1],
                    flat["test"],
                    data.splits["test"][1],
                ),
                metadata={
                    "input": {
                        "image": {
                            "shape": list(shape),
                            "dtype": "float32",
                            "pixel_max": data.pixel_max,
                        }
                    }
                },
            )
        return self._tabular(config)

    def _tabular(self, config: ClassifierConfig) -> Prepared:
        from xent.data import preprocessing
        from xent.data import tabular

        cfg = config.data
        seed = config.train.seed
        expected = 2 if self.name == "binary" else None
        if cfg.source == "breast_cancer":
            data = tabular.load_breast_cancer(seed=seed)
        elif cfg.source == "digits_table":
            data = tabular.load_digits_table(seed=seed)
        else:
            if not cfg.label:
                raise ConfigError(
                    f"data.label is required for the CSV file {cfg.source} "
                    "(pass --label COLUMN)"
                )
            data = tabular.load_csv(
                cfg.source,
                label=cfg.label,
                test_path=cfg.test_source,
                categorical=cfg.categorical,
                numeric=cfg.numeric,
                validation_fraction=cfg.validation_fraction,
                test_fraction=cfg.test_fraction,
                seed=seed,
                expected_classes=expected,
                on_bad_rows=cfg.on_bad_rows,
                max_bad_rows=cfg.max_bad_rows,
            )
        pre = preprocessing.build_preprocessor(data.schema, data.train)
        splits = {
            "train": (preprocessing.to_model_inputs(data.train), data.train.labels),
            "validation": (
                preprocessing.to_model_inputs(data.validation),
                data.validation.labels,
            ),
            "test": (preprocessing.to_model_inputs(data.test), data.test.labels),
        }
        base_train = np.asarray(pre.predict(splits["train"][0], verbose=0))
        base_test = np.asarray(pre.predict(splits["test"][0], verbose=0))
        return Prepared(
            name=data.name,
            summary=data.summary(),
            splits=splits,
            class_names=tuple(data.schema.class_names),
            preprocessor=pre,
            baseline=(base_train, data.train.labels, base_test, data.test.labels),
            metadata={"schema": dataclasses.asdict(data.schema)},
        )

    def build_model(self, config: ClassifierConfig, feature_shape, data: Prepared):
        from xent.models.cnn import build_small_cnn
        from xent.models.mlp import build_mlp

        m = config.model
        n_out = self.n_outputs(data)
        if m.kind == "cnn":
            if len(feature_shape) != 3:
                raise ConfigError(
                    f"model.kind=cnn needs image data; the features have shape "
                    f"{tuple(feature_shape)} (use model.kind=mlp)"
                )
            return build_small_cnn(
                input_shape=tuple(feature_shape),
                n_classes=n_out,
                filters=m.filters,
                dense=m.dense,
                dropout=m.dropout,
                batch_norm=m.batch_norm,
                translate=m.augment.translate,
                rotate=m.augment.rotate,
                zoom=m.augment.zoom,
            )
        if len(feature_shape) != 1:
            raise ConfigError(
                "model.kind=mlp needs tabular features; use model.kind=cnn for images"
            )
        return build_mlp(
            input_dim=int(feature_shape[0]),
            hidden=m.hidden,
            n_outputs=n_out,
            dropout=m.dropout,
        )

    def build_losses(self, config: ClassifierConfig, data: Prepared):
        cfg = config.loss
        k = len(data.class_names)
        options = loss_options(cfg)
        if cfg.class_weight == "balanced":
            options["class_weight"] = _balanced_weights(data.splits["train"][1], k)
        elif isinstance(cfg.class_weight, str):
            raise ConfigError(
                "Invalid value for `loss.class_weight`: expected 'balanced', a "
                f"list of {k} numbers or null, received {cfg.class_weight!r}"
            )
        elif cfg.class_weight is not None:
            options["class_weight"] = list(cfg.class_weight)
        try:
            return losses.get(cfg.name, **options)
        except TypeError as err:
            raise ConfigError(
                f"Invalid loss options for `loss.name={cfg.name}`: {err}"
            ) from None
        except ValueError as err:
            raise ConfigError(f"Invalid `loss` config: {err}") from None

    def build_targets(self, config: ClassifierConfig, labels, data: Prepared):
        """Class ids as the loss wants them: one-hot for the categorical
        losses, a float column for the binary ones, ids for the sparse one."""
        labels = np.asarray(labels)
        if config.loss.name.startswith("Categorical"):
            return np.eye(len(data.class_names), dtype="float32")[labels]
        if config.loss.name.startswith("Binary"):
            return labels.astype("float32").reshape(-1, 1)
        return labels

    def build_metrics(self, config: ClassifierConfig, data: Prepared) -> list:
        return [builtin_loss_metric(config.loss)]

    def baselines(self, config: ClassifierConfig, data: Prepared) -> dict:
        if data.baseline is None:
            return {}
        x_train, y_train, x_test, y_test = data.baseline
        kind = "binary" if self.name == "binary" else "multiclass"
        return evaluation.baselines(
            x_train, y_train, x_test, y_test, kind, config.train.seed
        )
