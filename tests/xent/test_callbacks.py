"""Tests of `xent.callbacks`: what a fit with the TensorBoard callbacks writes."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import confusion_matrix
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import plugin_data_pb2

from xent.callbacks import CONFUSION_MATRIX_TAG
from xent.callbacks import PR_CURVE_TAG
from xent.callbacks import ConfusionMatrixLogger
from xent.callbacks import HParamsLogger
from xent.callbacks import LossGap
from xent.callbacks import PRCurveLogger
from xent.callbacks import build_tensorboard_callbacks
from xent.callbacks import confusion_matrix_counts
from xent.callbacks import loss_gaps
from xent.callbacks import read_event_plugins
from xent.callbacks import read_event_tags

LEARNING_RATE = 0.05
HPARAMS = {"learning_rate": LEARNING_RATE, "units": 1, "optimizer": "sgd", "bn": False}


def _values(run_dir: Path, tag: str) -> dict[int, np.ndarray]:
    """Step -> value of `tag` in the event files of `run_dir` (not recursive)."""
    out = {}
    for path in sorted(run_dir.glob("*tfevents*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    out[event.step] = tf.make_ndarray(value.tensor)
    return out


def _binary_data(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = {"num": rng.normal(size=(n, 4)), "extra": rng.normal(size=(n, 2))}
    y = (x["num"][:, :1] + 0.5 * rng.normal(size=(n, 1)) > 0).astype("float32")
    return x, y


def _binary_model() -> keras.Model:
    inputs = {
        "num": keras.Input((4,), name="num"),
        "extra": keras.Input((2,), name="extra"),
    }
    merged = keras.layers.Concatenate()([inputs["num"], inputs["extra"]])
    logits = keras.layers.Dense(1, name="logits")(merged)
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.BinaryCrossentropy(from_logits=True, name="builtin_loss")
        ],
    )
    return model


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    """A 2-epoch binary fit with the callbacks: (log_dir, history, model, val)."""
    keras.utils.set_random_seed(0)
    log_dir = tmp_path_factory.mktemp("binary") / "tb"
    x, y = _binary_data(96, seed=1)
    val = _binary_data(40, seed=2)
    model = _binary_model()
    callbacks = build_tensorboard_callbacks(
        log_dir, "binary", val, class_names=["neg", "pos"], hparams=HPARAMS
    )
    assert not log_dir.exists()  # Nothing is written before training starts.
    history = model.fit(
        x,
        y,
        batch_size=32,
        epochs=2,
        validation_data=val,
        callbacks=callbacks,
        verbose=0,
    )
    return log_dir, history.history, model, val


@pytest.fixture(scope="module")
def multiclass_run(tmp_path_factory):
    """A 2-epoch 3-class fit with the callbacks: (log_dir, model, val)."""
    keras.utils.set_random_seed(0)
    log_dir = tmp_path_factory.mktemp("multiclass") / "tb"
    rng = np.random.default_rng(3)
    x = rng.normal(size=(90, 5)).astype("float32")
    y = rng.integers(0, 3, size=90)
    val = (x[:30], y[:30])
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="logits")])
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalCrossentropy(
                from_logits=True, name="builtin_loss"
            )
        ],
    )
    callbacks = build_tensorboard_callbacks(
        log_dir, "multiclass", val, class_names=["a", "b", "c"], hparams=HPARAMS
    )
    model.fit(x, y, epochs=2, validation_data=val, callbacks=callbacks, verbose=0)
    return log_dir, model, val


# --------------------------------------------------------------------------
# The binary run.
# --------------------------------------------------------------------------


def test_callback_order_puts_loss_gap_before_tensorboard(tmp_path):
    callbacks = build_tensorboard_callbacks(
        tmp_path, "binary", (np.zeros((2, 1)), np.array([0, 1])), ["0", "1"], {}
    )
    names = [type(cb).__name__ for cb in callbacks]
    assert names == ["LossGap", "TensorBoard", "PRCurveLogger", "HParamsLogger"]
    assert callbacks[1].histogram_freq == 1
    assert not callbacks[1].write_graph


def test_scalars_in_train_and_validation(binary_run):
    log_dir = binary_run[0]
    tags = read_event_tags(log_dir)
    for run in ("train", "validation"):
        assert {"epoch_loss", "epoch_builtin_loss", "epoch_loss_gap"} <= tags[run]
        assert "scalars" in tags[run]
    assert "epoch_learning_rate" in tags["train"]


def test_logged_loss_gap_equals_history_difference(binary_run):
    log_dir, history = binary_run[:2]
    for run, prefix in (("train", ""), ("validation", "val_")):
        logged = _values(log_dir / run, "epoch_loss_gap")
        assert sorted(logged) == [0, 1]
        expected = np.subtract(
            history[f"{prefix}loss"], history[f"{prefix}builtin_loss"]
        )
        np.testing.assert_allclose(
            [float(logged[step]) for step in (0, 1)], expected, rtol=0, atol=1e-6
        )
        np.testing.assert_allclose(history[f"{prefix}loss_gap"], expected, atol=1e-12)


def test_learning_rate_scalar_is_the_optimizer_rate(binary_run):
    logged = _values(binary_run[0] / "train", "epoch_learning_rate")
    np.testing.assert_allclose([float(v) for v in logged.values()], [LEARNING_RATE] * 2)


def test_weight_histograms_in_train(binary_run):
    plugins = read_event_plugins(binary_run[0])
    assert {"logits/kernel/histogram", "logits/bias/histogram"} <= plugins["train"][
        "histograms"
    ]


def test_pr_curve_matches_final_predictions(binary_run):
    log_dir, _, model, (x_val, y_val) = binary_run
    assert PR_CURVE_TAG in read_event_plugins(log_dir)["validation"]["pr_curves"]
    curves = _values(log_dir / "validation", PR_CURVE_TAG)
    assert sorted(curves) == [0, 1]
    data = curves[1]  # tp, fp, tn, fn, precision, recall per threshold
    assert data.shape == (6, 201)
    # Independent reference: the trained model's probabilities, via Keras.
    prob = keras.ops.convert_to_numpy(keras.ops.sigmoid(model(x_val))).reshape(-1)
    y_val = y_val.reshape(-1)
    tp, fp = data[0, 100], data[1, 100]  # threshold 100 / 200 = 0.5
    assert tp == np.sum((y_val == 1) & (prob >= 0.5))
    assert fp == np.sum((y_val == 0) & (prob >= 0.5))
    assert data[0, 0] + data[3, 0] == np.sum(y_val == 1)


def test_hparams_recorded_in_root(binary_run):
    log_dir = binary_run[0]
    plugins = read_event_plugins(log_dir)["."]
    assert plugins["hparams"] == {
        "_hparams_/session_start_info",
        "_hparams_/session_end_info",
    }
    (path,) = log_dir.glob("*tfevents*")
    starts = [
        plugin_data_pb2.HParamsPluginData.FromString(
            value.metadata.plugin_data.content
        ).session_start_info
        for event in EventFileLoader(str(path)).Load()
        for value in event.summary.value
        if value.tag == "_hparams_/session_start_info"
    ]
    (start,) = starts
    assert start.hparams["learning_rate"].number_value == LEARNING_RATE
    assert start.hparams["units"].number_value == 1
    assert start.hparams["optimizer"].string_value == "sgd"
    assert start.hparams["bn"].bool_value is False


def test_writes_only_under_log_dir(binary_run):
    log_dir = binary_run[0]
    assert [p.name for p in log_dir.parent.iterdir()] == ["tb"]
    assert set(read_event_tags(log_dir)) == {".", "train", "validation"}


# --------------------------------------------------------------------------
# The multiclass run.
# --------------------------------------------------------------------------


def test_confusion_matrix_image_is_a_png(multiclass_run):
    log_dir = multiclass_run[0]
    tags = read_event_tags(log_dir)
    assert {CONFUSION_MATRIX_TAG, "images"} <= tags["validation"]
    assert "pr_curve" not in tags["validation"]
    images = _values(log_dir / "validation", CONFUSION_MATRIX_TAG)
    assert sorted(images) == [0, 1]
    width, height, png = images[1]  # TensorBoard's image tensor layout
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = tf.image.decode_png(png).numpy()
    assert decoded.shape == (int(height), int(width), 3)
    assert 200 <= decoded.shape[0] <= 2000
    assert 200 <= decoded.shape[1] <= 2000
    assert decoded.std() > 0  # not a blank image


def test_confusion_matrix_counts_match_sklearn():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, size=50), rng.integers(0, 4, size=50)
    np.testing.assert_array_equal(
        confusion_matrix_counts(y, pred, 4), confusion_matrix(y, pred, labels=range(4))
    )
    w = rng.uniform(size=50)
    np.testing.assert_allclose(
        confusion_matrix_counts(y, pred, 4, w),
        confusion_matrix(y, pred, labels=range(4), sample_weight=w),
    )
    with pytest.raises(ValueError, match="y_pred"):
        confusion_matrix_counts(y, pred + 1, 4)


def test_confusion_matrix_logger_checks_output_width(multiclass_run, tmp_path):
    _, model, (x_val, y_val) = multiclass_run
    with pytest.raises(ValueError, match=r"validation_data.*\[0, 2\)"):
        ConfusionMatrixLogger(tmp_path, (x_val, y_val), class_names=["a", "b"])
    logger = ConfusionMatrixLogger(tmp_path, (x_val, y_val % 2), class_names=["a", "b"])
    logger.set_model(model)
    logger.on_train_begin()
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        logger.on_epoch_end(0)
    logger.on_train_end()


# --------------------------------------------------------------------------
# Pieces.
# --------------------------------------------------------------------------


def test_loss_gaps_only_for_present_pairs():
    assert loss_gaps({"loss": 1.0, "builtin_loss": 0.75}) == {"loss_gap": 0.25}
    assert loss_gaps({"val_loss": 1.0, "val_builtin_loss": 1.5}) == {
        "val_loss_gap": -0.5
    }
    assert loss_gaps({"loss": 1.0, "val_loss": 2.0}) == {}
    logs = {"loss": 2.0, "builtin_loss": 1.0}
    LossGap().on_epoch_end(0, logs)
    assert logs["loss_gap"] == 1.0


def test_pr_curve_logger_uses_predict_fn(binary_run, tmp_path):
    model, (x_val, y_val) = binary_run[2:]
    calls = []

    def predict_fn(m, x):
        calls.append((m, x))
        return np.where(y_val == 1, 0.9, 0.1)  # a perfect classifier

    logger = PRCurveLogger(tmp_path, (x_val, y_val), predict_fn=predict_fn)
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_epoch_end(3)
    logger.on_train_end()
    assert calls == [(model, x_val)]
    data = _values(tmp_path / "validation", PR_CURVE_TAG)[3]
    assert data[4, 100] == 1.0 and data[5, 100] == 1.0  # precision, recall at 0.5


def test_pr_curve_logger_rejects_non_probabilities(binary_run, tmp_path):
    model, (x_val, y_val) = binary_run[2:]
    logger = PRCurveLogger(tmp_path, (x_val, y_val), predict_fn=lambda m, x: y_val * 3)
    logger.set_model(model)
    logger.on_train_begin()
    with pytest.raises(ValueError, match="predict_fn"):
        logger.on_epoch_end(0)
    logger.on_train_end()


def test_invalid_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="argument task"):
        build_tensorboard_callbacks(tmp_path, "regression", None, [], {})
    with pytest.raises(ValueError, match="hparams"):
        HParamsLogger(tmp_path, {"layers": [1, 2]})
    with pytest.raises(ValueError, match="binary labels"):
        PRCurveLogger(tmp_path, (np.zeros((3, 1)), np.array([0, 1, 2])))
    with pytest.raises(ValueError, match="class_names"):
        ConfusionMatrixLogger(tmp_path, (np.zeros((3, 1)), np.array([0, 1, 0])), ["a"])
    with pytest.raises(FileNotFoundError, match="log_dir"):
        read_event_tags(tmp_path / "missing")


def test_gan_gets_no_task_logger(tmp_path):
    val = (np.zeros((2, 1)), np.array([0, 1]))
    callbacks = build_tensorboard_callbacks(tmp_path, "gan", val, [], {})
    assert [type(cb).__name__ for cb in callbacks] == [
        "LossGap",
        "TensorBoard",
        "HParamsLogger",
    ]


def test_data_loss_gap_is_zero_with_an_l2_penalty(tmp_path):
    """A tiny CTR model with an embedding L2: `loss` includes the penalty,
    `data_loss` does not and equals the built-in loss on the same batches."""
    from tests.pipelines.conftest import TINY_CTR
    from tests.pipelines.conftest import load_task
    from xent.callbacks import DATA_LOSS

    overrides = TINY_CTR + ["train.epochs=1", "model.l2_embedding=0.01"]
    task, config = load_task("ctr", overrides)
    keras.utils.set_random_seed(0)
    data = task.build_inputs(config)
    model = task.create_model(config, data)
    logs = {}

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, epoch_logs=None):
            logs.update(epoch_logs)

    task.fit(model, config, data, [LossGap(), Keep()], verbose=0)
    for prefix in ("", "val_"):
        penalty = logs[f"{prefix}loss"] - logs[f"{prefix}{DATA_LOSS}"]
        assert penalty > 1e-4, logs
        assert abs(logs[f"{prefix}loss_gap"]) < 1e-6, logs
        np.testing.assert_allclose(
            logs[f"{prefix}{DATA_LOSS}"], logs[f"{prefix}builtin_loss"], atol=1e-6
        )
