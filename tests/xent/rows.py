"""Helpers shared by the reader tests (CTR readers, tabular CSV, their fuzz tests)."""

import math


def assert_same_rows(actual, expected):
    """Row dicts equal value for value and type for type, NaN equal to NaN."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float) and math.isnan(value):
                assert isinstance(got[key], float) and math.isnan(got[key]), key
            else:
                assert got[key] == value, (key, got[key], value)
                assert type(got[key]) is type(value), key


def not_a_number(value: str) -> bool:
    """Whether the readers must refuse `value` as a number (Python's `float`
    accepts `1_000`; the readers do not)."""
    if "_" in value:
        return True
    try:
        float(value)
    except ValueError:
        return True
    return False
