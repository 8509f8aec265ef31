"""Tests of `xent._compat`: each private Keras/TensorFlow name it relies on.

A failure here means a pinned library changed under `xent._compat`: re-check
that module, function by function, against the new sources, then update the
pinned versions in it and here.
"""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent import _compat

RECHECK = "the pinned library changed: re-check xent/_compat.py against it"


def _parameters(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_versions_are_the_ones_compat_was_checked_against():
    assert keras.__version__ == _compat.KERAS_VERSION == "3.15.1", RECHECK
    assert tf.__version__ == _compat.TENSORFLOW_VERSION == "2.21.0", RECHECK


def test_set_keras_mask_sets_the_mask_keras_reads():
    from keras.src.backend import get_keras_mask

    values = tf.constant([1.0, 2.0])
    mask = tf.constant([True, False])
    _compat.set_keras_mask(values, mask)
    mine = get_keras_mask(values)
    assert mine is not None, RECHECK
    np.testing.assert_array_equal(mine, [True, False])


def test_keras_logits_of_a_sigmoid_and_softmax_output():
    x = keras.ops.convert_to_tensor([[0.5, -1.0]])
    assert _compat.keras_logits(x) is None
    for activation in (keras.activations.sigmoid, keras.activations.softmax):
        logits = _compat.keras_logits(activation(x))
        assert logits is not None, RECHECK
        np.testing.assert_array_equal(logits, x)


def test_is_graph_tensor():
    assert hasattr(tf.__internal__, "EagerTensor"), RECHECK
    assert not _compat.is_graph_tensor(tf.constant(1.0))
    assert not _compat.is_graph_tensor(tf.Variable(1.0))
    seen = []

    @tf.function
    def f(x):
        seen.append(_compat.is_graph_tensor(tf.sigmoid(x)))
        return x

    f(tf.constant(1.0))
    assert seen == [True]


def test_the_average_hook_replaces_keras_update():
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    assert "_update_model_variables_moving_average" in vars(BaseOptimizer), RECHECK
    assert _parameters(BaseOptimizer._update_model_variables_moving_average) == [
        "self",
        "trainable_variables",
    ], RECHECK
    calls = []

    class Recording(_compat.AveragingHookAdam):
        def update_average(self, trainable_variables, averages):
            calls.append((list(trainable_variables), list(averages)))

    var = keras.Variable([1.0, 2.0])
    optimizer = Recording(0.1, use_ema=True, ema_momentum=0.9)
    optimizer.apply([keras.ops.ones((2,))], [var])
    assert len(calls) == 1, RECHECK
    ((variables, averages),) = calls
    assert variables[0] is var and len(averages) == 1
    assert averages[0] is optimizer._model_variables_moving_average[0], RECHECK


def test_the_default_hook_is_keras_average():
    mine = _compat.AveragingHookAdam(0.1, use_ema=True, ema_momentum=0.5)
    theirs = keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5)
    results = []
    for optimizer in (mine, theirs):
        var = keras.Variable([1.0, 2.0])
        for _ in range(3):
            optimizer.apply([keras.ops.ones((2,))], [var])
        results.append(np.asarray(optimizer._model_variables_moving_average[0]))
    np.testing.assert_allclose(results[0], results[1])


def test_reset_train_function_makes_fit_rebuild_it():
    fit_source = inspect.getsource(type(keras.Model()).make_train_function)
    assert "self.train_function is not None and not force" in fit_source, RECHECK
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    first = model.train_function
    assert first is not None
    _compat.reset_train_function(model)
    assert model.train_function is None
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    assert model.train_function is not None and model.train_function is not first


def test_symbolic_build_methods_exist_with_their_signature():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert _parameters(model._maybe_symbolic_build) == [
        "iterator",
        "data_batch",
    ], RECHECK
    assert _parameters(model._symbolic_build) == ["iterator", "data_batch"], RECHECK
    built = []

    def build(self, iterator=None, data_batch=None):
        # As `xent.distribute` reads it: `(begin, end, batches)` per epoch.
        for _, _, batches in iterator:
            data_batch = next(batches)
            break
        built.append(self)
        _compat.symbolic_build(self, data_batch)

    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    _compat.replace_symbolic_build(model, build)
    assert "_maybe_symbolic_build" in vars(model)
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    assert built == [model], RECHECK
    assert model.optimizer.built


def test_ema_weights_in_model_flag_round_trips():
    callback = keras.callbacks.SwapEMAWeights()
    assert hasattr(callback, "_ema_weights_in_model"), RECHECK
    assert _compat.ema_weights_in_model(callback) is False
    _compat.set_ema_weights_in_model(callback, True)
    assert _compat.ema_weights_in_model(callback) is True


def test_flat_call_of_a_restored_signature(tmp_path):
    module = tf.Module()
    module.w = tf.Variable([2.0])
    module.f = tf.function(
        lambda x: {"y": x * module.w},
        input_signature=[tf.TensorSpec([None], tf.float32, name="x")],
    )
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})
    fn = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    call_flat = _compat.flat_call(fn)
    assert call_flat is not None, RECHECK
    assert _parameters(call_flat)[:2] == ["args", "captured_inputs"], RECHECK
    outputs = call_flat([tf.constant([1.5])], fn.captured_inputs)
    if not isinstance(outputs, dict):
        outputs = tf.nest.pack_sequence_as(
            fn.structured_outputs, outputs, expand_composites=True
        )
    np.testing.assert_array_equal(outputs["y"], [3.0])
    assert _compat.flat_call(object()) is None


@pytest.mark.parametrize(
    "name", [n for n in _compat.__all__ if not n.endswith("_VERSION")]
)
def test_every_compat_name_says_why_upstream_and_checked(name):
    doc = inspect.getdoc(getattr(_compat, name))
    if "as `ema_weights_in_model`" not in doc:
        assert {"Private", "Why", "Upstream", "Checked"} <= set(doc.split()) or all(
            word in doc for word in ("Private:", "Why", "Upstream:", "Checked:")
        )


def test_all_layers_reaches_nested_models_and_attribute_sublayers():
    import keras

    from xent._compat import all_layers

    class Holder(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = keras.layers.Dense(2, name="inner")

        def call(self, x):
            return self.inner(x)

    inner_model = keras.Sequential([keras.Input((3,)), Holder()], name="nested")
    outer = keras.Sequential([keras.Input((3,)), inner_model], name="outer")
    names = [layer.name for layer in all_layers(outer)]
    assert names[0] == "outer" and "nested" in names and "inner" in names


def test_adam_moments_are_the_slots_adam_updates():
    variable = keras.Variable(np.zeros((3, 2), "float32"))
    optimizer = keras.optimizers.Adam(0.1, beta_1=0.9, beta_2=0.99)
    gradient = np.arange(6, dtype="float32").reshape(3, 2)
    optimizer.apply([tf.constant(gradient)], [variable])
    m, v = _compat.adam_moments(optimizer, variable)
    np.testing.assert_allclose(np.asarray(m), 0.1 * gradient, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(v), 0.01 * gradient**2, rtol=1e-5)
