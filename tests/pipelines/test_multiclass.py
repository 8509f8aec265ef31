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
    data = task.build_inputs(config)
    images = data.splits["test"][0][:16]
    out = bare_tensorflow_predict(
        result.export_path, {"image": images}, tmp_path / "o.npz"
    )
    probs = out["probabilities"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
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
    assert report["config"]["model"]["kind"] == "mlp"
    assert len(report["metrics"]["test"]["per_class"]) == 3
    assert (tmp_path / "saved" / "multiclass" / "1" / "saved_model.pb").is_file()
