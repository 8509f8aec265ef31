"""Tests of `xent.data.preprocessing`: statistics, lookups, tf.data, export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent.data import tabular
from xent.data import transforms
from xent.data.preprocessing import build_preprocessor
from xent.data.preprocessing import to_model_inputs
from xent.data.tabular import Schema
from xent.data.tabular import Split


def _csv_data(tmp_path):
    """A table whose test rows are far from its training rows."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        label = i % 2
        amount = "NA" if i % 17 == 0 else f"{rng.normal(10 + 5 * label, 2):.4f}"
        city = ["paris", "paris", "rome", "oslo", ""][i % 5]
        rows.append(f"{amount},{city},{label}")
    train = tmp_path / "train.csv"
    train.write_text("amount,city,label\n" + "\n".join(rows) + "\n")
    test = tmp_path / "test.csv"
    test.write_text(
        "amount,city,label\n1000,paris,1\n2000,lima,0\nNaN,,1\ninf,rome,0\n"
    )
    return tabular.load_csv(train, "label", test_path=test, seed=0)


def _schema():
    return Schema(("n",), ("c",), "y", ("0", "1"))


def _split(n_values, c_values):
    n = np.asarray(n_values, np.float32)
    return Split(
        {"n": n, "c": np.asarray(c_values, object)}, np.zeros(len(n), np.int64)
    )


def test_statistics_come_from_the_training_split_only(tmp_path):
    data = _csv_data(tmp_path)
    pre = build_preprocessor(data.schema, data.train)
    train = data.train.features["amount"].astype(np.float64)
    mean, std = np.nanmean(train), np.nanstd(train)
    everything = np.concatenate(
        [train, data.validation.features["amount"], data.test.features["amount"]]
    )
    assert abs(np.nanmean(everything[np.isfinite(everything)]) - mean) > 1
    layer = pre.get_layer("xent.impute_standardize")
    np.testing.assert_allclose(layer.mean, [mean], rtol=1e-12)
    np.testing.assert_allclose(layer.std, [std], rtol=1e-12)

    out = pre.predict(to_model_inputs(data.test), verbose=0)
    # Layout: [missing indicator, standardized amount, city one-hot...].
    np.testing.assert_array_equal(out[:, 0], [0, 0, 1, 1])
    np.testing.assert_allclose(
        out[:, 1], [(1000 - mean) / std, (2000 - mean) / std, 0, 0], rtol=1e-5
    )


def test_vocabulary_oov_and_missing_category(tmp_path):
    data = _csv_data(tmp_path)
    pre = build_preprocessor(data.schema, data.train)
    lookup = pre.get_layer("xent.lookup.city")
    train_cities = data.train.features["city"].tolist()
    expected = sorted(set(train_cities), key=lambda c: (-train_cities.count(c), c))
    assert expected[0] == "paris" and "" in expected
    assert lookup.get_vocabulary() == ["[UNK]", *expected]
    out = pre.predict(to_model_inputs(data.test), verbose=0)
    one_hot = out[:, 2:]
    assert one_hot.shape == (4, 1 + len(expected))
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1)
    vocab = lookup.get_vocabulary()
    assert one_hot.argmax(axis=1).tolist() == [
        vocab.index("paris"),
        0,  # "lima" was never seen: out of vocabulary.
        vocab.index(""),  # Missing is its own category.
        vocab.index("rome"),
    ]


def test_nan_and_inf_get_indicator_and_training_mean():
    train = _split([1.0, 3.0, np.nan, 8.0, np.inf], ["a"] * 5)
    pre = build_preprocessor(_schema(), train)
    mean, std = np.mean([1.0, 3.0, 8.0]), np.std([1.0, 3.0, 8.0])
    out = pre(to_model_inputs(_split([np.nan, -np.inf, 3.0], ["a", "a", "b"])))
    out = np.asarray(out)
    np.testing.assert_array_equal(out[:, 0], [1, 1, 0])
    np.testing.assert_allclose(out[:, 1], [0, 0, (3.0 - mean) / std], rtol=1e-6)
    assert np.all(np.isfinite(out))


def test_vocabulary_min_count_and_max_size():
    values = np.array(["b", "a", "b", "c", "a", "b", "[UNK]", "d"], object)
    assert transforms.build_vocabulary(values) == ["b", "a", "c", "d"]
    assert transforms.build_vocabulary(values, min_count=2) == ["b", "a"]
    assert transforms.build_vocabulary(values, max_vocabulary=1) == ["b"]
    train = _split(np.arange(8), values)
    pre = build_preprocessor(_schema(), train, max_vocabulary=2)
    assert pre.output.shape == (None, 2 + 3)
    with pytest.raises(ValueError, match=r"'c' has no value seen at least min_count=9"):
        build_preprocessor(_schema(), train, min_count=9)
    with pytest.raises(ValueError, match="argument max_vocabulary"):
        build_preprocessor(_schema(), train, max_vocabulary=0)
    with pytest.raises(ValueError, match="argument min_count"):
        build_preprocessor(_schema(), train, min_count=0)


def test_schema_columns_must_match_the_split():
    train = Split({"n": np.zeros(2, np.float32)}, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"Column 'c' of the schema is not in"):
        build_preprocessor(_schema(), train)
    train = _split([1.0, 2.0], ["a", "b"])
    with pytest.raises(ValueError, match=r"Column 'n' is categorical .*float32"):
        build_preprocessor(Schema((), ("n", "c"), "y", ("0", "1")), train)


def test_works_inside_tf_data_map(tmp_path):
    data = _csv_data(tmp_path)
    pre = build_preprocessor(data.schema, data.train)
    inputs = to_model_inputs(data.validation)
    dataset = (
        tf.data.Dataset.from_tensor_slices((inputs, data.validation.labels))
        .batch(16)
        .map(lambda x, y: (pre(x), y))
    )
    mapped = np.concatenate([x.numpy() for x, _ in dataset])
    np.testing.assert_allclose(mapped, pre.predict(inputs, verbose=0), rtol=1e-6)


def test_keras_file_round_trip(tmp_path):
    data = _csv_data(tmp_path)
    pre = build_preprocessor(data.schema, data.train)
    pre.save(tmp_path / "pre.keras")
    clone = keras.saving.load_model(tmp_path / "pre.keras")
    inputs = to_model_inputs(data.test)
    np.testing.assert_array_equal(
        clone.predict(inputs, verbose=0), pre.predict(inputs, verbose=0)
    )


def test_export_round_trip_with_raw_inputs(tmp_path):
    schema = Schema(("mean radius", "age"), ("city",), "y", ("0", "1"))
    rng = np.random.default_rng(0)
    train = Split(
        {
            "mean radius": rng.normal(10, 3, 50).astype(np.float32),
            "age": rng.normal(40, 9, 50).astype(np.float32),
            "city": np.array(["paris", "rome"] * 25, object),
        },
        np.zeros(50, np.int64),
    )
    keras.utils.set_random_seed(0)
    pre = build_preprocessor(schema, train)
    inputs = pre.input
    model = keras.Model(inputs, keras.layers.Dense(1)(pre(inputs)))
    model.export(str(tmp_path / "export"), verbose=False)

    raw = {
        "mean_radius": tf.constant([[12.0], [np.nan], [8.0]]),
        "age": tf.constant([[30.0], [50.0], [np.inf]]),
        "city": tf.constant([["rome"], ["atlantis"], [""]]),
    }
    expected = model.predict(raw, verbose=0)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    served = loaded.serve(raw).numpy()
    assert np.all(np.isfinite(served))
    np.testing.assert_allclose(served, expected, rtol=1e-6)
    signature = loaded.signatures["serving_default"]
    assert set(signature.structured_input_signature[1]) == {
        "mean_radius",
        "age",
        "city",
    }
    (by_name,) = signature(**raw).values()
    np.testing.assert_allclose(by_name.numpy(), expected, rtol=1e-6)
