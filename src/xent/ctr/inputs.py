"""CTR data as the runner takes it: the synthetic log or a file, split,
with the feature preprocessor fitted on the training split.

`load_synthetic` and `load_files` return a `xent.stages.Prepared` whose
`state` is a `CTRState`: what the CTR task's other stages need (feature
specs, the training click rate, the GAUC groups, the true click
probabilities of a synthetic log). Given the `refit` features of a first
load, they return the data of `train.refit` instead: the training split is
the training and validation rows, and the preprocessing (vocabularies,
crosses, numeric statistics) is fitted on them, so a value first seen in
the validation rows gets a row of its own rather than the out-of-vocabulary
one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from xent.config import ConfigError
from xent.ctr import features as features_lib
from xent.ctr.specs import FeatureSpec
from xent.stages import ArraySplit
from xent.stages import Prepared
from xent.stages import Splits
from xent.stages import StreamSplit

__all__ = [
    "AUTO_GROUP",
    "CLASS_NAMES",
    "USER_FIELDS",
    "CTRState",
    "example_rows",
    "load_files",
    "load_synthetic",
    "resolve_group_field",
]

CLASS_NAMES = ("no_click", "click")
AUTO_GROUP = "auto"
SYNTHETIC_GROUP = "c2"
"""The synthetic log's 300-value field: GAUC groups of `source: synthetic`."""
USER_FIELDS = ("user", "user_id", "userid", "uid", "userId", "UserID", "device_id")
"""Columns `group_field: auto` takes as the GAUC groups of a file (first match)."""


@dataclasses.dataclass(frozen=True)
class CTRState:
    """What the CTR stages keep besides the splits.

    Attributes:
        specs: Feature specs of the preprocessed inputs (`xent.ctr.specs`).
        train_ctr: Click rate of the training split (the background rate of
            normalized entropy and the model's initial output bias).
        input_names: `{model input name: raw column}`.
        group_input: The model input holding the GAUC groups, or None.
        group_note: How the group field was chosen (for the report).
        p_true_test: True click probabilities of the test rows (synthetic
            log only), else None.
        model: The model to build (`CTRModelConfig`): the config's, or the
            one chosen on validation for `model.kind: auto`; set by the task.
        selection: The candidates tried for `model.kind: auto`, each
            `{"name", "val_auc", "epochs"}`, in order; empty otherwise.
        features: The feature config the preprocessor was built from, its
            `cross_top` resolved into `crosses` (what a refit builds again).
    """

    specs: tuple[FeatureSpec, ...]
    train_ctr: float
    input_names: dict[str, str]
    group_input: str | None
    group_note: str
    p_true_test: np.ndarray | None = None
    model: object | None = None
    selection: tuple[dict, ...] = ()
    features: features_lib.FeatureConfig | None = None


def resolve_group_field(
    field: str | None, columns: Iterable[str], synthetic: bool
) -> tuple[str | None, str]:
    """The GAUC group column and a note on how it was chosen.

    `auto` takes `c2` for the synthetic log and, for a file, the first column
    named like a user id (`USER_FIELDS`), or none.

    Raises:
        ConfigError: A named field that is not a column (the message names
            `data.group_field` and lists the columns).
    """
    columns = list(columns)
    if field is None:
        return None, "data.group_field is null: no GAUC"
    if field == AUTO_GROUP:
        if synthetic:
            return SYNTHETIC_GROUP, f"auto: {SYNTHETIC_GROUP} (the synthetic log)"
        for name in USER_FIELDS:
            if name in columns:
                return name, f"auto: {name} (a user column)"
        return None, (
            "auto: no user column (" + ", ".join(USER_FIELDS) + "): no GAUC; "
            "set data.group_field"
        )
    if field not in columns:
        raise ConfigError(
            f"data.group_field={field!r} is not a column; columns: {sorted(columns)}"
        )
    return field, f"data.group_field={field}"


def load_synthetic(config, refit: features_lib.FeatureConfig | None = None) -> Prepared:
    """The embedded synthetic click log, split with `config.train.seed`;
    with `refit` (`CTRState.features` of a first load), the data of
    `train.refit` (see the module docstring)."""
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
    parts = Splits(
        train=log.take(order[n_test + n_val :]),
        validation=log.take(order[n_test : n_test + n_val]),
        test=log.take(order[:n_test]),
    )
    if refit is not None:
        parts = dataclasses.replace(parts, train=log.take(order[n_test:]))
    counts, stats = features_lib.stats_from_arrays(
        parts.train.columns, log.categorical, log.numeric
    )
    features = _fixed(refit) or _features(config.features, counts, log.categorical)
    pre, specs, feature_summary = features_lib.build_ctr_preprocessor(
        log.categorical,
        log.numeric,
        counts,
        stats,
        features,
        crossed_counts=_crossed_counts(
            features.crosses, [parts.train.columns], log.categorical
        ),
    )
    names = feature_summary["input_names"]
    group, note = resolve_group_field(cfg.group_field, names.values(), True)
    splits = parts.map(
        lambda part: ArraySplit(
            {name: part.columns[col] for name, col in names.items()},
            part.labels.astype("int64"),
        )
    )
    summary = _summary(
        {k: v.labels.size for k, v in parts.items()},
        {k: int(v.labels.sum()) for k, v in parts.items()},
        log.categorical,
        log.numeric,
        (),
        feature_summary,
    )
    summary["group_field"] = note
    summary["synthetic"] = dataclasses.asdict(cfg.synthetic)
    return Prepared(
        name="synthetic click log",
        summary=summary,
        splits=splits,
        class_names=CLASS_NAMES,
        preprocessor=pre,
        metadata=_metadata(log.categorical, log.numeric, (), cfg.separator, names),
        state=CTRState(
            specs=tuple(specs),
            train_ctr=float(parts.train.labels.mean()),
            input_names=names,
            group_input=_input_of(group, names),
            group_note=note,
            p_true_test=parts.test.p_true,
            features=features,
        ),
    )


def load_files(config, refit: features_lib.FeatureConfig | None = None) -> Prepared:
    """A click log from files or a tfds catalog name, prepared into shards
    (`xent.ctr.builder`) and streamed; with `refit` (`CTRState.features` of
    a first load), the data of `train.refit` (see the module docstring):
    its statistics come from one pass over the training and validation
    shards (numbers as stored there, in float32)."""
    cfg = config.data
    data = _read_click_data(config)
    schema = data.schema
    fitted = ("train",) if refit is None else ("train", "validation")
    value_counts = data.value_counts
    bounded = data.bounded_value_counts
    numeric_stats = data.numeric_stats
    if refit is not None:
        from xent.ctr.train_stats import TrainStats  # pyarrow: slow to import.

        stats = TrainStats(schema, config.train.seed, cfg.value_count_capacity)
        for split in fitted:
            for x, _ in data.streams[split]():
                stats.add_columns(x)
        value_counts = stats.value_counts()
        bounded = stats.bounded_counts()
        numeric_stats = stats.numeric_stats()
    features = _fixed(refit) or _features(
        config.features, value_counts, schema.categorical, bounded
    )
    pre, specs, feature_summary = features_lib.build_ctr_preprocessor(
        schema.categorical,
        schema.numeric,
        value_counts,
        numeric_stats,
        features,
        multi_value=schema.multi_value,
        separator=schema.separator,
        crossed_counts=_crossed_counts(
            features.crosses,
            (x for split in fitted for x, _ in data.streams[split]()),
            schema.categorical,
        ),
    )
    names = feature_summary["input_names"]
    group, note = resolve_group_field(cfg.group_field, names.values(), False)
    rename = _renamer(names)
    splits = Splits(
        *(
            StreamSplit(
                data.streams[split],
                data.rows[split],
                cache_bytes=cfg.memory_cache_mb << 20 if split != "test" else 0,
            ).map_columns(rename)
            for split in ("train", "validation", "test")
        )
    )
    if refit is not None:
        splits = dataclasses.replace(
            splits, train=splits.train.joined(splits.validation)
        )
    positives = sum(data.positives[split] for split in fitted)
    rows = sum(data.rows[split] for split in fitted)
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
    summary["group_field"] = note
    return Prepared(
        name=data.name,
        summary=summary,
        splits=splits,
        class_names=CLASS_NAMES,
        preprocessor=pre,
        metadata=_metadata(
            schema.categorical,
            schema.numeric,
            schema.multi_value,
            schema.separator,
            names,
        ),
        state=CTRState(
            specs=tuple(specs),
            train_ctr=positives / max(rows, 1),
            input_names=names,
            group_input=_input_of(group, names),
            group_note=note,
            features=features,
        ),
    )


def _read_click_data(config):
    """The click log of `config.data` prepared into shards
    (`xent.ctr.builder.ClickData`); reader errors become `ConfigError`."""
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
                value_count_capacity=cfg.value_count_capacity,
            )
        except readers.ReadError as err:
            raise ConfigError(str(err)) from None
        if data.rows["train"] == 0:
            skipped = data.bad_rows["count"]
            raise ConfigError(
                f"{cfg.source}: no training rows could be read ({skipped} "
                f"malformed rows skipped; the first: {data.bad_rows['examples']})"
            )
    return data


def example_rows(columns: dict[str, np.ndarray], max_rows: int = 3) -> list[dict]:
    """Up to `max_rows` rows of raw columns as JSON values (for the export's
    example request); rows with a non-finite number are left out."""
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
                row[name] = v.item() if isinstance(v, np.generic) else v
        if row is not None:
            rows.append(row)
        if len(rows) == max_rows:
            break
    return rows


def _input_of(column: str | None, names: dict[str, str]) -> str | None:
    if column is None:
        return None
    return next(name for name, col in names.items() if col == column)


def _features(config, value_counts, categorical, bounded=None):
    """The feature config with its `cross_top` cross resolved on the
    training split's distinct values (for a column whose counts were
    bounded, `kept + dropped`: at least its distinct values)."""
    distinct = {c: len(value_counts.get(c, {})) for c in categorical}
    for column, info in (bounded or {}).items():
        if column in distinct:
            distinct[column] = info["kept"] + info["dropped"]
    return features_lib.with_top_cross(config, distinct)


def _fixed(refit):
    """A first load's resolved feature config, its crosses kept as they
    are (not chosen again on the refit's rows), or None."""
    return refit and dataclasses.replace(refit, cross_top=0)


def _crossed_counts(crosses, batches, categorical) -> dict | None:
    """Training value counts of the configured crosses (one pass), or None."""
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


def _renamer(names: dict[str, str]):
    """A dict transform from raw column names to model input names."""
    pairs = [(column, name) for name, column in names.items() if column != name]

    def rename(x):
        x = dict(x)
        for column, name in pairs:
            x[name] = x.pop(column)
        return x

    return rename
