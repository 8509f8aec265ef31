"""What the binary and multiclass plug-ins share: their config and hooks.

`pipelines/binary.py` and `pipelines/multiclass.py` subclass
`ClassificationTask` and set the output size, the metrics and the default
data; loading lives in `xent.data.sources`, the networks in `xent.models`, the
loss in `xent.sections`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from xent import evaluation
from xent import neighbors as neighbors_lib
from xent import sections
from xent.config import ConfigError
from xent.data import sources
from xent.metrics import LogitAUC
from xent.stages import Prepared
from xent.supervised import SupervisedTask

__all__ = [
    "AugmentConfig",
    "ClassificationTask",
    "ClassifierConfig",
    "ClassifierDataConfig",
    "ClassifierModelConfig",
]


@dataclasses.dataclass(frozen=True)
class ClassifierDataConfig(sections.SplitConfig, sections.BadRowsConfig):
    """Where the data come from (plus the split fractions and bad-row policy
    of `xent.sections`).

    Attributes:
        source: `breast_cancer`, `digits` (8x8 images), `digits_table`
            (64 pixel columns), `tfds:<name>` (an image data set), or a CSV
            file path.
        test_source: Optional CSV file with the test rows (same columns).
        label: The label column of a CSV file.
        categorical: Columns forced categorical (otherwise inferred).
        numeric: Columns forced numeric (otherwise inferred).
        max_rows: Optional cap on the rows read per split (tfds).
    """

    source: str = "breast_cancer"
    test_source: str | None = None
    label: str | None = None
    categorical: tuple[str, ...] | None = None
    numeric: tuple[str, ...] | None = None
    max_rows: int | None = None

    def __post_init__(self):
        sections.SplitConfig.__post_init__(self)
        sections.BadRowsConfig.__post_init__(self)


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
class ClassifierModelConfig:
    """The network that maps features to logits.

    Attributes:
        kind: `auto` (`cnn` for images, `tabular` for tables), `tabular`
            (`xent.models.tabular`: numeric embeddings, an MLP and an
            ensemble of heads), `mlp` (a plain MLP) or `cnn`.
        hidden: MLP hidden layer sizes (both table networks).
        filters: CNN convolution filters per block.
        dense: CNN dense layer size.
        dropout: Dropout rate.
        batch_norm: CNN: batch normalization after each convolution (ignored
            by the MLP).
        augment: CNN: random augmentation in training (ignored by the MLP).
        embedding_dim: Tabular: PLR embedding size per numeric column (0:
            the standardized values enter the MLP as they are).
        frequencies: Tabular: periodic frequencies per numeric column.
        frequency_scale: Tabular: standard deviation of the largest
            initial frequencies (the columns are standardized).
        frequency_spread: Tabular: ratio of the largest to the smallest
            initial frequency scale, geometrically spaced (1: one scale).
            A spread covers smooth and fast-changing columns alike: from
            0.03 to 3 matched or beat the best single scale per data set on
            the validation splits of the development CSVs.
        members: Tabular: ensemble heads on the shared MLP (1: one head).
        neighbors: Tables: after training, blend the network with the
            inverse-distance-weighted labels of the nearest training rows
            (`xent.neighbors`), with the number of neighbours and the
            network's share chosen by the validation cross-entropy, and kept
            only where they lower it. The head is part of the export.
            Chosen on the development CSVs' validation splits: on white wine
            (a fifth of the validation rows repeat a training row) it lowered
            the validation cross-entropy from 1.15 to 0.92.
        neighbors_max_rows: Tables: training rows the head holds at most (a
            seeded sample beyond it); each prediction costs a distance to
            each of them. Choosing the head uses as many validation rows at
            most.
    """

    kind: Literal["auto", "tabular", "mlp", "cnn"] = "auto"
    hidden: tuple[int, ...] = (64, 32)
    filters: tuple[int, ...] = (32, 64)
    dense: int = 128
    dropout: float = 0.1
    batch_norm: bool = False
    augment: AugmentConfig = AugmentConfig()
    embedding_dim: int = 16
    frequencies: int = 16
    frequency_scale: float = 3.0
    frequency_spread: float = 100.0
    members: int = 8
    neighbors: bool = True
    neighbors_max_rows: int = 20_000

    def __post_init__(self):
        checks = (
            ("neighbors_max_rows", self.neighbors_max_rows >= 1, "an integer >= 1"),
            ("dropout", 0.0 <= self.dropout < 1.0, "a number in [0, 1)"),
            ("dense", self.dense >= 1, "an integer >= 1"),
            ("embedding_dim", self.embedding_dim >= 0, "an integer >= 0"),
            ("frequencies", self.frequencies >= 1, "an integer >= 1"),
            ("frequency_scale", self.frequency_scale > 0, "a number > 0"),
            ("frequency_spread", self.frequency_spread >= 1, "a number >= 1"),
            ("members", self.members >= 1, "an integer >= 1"),
            ("hidden", all(u >= 1 for u in self.hidden), "sizes >= 1"),
            ("filters", all(u >= 1 for u in self.filters), "sizes >= 1"),
        )
        for key, ok, expected in checks:
            if not ok:
                raise ValueError(
                    f"Invalid value for `{key}`: expected {expected}, received "
                    f"{getattr(self, key)!r}"
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
    data: ClassifierDataConfig = ClassifierDataConfig()
    model: ClassifierModelConfig = ClassifierModelConfig()
    loss: sections.ClassWeightLossConfig = sections.ClassWeightLossConfig()
    train: sections.SupervisedTrainConfig = sections.SupervisedTrainConfig()


class ClassificationTask(SupervisedTask):
    """The classification plug-in; subclasses set `name`, `kind`, `binary`,
    `expected_classes` and the hooks `n_outputs` and `evaluate`."""

    config_class = ClassifierConfig
    defaults: Path
    expected_classes: int | None = None
    """The number of classes a CSV label must have (None: any)."""

    def n_outputs(self, data: Prepared) -> int:
        raise NotImplementedError

    def evaluate(self, y_true, prob, data: Prepared) -> dict:
        raise NotImplementedError

    # Hooks called by `SupervisedTask`.
    def load_inputs(self, config: ClassifierConfig) -> Prepared:
        return sources.load_classification(
            config.data, config.train.seed, self.expected_classes
        )

    def build_model(self, config: ClassifierConfig, feature_shape, data: Prepared):
        n_numeric = len(data.metadata.get("schema", {}).get("numeric", ()))
        return self.build_network(
            config, feature_shape, self.n_outputs(data), n_numeric=n_numeric
        )

    def build_network(
        self, config: ClassifierConfig, feature_shape, n_outputs: int, n_numeric=0
    ) -> keras.Model:
        """The logits network for features of `feature_shape` (tables: the
        preprocessor's layout, whose first `2 * n_numeric` features are the
        numeric columns' missing indicators and standardized values)."""
        from xent.models.cnn import build_small_cnn
        from xent.models.mlp import build_mlp
        from xent.models.tabular import build_tabular_network

        m = config.model
        kind = m.kind
        if kind == "auto":
            kind = "cnn" if len(feature_shape) == 3 else "tabular"
        if kind == "cnn":
            if len(feature_shape) != 3:
                raise ConfigError(
                    f"model.kind=cnn needs image data; the features have shape "
                    f"{tuple(feature_shape)} (use model.kind=mlp)"
                )
            return build_small_cnn(
                input_shape=tuple(feature_shape),
                n_classes=n_outputs,
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
                f"model.kind={kind} needs tabular features; use model.kind=cnn "
                "for images"
            )
        if kind == "tabular":
            return build_tabular_network(
                input_dim=int(feature_shape[0]),
                n_numeric=n_numeric,
                n_outputs=n_outputs,
                hidden=m.hidden,
                dropout=m.dropout,
                embedding_dim=m.embedding_dim,
                frequencies=m.frequencies,
                frequency_scale=m.frequency_scale,
                frequency_spread=m.frequency_spread,
                members=m.members,
            )
        return build_mlp(
            input_dim=int(feature_shape[0]),
            hidden=m.hidden,
            n_outputs=n_outputs,
            dropout=m.dropout,
        )

    def fit_on_validation(
        self, model, config: ClassifierConfig, data: Prepared
    ) -> dict:
        """The nearest-neighbour head (`model.neighbors`) for table features:
        `{"neighbor_blend": xent.neighbors.fit_neighbor_blend(...) plus the
        rows it holds}`, `{}` for images or when it is off."""
        if not config.model.neighbors or len(data.features.train.feature_shape()) != 1:
            return {}
        x_train, y_train = self._neighbor_rows(config, data)
        y_val, z_val, _ = data.features.validation.predict(model)
        x_val, _ = data.features.validation.arrays()
        # Fitting costs validation rows x held rows distances: a sample of
        # the validation split bounds it as the cap bounds the held rows.
        keep = _capped_rows(
            len(y_val), config.model.neighbors_max_rows, config.train.seed + 1
        )
        x_val, z_val, y_val = x_val[keep], z_val[keep], y_val[keep]
        fit = neighbors_lib.fit_neighbor_blend(
            x_train,
            y_train,
            x_val,
            z_val,
            y_val,
            binary=self.binary,
            n_classes=len(data.class_names),
        )
        return {
            "neighbor_blend": {
                **fit,
                "fitted_on": "validation",
                "rows": len(y_train),
                "training_rows": int(data.features.train.rows),
                "validation_rows": len(y_val),
            }
        }

    def _neighbor_rows(self, config: ClassifierConfig, data: Prepared):
        """The training rows of the head: all, or a seeded sample of
        `model.neighbors_max_rows`."""
        x, y = data.features.train.arrays()
        x, y = np.asarray(x, dtype="float32"), np.asarray(y).reshape(-1)
        keep = _capped_rows(len(y), config.model.neighbors_max_rows, config.train.seed)
        return x[keep], y[keep]

    def scoring_model(self, model, config: ClassifierConfig, data: Prepared, metrics):
        """The network with its nearest-neighbour head where one was kept."""
        blend = metrics.get("neighbor_blend")
        if not blend or blend["weight"] >= 1.0:
            return model
        x, y = self._neighbor_rows(config, data)
        head = neighbors_lib.NeighborBlend.from_rows(
            x,
            y,
            n_classes=len(data.class_names),
            k=blend["k"],
            weight=blend["weight"],
            binary=self.binary,
            name="neighbor_blend",
        )
        features = keras.Input(shape=model.input_shape[1:], name="features")
        return keras.Model(
            features, head([features, model(features)]), name=f"{model.name}_neighbors"
        )

    def build_losses(self, config: ClassifierConfig, data: Prepared):
        cfg = config.loss
        k = len(data.class_names)
        if cfg.class_weight == "balanced":
            weights = sections.balanced_class_weights(data.splits.train.y, k)
        elif isinstance(cfg.class_weight, str):
            raise ConfigError(
                "Invalid value for `loss.class_weight`: expected 'balanced', a "
                f"list of {k} numbers or null, received {cfg.class_weight!r}"
            )
        else:
            weights = None if cfg.class_weight is None else list(cfg.class_weight)
        try:
            return sections.build_loss(cfg, class_weight=weights)
        except ValueError as err:
            raise ConfigError(str(err)) from None

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
        """The built-in loss (for `loss_gap`) and the metric a user ranks
        models by, for `train.monitor`: `auc` (binary, from logits) or
        `accuracy` (multiclass)."""
        if self.binary:
            ranked = LogitAUC(name="auc")
        elif config.loss.name.startswith("Sparse"):
            ranked = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        else:
            ranked = keras.metrics.CategoricalAccuracy(name="accuracy")
        return [sections.build_builtin_loss_metric(config.loss), ranked]

    def baselines(self, config: ClassifierConfig, data: Prepared) -> dict:
        if data.baseline is None:
            return {}
        b = data.baseline
        return evaluation.baselines(
            b.x_train, b.y_train, b.x_test, b.y_test, self.kind, config.train.seed
        )


def _capped_rows(rows: int, cap: int, seed: int) -> np.ndarray:
    """Indices of all `rows`, or of a seeded sample of `cap` of them, in order."""
    if rows <= cap:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, cap, replace=False))
