"""Tests of `xent.bench`: the quick run and the report writer (no timings)."""

import json

import pytest

from xent import bench

_CASE_KEYS = {
    "case",
    "loss",
    "steps_per_repeat",
    "batch_size",
    "repeats",
    "initial_loss_abs_diff",
    "ours_s_per_step",
    "builtin_s_per_step",
    "ratio_median",
    "ratio_q25",
    "ratio_q75",
    "ratio_min",
    "ratio_max",
    "meets_goal",
    "ours_s_per_step_all",
    "builtin_s_per_step_all",
    "wall",
    "cpu",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert bench.main(["--out", str(out), "--quick", "--only", "loss_step"]) == 0
    return out


def test_quick_run_writes_the_json_report(quick_run):
    report = json.loads((quick_run / "loss_step.json").read_text())
    assert report["benchmark"] == "loss_step"
    assert report["quick"] is True
    assert {"title", "goal", "machine", "config", "cases", "table"} <= set(report)
    assert {"cpu_count", "tensorflow", "keras", "date"} <= set(report["machine"])
    assert [c["case"] for c in report["cases"]] == ["mlp_binary", "cnn_sparse"]
    for case in report["cases"]:
        assert set(case) >= _CASE_KEYS
        assert len(case["ours_s_per_step_all"]) == case["repeats"]
        assert len(case["builtin_s_per_step_all"]) == case["repeats"]
        for timing in ("wall", "cpu"):
            assert {"ratio_median", "ours_s_per_step_all"} <= set(case[timing])
        # Same weights and data: both losses agree before training.
        assert case["initial_loss_abs_diff"] < 1e-5


def test_quick_run_writes_the_markdown_table(quick_run):
    readme = (quick_run / "README.md").read_text()
    assert "| case | loss |" in readme
    assert "|---|" in readme
    assert "| mlp_binary | BinaryCrossentropy |" in readme
    assert "| cnn_sparse | SparseCategoricalCrossentropy |" in readme
    assert "Goal: ratio ours/Keras <= 1.00" in readme
    assert "Quick mode" in readme


def test_readme_is_regenerated_from_every_json(tmp_path):
    other = {
        "benchmark": "other",
        "title": "Another benchmark",
        "table": {"columns": ["name", "value"], "rows": [["a", 0.5]]},
    }
    (tmp_path / "other.json").write_text(json.dumps(other))
    (tmp_path / "notes.json").write_text(json.dumps({"not": "a report"}))
    mine = {
        "benchmark": "mine",
        "title": "Mine",
        "goal": "be fast",
        "table": {"columns": ["x", "ok"], "rows": [[1.25, True]]},
    }
    with pytest.warns(UserWarning, match="notes.json"):
        path = bench.write_report(tmp_path, mine)
    assert path == tmp_path / "mine.json"
    readme = (tmp_path / "README.md").read_text()
    # Sections follow the file names: mine.json, then other.json.
    assert readme.index("## Mine") < readme.index("## Another benchmark")
    assert "| a | 0.500 |" in readme
    assert "| 1.250 | yes |" in readme
    assert "Goal: be fast" in readme


def test_summarize_pairs_uses_paired_ratios():
    # Ratios 2, 1, 0.5 (pairs), although the medians of each side are equal.
    summary = bench.summarize_pairs([2.0, 2.0, 2.0], [1.0, 2.0, 4.0])
    assert summary["ours_s_per_step"] == 2.0
    assert summary["builtin_s_per_step"] == 2.0
    assert summary["ratio_median"] == 1.0
    assert (summary["ratio_min"], summary["ratio_max"]) == (0.5, 2.0)
    assert summary["meets_goal"]
    assert not bench.summarize_pairs([1.2, 1.3], [1.0, 1.0])["meets_goal"]


def test_summarize_pairs_rejects_unpaired_inputs():
    with pytest.raises(ValueError, match="same length"):
        bench.summarize_pairs([1.0, 2.0], [1.0])


def test_step_case_names_an_unknown_model():
    with pytest.raises(ValueError, match="argument `model`"):
        bench.StepCase(
            name="x",
            model="resnet",
            loss="BinaryCrossentropy",
            n_samples=8,
            batch_size=4,
            input_shape=(3,),
            n_classes=2,
        )


def test_out_is_required(capsys):
    with pytest.raises(SystemExit):
        bench.main([])
    assert "--out" in capsys.readouterr().err


@pytest.fixture(scope="module")
def quality_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_quality")
    assert bench.main(["--out", str(out), "--quick", "--only", "quality"]) == 0
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
    config = bench.QualityConfig()
    below = _quality_runs("binary", "auc", [0.990, 0.994], [0.995, 0.995])
    summary = bench.summarize_quality(below, config)["binary"]
    assert summary["mean"]["xent"]["auc"] == pytest.approx(0.992)
    assert summary["mean"]["logistic_regression"]["auc"] == pytest.approx(0.995)
    assert not summary["meets_goal"]
    loose = bench.QualityConfig(binary_auc_tolerance=0.005)
    assert bench.summarize_quality(below, loose)["binary"]["meets_goal"]
    digits = _quality_runs("multiclass", "accuracy", [0.995, 0.983], [0.9, 0.9])
    summary = bench.summarize_quality(digits, config)
    assert set(summary) == {"multiclass"}  # Only the tasks that ran.
    assert summary["multiclass"]["mean"]["xent"]["accuracy"] == pytest.approx(0.989)
    assert not summary["multiclass"]["meets_goal"]
    digits[1]["xent"]["accuracy"] = 0.987
    assert bench.summarize_quality(digits, config)["multiclass"]["meets_goal"]


def test_quality_config_checks_its_arguments():
    with pytest.raises(ValueError, match="argument `seeds`"):
        bench.QualityConfig(seeds=())
    with pytest.raises(ValueError, match="argument `overrides`"):
        bench.QualityConfig(overrides={"gan": ("train.epochs=1",)})
    assert bench.build_quality_config(quick=True).seeds == (0,)
    assert bench.build_quality_config().seeds == (0, 1, 2)


def test_only_names_the_benchmarks(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--out", str(tmp_path), "--only", "speed"])
    err = capsys.readouterr().err
    assert "quality" in err and "loss_step" in err
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# The `serving` benchmark.
# ---------------------------------------------------------------------------
def test_latency_summary():
    summary = bench.latency_summary([0.001] * 98 + [0.010, 0.020], elapsed=0.5)
    assert summary["p50_ms"] == pytest.approx(1.0)
    assert summary["p99_ms"] == pytest.approx(10.0 + 0.01 * 10.0, rel=0.02)
    assert summary["mean_ms"] == pytest.approx(1.28)
    assert summary["rows_per_s"] == pytest.approx(200.0)
    with pytest.raises(ValueError, match="elapsed"):
        bench.latency_summary([], elapsed=1.0)


def test_serving_config_is_checked():
    with pytest.raises(ValueError, match="argument `clients`"):
        bench.ServingConfig(clients=0)
    quick = bench.build_serving_config(quick=True)
    assert quick.quick and quick.requests < bench.ServingConfig().requests


@pytest.mark.slow
def test_quick_serving_run_writes_its_report(tmp_path):
    assert bench.main(["--out", str(tmp_path), "--quick", "--only", "serving"]) == 0
    report = json.loads((tmp_path / "serving.json").read_text())
    assert report["benchmark"] == "serving" and report["quick"] is True
    paths = [(c["path"], c["batching"], c["clients"]) for c in report["cases"]]
    assert paths == [
        (path, batching, clients)
        for path, batching in [
            ("direct", "-"),
            ("REST", "off"),
            ("gRPC", "off"),
            ("REST", "on"),
            ("gRPC", "on"),
        ]
        for clients in (1, 4)
    ]
    for case in report["cases"]:
        assert 0 < case["p50_ms"] <= case["p99_ms"]
        assert case["rows_per_s"] > 0
    goals = [c for c in report["cases"] if c["goal"]]
    assert len(goals) == 4
    readme = (tmp_path / "README.md").read_text()
    assert "| path | batching | clients x requests |" in readme
