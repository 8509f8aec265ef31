"""Data for the xent pipelines.

`xent.data.tabular` reads CSV files and scikit-learn's bundled tables into
typed, split columns; `xent.data.preprocessing` turns them into a Keras
preprocessing model fitted on the training split; `xent.data.images` (import
it directly) holds the image data sets.
"""

from xent.data.preprocessing import OOV_TOKEN
from xent.data.preprocessing import ImputeStandardize
from xent.data.preprocessing import build_preprocessor
from xent.data.preprocessing import build_vocabulary
from xent.data.preprocessing import numeric_statistics
from xent.data.preprocessing import to_model_inputs
from xent.data.tabular import DEFAULT_MISSING_VALUES
from xent.data.tabular import SKLEARN_TABLES
from xent.data.tabular import CsvTable
from xent.data.tabular import Schema
from xent.data.tabular import Split
from xent.data.tabular import TabularData
from xent.data.tabular import encode_labels
from xent.data.tabular import infer_class_names
from xent.data.tabular import input_name
from xent.data.tabular import load_breast_cancer
from xent.data.tabular import load_csv
from xent.data.tabular import load_digits_table
from xent.data.tabular import load_sklearn_table
from xent.data.tabular import read_csv
from xent.data.tabular import split_stratified

__all__ = [
    "DEFAULT_MISSING_VALUES",
    "OOV_TOKEN",
    "SKLEARN_TABLES",
    "CsvTable",
    "ImputeStandardize",
    "Schema",
    "Split",
    "TabularData",
    "build_preprocessor",
    "build_vocabulary",
    "encode_labels",
    "infer_class_names",
    "input_name",
    "load_breast_cancer",
    "load_csv",
    "load_digits_table",
    "load_sklearn_table",
    "numeric_statistics",
    "read_csv",
    "split_stratified",
    "to_model_inputs",
]
