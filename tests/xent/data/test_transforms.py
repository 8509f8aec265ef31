"""Tests of `xent.data.transforms`: vocabularies and `ImputeStandardize`."""

import keras
import numpy as np
import pytest

from xent.data.transforms import ImputeStandardize
from xent.data.transforms import rank_vocabulary


def test_rank_vocabulary_orders_by_count_then_value():
    counts = {"b": 2, "a": 2, "c": 5, "d": 1}
    assert rank_vocabulary(counts) == ["c", "a", "b", "d"]
    assert rank_vocabulary(counts, min_count=2) == ["c", "a", "b"]
    assert rank_vocabulary(counts, min_count=2, max_size=2) == ["c", "a"]


def test_impute_standardize_config_round_trip():
    layer = ImputeStandardize(mean=[1.0, -2.0], std=[0.5, 4.0], name="imp")
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    x = np.array([[np.nan, 2.0], [3.0, np.inf]], np.float32)
    np.testing.assert_array_equal(clone(x), layer(x))
    np.testing.assert_allclose(layer(x), [[1, 0, 0, 1], [0, 1, 4, 0]])
    with pytest.raises(ValueError, match="positive finite standard deviations"):
        ImputeStandardize(mean=[0.0], std=[0.0])


def test_log1p_clip_and_value_first_layout_of_one_column():
    layer = ImputeStandardize(
        mean=[0.5], std=[2.0], log1p=True, clip=1.0, indicators_first=False
    )
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    x = np.array([np.nan, -3.0, 0.0, 1e30, np.inf], np.float32)
    t = np.sign(x[1:4].astype(np.float64)) * np.log1p(np.abs(x[1:4]))
    z = np.clip((t - 0.5) / 2.0, -1.0, 1.0)
    expected = [[0, 1], [z[0], 0], [z[1], 0], [z[2], 0], [0, 1]]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6)
    np.testing.assert_array_equal(clone(x), layer(x))
    assert layer.compute_output_shape((None,)) == (None, 2)
    with pytest.raises(ValueError, match="argument clip"):
        ImputeStandardize(mean=[0.0], std=[1.0], clip=0.0)
