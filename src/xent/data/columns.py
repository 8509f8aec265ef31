"""Field values and column names shared by every data file reader.

Pure Python (no TensorFlow), so the readers stay cheap to import:

* `MISSING_VALUES`: the field values (after stripping whitespace) that mean
  "missing", in the tabular CSV reader (`xent.data.tabular`), the click-log
  readers (`xent.ctr.readers`) and `xent predict`/`evaluate`;
* `parse_float`: how every reader parses a number;
* `input_name`: the Keras input (and serving signature) name of a column.

>>> parse_float("1e3"), parse_float("1_000"), "N/A" in MISSING_VALUES
(1000.0, None, True)
"""

from __future__ import annotations

import re

__all__ = ["MISSING_VALUES", "input_name", "parse_float"]

MISSING_VALUES = ("", "?", "NA", "N/A", "NaN", "nan", "null", "None")
"""Field values (after stripping whitespace) that mean "missing"."""

_VALID_INPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_INVALID_INPUT_CHAR = re.compile(r"[^A-Za-z0-9_]")


def parse_float(text: str) -> float | None:
    """A field as a number (Python's `float`), or `None` if it is not one.

    Digit separators are rejected: Python reads `"1_000"` as 1000, a data
    file means something else by it. `"inf"` and `"nan"` parse.

    Args:
        text: The field, already stripped.

    Returns:
        The number, or `None`.
    """
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def input_name(column: str, prefix: str = "col_") -> str:
    """The Keras input (and serving signature) name of a feature column.

    A column name that starts with an ASCII letter and contains only ASCII
    letters, digits and `_` is used as it is. Otherwise every other character
    is replaced with `_`, and `prefix` is put in front when the result does
    not start with a letter (SavedModel signatures reject such names). The
    tabular tasks use the default `"col_"`; the CTR task uses `"f_"` (the
    names are recorded in exports, so each task keeps its own).

    >>> input_name("age"), input_name("mean radius"), input_name("1st")
    ('age', 'mean_radius', 'col_1st')
    >>> input_name("1st", prefix="f_")
    'f_1st'

    Args:
        column: The column name in the data file.
        prefix: Put in front of a name that does not start with a letter.

    Returns:
        The input name.
    """
    if _VALID_INPUT_NAME.fullmatch(column):
        return column
    name = _INVALID_INPUT_CHAR.sub("_", column)
    return name if name[:1].isalpha() else prefix + name
