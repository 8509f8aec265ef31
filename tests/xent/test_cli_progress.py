"""`xent train --quiet`: no progress output anywhere; without it, a line per
stage (data preparation, evaluation, baselines, export)."""

import re

import pytest

from tests.xent.ctr.test_builder import _write_log
from xent.cli import main

TINY = [
    "model.embedding_dim=2",
    "model.hidden=[8]",
    "train.epochs=1",
    "train.batch_size=256",
]
STAGES = (
    "preparing the data",
    "evaluating on the test split",
    "fitting the baselines",
    "exporting the SavedModel",
)


def _train_ctr(tmp_path, monkeypatch, *flags):
    """Trains the CTR task on a new click-log file (prepared, not cached)."""
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    path, _ = _write_log(tmp_path / "log.csv", n=600)
    argv = ["train", "ctr", "--data", str(path), "--label", "click"]
    argv += ["--run-dir", str(tmp_path / "run")]
    argv += ["--saved-models", str(tmp_path / "saved")]
    for override in TINY:
        argv += ["--set", override]
    assert main([*argv, *flags]) == 0


def _results(out: str) -> list[str]:
    """The results table and the paths: what --quiet still prints."""
    start = out.index("test metrics")
    return out[start:].splitlines()


def test_quiet_prints_the_results_and_no_progress(tmp_path, monkeypatch, capsys):
    # One network (the slow test below sees the ensemble's lines).
    _train_ctr(tmp_path, monkeypatch, "--quiet", "--set", "train.ensemble=1")
    out, err = capsys.readouterr()
    assert out.lstrip().startswith("test metrics"), out
    for progress_words in ("preparing", "rows in", " ...", "/step", "Epoch"):
        assert progress_words not in out + err, progress_words
    assert any(line.startswith("ROC AUC") for line in _results(out))
    assert f"export:  {tmp_path / 'saved' / 'ctr' / '1'}" in out


@pytest.mark.slow  # A second training (~1 min); the fast tests check the parts.
def test_without_quiet_every_stage_prints_its_lines(tmp_path, monkeypatch, capsys):
    _train_ctr(tmp_path, monkeypatch)
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    for stage in STAGES:
        start = lines.index(f"{stage} ...")
        assert any(
            re.fullmatch(rf"{stage}: \d+\.\d s", line) for line in lines[start:]
        ), stage
    assert any(line.startswith("preparing ") and "once into" in line for line in lines)
    for split in ("train", "validation", "test"):
        assert any(re.match(rf"  {split}: [\d,]+ rows in ", line) for line in lines)
    assert any(line.startswith("  logistic_regression: ") for line in lines)
    # A click file trains an ensemble of four (`train.ensemble`).
    for member in (2, 3, 4):
        assert f"training ensemble member {member} of 4 ..." in lines
    # Not a terminal: Keras prints a line per epoch, no live bar.
    assert "\r" not in out and "\b" not in out
    assert any(line.startswith("ROC AUC") for line in _results(out))


def test_the_command_line_starts_without_tensorflow_import_noise():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "from xent.cli import main; raise SystemExit(main(['train', '--help']))"
    quiet = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert quiet.returncode == 0 and quiet.stdout.startswith("usage: xent train")
    assert "absl" not in quiet.stderr and "oneDNN" not in quiet.stderr
    # Asked for (level 0), TensorFlow's own lines still come through.
    loud = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
        capture_output=True,
        text=True,
    )
    assert "oneDNN" in loud.stderr
