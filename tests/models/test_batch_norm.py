"""Tests of `xent.models.batch_norm` and of batch norm in the CTR models."""

import keras
import numpy as np
import pytest

from xent.ctr.specs import SparseFeat
from xent.models.batch_norm import WarmupBatchNormalization
from xent.models.batch_norm import warmup_momentum
from xent.models.ctr import CTRModelConfig
from xent.models.ctr import build_ctr_model


def test_warmup_momentum_schedule():
    t = np.array([0.0, 1.0, 10.0, 890.0, 1e6])
    expected = np.minimum(0.99, (1 + t) / (10 + t))
    got = [float(warmup_momentum(0.99, v)) for v in t]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_layer_matches_keras_batch_norm_except_the_momentum():
    rng = np.random.default_rng(0)
    x = rng.normal(loc=2.0, scale=3.0, size=(64, 5)).astype("float32")
    ours = WarmupBatchNormalization()
    theirs = keras.layers.BatchNormalization()
    # Same outputs in training (batch moments) and from the same statistics.
    np.testing.assert_allclose(
        ours(x, training=True), theirs(x, training=True), rtol=1e-4, atol=1e-4
    )
    # First update: momentum 0.1, not 0.99.
    np.testing.assert_allclose(ours.moving_mean, 0.1 * 0.0 + 0.9 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(
        ours.moving_variance, 0.1 * 1.0 + 0.9 * x.var(0), rtol=1e-5
    )
    assert float(ours.num_updates) == 1.0
    theirs.moving_mean.assign(ours.moving_mean)
    theirs.moving_variance.assign(ours.moving_variance)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    assert float(ours.num_updates) == 1.0  # Inference does not count.


def test_layer_config_round_trip():
    layer = WarmupBatchNormalization(momentum=0.9, epsilon=1e-4, name="bn")
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(clone) is WarmupBatchNormalization
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="renorm"):
        WarmupBatchNormalization(renorm=True)


def test_short_run_batch_norm_statistics_match_the_data():
    """After ~30 steps the moving statistics are those of the trained DNN.

    With Keras' fixed momentum 0.99 the initial variance 1 keeps a weight
    0.99**32 = 0.72, about 100x the variance of the pre-activations of a
    DNN on small embeddings, and eval-mode predictions lose calibration.
    """
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 4096
    a, b = rng.integers(0, 50, n), rng.integers(0, 30, n)
    logit = rng.normal(size=50)[a] + rng.normal(size=30)[b] - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32")
    x = {"a": a, "b": b}
    specs = [SparseFeat("a", 50, 8), SparseFeat("b", 30, 8)]
    config = CTRModelConfig(kind="deepfm", hidden=(16,), batch_norm=True)
    base = float(np.log(y.mean() / (1 - y.mean())))
    model = build_ctr_model(specs, config, output_bias=base)
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.BinaryCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=512, epochs=4, verbose=0)  # 32 steps.
    pre = keras.Model(model.inputs, model.get_layer("dnn_dense_0").output)
    pre = np.asarray(pre.predict(x, verbose=0, batch_size=n), "float64")
    bn = model.get_layer("dnn_bn_0")
    ratio = np.asarray(bn.moving_variance) / pre.var(0)
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio
    prob = 1 / (1 + np.exp(-model.predict(x, verbose=0, batch_size=n)[:, 0]))
    assert abs(prob.mean() - y.mean()) < 0.02
