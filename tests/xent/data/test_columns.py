"""Tests of `xent.data.columns`: missing values, numbers, input names."""

import math

from xent.data import columns


def test_missing_values_include_every_spelling():
    assert set(columns.MISSING_VALUES) == {
        "",
        "?",
        "NA",
        "N/A",
        "NaN",
        "nan",
        "null",
        "None",
    }


def test_parse_float_rejects_digit_separators():
    assert columns.parse_float("2.5") == 2.5
    assert columns.parse_float("-1e3") == -1000.0
    assert columns.parse_float("inf") == math.inf
    assert columns.parse_float("1_000") is None
    assert columns.parse_float("abc") is None
    assert columns.parse_float("") is None


def test_input_name_prefix_is_per_task():
    assert columns.input_name("1st") == "col_1st"
    assert columns.input_name("1st", prefix="f_") == "f_1st"
    assert columns.input_name("C-1", prefix="f_") == "C_1"
    assert columns.input_name("", prefix="f_") == "f_"
    assert columns.input_name("ok_1") == "ok_1"
