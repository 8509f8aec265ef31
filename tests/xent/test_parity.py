"""Smoke test of the parity report (`python -m xent.parity`), shrunk to seconds."""

from __future__ import annotations

import json

import pytest

from xent import parity


def test_parity_main_writes_markdown_and_json(tmp_path):
    out = tmp_path / "reports"
    argv = ["--out", str(out), "--losses", "BinaryCrossentropy"]
    argv += ["CategoricalFocalCrossentropy", "--dtypes", "float32", "float16"]
    assert parity.main([*argv, "--batch", "4"]) == 0
    markdown = (out / "parity.md").read_text()
    report = json.loads((out / "parity.json").read_text())

    assert markdown.startswith("# Parity of `xent.losses`")
    assert "clipped to\n`[1e-7, 1 - 1e-7]`" in markdown
    assert set(report) == {"config", "rows"}
    assert report["config"]["dtypes"] == ["float32", "float16"]
    assert len(report["rows"]) == 2 * 2 * 2  # losses x from_logits x dtypes
    for row in report["rows"]:
        assert set(row) == {
            "loss",
            "from_logits",
            "dtype",
            "ours_vs_keras",
            "ours_vs_reference",
            "keras_vs_reference",
        }
        for key in ("ours_vs_keras", "ours_vs_reference", "keras_vs_reference"):
            for part in ("value", "grad"):
                assert set(row[key][part]) == {"max_abs", "max_rel", "nonfinite"}
        if row["dtype"] == "float32" and row["from_logits"]:
            assert row["ours_vs_keras"]["value"]["max_abs"] < 1e-5
            assert row["ours_vs_reference"]["value"]["nonfinite"] == 0


def test_parity_report_shows_keras_failures_as_non_finite():
    """Keras's float16 clip bound `1 - 1e-7` rounds to 1: `log(1 - 1)`."""
    report = parity.build_report(["BinaryCrossentropy"], ["float16"], batch=4)
    (row,) = [r for r in report["rows"] if not r["from_logits"]]
    assert row["keras_vs_reference"]["value"]["nonfinite"] > 0
    assert row["ours_vs_reference"]["value"]["nonfinite"] == 0
    assert "nan" in parity.render_markdown(report)


def test_parity_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="dtypes"):
        parity.build_report(dtypes=["float8"])
