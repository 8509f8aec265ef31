"""Tests of `xent.bench.precision_steps`: the quick run, the paired statistics
and the checks of the configuration. No timing is asserted."""

import json
import math

import pytest

from xent import precision
from xent.bench import precision_steps
from xent.bench.cli import BENCHMARKS
from xent.bench.cli import main
from xent.config import ConfigError

_REPORT_KEYS = {
    "benchmark",
    "title",
    "goal",
    "notes",
    "quick",
    "machine",
    "config",
    "results",
    "goals",
    "table",
}
_CASE_KEYS = {
    "case",
    "model",
    "batch_size",
    "steps_per_repeat",
    "repeats",
    "dtype_policy",
    "float32_s_per_step",
    "bfloat16_s_per_step",
    "float32_examples_per_s",
    "bfloat16_examples_per_s",
    "speed_ratio_median",
    "speed_ratio_q25",
    "speed_ratio_q75",
    "bf16_faster",
    "loss_finite",
    "last_loss",
    "float32_s_per_step_all",
    "bfloat16_s_per_step_all",
    "wall",
    "cpu",
}


def _positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert main(["--out", str(out), "--quick", "--only", "precision"]) == 0
    return out


def test_precision_is_a_benchmark_of_the_command_line():
    assert "precision" in BENCHMARKS


def test_quick_run_writes_the_json_report(quick_run):
    report = json.loads((quick_run / "precision.json").read_text())
    assert set(report) >= _REPORT_KEYS
    assert report["benchmark"] == "precision"
    assert report["quick"] is True
    assert "informational" in report["goal"]
    assert any("measured elsewhere" in note for note in report["notes"])
    results = report["results"]
    assert results["precision_auto"] == precision.resolve("auto").as_dict()
    flags = precision.cpu_flags()
    assert results["cpu_flags"]["amx_bf16"] == ("amx_bf16" in flags)
    assert results["cpu_flags"]["avx512_bf16"] == ("avx512_bf16" in flags)
    cases = results["cases"]
    assert [c["case"] for c in cases] == list(precision_steps.CASES)
    for case in cases:
        assert set(case) >= _CASE_KEYS
        assert case["dtype_policy"] == {
            "float32": "float32",
            "bfloat16": "mixed_bfloat16",
        }
        for name in ("float32", "bfloat16"):
            assert _positive(case[f"{name}_s_per_step"])
            assert _positive(case[f"{name}_examples_per_s"])
            steps = case[f"{name}_s_per_step_all"]
            assert len(steps) == case["repeats"]
            assert all(_positive(s) for s in steps)
            assert case["loss_finite"][name] is True
            assert all(math.isfinite(v) for v in case["last_loss"][name].values())
        assert _positive(case["speed_ratio_median"])
        goal = report["goals"][case["case"]]
        assert goal["bf16_speed_ratio"] == case["speed_ratio_median"]
        assert isinstance(goal["bf16_faster"], bool)
        assert isinstance(goal["auto_agrees"], bool)
    assert set(cases[1]["last_loss"]["float32"]) == {"d_loss", "g_loss"}


def test_quick_run_writes_the_markdown_table(quick_run):
    readme = (quick_run / "README.md").read_text()
    assert "| case | batch | steps x repeats | float32 ms/step |" in readme
    assert "| digits CNN (multiclass default) | " in readme
    assert "Quick mode" in readme


def test_summary_uses_paired_speed_ratios():
    # Speed ratios float32 / bfloat16: 2, 1, 2, 1.5 (sorted 1, 1.5, 2, 2).
    summary = precision_steps.summarize_precision_pairs(
        [2.0, 3.0, 4.0, 6.0], [1.0, 3.0, 2.0, 4.0]
    )
    assert summary["float32_s_per_step"] == pytest.approx(3.5)
    assert summary["bfloat16_s_per_step"] == pytest.approx(2.5)
    assert summary["speed_ratio_median"] == pytest.approx(1.75)
    # Linear interpolation between order statistics: 1 + 0.75 * 0.5.
    assert summary["speed_ratio_q25"] == pytest.approx(1.375)
    assert summary["speed_ratio_q75"] == pytest.approx(2.0)
    assert (summary["speed_ratio_min"], summary["speed_ratio_max"]) == (1.0, 2.0)
    assert summary["bf16_faster"] is True


def test_summary_says_slower_bfloat16_is_not_faster():
    # Ratios 0.5, 0.5, 2: one fast repeat does not make bfloat16 faster.
    summary = precision_steps.summarize_precision_pairs(
        [1.0, 1.0, 1.0], [2.0, 2.0, 0.5]
    )
    assert summary["speed_ratio_median"] == pytest.approx(0.5)
    assert summary["bfloat16_s_per_step"] == pytest.approx(2.0)
    assert summary["bf16_faster"] is False


@pytest.mark.parametrize(
    ("float32", "bfloat16", "match"),
    [
        ([1.0, 2.0], [1.0], "same length"),
        ([], [], "non-empty"),
        ([1.0], [0.0], "finite positive"),
        ([float("nan")], [1.0], "finite positive"),
    ],
)
def test_summary_rejects_bad_times(float32, bfloat16, match):
    with pytest.raises(ValueError, match=match):
        precision_steps.summarize_precision_pairs(float32, bfloat16)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: precision_steps.PrecisionCase("resnet", 1), "argument `name`"),
        (lambda: precision_steps.PrecisionCase("gan", 0), "steps_per_repeat=0"),
        (
            lambda: precision_steps.PrecisionCase("ctr_deepfm", 1, ("x=1",)),
            "argument `overrides`",
        ),
        (lambda: precision_steps.PrecisionConfig(cases=()), "argument `cases`"),
        (
            lambda: precision_steps.PrecisionConfig(
                cases=(precision_steps.PrecisionCase("gan", 1),) * 2
            ),
            "each name once",
        ),
        (
            lambda: precision_steps.PrecisionConfig(
                cases=(precision_steps.PrecisionCase("gan", 1),), repeats=0
            ),
            "repeats=0",
        ),
        (lambda: precision_steps.DeepFMCase(vocab_sizes=()), "vocab_sizes"),
        (lambda: precision_steps.DeepFMCase(batch_size=0), "batch_size=0"),
        (lambda: precision_steps.DeepFMCase(click_rate=1.0), "click_rate"),
    ],
)
def test_bad_config_values_are_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_unknown_task_override_names_the_key():
    case = precision_steps.PrecisionCase("digits_cnn", 1, ("model.nope=1",))
    config = precision_steps.PrecisionConfig(cases=(case,), repeats=1)
    with pytest.raises(ConfigError, match="nope"):
        precision_steps.run_precision(config)
