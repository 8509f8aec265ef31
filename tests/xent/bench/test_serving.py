"""Tests of `xent.bench.serving`: latency statistics and a quick run (slow)."""

import json

import pytest

from xent.bench import serving
from xent.bench.cli import main


def test_latency_summary():
    summary = serving.latency_summary([0.001] * 98 + [0.010, 0.020], elapsed=0.5)
    assert summary["p50_ms"] == pytest.approx(1.0)
    assert summary["p99_ms"] == pytest.approx(10.0 + 0.01 * 10.0, rel=0.02)
    assert summary["mean_ms"] == pytest.approx(1.28)
    assert summary["rows_per_s"] == pytest.approx(200.0)
    with pytest.raises(ValueError, match="elapsed"):
        serving.latency_summary([], elapsed=1.0)


def test_serving_config_is_checked():
    with pytest.raises(ValueError, match="argument `clients`"):
        serving.ServingConfig(clients=0)
    quick = serving.build_serving_config(quick=True)
    assert quick.quick and quick.requests < serving.ServingConfig().requests


@pytest.mark.slow
def test_quick_serving_run_writes_its_report(tmp_path):
    assert main(["--out", str(tmp_path), "--quick", "--only", "serving"]) == 0
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
