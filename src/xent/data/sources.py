"""Classification data sources as the runner takes them (`xent.stages.Prepared`).

One entry point, `load_classification`, for every source the binary and
multiclass pipelines read: scikit-learn's bundled tables and images, tfds
image data sets and CSV files. Images keep their raw pixels and tables their
raw columns (what a serving client sends); the returned preprocessor maps
them to model features.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xent.config import ConfigError
from xent.stages import ArraySplit
from xent.stages import BaselineData
from xent.stages import Prepared
from xent.stages import Splits

__all__ = [
    "BUILTIN_IMAGES",
    "BUILTIN_TABLES",
    "is_image_source",
    "load_classification",
    "load_image_data",
]

BUILTIN_TABLES = ("breast_cancer", "digits_table")
BUILTIN_IMAGES = ("digits",)


def is_image_source(source: str) -> bool:
    """Whether `source` names image data (`digits` or `tfds:<name>`)."""
    return source in BUILTIN_IMAGES or source.startswith("tfds:")


def load_classification(cfg, seed: int, expected_classes: int | None) -> Prepared:
    """Loads and splits a classification data source.

    Args:
        cfg: The data section (`source`, `test_source`, `label`,
            `categorical`, `numeric`, `max_rows`, the split fractions and
            the bad-row policy).
        seed: The split seed.
        expected_classes: 2 for a binary task (a CSV label with another
            number of classes is an error), None for any.

    Returns:
        The splits (raw inputs), class names, preprocessor, baseline
        matrices and export metadata.

    Raises:
        ConfigError: A CSV source without `label` (the message names
            `data.label`); the readers' errors name the file, row and column.
    """
    if is_image_source(cfg.source):
        return _images(cfg, seed)
    return _table(cfg, seed, expected_classes)


def load_image_data(cfg, seed: int):
    """The images of an image source (`digits` or `tfds:<name>`), split.

    Args:
        cfg: A data section with `source`, `max_rows` and the split
            fractions.
        seed: The split seed.

    Returns:
        `xent.data.images.ImageData` (raw pixels).
    """
    from xent.data import images as images_lib

    if cfg.source == "digits":
        return images_lib.load_digits_images(
            seed, cfg.validation_fraction, cfg.test_fraction
        )
    return images_lib.load_tfds_images(
        cfg.source.split(":", 1)[1],
        seed,
        cfg.validation_fraction,
        max_rows=cfg.max_rows,
    )


def _images(cfg, seed: int) -> Prepared:
    from xent.data import images as images_lib

    data = load_image_data(cfg, seed)
    splits = Splits(
        *(ArraySplit(*data.splits[k]) for k in ("train", "validation", "test"))
    )
    shape = splits.train.x.shape[1:]

    def flat(split: ArraySplit) -> np.ndarray:
        return split.x.reshape(len(split.x), -1) / data.pixel_max

    return Prepared(
        name=data.name,
        summary=data.summary(),
        splits=splits,
        class_names=data.class_names,
        preprocessor=images_lib.build_image_preprocessor(shape, data.pixel_max),
        baseline=BaselineData(
            flat(splits.train),
            splits.train.y,
            flat(splits.test),
            splits.test.y,
            flat(splits.validation),
            splits.validation.y,
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


def _table(cfg, seed: int, expected_classes: int | None) -> Prepared:
    from xent.data import preprocessing
    from xent.data import tabular

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
            expected_classes=expected_classes,
            on_bad_rows=cfg.on_bad_rows,
            max_bad_rows=cfg.max_bad_rows,
        )
    pre = preprocessing.build_preprocessor(data.schema, data.train)
    splits = Splits(
        *(
            ArraySplit(preprocessing.to_model_inputs(part), part.labels)
            for part in (data.train, data.validation, data.test)
        )
    )
    return Prepared(
        name=data.name,
        summary=data.summary(),
        splits=splits,
        class_names=tuple(data.schema.class_names),
        preprocessor=pre,
        baseline=BaselineData(
            np.asarray(pre.predict(splits.train.x, verbose=0)),
            data.train.labels,
            np.asarray(pre.predict(splits.test.x, verbose=0)),
            data.test.labels,
            np.asarray(pre.predict(splits.validation.x, verbose=0)),
            data.validation.labels,
        ),
        metadata={"schema": dataclasses.asdict(data.schema)},
    )
