"""The typed splits: in memory and streamed give the same rows, shapes and
predictions."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent.stages import ArraySplit
from xent.stages import Splits
from xent.stages import StreamSplit
from xent.stages import materialize
from xent.stages import predict_arrays


def _columns(n=10):
    return {
        "a": np.arange(n, dtype="float32"),
        "b": np.asarray([f"v{i % 3}".encode() for i in range(n)], dtype=object),
    }


def _pair(n=10, batch=4):
    x = _columns(n)
    y = (np.arange(n) % 2).astype("int64")

    def make():
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)

    return ArraySplit(x, y), StreamSplit(make, n)


def _doubler() -> keras.Model:
    inputs = {
        "a": keras.Input(shape=(), name="a", dtype="float32"),
        "b": keras.Input(shape=(), name="b", dtype="string"),
    }
    return keras.Model(inputs, keras.ops.expand_dims(inputs["a"] * 2.0, -1))


def test_both_kinds_hold_the_same_rows():
    arrays, stream = _pair()
    assert arrays.rows == stream.rows == 10
    for split in (arrays, stream):
        x, y = split.arrays()
        np.testing.assert_array_equal(x["a"], np.arange(10))
        np.testing.assert_array_equal(y, np.arange(10) % 2)
    # A stream gives whole batches up to max_rows; an in-memory split is whole.
    assert len(stream.arrays(5)[1]) == 8
    assert len(arrays.arrays(5)[1]) == 10


def test_predict_gives_outputs_and_an_extra_column_in_row_order():
    arrays, stream = _pair()
    model = _doubler()
    for split in (arrays, stream):
        y, out, extra = split.predict(model, "b")
        np.testing.assert_allclose(out.reshape(-1), 2 * np.arange(10))
        np.testing.assert_array_equal(y.reshape(-1), np.arange(10) % 2)
        assert [v.decode() if isinstance(v, bytes) else v for v in extra] == [
            f"v{i % 3}" for i in range(10)
        ]
        assert split.predict(model)[2] is None


def test_map_inputs_applies_the_model_to_x():
    arrays, stream = _pair()
    model = _doubler()
    for split in (arrays, stream):
        x, y = split.map_inputs(model).arrays()
        np.testing.assert_allclose(np.asarray(x).reshape(-1), 2 * np.arange(10))
        assert split.map_inputs(model).feature_shape() == (1,)


def test_training_data_targets_and_order():
    arrays, stream = _pair()

    def targets(y):
        return y.astype("float32").reshape(-1, 1) * 10

    batches = list(arrays.training_data(targets, 4, seed=0, distributed=False))
    seen = np.concatenate([np.asarray(x["a"]) for x, _ in batches])
    assert sorted(seen.tolist()) == list(range(10))
    assert {float(v) for _, t in batches for v in np.asarray(t).reshape(-1)} <= {
        0.0,
        10.0,
    }
    # Streams are click logs: their targets are the labels as a float column.
    for _, t in stream.training_data(targets, 4, seed=0, distributed=False):
        assert t.dtype == tf.float32 and t.shape[1] == 1
    x_val, t_val = arrays.validation_data(targets, 4, seed=0, distributed=False)
    np.testing.assert_array_equal(t_val.reshape(-1), (np.arange(10) % 2) * 10)


def test_head_and_map_columns():
    arrays, stream = _pair()
    assert list(arrays.head(3)["a"]) == [0, 1, 2]
    assert list(stream.head(3)["a"]) == [0, 1, 2]
    renamed = stream.map_columns(lambda x: {"c": x["a"], "b": x["b"]})
    assert set(renamed.head(2)) == {"b", "c"}
    assert renamed.rows == 10


def test_splits_map_and_items():
    splits = Splits(1, 2, 3)
    assert splits.items() == [("train", 1), ("validation", 2), ("test", 3)]
    assert splits.map(lambda v: v * 10) == Splits(10, 20, 30)


def test_materialize_and_predict_arrays():
    x = np.arange(12, dtype="float32").reshape(6, 2)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(6))).batch(4)
    got_x, got_y = materialize(ds)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, np.arange(6))
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.ops.sum(inputs, axis=-1, keepdims=True))
    np.testing.assert_allclose(predict_arrays(model, x, 4).reshape(-1), x.sum(-1))


def test_split_base_is_abstract():
    from xent.stages import Split

    with pytest.raises(NotImplementedError):
        Split().arrays()


def test_streamed_validation_has_a_known_length_and_fit_does_not_warn():
    import warnings

    x = {"a": np.arange(10, dtype="float32")}
    y = (np.arange(10) % 2).astype("float32")

    def make():
        # A generator: unknown cardinality, like a stream read from files.
        def rows():
            yield from zip(x["a"], y, strict=True)

        return (
            tf.data.Dataset.from_generator(
                rows,
                output_signature=(tf.TensorSpec((), tf.float32),) * 2,
            )
            .map(lambda a, b: ({"a": a}, b))
            .batch(4)
        )

    stream = StreamSplit(make, 10)
    assert int(make().cardinality()) == tf.data.UNKNOWN_CARDINALITY
    val = stream.validation_data(None, 4, 0, distributed=False)
    assert int(val.cardinality()) == 3
    inputs = {"a": keras.Input(shape=(), name="a")}
    model = keras.Model(inputs, keras.ops.expand_dims(inputs["a"], -1))
    model.compile("sgd", "mse")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(train, steps_per_epoch=3, validation_data=val, epochs=2, verbose=0)
    assert not [w for w in caught if "ran out of data" in str(w.message)]


# --------------------------------------------------------------------------
# Preprocessed streams kept in memory after their first pass.
# --------------------------------------------------------------------------
def _counted_stream(n=200, batch=16, cache_bytes=1 << 20):
    """A stream whose reads of the source are counted (`reads`)."""
    reads = tf.Variable(0, dtype=tf.int64)
    x = {"a": np.arange(n, dtype="float32"), "b": np.arange(n) * 10}
    y = (np.arange(n) % 2).astype("int64")

    def count(features, labels):
        reads.assign_add(tf.cast(tf.shape(labels)[0], tf.int64))
        return features, labels

    def make():
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).map(count)

    return StreamSplit(make, n, cache_bytes=cache_bytes), reads


def _epoch(dataset):
    return np.concatenate([np.asarray(x["a"]) for x, _ in dataset])


def test_a_cached_stream_reads_its_source_once_and_reshuffles_every_epoch():
    stream, reads = _counted_stream()
    assert stream.cached()
    train = stream.training_data(None, 16, seed=3, distributed=False)
    epochs = [_epoch(train) for _ in range(3)]
    assert int(reads.numpy()) == 200  # The source was read once.
    for rows in epochs:
        np.testing.assert_array_equal(np.sort(rows), np.arange(200))  # Each once.
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])

    # Rows move across batches, not only batches as wholes.
    def batches():
        return {frozenset(np.asarray(x["a"]).tolist()) for x, _ in train}

    assert batches() != batches()
    # Labels travel with their rows.
    for x, y in train:
        np.testing.assert_array_equal(
            np.asarray(y)[:, 0], np.asarray(x["a"]).astype("int64") % 2
        )
    # Same seed, same epochs, in a fresh pipeline (resumable runs rely on it).
    again, _ = _counted_stream()
    train_again = again.training_data(None, 16, seed=3, distributed=False)
    np.testing.assert_array_equal(_epoch(train_again), epochs[0])


def test_streams_that_do_not_fit_or_hold_strings_are_not_cached():
    # 200 rows of a float32, an int64 and an int64 label: 4,000 bytes.
    assert not _counted_stream(cache_bytes=3999)[0].cached()
    assert _counted_stream(cache_bytes=4000)[0].cached()
    assert not _counted_stream(cache_bytes=0)[0].cached()
    _, raw = _pair()
    raw = StreamSplit(raw.make, raw.rows, cache_bytes=1 << 30)
    assert not raw.cached()  # Column b holds strings: not preprocessed yet.
    stream, reads = _counted_stream(cache_bytes=0)
    train = stream.training_data(None, 16, seed=3, distributed=False)
    for _ in range(2):
        _epoch(train)
    assert int(reads.numpy()) == 400


def test_a_cached_validation_stream_keeps_its_order():
    stream, reads = _counted_stream()
    val = stream.validation_data(None, 16, 0, distributed=False)
    assert int(val.cardinality()) == 13
    for _ in range(2):
        np.testing.assert_array_equal(_epoch(val), np.arange(200))
    assert int(reads.numpy()) == 200  # The count filled the cache.


def test_a_cached_training_stream_logs_nothing(tmp_path):
    """TensorFlow 2.21 logs a line ("Tensor RefCount not reliable if buf_
    points to a SubBuffer") for every rebatch that joins slices of cached
    batches: thousands per epoch before the cache kept its own buffers."""
    import subprocess
    import sys

    script = tmp_path / "stream.py"
    script.write_text(
        "import numpy as np, tensorflow as tf\n"
        "from xent.stages import StreamSplit\n"
        "from xent.supervised import even_batches\n"
        "n = 5000\n"
        "x = {'a': np.arange(n), 'b': np.ones((n, 1), 'float32')}\n"
        "y = np.arange(n) % 2\n"
        "def make():\n"
        "    d = tf.data.Dataset.from_tensor_slices((x, y)).batch(1000)\n"
        "    return d.rebatch(256)  # Slices of larger batches, as streams are.\n"
        "s = StreamSplit(make, n, cache_bytes=1 << 20)\n"
        "assert s.cached()\n"
        "d = s.training_data(None, 256, 0, False).rebatch(even_batches(n, 256, 3))\n"
        "for _ in range(2):\n"
        "    for _ in d: pass\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert "RefCount" not in proc.stderr


def test_joined_splits_hold_both_splits_rows():
    first_arrays, first_stream = _pair(10)
    x = {"a": np.arange(10, 16, dtype="float32"), "b": _columns(6)["b"]}
    y = np.ones(6, dtype="int64")

    def make():
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(4)

    for joined in (
        first_arrays.joined(ArraySplit(x, y)),
        first_stream.joined(StreamSplit(make, 6)),
    ):
        assert joined.rows == 16
        got_x, got_y = joined.arrays()
        order = np.argsort(got_x["a"])
        np.testing.assert_array_equal(np.asarray(got_x["a"])[order], np.arange(16))
        want_y = np.concatenate([np.arange(10) % 2, np.ones(6)])
        np.testing.assert_array_equal(np.asarray(got_y)[order], want_y)


def test_joined_arrays_of_images_and_mismatched_columns():
    joined = ArraySplit(np.zeros((3, 2, 2)), np.zeros(3)).joined(
        ArraySplit(np.ones((2, 2, 2)), np.ones(2))
    )
    assert joined.x.shape == (5, 2, 2) and joined.rows == 5
    with pytest.raises(
        ValueError, match=r"different columns: \['a', 'b'\] and \['a'\]"
    ):
        ArraySplit(_columns(3), np.zeros(3)).joined(
            ArraySplit({"a": np.zeros(2)}, np.zeros(2))
        )


def test_a_joined_stream_mixes_its_streams_batches():
    def stream(start, n):
        x = {"a": np.arange(start, start + n, dtype="float32")}
        y = np.zeros(n, dtype="int64")
        return StreamSplit(
            lambda: tf.data.Dataset.from_tensor_slices((x, y)).batch(10), n
        )

    joined = stream(0, 900).joined(stream(900, 100))
    rows = _epoch(joined.make())
    np.testing.assert_array_equal(np.sort(rows), np.arange(1000))
    # The second stream's batches are drawn among the first's, not last:
    # its 10 batches lie across the epoch's 100.
    second = np.flatnonzero(rows[::10] >= 900)
    assert len(second) == 10 and second[0] < 50 and second[-1] > 50
    # The same order every time (a seeded draw).
    np.testing.assert_array_equal(_epoch(joined.make()), rows)


def test_a_joined_cached_stream_trains_on_every_row_once_per_epoch():
    first, reads = _counted_stream(200)
    second, second_reads = _counted_stream(50)
    joined = first.joined(second)
    assert joined.rows == 250 and joined.cached()
    train = joined.training_data(None, 16, seed=3, distributed=False)
    epochs = [_epoch(train) for _ in range(2)]
    want = np.sort(np.concatenate([np.arange(200), np.arange(50)]))
    for rows in epochs:
        np.testing.assert_array_equal(np.sort(rows), want)
    assert not np.array_equal(epochs[0], epochs[1])
    # Both sources were read once, into the cache.
    assert int(reads.numpy()) == 200 and int(second_reads.numpy()) == 50


def test_baseline_data_joined_adds_the_validation_rows():
    from xent.stages import BaselineData

    data = BaselineData(
        np.zeros((3, 2)),
        np.zeros(3),
        np.ones((1, 2)),
        np.ones(1),
        np.full((2, 2), 5.0),
        np.full(2, 1),
    )
    joined = data.joined()
    np.testing.assert_array_equal(joined.x_train[3:], np.full((2, 2), 5.0))
    np.testing.assert_array_equal(joined.y_train, [0, 0, 0, 1, 1])
    assert joined.x_test is data.x_test and joined.x_validation is None
    # Without validation rows it has nothing to add.
    plain = BaselineData(np.zeros((3, 2)), np.zeros(3), np.ones((1, 2)), np.ones(1))
    assert plain.joined() is plain
