"""The probability head, and its deprecated alias `CrossEntropyEndpoint`
(training through add_loss, serialization, export)."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from xent import losses
from xent.layers import CrossEntropyEndpoint
from xent.layers import ProbabilityHead


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 5)).astype("float32")
    y = (x[:, :1] + 0.3 * rng.normal(size=(256, 1)) > 0).astype("float32")
    return x, y


def _models(loss):
    keras.utils.set_random_seed(3)
    features = keras.Input((5,), name="features")
    targets = keras.Input((1,), name="targets")
    logits = keras.layers.Dense(1, name="logits")(features)
    head = CrossEntropyEndpoint(loss, name="endpoint")
    train = keras.Model([features, targets], head(logits, targets))
    serve = keras.Model(features, head(logits))
    return train, serve


def test_endpoint_trains_like_compile_with_the_same_loss():
    x, y = _data()
    train, serve = _models(losses.BinaryCrossentropy(from_logits=True))
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    h1 = train.fit(
        {"features": x, "targets": y}, epochs=3, batch_size=32, shuffle=False, verbose=0
    ).history["loss"]

    keras.utils.set_random_seed(3)
    features = keras.Input((5,))
    reference = keras.Model(features, keras.layers.Dense(1)(features))
    reference.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    h2 = reference.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1, h2.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        serve.predict(x, verbose=0),
        1 / (1 + np.exp(-reference.predict(x, verbose=0))),
        rtol=1e-5,
    )


def test_endpoint_returns_probabilities_and_adds_loss_only_with_targets():
    head = CrossEntropyEndpoint(losses.CategoricalCrossentropy(from_logits=True))
    logits = np.array([[2.0, 0.0, -1.0]], "float32")
    probs = head(logits)
    np.testing.assert_allclose(np.sum(probs), 1.0, rtol=1e-6)
    assert head.losses == []
    head(logits, np.array([[1.0, 0.0, 0.0]], "float32"))
    expected = -np.log(np.exp(2) / (np.exp(2) + 1 + np.exp(-1)))
    assert float(head.losses[0]) == pytest.approx(expected, rel=1e-6)


def test_endpoint_sample_weight_scales_the_loss():
    head = CrossEntropyEndpoint(losses.BinaryCrossentropy(from_logits=True))
    logits, y = (
        np.array([[1.0], [-2.0]], "float32"),
        np.array([[0.0], [0.0]], "float32"),
    )
    head(logits, y)
    unweighted = float(head.losses[0])
    head(logits, y, sample_weight=np.array([0.0, 0.0], "float32"))
    assert unweighted > 0 and float(head.losses[0]) == 0.0


def test_endpoint_rejects_probability_losses_and_unknown_activations():
    with pytest.raises(ValueError, match="from_logits=True"):
        CrossEntropyEndpoint(losses.BinaryCrossentropy())
    with pytest.raises(ValueError, match="argument `activation`"):
        CrossEntropyEndpoint(activation="relu")
    with pytest.raises(ValueError, match="argument `loss`"):
        CrossEntropyEndpoint("binary_crossentropy")


def test_endpoint_model_saves_and_reloads(tmp_path):
    x, y = _data()
    loss = losses.BinaryFocalCrossentropy(from_logits=True, gamma=1.0)
    train, serve = _models(loss)
    train.compile(optimizer="adam")
    train.fit({"features": x, "targets": y}, epochs=1, verbose=0)
    train.save(tmp_path / "train.keras")
    restored = keras.saving.load_model(tmp_path / "train.keras")
    head = restored.get_layer("endpoint")
    assert isinstance(head.loss_fn, losses.BinaryFocalCrossentropy)
    assert head.loss_fn.get_config() == loss.get_config()
    inputs = {"features": x, "targets": y}
    np.testing.assert_allclose(
        restored.predict(inputs, verbose=0), train.predict(inputs, verbose=0)
    )


def test_serving_export_needs_no_targets_in_bare_tensorflow(tmp_path):
    x, y = _data()
    train, serve = _models(losses.BinaryCrossentropy(from_logits=True))
    train.compile(optimizer="adam")
    train.fit({"features": x, "targets": y}, epochs=1, verbose=0)
    serve.export(tmp_path / "export", verbose=False)
    np.save(tmp_path / "x.npy", x[:8])
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "export")!r})
        fn = loaded.signatures["serving_default"]
        assert list(fn.structured_input_signature[1]) == ["features"]
        out = fn(features=tf.constant(np.load({str(tmp_path / "x.npy")!r})))
        np.save({str(tmp_path / "out.npy")!r}, list(out.values())[0].numpy())
        assert "xent" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), serve.predict(x[:8], verbose=0), rtol=1e-6
    )


# ---------------------------------------------------------------------------
# ProbabilityHead: what the exported serving models end with.
# ---------------------------------------------------------------------------
def test_probability_head_is_sigmoid_or_softmax_in_float32():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], "float32")
    sigmoid = ProbabilityHead("sigmoid")(logits.astype("float16"))
    assert keras.backend.standardize_dtype(sigmoid.dtype) == "float32"
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-logits)), rtol=1e-3)
    exp = np.exp(logits.astype("float64"))
    np.testing.assert_allclose(
        ProbabilityHead("softmax")(logits), exp / exp.sum(1, keepdims=True), rtol=1e-6
    )
    np.testing.assert_allclose(
        ProbabilityHead("softmax", axis=0)(logits),
        exp / exp.sum(0, keepdims=True),
        rtol=1e-6,
    )


def test_probability_head_for_loss_matches_the_endpoint():
    for loss in (
        losses.BinaryCrossentropy(from_logits=True),
        losses.BinaryFocalCrossentropy(from_logits=True),
        losses.CategoricalCrossentropy(from_logits=True, axis=-1),
        losses.SparseCategoricalCrossentropy(from_logits=True),
    ):
        logits = np.array([[0.3, -1.2], [2.0, 0.1]], "float32")
        head = ProbabilityHead.for_loss(loss, name="probabilities")
        assert head.name == "probabilities"
        np.testing.assert_allclose(
            head(logits), CrossEntropyEndpoint(loss)(logits), rtol=1e-6
        )


def test_probability_head_config_round_trip(tmp_path):
    head = ProbabilityHead("softmax", axis=1, name="probabilities")
    clone = ProbabilityHead.from_config(head.get_config())
    assert (clone.activation, clone.axis, clone.name) == ("softmax", 1, "probabilities")
    features = keras.Input((3,), name="features")
    model = keras.Model(features, head(keras.layers.Dense(3)(features)))
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(restored.get_layer("probabilities"), ProbabilityHead)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_probability_head_rejects_unknown_activations():
    with pytest.raises(ValueError, match="argument `activation`"):
        ProbabilityHead("relu")


def test_endpoint_is_a_deprecated_alias_under_its_old_name():
    with pytest.warns(DeprecationWarning, match="ProbabilityHead"):
        CrossEntropyEndpoint()
    registered = keras.saving.get_registered_object("xent>CrossEntropyEndpoint")
    assert registered is CrossEntropyEndpoint
