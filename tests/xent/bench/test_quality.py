"""Tests of `xent.bench.quality`: a quick run and the goals."""

import json

import pytest

from xent.bench import quality
from xent.bench.cli import main


@pytest.fixture(scope="module")
def quality_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_quality")
    assert main(["--out", str(out), "--quick", "--only", "quality"]) == 0
    return out


def test_only_runs_the_selected_benchmark(quality_run):
    assert sorted(p.name for p in quality_run.iterdir()) == [
        "README.md",
        "quality.json",
    ]


def test_quick_quality_records_runs_baselines_and_goals(quality_run):
    report = json.loads((quality_run / "quality.json").read_text())
    assert report["benchmark"] == "quality" and report["quick"] is True
    assert {"title", "goal", "machine", "config", "runs", "summary"} <= set(report)
    assert [(r["task"], r["seed"]) for r in report["runs"]] == [
        ("binary", 0),
        ("multiclass", 0),
    ]
    metrics = {"binary": {"auc", "log_loss"}, "multiclass": {"accuracy", "log_loss"}}
    for run in report["runs"]:
        for model in ("xent", "logistic_regression", "hist_gradient_boosting"):
            assert set(run[model]) == metrics[run["task"]]
            assert all(0.0 <= v < 10.0 for v in run[model].values())
        assert run["epochs_run"] >= 1 and run["seconds"] > 0
    for task, summary in report["summary"].items():
        assert summary["seeds"] == [0]
        assert (
            summary["mean"]["xent"]
            == report["runs"][["binary", "multiclass"].index(task)]["xent"]
        )
        assert isinstance(summary["meets_goal"], bool)
    assert "0.990" in report["summary"]["multiclass"]["goal"]
    readme = (quality_run / "README.md").read_text()
    assert "| task | seed | metric | xent |" in readme
    assert "| binary | 0 | auc |" in readme
    assert "| multiclass | mean | accuracy |" in readme
    assert "Quick mode" in readme


def _quality_runs(task, metric, xent, lr):
    return [
        {
            "task": task,
            "seed": seed,
            "epochs_run": 10,
            "seconds": 1.0,
            "xent": {metric: x, "log_loss": 0.1},
            "logistic_regression": {metric: b, "log_loss": 0.1},
            "hist_gradient_boosting": {metric: 0.5, "log_loss": 0.3},
        }
        for seed, (x, b) in enumerate(zip(xent, lr, strict=True))
    ]


def test_summarize_quality_goals():
    config = quality.QualityConfig()
    below = _quality_runs("binary", "auc", [0.990, 0.994], [0.995, 0.995])
    summary = quality.summarize_quality(below, config)["binary"]
    assert summary["mean"]["xent"]["auc"] == pytest.approx(0.992)
    assert summary["mean"]["logistic_regression"]["auc"] == pytest.approx(0.995)
    assert not summary["meets_goal"]
    loose = quality.QualityConfig(binary_auc_tolerance=0.005)
    assert quality.summarize_quality(below, loose)["binary"]["meets_goal"]
    digits = _quality_runs("multiclass", "accuracy", [0.995, 0.983], [0.9, 0.9])
    summary = quality.summarize_quality(digits, config)
    assert set(summary) == {"multiclass"}  # Only the tasks that ran.
    assert summary["multiclass"]["mean"]["xent"]["accuracy"] == pytest.approx(0.989)
    assert not summary["multiclass"]["meets_goal"]
    # Every seed must reach the goal, not only their mean.
    digits[1]["xent"]["accuracy"] = 0.989
    assert not quality.summarize_quality(digits, config)["multiclass"]["meets_goal"]
    digits[1]["xent"]["accuracy"] = 0.990
    assert quality.summarize_quality(digits, config)["multiclass"]["meets_goal"]


def _csv_runs(case, task, metric, xent, gb):
    runs = _quality_runs(task, metric, xent, [0.5] * len(xent))
    for run, value in zip(runs, gb, strict=True):
        run["case"] = case
        run["hist_gradient_boosting"][metric] = value
    return runs


def test_csv_cases_against_gradient_boosting_and_on_average():
    cases = (
        quality.QualityCase("a", "binary", csv=True),
        quality.QualityCase("b", "multiclass", csv=True),
    )
    config = quality.QualityConfig(cases=cases)
    # a: 0.004 below gradient boosting (within 0.005); b: 0.009 above.
    runs = _csv_runs("a", "binary", "auc", [0.900, 0.910], [0.905, 0.913]) + _csv_runs(
        "b", "multiclass", "accuracy", [0.80, 0.82], [0.80, 0.802]
    )
    summary = quality.summarize_quality(runs, config)
    assert summary["a"]["meets_goal"] and summary["b"]["meets_goal"]
    assert summary["csv_average"]["mean_gap_to_gradient_boosting"] == pytest.approx(
        (-0.004 + 0.009) / 2
    )
    assert summary["csv_average"]["meets_goal"]
    # b 0.011 below: outside the 0.01 accuracy tolerance, and below on average.
    runs[-1]["hist_gradient_boosting"]["accuracy"] = 0.842
    summary = quality.summarize_quality(runs, config)
    assert not summary["b"]["meets_goal"]
    assert not summary["csv_average"]["meets_goal"]


def test_csv_cases_come_from_the_folder(tmp_path):
    assert quality.csv_cases(tmp_path) == ()
    (tmp_path / "german_credit.csv").write_text("a,class\n1,good\n")
    (case,) = quality.csv_cases(tmp_path)
    assert (case.name, case.task, case.csv) == ("german_credit", "binary", True)
    assert case.overrides == (
        f"data.source={tmp_path / 'german_credit.csv'}",
        "data.label=class",
    )


def test_quality_config_checks_its_arguments():
    with pytest.raises(ValueError, match="argument `seeds`"):
        quality.QualityConfig(seeds=())
    with pytest.raises(ValueError, match="argument `overrides`"):
        quality.QualityConfig(overrides={"gan": ("train.epochs=1",)})
    assert quality.build_quality_config(quick=True).seeds == (0,)
    assert quality.build_quality_config().seeds == (0, 1, 2)
