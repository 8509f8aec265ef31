"""Tests of `xent.bench.loss_step`: the quick run and the paired statistics."""

import json

import pytest

from xent.bench import loss_step
from xent.bench.cli import main

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
    assert main(["--out", str(out), "--quick", "--only", "loss_step"]) == 0
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


def test_summarize_pairs_uses_paired_ratios():
    # Ratios 2, 1, 0.5 (pairs), although the medians of each side are equal.
    summary = loss_step.summarize_pairs([2.0, 2.0, 2.0], [1.0, 2.0, 4.0])
    assert summary["ours_s_per_step"] == 2.0
    assert summary["builtin_s_per_step"] == 2.0
    assert summary["ratio_median"] == 1.0
    assert (summary["ratio_min"], summary["ratio_max"]) == (0.5, 2.0)
    assert summary["meets_goal"]
    assert not loss_step.summarize_pairs([1.2, 1.3], [1.0, 1.0])["meets_goal"]


def test_summarize_pairs_rejects_unpaired_inputs():
    with pytest.raises(ValueError, match="same length"):
        loss_step.summarize_pairs([1.0, 2.0], [1.0])


def test_step_case_names_an_unknown_model():
    with pytest.raises(ValueError, match="argument `model`"):
        loss_step.StepCase(
            name="x",
            model="resnet",
            loss="BinaryCrossentropy",
            n_samples=8,
            batch_size=4,
            input_shape=(3,),
            n_classes=2,
        )
