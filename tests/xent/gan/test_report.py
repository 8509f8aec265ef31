"""Tests of `xent.gan.report`: the GAN's report sections."""

from pathlib import Path

from xent.gan import report
from xent.gan.classifier import EvaluationClassifier


def _classifier():
    info = {"key": "k", "source": "digits", "test_metrics": {"accuracy": 0.9}}
    return EvaluationClassifier(None, None, ("0", "1"), info, Path("/cache/k"))


def test_sections_report_the_classifier_title_and_goal():
    metrics = {"frechet_ratio": 1.5, "min_class_fraction": 0.06}
    out = report.build_sections(_classifier(), "digits", False, metrics)
    assert out["evaluation_classifier"] == {
        "path": "/cache/k",
        "key": "k",
        "source": "digits",
        "test_metrics": {"accuracy": 0.9},
    }
    assert out["html"]["title"] == "Evaluation report — digits — DCGAN"
    assert out["html"]["metrics_note"] == report.METRICS_NOTE
    assert out["goal"] == {
        "frechet_ratio_max": 2.0,
        "min_class_fraction": 0.05,
        "met": True,
    }


def test_the_goal_needs_both_the_ratio_and_the_coverage():
    for ratio, fraction in ((2.5, 0.1), (1.0, 0.01), (float("nan"), 0.1)):
        metrics = {"frechet_ratio": ratio, "min_class_fraction": fraction}
        out = report.build_sections(_classifier(), "d", True, metrics)
        assert out["goal"]["met"] is False
        assert "class-conditional DCGAN" in out["html"]["title"]
