"""CTR prediction: a synthetic click log with known truth by default, or click
logs from files (CSV/TSV, Criteo, Avazu, libSVM/libFM) and tfds catalog data.

Raw columns go through `xent.ctr.features` (vocabularies, hashing, numeric
transforms; fitted on the training split and exported with the model) into an
LR, FM, DeepFM or DCN-v2 model (`xent.models.ctr`) that outputs logits and is
trained with the shared binary cross-entropy.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from xent import bad_rows as bad_rows_lib
from xent import evaluation
from xent import losses
from xent import report as report_lib
from xent.classification import TrainConfig
from xent.classification import builtin_loss_metric
from xent.classification import loss_options
from xent.config import ConfigError
from xent.ctr import features as features_lib
from xent.ctr import metrics as ctr_metrics
from xent.ctr.specs import DenseFeat
from xent.ctr.specs import SparseFeat
from xent.ctr.specs import VarLenSparseFeat
from xent.ctr.synthetic import SyntheticConfig
from xent.models.ctr import CTRModelConfig
from xent.runner import Evaluation
from xent.runner import Prepared
from xent.supervised import SupervisedTask
from xent.supervised import materialize
from xent.supervised import probabilities

__all__ = ["CTRConfig", "CTRDataConfig", "CTRLossConfig", "CTRTask"]

_CLASS_NAMES = ("no_click", "click")


@dataclasses.dataclass(frozen=True)
class CTRDataConfig:
    """Where the click log comes from.

    Attributes:
        source: `synthetic` (the embedded generator), a file path, or
            `tfds:<name>` (e.g. `tfds:movielens/100k-ratings`).
        test_source: Optional file with the test rows (same layout).
        format: `auto`, `csv`, `tsv`, `criteo`, `avazu` or `libsvm`.
        label: Label column (inferred for the fixed layouts).
        categorical: Columns read as categorical (otherwise inferred).
        numeric: Columns read as numeric (otherwise inferred).
        multi_value: Multi-valued categorical columns.
        separator: Separator inside multi-value fields.
        group_field: Column whose values group rows for GAUC (e.g. the user);
            null skips GAUC.
        validation_fraction: Rows held out for validation.
        test_fraction: Rows held out for test (without `test_source`).
        on_bad_rows: `fail` at the first malformed row of a file, or `skip`
            it (wrong number of fields, unparsable number, bad libSVM token,
            invalid label, a line that is not UTF-8); the skipped rows are
            counted in the report (`dataset.bad_rows`).
        max_bad_rows: With `skip`, fail when more than this many malformed
            rows were skipped (all files together).
        baseline_max_rows: Training rows given to the scikit-learn logistic
            regression baseline (a random subset beyond that).
        synthetic: The generator's settings (`source: synthetic`).
    """

    source: str = "synthetic"
    test_source: str | None = None
    format: str = "auto"
    label: str | None = None
    categorical: tuple[str, ...] | None = None
    numeric: tuple[str, ...] | None = None
    multi_value: tuple[str, ...] | None = None
    separator: str = "|"
    group_field: str | None = "c2"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    on_bad_rows: Literal["fail", "skip"] = "fail"
    max_bad_rows: int = 100
    baseline_max_rows: int = 200_000
    synthetic: SyntheticConfig = SyntheticConfig()

    def __post_init__(self):
        bad_rows_lib.check_config_bound(self.max_bad_rows)


@dataclasses.dataclass(frozen=True)
class CTRLossConfig:
    """The shared binary cross-entropy (from logits).

    Attributes:
        name: `BinaryCrossentropy` or `BinaryFocalCrossentropy`.
        pos_weight: Weight of the click term (imbalance), or null.
        label_smoothing: Label smoothing in [0, 1].
        gamma: Focal loss focusing parameter.
        alpha: Focal loss balancing factor.
        apply_class_balancing: Focal loss: weight classes by alpha.
    """

    name: Literal["BinaryCrossentropy", "BinaryFocalCrossentropy"] = (
        "BinaryCrossentropy"
    )
    pos_weight: float | None = None
    label_smoothing: float = 0.0
    gamma: float | None = None
    alpha: float | None = None
    apply_class_balancing: bool | None = None


@dataclasses.dataclass(frozen=True)
class CTRConfig:
    """A CTR run.

    Attributes:
        task: `ctr`.
        data: The click log.
        features: Vocabularies, hashing and numeric transforms.
        model: The network (`lr`, `fm`, `deepfm`, `dcnv2`).
        loss: The loss.
        train: Optimization.
    """

    task: str = "ctr"
    data: CTRDataConfig = CTRDataConfig()
    features: features_lib.FeatureConfig = features_lib.FeatureConfig()
    model: CTRModelConfig = CTRModelConfig()
    loss: CTRLossConfig = CTRLossConfig()
    train: TrainConfig = TrainConfig()


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class CTRTask(SupervisedTask):
    """CTR prediction with the shared binary cross-entropy."""

    name = "ctr"
    config_class = CTRConfig
    defaults = Path(__file__).with_name("ctr.yaml")
    kind = "ctr"
    binary = True

    # ---- data --------------------------------------------------------------
    def load_inputs(self, config: CTRConfig) -> Prepared:
        if config.data.source == "synthetic":
            return self._synthetic(config)
        return self._files(config)

    def _synthetic(self, config: CTRConfig) -> Prepared:
        from xent.ctr import synthetic

        cfg = config.data
        log = synthetic.load(cfg.synthetic)
        n = log.labels.size
        rng = np.random.default_rng(config.train.seed)
        order = rng.permutation(n)
        n_test = int(round(n * cfg.test_fraction))
        n_val = int(round(n * cfg.validation_fraction))
        if min(n_test, n_val, n - n_test - n_val) < 1:
            raise ConfigError(
                f"data.synthetic.rows={n} is too small for the validation and "
                "test fractions"
            )
        parts = {
            "test": log.take(order[:n_test]),
            "validation": log.take(order[n_test : n_test + n_val]),
            "train": log.take(order[n_test + n_val :]),
        }
        train = parts["train"]
        counts, stats = features_lib.stats_from_arrays(
            train.columns, log.categorical, log.numeric
        )
        pre, specs, feature_summary = features_lib.build_ctr_preprocessor(
            log.categorical,
            log.numeric,
            counts,
            stats,
            config.features,
            crossed_counts=_crossed_counts(config, [train.columns], log.categorical),
        )
        names = feature_summary["input_names"]
        splits = {
            split: (
                {name: part.columns[col] for name, col in names.items()},
                part.labels.astype("int64"),
            )
            for split, part in parts.items()
        }
        summary = _summary(
            {k: v.labels.size for k, v in parts.items()},
            {k: int(v.labels.sum()) for k, v in parts.items()},
            log.categorical,
            log.numeric,
            (),
            feature_summary,
        )
        summary["synthetic"] = dataclasses.asdict(cfg.synthetic)
        return Prepared(
            name="synthetic click log",
            summary=summary,
            splits=splits,
            class_names=_CLASS_NAMES,
            preprocessor=pre,
            metadata=_metadata(log.categorical, log.numeric, (), cfg.separator, names),
            extra={
                "specs": specs,
                "train_ctr": float(train.labels.mean()),
                "p_true": {"test": parts["test"].p_true},
                "groups": _groups(cfg.group_field, names, parts),
                "input_names": names,
            },
        )

    def _files(self, config: CTRConfig) -> Prepared:
        from xent.ctr import builder  # tensorflow-datasets: slow to import.
        from xent.ctr import readers

        cfg = config.data
        if cfg.source.startswith("tfds:"):
            data = builder.load_tfds_clicks(
                cfg.source.split(":", 1)[1],
                validation_fraction=cfg.validation_fraction,
                test_fraction=cfg.test_fraction,
                seed=config.train.seed,
                batch_size=config.train.batch_size,
            )
        else:
            try:
                schema = readers.infer_schema(
                    cfg.source,
                    format=cfg.format,
                    label=cfg.label,
                    categorical=cfg.categorical,
                    numeric=cfg.numeric,
                    multi_value=cfg.multi_value,
                    separator=cfg.separator,
                    on_bad_rows=cfg.on_bad_rows,
                )
                data = builder.load_click_data(
                    cfg.source,
                    schema,
                    test_path=cfg.test_source,
                    validation_fraction=cfg.validation_fraction,
                    test_fraction=cfg.test_fraction,
                    seed=config.train.seed,
                    batch_size=config.train.batch_size,
                    on_bad_rows=cfg.on_bad_rows,
                    max_bad_rows=cfg.max_bad_rows,
                )
            except readers.ReadError as err:
                raise ConfigError(str(err)) from None
            if data.rows["train"] == 0:
                skipped = data.bad_rows["count"]
                raise ConfigError(
                    f"{cfg.source}: no training rows could be read ({skipped} "
                    f"malformed rows skipped; the first: {data.bad_rows['examples']})"
                )
        schema = data.schema
        pre, specs, feature_summary = features_lib.build_ctr_preprocessor(
            schema.categorical,
            schema.numeric,
            data.value_counts,
            data.numeric_stats,
            config.features,
            multi_value=schema.multi_value,
            separator=schema.separator,
            crossed_counts=_crossed_counts(
                config,
                (x for x, _ in data.streams["train"]()),
                schema.categorical,
            ),
        )
        names = feature_summary["input_names"]
        renamed = _renamer(names)
        streams = {
            split: _renamed_stream(make, renamed)
            for split, make in data.streams.items()
        }
        group = cfg.group_field
        if group is not None and group not in names.values():
            group = None  # e.g. the synthetic default `c2` on a file without it.
        summary = _summary(
            data.rows,
            data.positives,
            schema.categorical,
            schema.numeric,
            schema.multi_value,
            feature_summary,
        )
        summary["format"] = schema.format
        summary["bad_rows"] = data.bad_rows
        train_ctr = data.positives["train"] / max(data.rows["train"], 1)
        return Prepared(
            name=data.name,
            summary=summary,
            splits={},
            class_names=_CLASS_NAMES,
            preprocessor=pre,
            metadata=_metadata(
                schema.categorical,
                schema.numeric,
                schema.multi_value,
                schema.separator,
                names,
            ),
            streams=streams,
            extra={
                "specs": specs,
                "train_ctr": train_ctr,
                "group_input": features_lib.input_name(group) if group else None,
                "input_names": names,
            },
        )

    # ---- model -------------------------------------------------------------
    def build_model(self, config: CTRConfig, feature_shape, data: Prepared):
        from xent.models.ctr import build_ctr_model

        dim = config.model.embedding_dim
        specs = [
            spec
            if isinstance(spec, DenseFeat)
            else dataclasses.replace(spec, embedding_dim=dim)
            for spec in data.extra["specs"]
        ]
        try:
            return build_ctr_model(
                specs,
                config.model,
                output_bias=_logit(min(max(data.extra["train_ctr"], 1e-6), 1 - 1e-6)),
            )
        except ValueError as err:
            raise ConfigError(f"Invalid `model` config: {err}") from None

    def build_losses(self, config: CTRConfig, data: Prepared):
        try:
            return losses.get(config.loss.name, **loss_options(config.loss))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"Invalid `loss` config: {err}") from None

    def build_metrics(self, config: CTRConfig, data: Prepared) -> list:
        return [
            builtin_loss_metric(config.loss),
            keras.metrics.AUC(from_logits=True, name="auc", num_thresholds=1000),
        ]

    # ---- evaluation --------------------------------------------------------
    def evaluate_model(self, model, config, data: Prepared, history) -> Evaluation:
        y, prob, groups = self._predict_test(model, data)
        metrics = ctr_metrics.ctr_metrics(
            y,
            prob,
            background_ctr=data.extra["train_ctr"],
            groups=groups,
            p_true=data.extra.get("p_true", {}).get("test"),
        )
        metrics["cross_entropy"] = {
            **evaluation.cross_entropy_decomposition(y, prob),
            **{
                k: metrics[k]
                for k in (
                    "bayes_log_loss",
                    "expected_log_loss",
                    "excess_log_loss",
                    "excess_log_loss_pct",
                )
                if k in metrics
            },
        }
        plots = {
            **self.render_plots(y, prob, history, data),
            "ctr_calibration.png": report_lib.calibration_buckets_png(
                metrics["calibration_buckets"]
            ),
        }
        return Evaluation(metrics=metrics, plots=plots)

    def _predict_test(self, model, data: Prepared):
        if data.streams:
            group = data.extra.get("group_input")
            ys, zs, gs = [], [], []
            pre = data.preprocessor
            for raw, y in data.streams["test"]():
                zs.append(np.asarray(model(pre(raw), training=False)))
                ys.append(np.asarray(y))
                if group:
                    gs.append(np.asarray(raw[group]))
            y = np.concatenate(ys).reshape(-1)
            groups = np.concatenate(gs) if gs else None
            return y, probabilities(np.concatenate(zs), True), groups
        y, prob = self.predict_test(model, data)
        return y, prob, data.extra.get("groups")

    def baselines(self, config: CTRConfig, data: Prepared) -> dict:
        """Logistic regression (scikit-learn) on the one-hot encoded features."""
        from sklearn.linear_model import LogisticRegression

        specs = data.extra["specs"]
        train = _feature_rows(data, "train", config.data.baseline_max_rows)
        test = _feature_rows(data, "test", None)
        x_train = _one_hot(train[0], specs)
        x_test = _one_hot(test[0], specs)
        rng = np.random.default_rng(config.train.seed)
        if x_train.shape[0] > config.data.baseline_max_rows:
            keep = rng.choice(
                x_train.shape[0], config.data.baseline_max_rows, replace=False
            )
            x_train, y_train = x_train[keep], train[1][keep]
        else:
            y_train = train[1]
        if len(np.unique(y_train)) < 2:
            return {}
        lr = LogisticRegression(max_iter=300, C=1.0)
        lr.fit(x_train, y_train)
        prob = lr.predict_proba(x_test)[:, 1]
        metrics = ctr_metrics.ctr_metrics(
            test[1],
            prob,
            background_ctr=data.extra["train_ctr"],
            groups=None if data.streams else data.extra.get("groups"),
            p_true=data.extra.get("p_true", {}).get("test"),
        )
        metrics.pop("calibration_buckets")
        metrics["train_rows"] = int(x_train.shape[0])
        return {"logistic_regression": metrics}

    def example_instances(self, data: Prepared) -> list | None:
        if data.streams:
            raw, _ = next(iter(data.streams["test"]()))
            columns = {k: np.asarray(v)[:3] for k, v in raw.items()}
        else:
            columns = {k: np.asarray(v)[:50] for k, v in data.splits["test"][0].items()}
        rows = []
        n = len(next(iter(columns.values())))
        for i in range(n):
            row = {}
            for name, values in columns.items():
                v = values[i]
                if isinstance(v, bytes):
                    row[name] = v.decode("utf-8", "replace")
                elif isinstance(v, (float, np.floating)):
                    if not np.isfinite(v):
                        row = None
                        break
                    row[name] = float(v)
                else:
                    row[name] = v.item() if hasattr(v, "item") else v
            if row is not None:
                rows.append(row)
            if len(rows) == 3:
                break
        return rows or None


def _crossed_counts(config: CTRConfig, batches, categorical) -> dict | None:
    """Training value counts of the configured crosses (one pass), or None."""
    crosses = config.features.crosses
    if not crosses:
        return None
    try:
        features_lib.check_crosses(crosses, categorical)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return features_lib.cross_counts(batches, crosses)


def _summary(rows, positives, categorical, numeric, multi_value, feature_summary):
    return {
        "rows": dict(rows),
        "class_balance": {
            split: {
                "click": int(positives[split]),
                "no_click": int(rows[split] - positives[split]),
            }
            for split in rows
        },
        "ctr": {
            split: (positives[split] / rows[split] if rows[split] else None)
            for split in rows
        },
        "features": {
            "categorical": list(categorical),
            "numeric": list(numeric),
            "multi_value": list(multi_value),
        },
        "feature_processing": {
            k: v for k, v in feature_summary.items() if k != "input_names"
        },
    }


def _metadata(categorical, numeric, multi_value, separator, names) -> dict:
    inverse = {column: name for name, column in names.items()}
    return {
        "features": {
            "categorical": {c: inverse[c] for c in categorical},
            "numeric": {c: inverse[c] for c in numeric},
            "multi_value": {c: inverse[c] for c in multi_value},
            "separator": separator,
        },
        "missing_values": "numeric: NaN, inf or absent; categorical: empty string",
    }


def _groups(field, names, parts):
    if field is None:
        return None
    if field not in names.values():
        raise ConfigError(
            f"data.group_field={field!r} is not a column; columns: "
            f"{sorted(names.values())}"
        )
    return parts["test"].columns[field]


def _renamer(names: dict[str, str]):
    pairs = [(column, name) for name, column in names.items() if column != name]
    return pairs


def _renamed_stream(make, pairs):
    if not pairs:
        return make

    def stream():
        def rename(x, y):
            x = dict(x)
            for column, name in pairs:
                x[name] = x.pop(column)
            return x, y

        return make().map(rename)

    return stream


def _feature_rows(data: Prepared, split: str, max_rows: int | None):
    """Preprocessed features and labels of a split, as arrays."""
    feats = data.extra["features"][split]
    if not callable(feats):
        return feats
    return materialize(feats(), max_rows)


def _one_hot(x: dict, specs):
    """Sparse one-hot (sparse and multi-value ids) plus dense columns."""
    from scipy import sparse

    blocks = []
    for spec in specs:
        values = np.asarray(x[spec.name])
        n = values.shape[0]
        if isinstance(spec, SparseFeat):
            blocks.append(
                sparse.csr_matrix(
                    (np.ones(n), (np.arange(n), values.reshape(-1).astype("int64"))),
                    shape=(n, spec.vocabulary_size),
                )
            )
        elif isinstance(spec, VarLenSparseFeat):
            rows, cols = np.nonzero(values > 0)
            blocks.append(
                sparse.csr_matrix(
                    (np.ones(rows.size), (rows, values[rows, cols].astype("int64"))),
                    shape=(n, spec.vocabulary_size),
                )
            )
        elif isinstance(spec, DenseFeat):
            blocks.append(sparse.csr_matrix(values.reshape(n, -1).astype("float64")))
    return sparse.hstack(blocks, format="csr")
