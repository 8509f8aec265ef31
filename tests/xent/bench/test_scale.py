"""Tests of `xent.bench.scale`: the file it writes, the goal arithmetic, and
a quick run of two sizes end to end (slow)."""

import json

import numpy as np
import pytest

from xent.bench import scale
from xent.bench.cli import main
from xent.ctr.readers import infer_schema
from xent.ctr.readers import iter_rows


def test_the_file_is_a_criteo_log_the_reader_reads(tmp_path):
    path = tmp_path / "log.txt"
    size = scale.write_criteo_file(path, 3000, seed=1)
    assert size == 3000 * (1 + 13 * 6 + 26 * 9 + 1)
    schema = infer_schema(path, format="criteo")
    assert len(schema.numeric) == 13 and len(schema.categorical) == 26
    rows = list(iter_rows(path, schema))
    assert len(rows) == 3000
    labels = np.array([row[schema.label] for row in rows])
    assert set(np.unique(labels)) <= {0, 1} and 0.02 < labels.mean() < 0.6
    first = rows[0]
    assert all(len(first[c]) == 8 for c in schema.categorical)
    assert all(np.isfinite(first[c]) and first[c] >= 0 for c in schema.numeric)
    # The first categorical column is nearly unique per row; the rest repeat.
    c1 = {row[schema.categorical[0]] for row in rows}
    c5 = {row[schema.categorical[4]] for row in rows}
    assert len(c1) == 3000 and len(c5) < 100
    # Seeded: the same file again.
    again = tmp_path / "again.txt"
    scale.write_criteo_file(again, 3000, seed=1)
    assert again.read_bytes() == path.read_bytes()


def _run(rows, seconds, peak):
    return {
        "rows": rows,
        "microseconds_per_row": {"total": 1e6 * seconds / rows},
        "peak_rss_bytes": peak,
    }


def test_goals_are_ratios_of_the_smallest_and_largest_runs():
    gib = 1 << 30
    runs = [
        _run(1_000_000, 10.0, 1 * gib),
        _run(3_000_000, 31.0, 1.5 * gib),
        _run(10_000_000, 120.0, 2.5 * gib),
    ]
    goals = scale.scale_goals(runs)
    assert goals["rows_ratio"] == 10.0
    assert goals["time_per_row_ratio"] == pytest.approx(1.2)
    assert goals["peak_memory_ratio"] == pytest.approx(2.5)
    assert goals["largest_peak_gib"] == pytest.approx(2.5)
    assert goals["time_per_row_met"] and goals["peak_memory_met"]
    assert goals["memory_6gb_met"]
    runs[-1]["peak_rss_bytes"] = 7 * gib
    goals = scale.scale_goals(runs)
    assert not goals["peak_memory_met"] and not goals["memory_6gb_met"]
    # Below 10M rows the 6 GB goal does not apply.
    assert "memory_6gb_met" not in scale.scale_goals(runs[:2])


def test_config_is_checked():
    with pytest.raises(ValueError, match="sizes"):
        scale.ScaleConfig(sizes=(1_000_000,))
    with pytest.raises(ValueError, match="smallest first"):
        scale.ScaleConfig(sizes=(3_000_000, 1_000_000))
    with pytest.raises(ValueError, match="sizes"):
        scale.ScaleConfig(sizes=(10, 2000))


def test_peak_rss_is_read_from_proc():
    peak = scale.peak_rss_bytes()
    assert peak is None or peak > 10 << 20  # This process holds TensorFlow.


@pytest.mark.slow
def test_quick_scale_run_reports_every_stage(tmp_path):
    assert main(["--out", str(tmp_path), "--quick", "--only", "scale"]) == 0
    report = json.loads((tmp_path / "scale.json").read_text())
    assert report["benchmark"] == "scale" and report["quick"] is True
    runs = report["results"]["runs"]
    assert [r["rows"] for r in runs] == [5_000, 15_000]
    for run in runs:
        assert sum(run["split_rows"].values()) == run["rows"]
        assert list(run["stages"]) == list(scale.STAGES)
        for stage in run["stages"].values():
            assert stage["seconds"] > 0 and stage["peak_rss_bytes"] > 0
        assert 0.5 < run["test_auc"] <= 1.0
    assert set(report["goals"]) >= {"time_per_row_ratio", "peak_memory_ratio"}
    assert "prepare µs/row" in (tmp_path / "README.md").read_text()


def test_overrides_reach_the_notes():
    config = scale.ScaleConfig(
        sizes=(1000, 2000), overrides=("train.optimizer=lazy_adam",)
    )
    runs = [
        {"rows": n, "train_cached_in_memory": True, "write_seconds": 1.0}
        for n in config.sizes
    ]
    assert "Overrides: train.optimizer=lazy_adam." in scale.scale_notes(config, runs)[0]
    assert (
        "Overrides"
        not in scale.scale_notes(scale.ScaleConfig(sizes=(1000, 2000)), runs)[0]
    )
