"""Smoke test: the GAN pipeline end to end, shrunk to seconds."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.pipelines.conftest import TINY_GAN
from tests.pipelines.conftest import bare_tensorflow_predict
from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import read_report
from tests.pipelines.conftest import run_quietly
from xent.callbacks import read_event_plugins

_SHRINK = ["train.epochs=2", *TINY_GAN]
_METRICS = (
    "frechet_distance",
    "frechet_floor",
    "class_coverage",
    "mean_confidence",
    "nn_distance_ratio",
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("xent_cache")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, cache):
    tmp = tmp_path_factory.mktemp("gan")
    task, config = load_task("gan", [*_SHRINK, f"eval.classifier_cache={cache}"])
    return task, config, run_quietly(task, config, tmp), tmp


def test_run_writes_report_plots_logs_and_export(digits_run, cache):
    _, _, result, tmp = digits_run
    report = read_report(result.run_dir)
    assert report["task"] == "gan"
    assert report["dataset"]["rows"]["test"] == 360
    test = report["metrics"]["test"]
    for key in _METRICS:
        assert key in test
    coverage = test["class_coverage"]
    assert list(coverage) == [str(i) for i in range(10)]
    assert sum(coverage.values()) == pytest.approx(1.0)
    assert 0.0 < test["mean_confidence"] <= 1.0
    assert test["frechet_floor"] > 0 and test["frechet_distance"] > 0
    assert test["nn_distance_ratio"] > 0
    assert set(report["baseline"]) == {"gaussian_pixels", "copy_training_images"}
    assert report["baseline"]["copy_training_images"]["nn_distance_ratio"] == 0.0
    history = report["training"]["history"]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "val_frechet_distance"} <= set(
        history
    )
    assert len(history["d_loss"]) == 2
    html = (result.run_dir / "report.html").read_text()
    for name in (
        "samples.png",
        "interpolation.png",
        "training_curves.png",
        "class_coverage.png",
    ):
        assert (result.run_dir / name).is_file(), name
        assert f'src="{name}"' in html
    assert "frechet_distance" in html and "DCGAN" in html
    # TensorBoard: the scalars per epoch and the image grid of fixed noise.
    plugins = read_event_plugins(result.run_dir / "logs")
    scalars = plugins["train"]["scalars"]
    assert {"epoch_d_loss", "epoch_g_loss", "epoch_d_real", "epoch_d_fake"} <= scalars
    assert "epoch_frechet_distance" in plugins["validation"]["scalars"]
    assert plugins["samples"]["images"] == {"generated_images"}
    # The classifier lives in the cache, not in the run or the exports.
    assert len(list((cache / "gan_classifier").iterdir())) == 1
    assert sorted(p.name for p in (tmp / "saved").iterdir()) == ["gan"]
    assert result.export_path == tmp / "saved" / "gan" / "1"


def _trained_generator(task, config, result):
    data = task.build_inputs(config)
    model = task.create_model(config, data)
    model.load_weights(result.run_dir / "checkpoints" / "best.weights.h5")
    return model.generator


# A fresh model loading a training checkpoint has no optimizer state yet.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_export_reproduces_images_in_bare_tensorflow(digits_run, tmp_path):
    task, config, result, _ = digits_run
    generator = _trained_generator(task, config, result)
    noise = np.random.default_rng(0).normal(size=(6, 8)).astype("float32")
    out = bare_tensorflow_predict(
        result.export_path, {"noise": noise}, tmp_path / "a.npz"
    )
    expected = (np.asarray(generator(noise, training=False)) + 1) / 2
    assert out["images"].shape == (6, 8, 8, 1)
    assert out["images"].min() >= 0.0 and out["images"].max() <= 1.0
    np.testing.assert_allclose(out["images"], expected, atol=1e-5)

    feed = {"count": np.int32(5), "seed": np.int64(7)}
    sample = bare_tensorflow_predict(
        result.export_path, feed, tmp_path / "b.npz", "sample"
    )
    noise7 = tf.random.stateless_normal([5, 8], seed=[7, 0]).numpy()
    np.testing.assert_array_equal(sample["noise"], noise7)
    np.testing.assert_allclose(
        sample["images"], (np.asarray(generator(noise7)) + 1) / 2, atol=1e-5
    )
    loaded = tf.saved_model.load(str(result.export_path)).signatures["sample"]
    again = loaded(count=tf.constant(5), seed=tf.constant(7, tf.int64))["images"]
    other = loaded(count=tf.constant(5), seed=tf.constant(8, tf.int64))["images"]
    np.testing.assert_array_equal(again.numpy(), sample["images"])
    assert not np.allclose(other.numpy(), sample["images"])
    metadata = json.loads(
        (result.export_path / "assets.extra" / "metadata.json").read_text()
    )
    assert metadata["latent_dim"] == 8 and metadata["image_shape"] == [8, 8, 1]
    assert set(metadata["signatures"]) == {"serving_default", "sample"}


def test_a_rerun_with_the_cached_classifier_gives_the_same_numbers(digits_run, cache):
    task, config, result, tmp = digits_run
    second = run_quietly(task, config, tmp, run="run2")
    assert len(list((cache / "gan_classifier").iterdir())) == 1
    assert second.export_path.name == "2"
    first = read_report(result.run_dir)["metrics"]["test"]
    again = read_report(second.run_dir)["metrics"]["test"]
    for key in _METRICS:
        assert again[key] == pytest.approx(first[key], rel=1e-4), key
    # The same GAN whether the evaluation classifier was trained or cached.
    weights = [
        read_report(r.run_dir)["training"]["weights_sha256"] for r in (result, second)
    ]
    assert weights[0] == weights[1]


def test_conditional_gan_through_the_cli(tmp_path, cache):
    from xent.cli import main

    code = main(
        [
            "train",
            "gan",
            "--epochs",
            "1",
            "--seed",
            "0",
            *(arg for s in _SHRINK for arg in ("--set", s)),
            "--set",
            f"eval.classifier_cache={cache}",
            "--set",
            "model.conditional=true",
            "--quiet",
            "--run-dir",
            str(tmp_path / "run"),
            "--saved-models",
            str(tmp_path / "saved"),
        ]
    )
    assert code == 0
    report = read_report(tmp_path / "run")
    assert report["config"]["model"]["conditional"] is True
    assert 0.0 <= report["metrics"]["test"]["label_accuracy"] <= 1.0
    export = tmp_path / "saved" / "gan" / "1"
    fn = tf.saved_model.load(str(export)).signatures["serving_default"]
    noise = tf.constant(np.zeros((3, 8), "float32"))
    images = fn(noise=noise, label=tf.constant([0, 1, 2], tf.int32))["images"]
    assert images.shape == (3, 8, 8, 1)


def test_tfds_mnist_through_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    task, config = load_task(
        "gan",
        [
            *_SHRINK,
            "data.source=tfds:mnist",
            "train.epochs=1",
            "train.batch_size=16",
            "eval.samples=60",
            f"eval.classifier_cache={tmp_path / 'cache'}",
        ],
    )
    with tfds.testing.mock_data(num_examples=40):
        result = run_quietly(task, config, tmp_path)
    report = read_report(result.run_dir)
    assert report["dataset"]["name"] == "tfds:mnist"
    assert report["dataset"]["features"]["image_shape"] == [28, 28, 1]
    assert np.isfinite(report["metrics"]["test"]["frechet_distance"])
    fn = tf.saved_model.load(str(result.export_path)).signatures["sample"]
    images = fn(count=tf.constant(2), seed=tf.constant(0, tf.int64))["images"]
    assert images.shape == (2, 28, 28, 1)


def test_the_classifier_is_typed_task_state_and_the_losses_are_watched(
    digits_run, tmp_path
):
    from xent.gan.classifier import EvaluationClassifier
    from xent.pipelines.gan import GANState
    from xent.runner import StopOnNonFinite

    task, config, _, _ = digits_run
    data = task.build_inputs(config)
    assert isinstance(data.state, GANState)
    assert isinstance(data.state.classifier, EvaluationClassifier)
    assert data.state.classifier.class_names == tuple(data.class_names)
    callbacks = task.monitor_callbacks(config, data, tmp_path)
    watched = [cb.keys for cb in callbacks if isinstance(cb, StopOnNonFinite)]
    assert watched == [("d_loss", "g_loss")]


def test_unknown_data_source_is_a_config_error():
    from xent.config import ConfigError

    task, config = load_task("gan", ["data.source=breast_cancer"])
    with pytest.raises(ConfigError, match="data.source"):
        task.build_inputs(config)
    # Before training an evaluation classifier on it.
    with pytest.raises(ConfigError, match="data.source"):
        task.prepare(config, log=lambda _: None)
