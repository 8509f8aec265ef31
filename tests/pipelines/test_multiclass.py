"""Smoke test: the multiclass pipeline end to end, shrunk to seconds."""

import dataclasses

import numpy as np
import pytest

from tests.pipelines.conftest import bare_tensorflow_predict
from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import read_report
from tests.pipelines.conftest import run_quietly
from xent.callbacks import read_event_tags


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    task, config = load_task(
        "multiclass", ["train.epochs=2", "model.filters=[8]", "model.dense=16"]
    )
    tmp = tmp_path_factory.mktemp("multiclass")
    return task, config, run_quietly(task, config, tmp), tmp


def test_run_writes_report_plots_logs_and_export(digits_run):
    _, _, result, tmp = digits_run
    report = read_report(result.run_dir)
    assert report["task"] == "multiclass"
    assert report["dataset"]["rows"]["test"] == 360
    test = report["metrics"]["test"]
    for key in (
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "log_loss",
        "per_class",
        "confusion_matrix",
    ):
        assert key in test
    assert np.sum(test["confusion_matrix"]) == 360
    assert set(report["baseline"]) == {"logistic_regression", "hist_gradient_boosting"}
    for name in (
        "report.html",
        "confusion_matrix.png",
        "training_curves.png",
        "config.yaml",
    ):
        assert (result.run_dir / name).is_file(), name
    assert result.export_path == tmp / "saved" / "multiclass" / "1"
    tags = read_event_tags(result.run_dir / "logs")
    assert {"epoch_loss", "epoch_builtin_loss", "epoch_loss_gap"} <= tags["train"]
    assert "confusion_matrix" in tags["validation"]
    assert any(t.endswith("/histogram") for t in tags["train"])


def test_export_reproduces_predictions_in_bare_tensorflow(digits_run, tmp_path):
    task, config, result, _ = digits_run
    assert config.model.augment.translate > 0  # The default augments in training.
    data = task.build_inputs(config)
    images = data.splits.test.x[:16]
    out = bare_tensorflow_predict(
        result.export_path,
        {"image": np.concatenate([images, images])},
        tmp_path / "o.npz",
    )
    probs = out["probabilities"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # No random augmentation in serving: the same image, the same answer (up
    # to float rounding, which depends on the row's place in the batch).
    np.testing.assert_allclose(probs[:16], probs[16:], rtol=1e-5, atol=1e-7)
    assert list(out["class_id"]) == list(np.argmax(probs, axis=1))
    report = read_report(result.run_dir)
    assert out["label"][0].decode() in report["class_names"]


def test_a_second_run_exports_a_new_version(digits_run):
    task, config, result, tmp = digits_run
    config = dataclasses.replace(
        config, train=dataclasses.replace(config.train, epochs=1)
    )
    second = run_quietly(task, config, tmp, run="run2")
    assert second.export_path.name == "2"
    assert (tmp / "saved" / "multiclass" / "1" / "saved_model.pb").is_file()


def test_tfds_image_data_loads_through_mock_data():
    import tensorflow_datasets as tfds

    from xent.data.images import load_tfds_images

    with tfds.testing.mock_data(num_examples=40):
        data = load_tfds_images("mnist", seed=0)
    assert data.name == "tfds:mnist"
    assert data.splits["train"][0].shape[1:] == (28, 28, 1)
    assert len(data.class_names) == 10
    assert sum(len(y) for _, y in data.splits.values()) == 80


def test_tfds_mnist_runs_end_to_end_through_the_cli(tmp_path):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from xent.cli import main

    with tfds.testing.mock_data(num_examples=40):
        code = main(
            [
                "train",
                "multiclass",
                "--data",
                "tfds:mnist",
                "--epochs",
                "1",
                "--set",
                "model.filters=[4]",
                "--set",
                "model.dense=8",
                "--quiet",
                "--run-dir",
                str(tmp_path / "run"),
                "--saved-models",
                str(tmp_path / "saved"),
            ]
        )
    assert code == 0
    report = read_report(tmp_path / "run")
    assert report["dataset"]["name"] == "tfds:mnist"
    assert report["config"]["data"]["source"] == "tfds:mnist"
    # model.kind auto: image features get the CNN.
    assert report["config"]["model"]["kind"] == "auto"
    assert report["dataset"]["features"] == {
        "image_shape": [28, 28, 1],
        "pixel_max": 255.0,
    }
    rows = report["dataset"]["rows"]
    assert rows["train"] + rows["validation"] == 40 and rows["test"] == 40
    assert report["class_names"] == [str(i) for i in range(10)]
    test = report["metrics"]["test"]
    assert np.sum(test["confusion_matrix"]) == 40
    assert 0.0 <= test["accuracy"] <= 1.0 and np.isfinite(test["log_loss"])
    assert set(report["baseline"]) == {"logistic_regression", "hist_gradient_boosting"}
    assert (tmp_path / "run" / "report.html").is_file()

    # The export takes raw 0-255 pixels of the tfds images.
    export = tmp_path / "saved" / "multiclass" / "1"
    assert report["export"] == str(export)
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1))
    out = serve(image=tf.constant(pixels, tf.float32))
    probs = out["probabilities"].numpy()
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert list(out["class_id"].numpy()) == list(probs.argmax(axis=1))


def test_augment_config_is_typed_and_checked():
    from xent.config import ConfigError

    task, config = load_task(
        "multiclass", ["model.augment.rotate=0.05", "model.batch_norm=false"]
    )
    assert config.model.augment.rotate == 0.05
    assert config.model.augment.translate > 0  # From multiclass.yaml.
    assert config.model.batch_norm is False
    with pytest.raises(ConfigError, match="model.augment.shear"):
        load_task("multiclass", ["model.augment.shear=0.1"])
    with pytest.raises(ConfigError, match="rotate"):
        load_task("multiclass", ["model.augment.rotate=1.5"])
    with pytest.raises(ConfigError, match="model.augment.zoom"):
        load_task("multiclass", ["model.augment.zoom=big"])


def test_build_model_adds_the_configured_augmentation():
    import types

    task, config = load_task(
        "multiclass",
        [
            "model.augment={translate: 0.1, rotate: 0.05, zoom: 0.0}",
            "model.batch_norm=true",
            "model.filters=[4]",
            "model.dense=8",
        ],
    )
    data = types.SimpleNamespace(class_names=tuple("0123456789"), metadata={})
    names = [la.name for la in task.build_model(config, (8, 8, 1), data).layers]
    assert {"translate", "rotate", "batch_norm_0"} <= set(names)
    assert "zoom" not in names


def test_tabular_multiclass_csv_through_the_cli(tmp_path):
    import csv

    from xent.cli import main

    rng = np.random.default_rng(0)
    path = tmp_path / "iris_like.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "x2", "colour", "species"])
        for i in range(150):
            k = i % 3
            w.writerow(
                [
                    rng.normal(k, 0.3),
                    rng.normal(-k, 0.3),
                    ["red", "green", "blue"][k],
                    ["setosa", "versicolor", "virginica"][k],
                ]
            )
    code = main(
        [
            "train",
            "multiclass",
            "--data",
            str(path),
            "--label",
            "species",
            "--epochs",
            "3",
            "--quiet",
            "--run-dir",
            str(tmp_path / "run"),
            "--saved-models",
            str(tmp_path / "saved"),
        ]
    )
    assert code == 0
    report = read_report(tmp_path / "run")
    assert report["class_names"] == ["setosa", "versicolor", "virginica"]
    # The default command trains what the quality bench measures: `auto`
    # resolves to the tabular network (the CLI once forced a plain MLP).
    assert report["config"]["model"]["kind"] == "auto"
    assert report["training"]["network"] == "tabular"
    assert len(report["metrics"]["test"]["per_class"]) == 3
    assert (tmp_path / "saved" / "multiclass" / "1" / "saved_model.pb").is_file()


def _write_repeated_rows_csv(path, n=600, prototypes=50, seed=0):
    """Rows that repeat one of `prototypes` rows, each with its own class (90%
    of the time): labels no smooth function of the features learns in a few
    epochs, and that the nearest training rows give away."""
    import csv

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(prototypes, 3)).round(3)
    colours = rng.choice(["red", "green", "blue"], prototypes)
    classes = rng.integers(0, 3, prototypes)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "colour", "grade"])
        for _ in range(n):
            i = rng.integers(prototypes)
            k = classes[i] if rng.uniform() < 0.9 else rng.integers(3)
            w.writerow([*values[i], colours[i], ["low", "mid", "high"][k]])


def test_the_nearest_neighbour_head_is_chosen_on_validation_and_exported(tmp_path):
    from xent.data.tabular import load_csv

    path = tmp_path / "repeated.csv"
    _write_repeated_rows_csv(path)
    data_flags = [f"data.source={path}", "data.label=grade", "train.epochs=3"]
    task, config = load_task("multiclass", data_flags)
    result = run_quietly(task, config, tmp_path)
    test = read_report(result.run_dir)["metrics"]["test"]
    blend = test["neighbor_blend"]
    assert blend["fitted_on"] == "validation"
    assert blend["weight"] < 1.0 and blend["rows"] == blend["training_rows"]
    assert blend["improvement"] > 2 * blend["standard_error"]
    assert blend["val_cross_entropy"] < blend["val_cross_entropy_network"]
    # The export scores the test split exactly as the report did.
    split = load_csv(path, "grade", seed=0)
    names = split.schema.input_names
    feed = {
        names[c]: (v.astype(object) if v.dtype.kind in "OU" else v).reshape(-1, 1)
        for c, v in split.test.features.items()
    }
    out = bare_tensorflow_predict(result.export_path, feed, tmp_path / "o.npz")
    accuracy = np.mean(out["class_id"] == split.test.labels)
    assert accuracy == pytest.approx(test["accuracy"], abs=1e-9)
    assert accuracy > 0.8
    html = (result.run_dir / "report.html").read_text()
    assert "Nearest-neighbour head" in html

    off = [*data_flags, "train.epochs=1", "model.neighbors=false"]
    task, config = load_task("multiclass", off)
    result = run_quietly(task, config, tmp_path, run="off", export=False)
    assert "neighbor_blend" not in read_report(result.run_dir)["metrics"]["test"]

    # The cap bounds the held training rows and the validation rows the
    # choice scores (a seeded sample of each).
    capped = [*data_flags, "train.epochs=1", "model.neighbors_max_rows=30"]
    task, config = load_task("multiclass", capped)
    result = run_quietly(task, config, tmp_path, run="capped", export=False)
    blend = read_report(result.run_dir)["metrics"]["test"]["neighbor_blend"]
    assert blend["rows"] == blend["validation_rows"] == 30
    assert blend["training_rows"] > 30
