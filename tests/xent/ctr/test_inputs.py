"""The CTR task's data choices: GAUC groups and example rows."""

import numpy as np
import pytest

from xent.config import ConfigError
from xent.ctr import inputs


def test_auto_group_field_is_c2_for_the_synthetic_log():
    field, note = inputs.resolve_group_field("auto", ["c0", "c1", "c2"], True)
    assert field == "c2" and "synthetic" in note


@pytest.mark.parametrize("column", ["user", "user_id", "uid"])
def test_auto_group_field_finds_a_user_column_of_a_file(column):
    field, note = inputs.resolve_group_field("auto", ["item", column, "city"], False)
    assert field == column and column in note


def test_auto_group_field_without_a_user_column_says_so():
    field, note = inputs.resolve_group_field("auto", ["item", "city"], False)
    assert field is None and "no GAUC" in note


def test_a_named_group_field_must_exist():
    with pytest.raises(
        ConfigError, match=r"data\.group_field='c2'.*\['city', 'item'\]"
    ):
        inputs.resolve_group_field("c2", ["item", "city"], False)
    assert inputs.resolve_group_field("city", ["item", "city"], False)[0] == "city"
    assert inputs.resolve_group_field(None, ["item"], False)[0] is None


def test_example_rows_skip_non_finite_numbers_and_decode_bytes():
    columns = {
        "site": np.array([b"a", b"b", b"c", b"d"], dtype=object),
        "price": np.array([np.nan, 1.5, 2.0, np.inf], dtype="float32"),
        "n": np.array([1, 2, 3, 4]),
    }
    assert inputs.example_rows(columns) == [
        {"site": "b", "price": 1.5, "n": 2},
        {"site": "c", "price": 2.0, "n": 3},
    ]
    assert len(inputs.example_rows(columns, max_rows=1)) == 1
