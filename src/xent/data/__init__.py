"""Data for the xent pipelines.

`xent.data.tabular` splits CSV files (read by `xent.data.csv_table`, labels
mapped by `xent.data.labels`) and scikit-learn's bundled tables into typed
columns; `xent.data.preprocessing` turns them into a Keras
preprocessing model fitted on the training split, from the encodings of
`xent.data.transforms` (shared with the CTR preprocessor);
`xent.data.columns` holds the missing-value tokens, number parsing and input
names every reader shares; `xent.data.images` (import it directly) holds the
image data sets.

The names below are imported on first use (PEP 562), so that the light
`xent.data.columns` does not pull in TensorFlow and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULE_OF = {
    "MISSING_VALUES": "columns",
    "input_name": "columns",
    "parse_float": "columns",
    "OOV_TOKEN": "transforms",
    "ImputeStandardize": "transforms",
    "build_vocabulary": "transforms",
    "build_preprocessor": "preprocessing",
    "numeric_statistics": "preprocessing",
    "to_model_inputs": "preprocessing",
    "SKLEARN_TABLES": "tabular",
    "CsvTable": "csv_table",
    "Schema": "tabular",
    "Split": "tabular",
    "TabularData": "tabular",
    "encode_labels": "csv_table",
    "infer_class_names": "labels",
    "load_breast_cancer": "tabular",
    "load_csv": "tabular",
    "load_digits_table": "tabular",
    "load_sklearn_table": "tabular",
    "read_csv": "csv_table",
    "split_stratified": "tabular",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'xent.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"xent.data.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
