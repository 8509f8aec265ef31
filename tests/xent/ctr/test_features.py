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


# ---- crossed fields ----------------------------------------------------------
CROSS_COLUMNS = {
    "user": np.array([b"u1", b"u1", b"u2", b"u1", b"u2", b""]),
    "item": np.array([b"i1", b"i1", b"i1", b"i2", b"i1", b"i1"]),
}


def _cross_build(config):
    counts, _ = features.stats_from_arrays(CROSS_COLUMNS, ["user", "item"], [])
    crossed = features.cross_counts([CROSS_COLUMNS], config.crosses)
    return features.build_ctr_preprocessor(
        ["user", "item"], [], counts, {}, config, crossed_counts=crossed
    )


def test_cross_counts_count_each_pair_of_values():
    batches = [
        {k: v[:4] for k, v in CROSS_COLUMNS.items()},
        {k: v[4:] for k, v in CROSS_COLUMNS.items()},
    ]
    counts = features.cross_counts(batches, [("user", "item")])
    sep = features.CROSS_SEPARATOR
    # Independent reference: Python tuples of the decoded values.
    pairs = {}
    for u, i in zip(CROSS_COLUMNS["user"], CROSS_COLUMNS["item"], strict=True):
        key = f"{u.decode()}{sep}{i.decode()}"
        pairs[key] = pairs.get(key, 0) + 1
    assert counts == {"user_x_item": pairs}
    assert pairs[f"u1{sep}i1"] == 2 and pairs[f"{sep}i1"] == 1


def test_a_cross_is_a_categorical_feature_with_its_own_vocabulary():
    config = features.FeatureConfig(min_count=2, crosses=(("user", "item"),))
    model, specs, summary = _cross_build(config)
    assert specs[-1] == SparseFeat("user_x_item", 3)
    assert summary["crosses"]["user_x_item"] == {
        "distinct": 4,
        "vocabulary": 2,  # u1|i1 and u2|i1 seen twice; u1|i2 and |i1 once.
        "oov_values": 2,
        "oov_rows": 2,
        "train_oov_rate": pytest.approx(2 / 6),
    }
    out = _call(
        model,
        user=["u1", "u2", "u1", "u2", "u9"],
        item=["i1", "i1", "i2", "i2", "i1"],
    )
    ids = out["user_x_item"].tolist()
    # Seen pairs get their own ids (ties by value); unseen or rare pairs 0,
    # though each of their values is in its field's vocabulary.
    assert ids[0] != ids[1] and ids[0] > 0 and ids[1] > 0
    assert ids[2:] == [0, 0, 0]
    assert out["user"].tolist()[:4] == [1, 2, 1, 2]
    # The cross is computed inside the model: no extra serving input.
    assert sorted(model.input.keys()) == ["item", "user"]


def test_a_cross_over_the_hash_threshold_is_hashed_and_survives_saving(tmp_path):
    config = features.FeatureConfig(
        min_count=1, hash_threshold=3, hash_bins=32, crosses=(("user", "item"),)
    )
    model, specs, summary = _cross_build(config)
    assert summary["crosses"]["user_x_item"]["hashed"]
    assert SparseFeat("user_x_item", 32, hashed=True) in specs
    cols = {"user": ["u1", "u1", "u2"], "item": ["i1", "i2", "i1"]}
    out = _call(model, **cols)
    # The hash of the joined string, as Keras' Hashing layer computes it.
    expected = keras.layers.Hashing(num_bins=32)(
        tf.constant(["u1\x1fi1", "u1\x1fi2", "u2\x1fi1"])
    )
    np.testing.assert_array_equal(out["user_x_item"], np.asarray(expected))
    path = tmp_path / "pre.keras"
    model.save(path)
    again = _call(keras.models.load_model(path), **cols)
    np.testing.assert_array_equal(out["user_x_item"], again["user_x_item"])


def test_crosses_of_unknown_or_multi_value_columns_are_named():
    config = features.FeatureConfig(crosses=(("user", "genres"),))
    with pytest.raises(ValueError, match=r"no column \['genres'\] in the data"):
        _cross_build(config)
    with pytest.raises(
        ValueError, match=r"names \['genres'\], not among the single-valued"
    ):
        features.build_ctr_preprocessor(
            ["user"],
            [],
            {"user": {"a": 9}, "genres": {"x": 9}},
            {},
            config,
            multi_value=["genres"],
            crossed_counts={"user_x_genres": {"a\x1fx": 9}},
        )
    clash = features.FeatureConfig(crosses=(("user", "item"),))
    counts = {"user": {"a": 9}, "item": {"b": 9}, "user_x_item": {"c": 9}}
    with pytest.raises(ValueError, match="'user_x_item' is already a column"):
        features.build_ctr_preprocessor(
            ["user", "item", "user_x_item"],
            [],
            counts,
            {},
            clash,
            crossed_counts={"user_x_item": {"a\x1fb": 9}},
        )
    with pytest.raises(ValueError, match="No value counts for the cross"):
        features.build_ctr_preprocessor(["user", "item"], [], counts, {}, clash)


@pytest.mark.parametrize(
    "crosses,message",
    [
        ((("user",),), "two or more different columns"),
        ((("user", "user"),), "two or more different columns"),
        ((("user", "item"), ("user", "item")), "listed twice"),
    ],
)
def test_invalid_crosses_are_named(crosses, message):
    with pytest.raises(ValueError, match=rf"features.crosses\[\d\].*{message}"):
        features.FeatureConfig(crosses=crosses)


def test_the_summary_counts_the_values_and_rows_sent_to_oov():
    _, _, summary = _build()
    site = summary["categorical"]["site"]
    # Only "d" (1 row) is below the minimum count of 5.
    assert (site["oov_values"], site["oov_rows"]) == (1, 1)
    assert summary["min_count"] == {"value": 5, "rule": "features.min_count"}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [(1, 1), (199_999, 1), (200_000, 2), (999_999, 2), (1_000_000, 5)],
)
def test_auto_min_count_follows_the_training_rows(rows, expected):
    assert features.auto_min_count(rows) == expected


def test_a_null_min_count_is_chosen_from_the_training_rows():
    # 85 training rows: every value is kept, "d" (seen once) included.
    model, specs, summary = _build(features.FeatureConfig(min_count=None))
    assert summary["min_count"] == {"value": 1, "rule": "auto: 85 training rows"}
    assert summary["categorical"]["site"]["oov_values"] == 0
    out = _call(model, site=["d", "never seen"], price=[1.0] * 2)
    assert out["site"].tolist()[0] != 0 and out["site"].tolist()[1] == 0
    assert features.training_rows(COUNTS, ["site"]) == 85


def test_cross_top_crosses_the_columns_of_most_distinct_values():
    distinct = {"city": 80, "user": 900, "item": 4000, "weekday": 7}
    assert features.top_columns(distinct, 2) == ["item", "user"]
    assert features.top_columns({"b": 3, "a": 3, "c": 1}, 2) == ["a", "b"]
    config = features.FeatureConfig(cross_top=2)
    assert features.with_top_cross(config, distinct).crosses == (("item", "user"),)
    three = features.FeatureConfig(crosses=(("city", "weekday"),), cross_top=3)
    assert features.with_top_cross(three, distinct).crosses == (
        ("city", "weekday"),
        ("item", "user", "city"),
    )
    # Already listed, too few columns, or off: unchanged.
    listed = features.FeatureConfig(crosses=(("item", "user"),), cross_top=2)
    assert features.with_top_cross(listed, distinct) is listed
    assert features.with_top_cross(config, {"user": 5}) is config
    off = features.FeatureConfig()
    assert features.with_top_cross(off, distinct) is off


@pytest.mark.parametrize("value", [1, -2, True, 2.5])
def test_invalid_cross_top_is_named(value):
    with pytest.raises(ValueError, match="features.cross_top"):
        features.FeatureConfig(cross_top=value)
