"""Tests of `xent.bench.report`: the JSON files and the README."""

import json

import pytest

from xent.bench import report


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
        path = report.write_report(tmp_path, mine)
    assert path == tmp_path / "mine.json"
    readme = (tmp_path / "README.md").read_text()
    # Sections follow the file names: mine.json, then other.json.
    assert readme.index("## Mine") < readme.index("## Another benchmark")
    assert "| a | 0.500 |" in readme
    assert "| 1.250 | yes |" in readme
    assert "Goal: be fast" in readme
