"""Tests of `xent.models.ctr`."""

import dataclasses

import keras
import keras_rs
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from xent.ctr.specs import DenseFeat
from xent.ctr.specs import SparseFeat
from xent.ctr.specs import VarLenSparseFeat
from xent.losses import BinaryCrossentropy
from xent.losses import binary_crossentropy
from xent.models.ctr import CTRModelConfig
from xent.models.ctr import FieldEmbedding
from xent.models.ctr import FMInteraction
from xent.models.ctr import FusedEmbedding
from xent.models.ctr import LogitSum
from xent.models.ctr import build_ctr_model

KINDS = ("lr", "fm", "deepfm", "dcnv2")
# Tiny networks keep the tests fast.
_TINY = {"hidden": (8, 4), "cross_layers": 2, "l2_embedding": 0.0}
# One config per model variant (both DCN structures, low rank, BN, dropout).
VARIANTS = {
    "lr": CTRModelConfig(kind="lr", **_TINY),
    "fm": CTRModelConfig(kind="fm", **_TINY),
    "deepfm": CTRModelConfig(kind="deepfm", batch_norm=True, dropout=0.2, **_TINY),
    "dcnv2_stacked": CTRModelConfig(kind="dcnv2", **_TINY),
    "dcnv2_parallel": CTRModelConfig(
        kind="dcnv2",
        dcn_structure="parallel",
        cross_projection_dim=3,
        batch_norm=True,
        **_TINY,
    ),
}


def _config(kind, **changes):
    return CTRModelConfig(kind=kind, **{**_TINY, **changes})


def _specs(max_len=3):
    return [
        SparseFeat("a", vocabulary_size=10, embedding_dim=4),
        SparseFeat("b", vocabulary_size=12, embedding_dim=4),
        VarLenSparseFeat("g", vocabulary_size=7, max_len=max_len, embedding_dim=4),
        VarLenSparseFeat(
            "h", vocabulary_size=5, max_len=2, embedding_dim=4, combiner="sum"
        ),
        DenseFeat("x", dimension=2),
        DenseFeat("z"),
    ]


def _inputs(n=16, seed=0, max_len=3):
    """Inputs for `_specs()`; varlen rows keep their values first."""
    rng = np.random.default_rng(seed)
    g = rng.integers(1, 7, size=(n, max_len))
    lengths = rng.integers(0, max_len + 1, size=n)  # Some rows are all padding.
    g[np.arange(max_len) >= lengths[:, None]] = 0
    h = rng.integers(1, 5, size=(n, 2))
    h[rng.random((n, 2)) < 0.3] = 0
    return {
        "a": rng.integers(0, 10, size=n),
        "b": rng.integers(0, 12, size=n),
        "g": g,
        "h": h,
        "x": rng.normal(size=(n, 2)).astype("float32"),
        "z": rng.normal(size=(n, 1)).astype("float32"),
    }


def _randomize(model, seed=0, scale=0.5):
    """Gives every trainable weight random values (some start at zero)."""
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def _predict(model, inputs):
    return np.asarray(model(inputs, training=False), dtype=np.float64)


# --------------------------------------------------------------------------
# Independent NumPy references (float64).
# --------------------------------------------------------------------------
def _table(model, name):
    """The table `{prefix}_{field}`: its own layer's, or its rows of the fused
    `{prefix}_fields` table (at the field's offset there)."""
    if any(layer.name == name for layer in model.layers):
        return np.asarray(model.get_layer(name).embeddings, dtype=np.float64)
    prefix, field = name.rsplit("_", 1)
    for layer in model.layers:
        if isinstance(layer, FusedEmbedding) and layer.name.startswith(
            f"{prefix}_fields"
        ):
            fields = [t.name for t in _layer_inputs(layer)]
            if field in fields:
                f = fields.index(field)
                start = layer.offsets[f]
                end = start + layer.vocabulary_sizes[f]
                table = np.asarray(layer.embeddings, dtype=np.float64)
                return table[start:end]
    raise KeyError(name)


def _layer_inputs(layer):
    """A layer's symbolic inputs as a list (Keras unwraps a list of one)."""
    return layer.input if isinstance(layer.input, list) else [layer.input]


def _embedding_layers(model):
    return [
        layer
        for layer in model.layers
        if isinstance(layer, (FieldEmbedding, FusedEmbedding))
    ]


def _pooled_rows(table, ids, combiner):
    """Per-example embedding of a field, by explicit loops."""
    out = np.zeros((len(ids), table.shape[1]))
    for i, row in enumerate(ids):
        if combiner is None:
            out[i] = table[row]
            continue
        values = [v for v in row if v != 0]
        for v in values:
            out[i] += table[v]
        if combiner == "mean" and values:
            out[i] /= len(values)
    return out


def _design_matrix(specs, inputs):
    """One-hot (multi-hot for varlen, averaged for `mean`) design matrix."""
    blocks = []
    for spec in specs:
        ids = inputs[spec.name]
        if isinstance(spec, DenseFeat):
            blocks.append(ids.astype(np.float64))
            continue
        block = np.zeros((len(ids), spec.vocabulary_size))
        if isinstance(spec, SparseFeat):
            block[np.arange(len(ids)), ids] = 1.0
        else:
            for i, row in enumerate(ids):
                values = [v for v in row if v != 0]
                for v in values:
                    block[i, v] += 1.0
                if spec.combiner == "mean" and values:
                    block[i] /= len(values)
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


def _reference_linear_logit(model, specs, inputs):
    """Logistic regression on the design matrix with the model's weights."""
    weights = [
        _table(model, f"linear_{s.name}")[:, 0]
        for s in specs
        if not isinstance(s, DenseFeat)
    ]
    weights.append(np.asarray(model.get_layer("linear_dense").kernel)[:, 0])
    # The design matrix lists fields in spec order; put the dense columns last.
    categorical = [s for s in specs if not isinstance(s, DenseFeat)]
    dense = [s for s in specs if isinstance(s, DenseFeat)]
    x = _design_matrix(categorical + dense, inputs)
    bias = float(np.asarray(model.get_layer("logits").bias)[0])
    return x @ np.concatenate(weights) + bias


def _reference_pairwise(vectors):
    """`sum_{i<j} <v_i, v_j>` by a double loop; `vectors` is `[fields][n, k]`."""
    total = np.zeros(len(vectors[0]))
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            total += np.sum(vectors[i] * vectors[j], axis=1)
    return total


# --------------------------------------------------------------------------
# Shapes and structure.
# --------------------------------------------------------------------------
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_kind_outputs_logits(variant):
    model = build_ctr_model(_specs(), VARIANTS[variant], output_bias=3.0)
    assert model.output_shape == (None, 1)
    out = model.predict(_inputs(n=5), verbose=0)
    assert out.shape == (5, 1)
    # At init the output is the bias: a logit, not a probability.
    assert np.all(out > 2.9)


def test_inputs_are_named_after_specs_with_their_dtypes():
    model = build_ctr_model(_specs(max_len=6), VARIANTS["deepfm"])
    inputs = {t.name: t for t in model.inputs}
    assert sorted(inputs) == ["a", "b", "g", "h", "x", "z"]
    assert inputs["a"].shape == (None,)
    assert inputs["g"].shape == (None, 6)
    assert inputs["x"].shape == (None, 2)
    assert {inputs[k].dtype for k in "abgh"} == {"int64"}
    assert {inputs[k].dtype for k in "xz"} == {"float32"}


@pytest.mark.parametrize("kind", KINDS)
def test_output_bias_starts_the_model_at_the_base_rate(kind):
    base_logit = float(np.log(0.03 / 0.97))
    model = build_ctr_model(_specs(), _config(kind), output_bias=base_logit)
    out = _predict(model, _inputs())
    # First-order weights and the last projections start at zero; the FM term
    # of small random factors is about 1e-4.
    np.testing.assert_allclose(out, base_logit, atol=1e-2)
    if kind in ("lr", "dcnv2"):
        np.testing.assert_allclose(out, base_logit, rtol=1e-6)
    unbiased = build_ctr_model(_specs(), _config(kind))
    np.testing.assert_allclose(_predict(unbiased, _inputs()), 0.0, atol=1e-2)


def test_model_name_defaults_to_kind():
    assert build_ctr_model(_specs(), VARIANTS["fm"]).name == "fm"
    assert build_ctr_model(_specs(), VARIANTS["fm"], name="ctr").name == "ctr"


@pytest.mark.parametrize("fused", [True, False])
def test_deepfm_shares_field_embeddings_between_fm_and_dnn(fused):
    config = dataclasses.replace(VARIANTS["deepfm"], fused_embeddings=fused)
    model = build_ctr_model(_specs(), config)
    names = [layer.name for layer in _embedding_layers(model)]
    # One factor and one first-order table per categorical field, or per
    # block of single-valued fields (a, b), no more.
    own = "gh" if fused else "abgh"
    blocks = ["embedding_fields", "linear_fields"] if fused else []
    assert sorted(names) == sorted(
        blocks + [f"embedding_{f}" for f in own] + [f"linear_{f}" for f in own]
    )
    factor_layers = [f"embedding_{f}" for f in own] + blocks[:1]
    factors = {id(model.get_layer(n).output) for n in factor_layers}
    assert {id(t) for t in model.get_layer("fm").input} == factors
    # The DNN reads the same factors (a block through its Flatten) and dense.
    x0 = [model.get_layer("x0_flat_0").input] if fused else []
    dnn_inputs = {id(t) for t in model.get_layer("x0").input + x0}
    assert factors < dnn_inputs


_ALL_VARIANTS = {
    **VARIANTS,
    "finalmlp": CTRModelConfig(
        kind="finalmlp",
        mlp1_hidden=(8,),
        mlp2_hidden=(4,),
        fs_hidden=(6,),
        num_heads=2,
        fs1_context=("a", "g"),
        fs2_context=("b",),
        **{k: v for k, v in _TINY.items() if k != "hidden"},
    ),
}


@pytest.mark.parametrize("l2_mode", ["rows", "table"])
@pytest.mark.parametrize("variant", sorted(_ALL_VARIANTS))
def test_fused_embeddings_equal_one_table_per_field(variant, l2_mode):
    """The fused model with the per-field tables stacked is the same model:
    same logits, same L2 penalty, same gradients of the tables."""
    config = dataclasses.replace(
        _ALL_VARIANTS[variant], l2_embedding=0.1, l2_embedding_mode=l2_mode
    )
    specs = _specs()
    per_field = build_ctr_model(
        specs, dataclasses.replace(config, fused_embeddings=False)
    )
    fused = build_ctr_model(specs, config)
    assert any(isinstance(la, FusedEmbedding) for la in fused.layers)
    assert not any(isinstance(la, FusedEmbedding) for la in per_field.layers)
    _randomize(per_field)
    for layer in fused.layers:
        if isinstance(layer, FusedEmbedding):
            prefix = layer.name[: -len("_fields")]
            tables = [
                per_field.get_layer(f"{prefix}_{t.name}").embeddings
                for t in _layer_inputs(layer)
            ]
            layer.embeddings.assign(np.concatenate(tables))
        elif layer.weights:
            layer.set_weights(per_field.get_layer(layer.name).get_weights())
    inputs = _inputs(n=16)
    np.testing.assert_allclose(
        _predict(fused, inputs), _predict(per_field, inputs), rtol=1e-5, atol=1e-6
    )
    fused(inputs)
    per_field(inputs)
    np.testing.assert_allclose(
        float(sum(fused.losses)), float(sum(per_field.losses)), rtol=1e-5
    )
    # The gradient of field b's rows, from the fused table's slice.
    import tensorflow as tf

    def table_gradient(model, name):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(inputs)) + tf.add_n(model.losses)
        layer = model.get_layer(name)
        grad = tape.gradient(loss, layer.embeddings)
        return np.asarray(tf.convert_to_tensor(grad))

    prefix = "linear" if variant == "lr" else "embedding"
    grad = table_gradient(fused, f"{prefix}_fields")
    b = fused.get_layer(f"{prefix}_fields")
    rows = grad[b.offsets[1] : b.offsets[1] + 12]
    np.testing.assert_allclose(
        rows, table_gradient(per_field, f"{prefix}_b"), rtol=1e-4, atol=1e-6
    )


def test_fused_embedding_groups_fields_by_width():
    specs = [
        SparseFeat("a", 10, 4),
        SparseFeat("b", 12, 8),
        SparseFeat("c", 5, 4),
        DenseFeat("x"),
    ]
    model = build_ctr_model(specs, CTRModelConfig(kind="dcnv2", **_TINY))
    blocks = {la.name: la for la in model.layers if isinstance(la, FusedEmbedding)}
    assert sorted(blocks) == ["embedding_fields_4", "embedding_fields_8"]
    assert blocks["embedding_fields_4"].vocabulary_sizes == (10, 5)
    assert blocks["embedding_fields_4"].offsets == [0, 10]
    assert model.get_layer("x0").output.shape == (None, 4 + 4 + 8 + 1)


def test_fused_embedding_checks_its_arguments():
    with pytest.raises(ValueError, match="argument `vocabulary_sizes`"):
        FusedEmbedding([], 4)
    with pytest.raises(ValueError, match="vocabulary_sizes"):
        FusedEmbedding([3, 0], 4)
    with pytest.raises(ValueError, match="argument `l2_mode`"):
        FusedEmbedding([3], 4, l2_mode="batch")
    layer = FusedEmbedding([3, 4], 2, name="e")
    with pytest.raises(ValueError, match="embeds 2 fields; it was called with 1"):
        layer([np.array([1])])


@pytest.mark.parametrize("structure", ["stacked", "parallel"])
@pytest.mark.parametrize("projection_dim", [None, 3])
def test_dcnv2_uses_keras_rs_feature_cross(structure, projection_dim):
    config = dataclasses.replace(
        VARIANTS["dcnv2_stacked"],
        cross_layers=3,
        cross_projection_dim=projection_dim,
        dcn_structure=structure,
    )
    model = build_ctr_model(_specs(), config)
    crosses = [
        la for la in model.layers if isinstance(la, keras_rs.layers.FeatureCross)
    ]
    assert len(crosses) == 3
    assert all(la.projection_dim == projection_dim for la in crosses)
    x0_dim = 4 * 4 + 2 + 1  # Four 4-wide field embeddings, then 3 dense columns.
    assert all(la.output.shape == (None, x0_dim) for la in crosses)
    if projection_dim is not None:
        assert crosses[0].down_proj_dense.kernel.shape == (x0_dim, projection_dim)
    # Stacked: the DNN sits on the cross network; parallel: both feed the logit.
    logits_in = model.get_layer("logits").kernel.shape[0]
    assert logits_in == (4 if structure == "stacked" else x0_dim + 4)
    assert model.predict(_inputs(n=3), verbose=0).shape == (3, 1)


def test_dcnv2_accepts_fields_of_different_widths():
    specs = [SparseFeat("a", 10, 2), SparseFeat("b", 12, 5), DenseFeat("x", 3)]
    model = build_ctr_model(specs, VARIANTS["dcnv2_stacked"])
    assert model.get_layer("cross_0").output.shape == (None, 2 + 5 + 3)


def test_dense_only_lr_and_dcnv2():
    specs = [DenseFeat("x", 2), DenseFeat("z")]
    inputs = {k: v for k, v in _inputs(n=4).items() if k in "xz"}
    for kind in ("lr", "dcnv2"):
        model = build_ctr_model(specs, _config(kind))
        assert model.predict(inputs, verbose=0).shape == (4, 1)


# --------------------------------------------------------------------------
# Values against NumPy.
# --------------------------------------------------------------------------
def test_lr_equals_numpy_logistic_regression():
    specs = _specs()
    model = build_ctr_model(specs, VARIANTS["lr"])
    _randomize(model)
    inputs = _inputs(n=32)
    expected = _reference_linear_logit(model, specs, inputs)
    np.testing.assert_allclose(_predict(model, inputs)[:, 0], expected, atol=1e-5)


def test_fm_interaction_equals_pairwise_dot_products():
    rng = np.random.default_rng(1)
    vectors = [rng.normal(size=(6, 5)) for _ in range(4)]
    out = FMInteraction()([v.astype("float32") for v in vectors])
    assert out.shape == (6, 1)
    np.testing.assert_allclose(
        np.asarray(out)[:, 0], _reference_pairwise(vectors), rtol=1e-5, atol=1e-5
    )


def test_fm_model_equals_numpy_fm():
    specs = _specs()
    model = build_ctr_model(specs, VARIANTS["fm"])
    _randomize(model)
    inputs = _inputs(n=32)
    categorical = [s for s in specs if not isinstance(s, DenseFeat)]
    vectors = [
        _pooled_rows(
            _table(model, f"embedding_{s.name}"),
            inputs[s.name],
            getattr(s, "combiner", None),
        )
        for s in categorical
    ]
    expected = _reference_linear_logit(model, specs, inputs) + _reference_pairwise(
        vectors
    )
    np.testing.assert_allclose(_predict(model, inputs)[:, 0], expected, atol=1e-4)


@pytest.mark.parametrize("combiner", ["mean", "sum"])
def test_field_embedding_pools_without_padding(combiner):
    layer = FieldEmbedding(
        7, 3, combiner=combiner, embeddings_initializer="random_normal"
    )
    ids = np.array([[3, 5, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0], [1, 2, 3, 4]])
    out = np.asarray(layer(ids))
    table = np.asarray(layer.embeddings, dtype=np.float64)
    np.testing.assert_allclose(
        out, _pooled_rows(table, ids, combiner), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(out[2], 0.0)  # An all-padding row.


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_padding_is_ignored(variant):
    """Appending or moving padding leaves the output unchanged."""
    short = build_ctr_model(_specs(max_len=3), VARIANTS[variant])
    _randomize(short)
    long = build_ctr_model(_specs(max_len=6), VARIANTS[variant])
    long.set_weights(short.get_weights())  # Weights do not depend on max_len.
    inputs = _inputs(n=16, max_len=3)
    padded = dict(inputs, g=np.pad(inputs["g"], ((0, 0), (0, 3))))
    # Padding moved between the values.
    shuffled = dict(inputs, g=np.random.default_rng(2).permuted(inputs["g"], axis=1))
    expected = _predict(short, inputs)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(_predict(long, padded), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        _predict(short, shuffled), expected, rtol=1e-5, atol=1e-6
    )
    # The padding rows of the tables are never read.
    for layer in short.layers:
        if isinstance(layer, FieldEmbedding) and layer.name.endswith("_g"):
            layer.embeddings[0].assign(np.full(layer.output_dim, 100.0, "float32"))
    np.testing.assert_allclose(_predict(short, inputs), expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# L2 on the looked-up embedding rows.
# --------------------------------------------------------------------------
def _expected_embedding_l2(model, specs, inputs, l2):
    total = 0.0
    n = len(inputs["a"])
    for spec in specs:
        if isinstance(spec, DenseFeat):
            continue
        for prefix in ("embedding", "linear"):
            table = _table(model, f"{prefix}_{spec.name}")
            ids = np.asarray(inputs[spec.name]).ravel()
            if isinstance(spec, VarLenSparseFeat):
                ids = ids[ids != 0]
            total += np.sum(table[ids] ** 2)
    return l2 * total / n


def test_l2_embedding_is_on_looked_up_rows_only():
    specs = _specs()
    config = dataclasses.replace(
        VARIANTS["fm"], l2_embedding=0.1, fused_embeddings=False
    )
    model = build_ctr_model(specs, config)
    _randomize(model)
    inputs = _inputs(n=8)
    model(inputs)
    assert len(model.losses) == 8  # Two tables for each of 4 fields.
    expected = _expected_embedding_l2(model, specs, inputs, 0.1)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    # A row that no example uses does not count.
    unused = sorted(set(range(10)) - set(inputs["a"].tolist()))[0]
    model.get_layer("embedding_a").embeddings[unused].assign(np.full(4, 50.0))
    model(inputs)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)


def test_l2_table_mode_is_a_prior_on_every_row():
    specs = _specs()
    config = dataclasses.replace(
        VARIANTS["fm"], l2_embedding=0.1, l2_embedding_mode="table"
    )
    model = build_ctr_model(specs, config)
    _randomize(model)
    inputs = _inputs(n=8)
    model(inputs)
    tables = [w.numpy() for layer in _embedding_layers(model) for w in layer.weights]
    assert len(tables) == 6  # a and b fused, g and h: factors and first order.
    expected = 0.1 * sum(float(np.sum(t.astype("float64") ** 2)) for t in tables)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    # Unlike the rows mode, an unused row counts, and the batch does not.
    model(_inputs(n=3))
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)


def test_unknown_l2_mode_is_named():
    with pytest.raises(ValueError, match="l2_embedding_mode"):
        dataclasses.replace(VARIANTS["fm"], l2_embedding_mode="batch")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_losses_without_regularization(variant):
    model = build_ctr_model(_specs(), VARIANTS[variant])
    assert model.losses == []
    model(_inputs(n=4))
    assert model.losses == []


@pytest.mark.parametrize("kind", KINDS)
def test_l2_dense_regularizes_kernels(kind):
    config = _config(kind, l2_dense=0.5)
    model = build_ctr_model(_specs(), config)
    _randomize(model)
    assert model.losses  # Weight regularizers need no call.
    assert float(sum(model.losses)) > 0.0


def test_l2_embedding_enters_the_training_loss():
    specs = _specs()
    config = dataclasses.replace(VARIANTS["deepfm"], l2_embedding=0.05)
    model = build_ctr_model(specs, config)
    _randomize(model)
    model.compile(loss=BinaryCrossentropy(from_logits=True))
    inputs = _inputs(n=32)
    y = (np.random.default_rng(3).random((32, 1)) < 0.3).astype("float32")
    loss = model.evaluate(inputs, y, batch_size=32, verbose=0)
    logits = model.predict(inputs, verbose=0)
    cross_entropy = float(np.mean(binary_crossentropy(y, logits, from_logits=True)))
    penalty = _expected_embedding_l2(model, specs, inputs, 0.05)
    assert penalty > 0.01
    np.testing.assert_allclose(loss, cross_entropy + penalty, rtol=1e-4)


# --------------------------------------------------------------------------
# Serialization.
# --------------------------------------------------------------------------
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_saving_round_trip(variant, tmp_path):
    config = dataclasses.replace(VARIANTS[variant], l2_embedding=1e-3, l2_dense=1e-3)
    model = build_ctr_model(_specs(), config, output_bias=-1.5)
    _randomize(model)
    path = tmp_path / "ctr.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    inputs = _inputs()
    np.testing.assert_allclose(
        _predict(loaded, inputs), _predict(model, inputs), rtol=1e-6, atol=1e-6
    )
    assert loaded.name == model.name
    loaded(inputs)
    assert len(loaded.losses) == len(model.losses)


@pytest.mark.parametrize(
    ("layer", "inputs"),
    [
        (
            FieldEmbedding(7, 3, combiner="mean", l2=0.1, name="e"),
            np.array([[1, 2, 0], [0, 0, 0]]),
        ),
        (FieldEmbedding(7, 2, embeddings_initializer="random_normal"), np.array([3])),
        (
            FusedEmbedding([3, 5], 2, l2=0.1, l2_mode="table", name="f"),
            [np.array([0, 2]), np.array([4, 1])],
        ),
        (
            FMInteraction(),
            [np.ones((2, 2, 3), "float32"), np.arange(6.0).reshape(2, 3)],
        ),
        (FMInteraction(), [np.ones((2, 3), "float32"), np.arange(6.0).reshape(2, 3)]),
        (
            LogitSum(bias_initializer=keras.initializers.Constant(-2.0)),
            [np.ones((2, 1))],
        ),
    ],
)
def test_layer_config_round_trip(layer, inputs):
    out = np.asarray(layer(inputs))
    clone = type(layer).from_config(layer.get_config())
    clone(inputs)  # Builds it.
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(inputs)), out)
    assert clone.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is type(layer)


# --------------------------------------------------------------------------
# Learning a planted interaction.
# --------------------------------------------------------------------------
_SIGN = np.array([1.0, -1.0] * 5)  # Balanced: a and b alone carry no signal.
_G_WEIGHT = np.array([0.0, 0.0, 2.0, -2.0, 2.0, -2.0])
_PLANTED_SPECS = [
    SparseFeat("a", 10, 4),
    SparseFeat("b", 10, 4),
    VarLenSparseFeat("g", 6, 3, 4),
    DenseFeat("x"),
]


def _planted(n, seed):
    """`logit = 2.5 s(a) s(b) + mean_g w(g) + 2 x`: one pure interaction."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 10, n)
    b = rng.integers(0, 10, n)
    g = rng.integers(2, 6, (n, 3))
    g[:, 1:] *= rng.random((n, 2)) < 0.5
    x = rng.normal(size=(n, 1)).astype("float32")
    logit = 2.5 * _SIGN[a] * _SIGN[b] + _G_WEIGHT[g].sum(1) / (g > 0).sum(1)
    logit += 2.0 * x[:, 0]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("float32")
    return {"a": a, "b": b, "g": g, "x": x}, y


@pytest.fixture(scope="module")
def planted_aucs():
    """Test AUC of each kind after 4 epochs on 3000 rows."""
    train_x, train_y = _planted(3000, seed=0)
    test_x, test_y = _planted(1000, seed=1)
    aucs = {}
    for kind in KINDS:
        keras.utils.set_random_seed(0)
        config = CTRModelConfig(kind=kind, hidden=(16,), cross_layers=2)
        model = build_ctr_model(_PLANTED_SPECS, config, output_bias=0.0)
        model.compile(keras.optimizers.Adam(0.05), BinaryCrossentropy(from_logits=True))
        model.fit(train_x, train_y, batch_size=100, epochs=4, verbose=0)
        scores = model.predict(test_x, batch_size=1000, verbose=0)[:, 0]
        aucs[kind] = roc_auc_score(test_y, scores)
    return aucs


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_learns_a_planted_problem(planted_aucs, kind):
    # LR can reach only the first-order part (AUC about 0.75 on this data).
    assert planted_aucs[kind] > (0.7 if kind == "lr" else 0.85)


def test_interaction_models_beat_lr_on_a_planted_interaction(planted_aucs):
    for kind in ("fm", "deepfm", "dcnv2"):
        assert planted_aucs[kind] > planted_aucs["lr"] + 0.1, planted_aucs


# --------------------------------------------------------------------------
# Invalid arguments.
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"kind": "xgboost"}, "kind"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"hidden": (8, -1)}, "hidden"),
        ({"hidden": 8}, "hidden"),
        ({"cross_layers": 0}, "cross_layers"),
        ({"cross_projection_dim": -2}, "cross_projection_dim"),
        ({"dcn_structure": "mixed"}, "dcn_structure"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"batch_norm": "yes"}, "batch_norm"),
        ({"l2_embedding": -1e-6}, "l2_embedding"),
        ({"l2_dense": float("nan")}, "l2_dense"),
        ({"fused_embeddings": 1}, "fused_embeddings"),
    ],
)
def test_invalid_config_names_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=f"argument `{arg}`"):
        CTRModelConfig(**kwargs)


def test_config_is_frozen_and_takes_a_list_of_units():
    config = CTRModelConfig(hidden=[32, 16])
    assert config.hidden == (32, 16)
    hash(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.kind = "lr"
    assert dataclasses.replace(config, kind="fm").kind == "fm"


def test_invalid_builder_arguments_name_the_argument():
    specs = _specs()
    with pytest.raises(ValueError, match="argument `output_bias`"):
        build_ctr_model(specs, CTRModelConfig(), output_bias=float("inf"))
    with pytest.raises(ValueError, match="argument `config`"):
        build_ctr_model(specs, {"kind": "fm"})
    with pytest.raises(ValueError, match="argument `specs`"):
        build_ctr_model([DenseFeat("x")], CTRModelConfig(kind="fm"))
    mixed = [SparseFeat("a", 10, 4), SparseFeat("b", 10, 8)]
    with pytest.raises(ValueError, match="argument `specs`.*embedding_dim"):
        build_ctr_model(mixed, CTRModelConfig(kind="deepfm"))
    with pytest.raises(ValueError, match="specs"):
        build_ctr_model([], CTRModelConfig())
