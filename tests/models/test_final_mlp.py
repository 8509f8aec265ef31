"""Tests of `xent.models.final_mlp` and the `finalmlp` kind of the CTR builder."""

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from xent.ctr.specs import DenseFeat
from xent.ctr.specs import SparseFeat
from xent.models.ctr import CTRModelConfig
from xent.models.ctr import build_ctr_model
from xent.models.final_mlp import FeatureSelection
from xent.models.final_mlp import InteractionAggregation

_TINY = {
    "kind": "finalmlp",
    "mlp1_hidden": (8,),
    "mlp2_hidden": (6, 4),
    "fs_hidden": (4,),
    "num_heads": 2,
    "l2_embedding": 0.0,
}


def _specs():
    return [
        SparseFeat("user", vocabulary_size=20, embedding_dim=4),
        SparseFeat("item", vocabulary_size=15, embedding_dim=4),
        DenseFeat("x", dimension=2),
    ]


def _inputs(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "user": rng.integers(0, 20, size=n),
        "item": rng.integers(0, 15, size=n),
        "x": rng.normal(size=(n, 2)).astype("float32"),
    }


def _randomize(model, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def test_bilinear_fusion_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6)).astype("float32")
    y = rng.normal(size=(5, 9)).astype("float32")
    layer = InteractionAggregation(num_heads=3)
    layer([x, y])
    _randomize(layer)
    w_x, w_y, w_xy, b = (np.asarray(w, "float64") for w in layer.weights)
    expected = x @ w_x + y @ w_y + b
    for h in range(3):
        xh = x[:, 2 * h : 2 * h + 2].astype("float64")
        yh = y[:, 3 * h : 3 * h + 3].astype("float64")
        expected += np.einsum("bi,ij,bj->b", xh, w_xy[h], yh)[:, None]
    np.testing.assert_allclose(layer([x, y]), expected, rtol=1e-5, atol=1e-5)


def test_interaction_aggregation_rejects_indivisible_width():
    with pytest.raises(ValueError, match="num_heads"):
        InteractionAggregation(num_heads=4)([np.ones((2, 6)), np.ones((2, 8))])


@pytest.mark.parametrize("with_context", [False, True])
def test_feature_selection_gate_range_and_shape(with_context):
    rng = np.random.default_rng(1)
    e = rng.normal(size=(7, 10)).astype("float32")
    c = rng.normal(size=(7, 3)).astype("float32")
    inputs = [e, c] if with_context else e
    layer = FeatureSelection(hidden=(5,), context_dim=3)
    assert layer(inputs).shape == (7, 10)
    if not with_context:  # The learned context starts at 0: the gate at 1.
        np.testing.assert_allclose(layer.gate(inputs), 1.0)
    _randomize(layer, scale=3.0)  # Saturates the sigmoid on some elements.
    gate = np.asarray(layer.gate(inputs))
    assert gate.min() >= 0.0 and gate.max() <= 2.0
    assert gate.min() < 0.2 and gate.max() > 1.8
    np.testing.assert_allclose(layer(inputs), e * gate, rtol=1e-5, atol=1e-6)
    if not with_context:  # A learned context: the same gate for every row.
        np.testing.assert_allclose(
            gate, np.broadcast_to(gate[:1], gate.shape), rtol=1e-5, atol=1e-6
        )


def test_layers_config_round_trip():
    for layer in (
        InteractionAggregation(
            num_heads=2,
            bias_initializer=keras.initializers.Constant(-1.5),
            kernel_regularizer=keras.regularizers.L2(1e-3),
        ),
        FeatureSelection(
            hidden=(4, 3), context_dim=5, kernel_regularizer=keras.regularizers.L2(0.1)
        ),
    ):
        config = keras.saving.serialize_keras_object(layer)
        clone = keras.saving.deserialize_keras_object(config)
        assert type(clone) is type(layer)
        assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "changes",
    [{}, {"fs1_context": ("user",), "fs2_context": ("item", "user")}],
)
def test_finalmlp_shapes_and_save_load(tmp_path, changes):
    config = CTRModelConfig(**_TINY, batch_norm=True, dropout=0.1, **changes)
    model = build_ctr_model(_specs(), config, output_bias=-1.0)
    x = _inputs()
    out = model(x)
    assert out.shape == (32, 1)
    np.testing.assert_allclose(out, -1.0, atol=1e-6)  # Starts at the bias.
    _randomize(model)
    expected = np.asarray(model.predict(x, verbose=0))
    path = tmp_path / "finalmlp.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5)


def test_finalmlp_config_checks():
    with pytest.raises(ValueError, match="num_heads"):
        CTRModelConfig(**{**_TINY, "num_heads": 3})
    config = CTRModelConfig(**{**_TINY, "mlp1_hidden": [8], "fs1_context": ["u"]})
    assert config.mlp1_hidden == (8,) and config.fs1_context == ("u",)
    with pytest.raises(ValueError, match="fs1_context"):
        build_ctr_model(_specs(), config)


def test_finalmlp_learns_a_pairwise_rule():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 4000
    user = rng.integers(0, 20, size=n)
    item = rng.integers(0, 15, size=n)
    # Clicks when user and item share parity: a pure interaction.
    p = np.where((user % 2) == (item % 2), 0.8, 0.2)
    y = (rng.random(n) < p).astype("float32")
    x = {"user": user, "item": item, "x": np.zeros((n, 2), "float32")}
    config = CTRModelConfig(**{**_TINY, "mlp1_hidden": (16,), "mlp2_hidden": (8,)})
    model = build_ctr_model(_specs(), config)
    model.compile(
        keras.optimizers.Adam(0.02), keras.losses.BinaryCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=256, epochs=4, verbose=0)
    auc = roc_auc_score(y, model.predict(x, verbose=0, batch_size=4000)[:, 0])
    assert auc > 0.75  # The Bayes AUC of this rule is 0.80.
