"""Every user mistake is one line `xent <cmd>: error: ...`, exit 2, no traceback.

The commands run in a subprocess, as users run them, so that nothing (a
traceback, a half-written file, TensorFlow's own logging of the failure) is
hidden by pytest's capture.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import run_quietly

_FEATURES = ["tenure", "plan"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """A tiny binary model exported from `tenure,plan,churned` rows."""
    tmp = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    lines = ["tenure,plan,churned"]
    for i in range(80):
        tenure = int(rng.integers(1, 60))
        lines.append(f"{tenure},{'ab'[i % 2]},{'yes' if tenure < 20 else 'no'}")
    data = tmp / "churn.csv"
    data.write_text("\n".join(lines) + "\n")
    task, config = load_task(
        "binary",
        [f"data.source={data}", "data.label=churned", "train.epochs=1"],
    )
    return run_quietly(task, config, tmp).export_path


def _xent(*args, cwd=None):
    """Runs `python -m xent ARGS`; returns (exit status, stdout, stderr)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "xent", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )
    return done.returncode, done.stdout, done.stderr


def _assert_one_line_error(result, command: str, *needles: str) -> str:
    code, _, stderr = result
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"xent {command}: error: ")]
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    assert len(errors) == 1, stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _csv(path, text):
    path.write_text(text)
    return path


def test_predict_data_or_out_naming_a_directory(export_dir, tmp_path):
    good = _csv(tmp_path / "new.csv", "tenure,plan\n3,a\n")
    result = _xent("predict", "--model", export_dir, "--data", tmp_path, "--out", "x")
    _assert_one_line_error(result, "predict", "--data", str(tmp_path), "directory")
    out_dir = tmp_path / "outdir"
    out_dir.mkdir()
    result = _xent("predict", "--model", export_dir, "--data", good, "--out", out_dir)
    _assert_one_line_error(result, "predict", "--out", str(out_dir), "directory")
    assert list(out_dir.iterdir()) == []


def test_predict_with_a_truncated_saved_model(export_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(export_dir, broken)
    pb = broken / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[: pb.stat().st_size // 2])
    good = _csv(tmp_path / "new.csv", "tenure,plan\n3,a\n")
    out = tmp_path / "scores.csv"
    result = _xent("predict", "--model", broken, "--data", good, "--out", out)
    _assert_one_line_error(result, "predict", str(broken), "cannot load")
    assert not out.exists()


@pytest.mark.parametrize(
    "text, needles",
    [
        ("tenure,plan,plan\n3,a,b\n", ["new.csv:1", "'plan'", "more than once"]),
        ("tenure,plan\n", ["new.csv", "no data rows"]),
        ("tenure,region\n3,x\n", ["missing column(s) ['plan']", "['region']"]),
    ],
    ids=["duplicated-column", "header-only", "missing-and-extra-columns"],
)
def test_predict_file_problems_are_named(export_dir, tmp_path, text, needles):
    data = _csv(tmp_path / "new.csv", text)
    out = tmp_path / "scores.csv"
    result = _xent("predict", "--model", export_dir, "--data", data, "--out", out)
    _assert_one_line_error(result, "predict", *needles)
    assert not out.exists()


def test_predict_names_the_extra_columns_it_ignores(export_dir, tmp_path):
    data = _csv(tmp_path / "new.csv", "id,tenure,plan\n7,3,a\n8,40,b\n")
    out = tmp_path / "scores.csv"
    code, stdout, stderr = _xent(
        "predict", "--model", export_dir, "--data", data, "--out", out
    )
    assert code == 0, stderr
    assert "ignoring column(s) ['id']" in stderr
    assert out.read_text().count("\n") == 3
    assert "scored 2 rows" in stdout


def test_a_10_mb_header_line_fails_fast(export_dir, tmp_path):
    data = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(1_300_000))[: 10 << 20]
    data.write_text(header + "\n1,2\n")
    out = tmp_path / "scores.csv"
    result = _xent("predict", "--model", export_dir, "--data", data, "--out", out)
    _assert_one_line_error(result, "predict", f"{data}:1", "1 MiB")
    result = _xent(
        "train", "binary", "--data", data, "--label", "c0", "--run-dir",
        tmp_path / "run", "--no-export", "--quiet",
    )  # fmt: skip
    _assert_one_line_error(result, "train", f"{data}:1", "1 MiB")


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.batch_size=0", "train.batch_size"),
        ("train.learning_rate=-1", "train.learning_rate"),
        ("train.weight_decay=-0.1", "train.weight_decay"),
        ("train.warmup_fraction=1", "train.warmup_fraction"),
        ("model.frequency_spread=0.5", "frequency_spread"),
        ("model.members=0", "members"),
        ("model.dropout=1", "dropout"),
    ],
)
def test_train_config_ranges_are_one_line(tmp_path, capsys, override, key):
    from xent import cli

    # In this process (the subprocess tests above cover the command's own
    # start): a config error is refused before any data is read.
    run = tmp_path / "run"
    status = cli.main(
        [
            "train", "binary", "--set", override, "--run-dir", str(run),
            "--quiet", "--saved-models", str(tmp_path / "saved"),
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    _assert_one_line_error((status, out, err), "train", key)
    assert not (run / "report.json").exists()
    assert not (tmp_path / "saved").exists()
