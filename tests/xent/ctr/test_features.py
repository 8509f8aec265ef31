"""CTR feature processing: vocabularies, hashing, numeric transforms, multi-value."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent.ctr import features
from xent.ctr.specs import DenseFeat
from xent.ctr.specs import SparseFeat
from xent.ctr.specs import VarLenSparseFeat

COUNTS = {"site": {"a": 50, "b": 20, "c": 5, "d": 1, "": 9}}
NUM = {
    "price": {
        "mean": 10.0,
        "std": 5.0,
        "log1p_mean": 2.0,
        "log1p_std": 0.5,
        "quantiles": list(np.linspace(0, 100, 33)),
    }
}


def _build(config=None, **kwargs):
    args = {
        "categorical": ["site"],
        "numeric": ["price"],
        "value_counts": COUNTS,
        "numeric_stats": NUM,
        "config": config or features.FeatureConfig(min_count=5),
    }
    args.update(kwargs)
    return features.build_ctr_preprocessor(**args)


def _call(model, **columns):
    inputs = {k: tf.constant(v) for k, v in columns.items()}
    return {k: np.asarray(v) for k, v in model(inputs).items()}


def test_vocabulary_by_frequency_with_min_count_and_oov_zero():
    model, specs, summary = _build()
    out = _call(model, site=["a", "b", "", "c", "d", "never seen"], price=[1.0] * 6)
    # Kept (count >= 5), most frequent first: a=1, b=2, ''=3, c=4; rare/unknown=0.
    assert out["site"].tolist() == [1, 2, 3, 4, 0, 0]
    assert specs[0] == SparseFeat("site", 5)
    assert summary["categorical"]["site"]["vocabulary"] == 4
    assert summary["categorical"]["site"]["train_oov_rate"] == pytest.approx(1 / 85)


def test_max_vocab_keeps_the_most_frequent_values():
    model, specs, _ = _build(features.FeatureConfig(min_count=1, max_vocab=2))
    out = _call(model, site=["a", "b", "c"], price=[1.0] * 3)
    assert out["site"].tolist() == [1, 2, 0]
    assert specs[0].vocabulary_size == 3


def test_fields_above_the_hash_threshold_are_hashed():
    config = features.FeatureConfig(hash_threshold=3, hash_bins=64)
    model, specs, summary = _build(config)
    out = _call(model, site=["a", "b", "zzz", "a"], price=[1.0] * 4)
    assert specs[0] == SparseFeat("site", 64, hashed=True)
    assert summary["categorical"]["site"]["hashed"]
    assert out["site"][0] == out["site"][3]
    assert ((out["site"] >= 0) & (out["site"] < 64)).all()


def test_numeric_log1p_standardized_with_missing_indicator():
    model, specs, _ = _build()
    x = np.array([0.0, 3.0, 1e6, np.nan, np.inf, -2.0], dtype="float32")
    out = _call(model, site=["a"] * 6, price=x)["numeric"]
    t = np.sign(x[[0, 1, 2, 5]]) * np.log1p(np.abs(x[[0, 1, 2, 5]]))
    expected = np.clip((t - 2.0) / 0.5, -10, 10)
    np.testing.assert_allclose(out[[0, 1, 2, 5], 0], expected, rtol=1e-5)
    assert out[:, 1].tolist() == [0, 0, 0, 1, 1, 0]
    assert out[3, 0] == 0 and out[4, 0] == 0
    assert specs[-1] == DenseFeat("numeric", 2)


def test_standardize_without_log():
    config = features.FeatureConfig(numeric_transform="standardize")
    model, _, _ = _build(config)
    out = _call(model, site=["a"], price=np.array([20.0], "float32"))
    assert out["numeric"][0, 0] == pytest.approx((20 - 10) / 5)


def test_bucketize_adds_a_bucket_feature_with_zero_for_missing():
    config = features.FeatureConfig(numeric_transform="bucketize", buckets=4)
    model, specs, _ = _build(config)
    x = np.array([np.nan, 1.0, 30.0, 60.0, 99.0, 1e9], dtype="float32")
    out = _call(model, site=["a"] * 6, price=x)
    ids = out["price_bucket"].tolist()
    assert ids[0] == 0
    assert ids[1:] == sorted(ids[1:])
    assert len(set(ids[1:])) == 4
    bucket = next(s for s in specs if s.name == "price_bucket")
    assert max(ids) < bucket.vocabulary_size
    assert "numeric" in out


def test_multi_value_split_pad_lookup():
    model, specs, _ = _build(
        categorical=[],
        numeric=[],
        multi_value=["genres"],
        value_counts={"genres": {"Drama": 9, "Comedy": 7, "Horror": 1}},
        config=features.FeatureConfig(min_count=2, max_len=3),
    )
    out = _call(
        model, genres=["Drama|Comedy", "Horror|Drama|Comedy|Drama", "", "Comedy||"]
    )
    # 0 = padding, 1 = OOV (Horror is rare), Drama = 2, Comedy = 3.
    assert out["genres"].tolist() == [[2, 3, 0], [1, 2, 3], [0, 0, 0], [3, 0, 0]]
    assert specs == (VarLenSparseFeat("genres", 4, 3),)


def test_preprocessor_round_trips_through_keras_saving(tmp_path):
    config = features.FeatureConfig(numeric_transform="bucketize", buckets=4)
    model, _, _ = _build(config)
    path = tmp_path / "pre.keras"
    model.save(path)
    again = keras.models.load_model(path)
    cols = {"site": ["a", "c", "x"], "price": np.array([1.0, np.nan, 7.0], "float32")}
    first, second = _call(model, **cols), _call(again, **cols)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_stats_from_arrays_match_numpy():
    columns = {
        "site": np.array([b"a", b"b", b"a", b""]),
        "tags": np.array(["x|y", "y", "", "y|z"], dtype=object),
        "price": np.array([1.0, np.nan, 3.0, 100.0], dtype="float32"),
    }
    counts, stats = features.stats_from_arrays(
        columns, ["site"], ["price"], multi_value=["tags"]
    )
    assert counts["site"] == {"a": 2, "b": 1, "": 1}
    assert counts["tags"] == {"x": 1, "y": 3, "z": 1}
    finite = np.array([1.0, 3.0, 100.0])
    t = np.log1p(finite)
    assert stats["price"]["missing"] == 1
    assert stats["price"]["mean"] == pytest.approx(finite.mean())
    assert stats["price"]["log1p_std"] == pytest.approx(t.std())
    assert stats["price"]["quantiles"][0] == 1.0


def test_input_names_are_sanitized_and_collisions_named():
    assert features.input_name("C-1") == "C_1"
    assert features.input_name("1st") == "f_1st"
    with pytest.raises(ValueError, match="same input name"):
        _build(
            categorical=["a-b", "a_b"],
            numeric=[],
            value_counts={"a-b": {"x": 9}, "a_b": {"y": 9}},
        )


def test_missing_statistics_are_named():
    with pytest.raises(ValueError, match="price"):
        _build(numeric_stats={})


@pytest.mark.parametrize("field", ["min_count", "hash_bins", "buckets", "max_len"])
def test_invalid_feature_settings_are_named(field):
    with pytest.raises(ValueError, match=f"features.{field}"):
        features.FeatureConfig(**{field: 0})
