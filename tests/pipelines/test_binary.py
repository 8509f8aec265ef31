"""Smoke test: the binary pipeline end to end on a CSV the test writes, and
on the embedded breast cancer default; plus `xent predict` / `evaluate`."""

import csv

import numpy as np
import pytest

from tests.pipelines.conftest import bare_tensorflow_predict
from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import read_report
from tests.pipelines.conftest import run_quietly
from xent.callbacks import read_event_tags
from xent.cli import main


def _write_churn_csv(path, n=240, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tenure months", "plan", "monthly", "churned"])
        for i in range(n):
            tenure = rng.integers(1, 60)
            plan = rng.choice(["basic", "pro", "team"])
            monthly = "" if i % 17 == 0 else f"{rng.normal(50, 10):.2f}"
            logit = 1.5 - 0.08 * tenure + (1.0 if plan == "basic" else -0.5)
            churned = "yes" if rng.uniform() < 1 / (1 + np.exp(-logit)) else "no"
            w.writerow([tenure, plan, monthly, churned])


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("binary")
    _write_churn_csv(tmp / "churn.csv")
    task, config = load_task(
        "binary",
        [
            f"data.source={tmp / 'churn.csv'}",
            "data.label=churned",
            "train.epochs=5",
            "train.learning_rate=0.05",
            "loss.class_weight=balanced",
        ],
    )
    return run_quietly(task, config, tmp), tmp


def test_csv_run_writes_the_report_with_baselines(churn_run):
    result, _ = churn_run
    report = read_report(result.run_dir)
    assert report["task"] == "binary"
    assert report["class_names"] == ["no", "yes"]
    assert sum(report["dataset"]["rows"].values()) == 240
    assert report["dataset"]["features"]["categorical"] == ["plan"]
    test = report["metrics"]["test"]
    for key in (
        "auc",
        "pr_auc",
        "log_loss",
        "accuracy",
        "brier",
        "ece",
        "precision",
        "recall",
        "f1",
        "best_f1_threshold",
    ):
        assert key in test, key
    assert set(report["baseline"]) == {"logistic_regression", "hist_gradient_boosting"}
    assert "auc" in report["baseline"]["logistic_regression"]
    html = (result.run_dir / "report.html").read_text()
    for png in ("roc.png", "pr.png", "calibration.png", "confusion_matrix.png"):
        assert (result.run_dir / png).is_file() and png in html
    tags = read_event_tags(result.run_dir / "logs")
    assert "pr_curve" in tags["validation"]
    assert "epoch_loss_gap" in tags["validation"]


def test_export_takes_raw_columns_in_bare_tensorflow(churn_run, tmp_path):
    result, _ = churn_run
    feed = {
        "tenure_months": np.array([[3.0], [50.0], [np.nan]], "float32"),
        "plan": np.array([["basic"], ["team"], ["never-seen"]], dtype=object),
        "monthly": np.array([[40.0], [np.nan], [55.0]], "float32"),
    }
    out = bare_tensorflow_predict(result.export_path, feed, tmp_path / "o.npz")
    probs = out["probabilities"][:, 0]
    assert np.all(np.isfinite(probs)) and np.all((probs >= 0) & (probs <= 1))
    assert [v.decode() for v in out["label"]] == [
        "yes" if p >= 0.5 else "no" for p in probs
    ]


def test_predict_and_evaluate_cli(churn_run, tmp_path, capsys):
    result, tmp = churn_run
    out = tmp_path / "scores.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(result.export_path),
                "--data",
                str(tmp / "churn.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["p_yes", "class_id", "label"] and len(rows) == 241
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(result.export_path),
                "--data",
                str(tmp / "churn.csv"),
                "--label",
                "churned",
                "--out",
                str(tmp_path / "eval"),
            ]
        )
        == 0
    )
    report = read_report(tmp_path / "eval")
    assert 0.5 < report["metrics"]["test"]["auc"] <= 1.0


def test_cli_errors_name_the_problem_without_traceback(churn_run, tmp_path, capsys):
    result, tmp = churn_run
    bad = tmp_path / "bad.csv"
    bad.write_text("tenure months,plan,monthly\n3,basic,abc\n")
    assert (
        main(
            [
                "predict",
                "--model",
                str(result.export_path),
                "--data",
                str(bad),
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "bad.csv:2" in err and "monthly" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()
    assert main(["train", "binary", "--set", "train.epochz=1"]) == 2
    assert "train.epochz" in capsys.readouterr().err
    assert main(["train", "binary", "--data", str(bad)]) == 2
    assert "data.label" in capsys.readouterr().err


def test_breast_cancer_default_runs_end_to_end(tmp_path):
    task, config = load_task("binary", ["train.epochs=3"])
    result = run_quietly(task, config, tmp_path)
    report = read_report(result.run_dir)
    assert report["dataset"]["name"] == "breast_cancer"
    assert report["metrics"]["test"]["auc"] > 0.9
    assert report["baseline"]["logistic_regression"]["auc"] > 0.98
