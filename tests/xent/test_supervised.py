"""Supervised-task pieces shared by the binary, multiclass and CTR pipelines."""

import numpy as np
import pytest

from xent import runner
from xent.config import ConfigError


class _Capture:
    """Delegates to `task`; keeps the model and data `evaluate_model` gets."""

    def __init__(self, task):
        self._task = task
        self.model = None
        self.data = None

    def __getattr__(self, name):
        return getattr(self._task, name)

    def evaluate_model(self, model, config, data, history, validated=None):
        self.model, self.data = model, data
        return self._task.evaluate_model(
            model, config, data, history, validated=validated
        )


# A linear model at a constant rate: the mechanisms tested here (weight
# averaging, steps per execution, XLA) on the smallest model they apply to.
_LINEAR = (
    "model.kind=mlp",
    "model.hidden=[]",
    "model.dropout=0.0",
    "train.schedule=constant",
    "train.weight_decay=0.0",
)


def _binary(overrides):
    from xent import config as config_lib
    from xent.pipelines import TASKS

    task = TASKS["binary"]
    return task, config_lib.load_config(
        task.config_class, task.defaults, overrides=[*_LINEAR, *overrides]
    )


def _run(task, config, run_dir):
    return runner.run(
        task,
        config,
        run_dir=run_dir,
        export=False,
        verbose=0,
        log=lambda _: None,
    )


def test_ema_weights_are_what_is_validated_reported_and_kept(tmp_path):
    options = [
        "train.epochs=12",
        "train.learning_rate=0.05",
        "train.early_stopping_patience=1",
    ]
    task, config = _binary([*options, "train.ema_momentum=0.9"])
    capture = _Capture(task)
    history = _run(capture, config, tmp_path / "ema").report["training"]["history"]
    # Validation sees the average, which starts at the initial weights and
    # lags behind the last iterate: after one epoch it is worse (0.075
    # against 0.066 when this was written).
    _, plain = _binary(options)
    plain_history = _run(task, plain, tmp_path / "plain").report["training"]["history"]
    assert history["val_loss"][0] > plain_history["val_loss"][0] + 0.003
    epochs_run = len(history["val_loss"])
    # Early stopping ended the run after its best epoch: the case where
    # Keras' fit leaves the last raw weights in the model.
    assert epochs_run < 12
    best = int(np.argmin(history["val_loss"]))
    assert best < epochs_run - 1
    x_val, y_val = capture.data.features.validation.arrays()
    targets = task.build_targets(config, y_val, capture.data)
    values = capture.model.evaluate(x_val, targets, verbose=0, return_dict=True)
    np.testing.assert_allclose(values["loss"], history["val_loss"][best], rtol=1e-5)


def test_ema_momentum_must_be_in_the_open_unit_interval():
    with pytest.raises(ConfigError, match="ema_momentum"):
        _binary(["train.ema_momentum=1.0"])
    _, config = _binary(["train.ema_momentum=0.99"])
    assert config.train.ema_momentum == 0.99


def test_the_weight_average_warms_up_like_tf_exponential_moving_average():
    import keras

    from xent.supervised import WarmAveragingAdam

    variable = keras.Variable(np.array([1.0, -2.0], "float32"))
    optimizer = WarmAveragingAdam(0.1, use_ema=True, ema_momentum=0.9)
    optimizer.build([variable])
    rng = np.random.default_rng(0)
    average = None
    for step in range(40):
        grad = rng.normal(size=2).astype("float32")
        optimizer.apply([grad], [variable])
        value = variable.numpy().astype("float64")
        # tf.train.ExponentialMovingAverage with num_updates: decay
        # min(0.9, (1 + t) / (10 + t)); the first step copies the value.
        decay = 0.0 if step == 0 else min(0.9, (1 + step) / (10 + step))
        average = value if average is None else decay * average + (1 - decay) * value
    got = optimizer._model_variables_moving_average[0].numpy()
    np.testing.assert_allclose(got, average, rtol=1e-5)


def test_steps_per_execution_and_xla_train_the_same_model(tmp_path):
    # 386 training rows in batches of 25: 16 steps per epoch, 4 calls of 4.
    options = ["train.epochs=3", "train.learning_rate=0.05", "train.batch_size=25"]
    runs = {}
    for name, extra in (
        ("plain", []),
        ("spe", ["train.steps_per_execution=4"]),
        ("xla", ["train.steps_per_execution=4", "train.jit_compile=true"]),
    ):
        task, config = _binary(options + extra)
        capture = _Capture(task)
        report = _run(capture, config, tmp_path / name).report
        assert report["dataset"]["rows"]["train"] == 386
        runs[name] = (capture.model, report["metrics"]["test"]["log_loss"])
    model, _ = runs["xla"]
    assert model.steps_per_execution == 4 and model.jit_compile
    # Four steps per call are the same four steps: the same weights.
    assert runs["spe"][1] == pytest.approx(runs["plain"][1], rel=1e-6)
    # XLA fuses the same math in another order: float32 rounding only.
    assert runs["xla"][1] == pytest.approx(runs["plain"][1], rel=1e-3)


def test_distributed_runs_keep_keras_default_step_settings():
    task, config = _binary(
        [
            "train.steps_per_execution=8",
            "train.jit_compile=true",
            "train.strategy=mirrored",
        ]
    )
    data = task.build_inputs(config)
    model = task.create_model(config, data)
    assert model.steps_per_execution == 1 and not model.jit_compile
    with pytest.raises(ConfigError, match="steps_per_execution"):
        _binary(["train.steps_per_execution=0"])


@pytest.mark.parametrize(
    "steps,requested,expected",
    [(12, 4, 4), (782, 16, 2), (313, 16, 1), (320, 16, 16), (5, 16, 5), (7, 1, 1)],
)
def test_steps_per_execution_divides_the_epoch(steps, requested, expected):
    from xent.supervised import steps_per_execution_for

    k = steps_per_execution_for(steps, requested)
    assert k == expected and steps % k == 0


def test_even_batches_fill_a_multiple_of_steps_per_execution():
    from xent.supervised import even_batches

    sizes = even_batches(319_932, 1024, 16)
    # 313 batches of 1024 would leave a last chunk of 9 steps: 320 instead.
    assert len(sizes) == 320 and sum(sizes) == 319_932
    assert max(sizes) <= 1024 and max(sizes) - min(sizes) <= 1
    assert even_batches(320 * 1024, 1024, 16) is None  # already a multiple
    assert even_batches(1000, 100, 1) is None
    assert even_batches(None, 100, 4) is None
    assert even_batches(3, 1, 4) is None  # fewer rows than 4 steps


def test_uneven_epochs_with_steps_per_execution_run_exactly_their_batches(tmp_path):
    # 386 rows in batches of 32 are 13 steps, a prime: spread over 16.
    task, config = _binary(
        ["train.epochs=2", "train.batch_size=32", "train.steps_per_execution=4"]
    )
    capture = _Capture(task)
    _run(capture, config, tmp_path / "run")
    model = capture.model
    assert model.steps_per_execution == 4
    assert int(model.optimizer.iterations.numpy()) == 2 * 16


# --------------------------------------------------------------------------
# LazyAdam: Adam on the embedding rows a batch used.
# --------------------------------------------------------------------------
def _reference_lazy_adam(table, steps, lr, beta_1=0.9, beta_2=0.999, eps=1e-7):
    """Float64 loops: each step updates the rows it names (repeats summed),
    with the global step's bias correction; other rows and moments stay."""
    w = np.array(table, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, (rows, values) in enumerate(steps, start=1):
        g = {}
        for r, value in zip(rows, values, strict=True):
            g[r] = g.get(r, 0.0) + np.asarray(value, dtype=np.float64)
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for r, gr in g.items():
            m[r] = beta_1 * m[r] + (1 - beta_1) * gr
            v[r] = beta_2 * v[r] + (1 - beta_2) * gr * gr
            w[r] -= alpha * m[r] / (np.sqrt(v[r]) + eps)
    return w


def test_lazy_adam_updates_only_the_rows_a_batch_used():
    import keras
    import tensorflow as tf

    from xent.supervised import LazyAdam

    rng = np.random.default_rng(0)
    table = rng.normal(size=(6, 3))
    steps = [
        ([1, 4, 1], rng.normal(size=(3, 3))),  # Row 1 twice: summed.
        ([0, 4], rng.normal(size=(2, 3))),  # Row 1 unused: it stays.
        ([5], rng.normal(size=(1, 3))),
    ]
    variable = keras.Variable(table.astype("float32"))
    optimizer = LazyAdam(0.1)
    for rows, values in steps:
        gradient = tf.IndexedSlices(
            tf.constant(values, tf.float32), tf.constant(rows, tf.int64), [6, 3]
        )
        optimizer.apply([gradient], [variable])
    expected = _reference_lazy_adam(table, steps, lr=0.1)
    np.testing.assert_allclose(np.asarray(variable), expected, rtol=1e-5, atol=1e-6)
    # Keras' Adam moves row 1 at steps 2 and 3 too (its momentum decays
    # densely): the lazy update is a different rule, not a rounding.
    dense = keras.Variable(table.astype("float32"))
    adam = keras.optimizers.Adam(0.1)
    for rows, values in steps:
        full = np.zeros((6, 3), "float32")
        np.add.at(full, rows, values)
        adam.apply([tf.constant(full)], [dense])
    assert abs(float(np.asarray(dense)[1, 0]) - expected[1, 0]) > 1e-3
    np.testing.assert_array_equal(
        np.asarray(variable)[[2, 3]], table[[2, 3]].astype("float32")
    )


def test_lazy_adam_is_adam_on_dense_gradients():
    import keras
    import tensorflow as tf

    from xent.supervised import LazyAdam

    rng = np.random.default_rng(1)
    start = rng.normal(size=(4, 2)).astype("float32")
    lazy, adam = keras.Variable(start), keras.Variable(start)
    lazy_opt, adam_opt = LazyAdam(0.05), keras.optimizers.Adam(0.05)
    for _ in range(3):
        gradient = tf.constant(rng.normal(size=(4, 2)).astype("float32"))
        lazy_opt.apply([gradient], [lazy])
        adam_opt.apply([gradient], [adam])
    np.testing.assert_array_equal(np.asarray(lazy), np.asarray(adam))


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(("mode", "sparse"), [("rows", True), ("table", False)])
def test_embedding_gradients_are_sparse_only_without_a_table_prior(
    mode, sparse, fused, policy
):
    """What `train.optimizer: lazy_adam` documents: with the whole-table L2
    prior the embedding gradient is dense, so the lazy rule never applies.
    In bfloat16 too: the tables are not cast whole (which would make every
    gradient dense); the looked-up rows are, and the outputs are bfloat16."""
    import keras
    import tensorflow as tf

    from xent.ctr.specs import SparseFeat
    from xent.models.ctr import CTRModelConfig
    from xent.models.ctr import build_ctr_model

    specs = [SparseFeat("a", 50, 4), SparseFeat("b", 30, 4)]
    config = CTRModelConfig(
        kind="deepfm",
        hidden=(8,),
        l2_embedding=1e-3,
        l2_embedding_mode=mode,
        fused_embeddings=fused,
    )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = build_ctr_model(specs, config)
    finally:
        keras.config.set_dtype_policy(previous)
    x = {"a": np.array([1, 2, 3]), "b": np.array([0, 5, 5])}
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(model(x), "float32")) + tf.add_n(model.losses)
    name = "embedding_fields" if fused else "embedding_a"
    layer = model.get_layer(name)
    gradient = tape.gradient(loss, layer.embeddings)
    assert isinstance(gradient, tf.IndexedSlices) is sparse
    assert layer.embeddings.dtype == "float32"
    out = layer([np.array([1, 2])] * 2) if fused else layer(np.array([1, 2]))
    assert keras.backend.standardize_dtype(out.dtype) == (
        "bfloat16" if policy == "mixed_bfloat16" else "float32"
    )
    # No op of the traced model casts a whole table.
    graph = (
        tf.function(model)
        .get_concrete_function({k: tf.TensorSpec([None], "int64") for k in x})
        .graph
    )
    tables = {
        tuple(la.embeddings.shape) for la in model.layers if hasattr(la, "embeddings")
    }
    whole = [
        op.name
        for op in graph.get_operations()
        if op.type == "Cast" and tuple(op.outputs[0].shape) in tables
    ]
    assert not whole


def test_train_optimizer_picks_lazy_adam_and_keeps_the_weight_average():
    from xent import sections
    from xent.supervised import LazyAdam
    from xent.supervised import build_optimizer

    train = sections.SupervisedTrainConfig(optimizer="lazy_adam", ema_momentum=0.99)
    optimizer = build_optimizer(train)
    assert isinstance(optimizer, LazyAdam) and optimizer.use_ema
    plain = build_optimizer(sections.SupervisedTrainConfig(optimizer="lazy_adam"))
    assert isinstance(plain, LazyAdam) and not plain.use_ema


def test_after_a_refit_validation_fits_use_the_first_networks_and_their_data():
    """`evaluate_model` with a `Validated`: what is fitted on held-out
    validation predictions (`fit_on_validation`) sees the first networks and
    their data; scoring and the test predictions see the refit model and
    the refit's data."""
    from xent.stages import Evaluation
    from xent.stages import Validated
    from xent.supervised import SupervisedTask

    calls = []

    class _Task(SupervisedTask):
        binary = True

        def fit_on_validation(self, model, config, data):
            calls.append(("fit", model, data))
            return {"fitted": 1}

        def scoring_model(self, model, config, data, metrics):
            calls.append(("score", model, data, metrics))
            return model

        def predict_test(self, model, data):
            calls.append(("predict", model, data))
            return np.array([0, 1]), np.array([[0.2], [0.7]])

        def evaluate(self, y_true, prob, data):
            return {"rows": len(y_true)}

        def render_plots(self, y_true, prob, history, data):
            return {}

    first, refit, first_data, refit_data = "first", "refit", "first-d", "refit-d"
    out = _Task().evaluate_model(
        refit, None, refit_data, {}, validated=Validated(first, first_data)
    )
    assert calls == [
        ("fit", first, first_data),
        ("score", refit, refit_data, {"fitted": 1}),
        ("predict", refit, refit_data),
    ]
    assert out == Evaluation(metrics={"rows": 2, "fitted": 1}, plots={})
    calls.clear()
    _Task().evaluate_model(refit, None, refit_data, {})
    assert [c[:3] for c in calls] == [
        ("fit", refit, refit_data),
        ("score", refit, refit_data),
        ("predict", refit, refit_data),
    ]
