"""Distributed training: `--strategy mirrored` in this process, and (slow)
`--strategy multi_worker` with two worker processes on 127.0.0.1 for the
binary and CTR pipelines, compared with a single-process run.

The single-process reference is `--strategy mirrored`: it reads the same
seeded `tf.data` pipeline (`xent.distribute.array_dataset`), so it takes the
same global batches in the same order as the two workers together. In exact
arithmetic the runs are then identical; in float32 they differ by the order
of the cross-worker sums (and, where the last batch of an epoch splits into
unequal halves, by Keras averaging the two halves' mean losses rather than
taking the mean over the batch). Measured: at most 6e-6 in test log loss
(relative; the CTR run, whose last batch splits 67 + 66) and 1e-4 in AUC (a
rank swap of two nearly equal predictions).
The tolerances below (1e-4 relative log loss, 1e-3 AUC) leave room for
that rounding to grow over the epochs and still catch batch mistakes: on
the CTR case, training one process with half the batch size (as if each
worker took a whole batch of its own) moves the log loss by 8e-3 relative
and the AUC by 0.018.
"""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import read_report
from tests.pipelines.conftest import run_quietly
from tests.pipelines.test_binary import _write_churn_csv
from xent.cli import main

_DIGEST = re.compile(r"worker (\d)/2: weights sha256 ([0-9a-f]{64})")
_WORKER_TIMEOUT_S = 300


def test_mirrored_strategy_trains_on_the_one_cpu_replica(tmp_path):
    _write_churn_csv(tmp_path / "churn.csv", n=120)
    task, config = load_task(
        "binary",
        [
            f"data.source={tmp_path / 'churn.csv'}",
            "data.label=churned",
            "train.epochs=2",
            "train.strategy=mirrored",
        ],
    )
    result = run_quietly(task, config, tmp_path)
    training = read_report(result.run_dir)["training"]
    assert (training["strategy"], training["workers"]) == ("mirrored", 1)
    assert training["replicas"] >= 1  # one per GPU, else the CPU
    assert training["epochs_run"] == 2
    assert len(training["weights_sha256"]) == 64
    assert (result.export_path / "saved_model.pb").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["binary", "--strategy", "ps"], "Invalid value for `train.strategy`"),
        (["binary", "--strategy", "multi_worker"], "needs the TF_CONFIG"),
        (["gan", "--strategy", "mirrored"], "gan trains in one process"),
    ],
)
def test_strategy_flag_errors_name_the_problem(
    argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    run_dir = tmp_path / "run"
    assert main(["train", *argv, "--run-dir", str(run_dir)]) == 2
    assert message in capsys.readouterr().err
    assert not run_dir.exists()


# --------------------------------------------------------------------------
# Two workers on loopback (slow: three TensorFlow processes per test).
# --------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _environ(tmp: Path, name: str, tf_config: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    scratch = tmp / f"tmp-{name}"
    scratch.mkdir()
    env.update(
        XENT_CACHE=str(tmp / "cache"),
        TMPDIR=str(scratch),  # where a non-chief worker keeps its artefacts
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _xent_train(task: str, args: list[str], out: Path, strategy: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "xent",
        "train",
        task,
        *args,
        "--strategy",
        strategy,
        "--quiet",
        "--run-dir",
        str(out / "run"),
        "--saved-models",
        str(out / "saved"),
    ]


def _train_single(task: str, args: list[str], tmp: Path) -> dict:
    out = tmp / "single"
    done = subprocess.run(
        _xent_train(task, args, out, "mirrored"),
        env=_environ(tmp, "single"),
        timeout=_WORKER_TIMEOUT_S,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return read_report(out / "run")


def _train_two_workers(
    task: str, args: list[str], tmp: Path, again: bool = False
) -> tuple[Path, list[str], list[int]]:
    """Runs the task on a two-worker cluster (`again`: a second time, into
    the same folders); returns its output folder, each worker's output and
    exit status. Fails (killing both) when either hangs."""
    out = tmp / "cluster"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = [
        subprocess.Popen(
            _xent_train(task, args, out, "multi_worker"),
            env=_environ(
                tmp,
                f"worker{i}{'-again' if again else ''}",
                {"cluster": cluster, "task": {"type": "worker", "index": i}},
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for worker in workers:
            logs.append(worker.communicate(timeout=_WORKER_TIMEOUT_S)[0])
    finally:
        for worker in workers:
            if worker.poll() is None:  # A worker waits forever for a dead peer.
                worker.kill()
                worker.communicate()
    return out, logs, [worker.returncode for worker in workers]


def _check_cluster_run(
    task: str, out: Path, logs: list[str], codes: list[int], tmp: Path
) -> dict:
    """Both workers succeed with the same weights; only the chief wrote."""
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    digests = {}
    for log in logs:
        (index, digest), *_ = _DIGEST.findall(log)
        digests[int(index)] = digest
    assert set(digests) == {0, 1}
    assert digests[0] == digests[1], "the workers' weights differ"
    report = read_report(out / "run")
    assert report["training"]["weights_sha256"] == digests[0]
    assert (report["training"]["workers"], report["training"]["replicas"]) == (2, 2)
    # One report, one export, by the chief (worker 0); the other worker's
    # scratch directory is gone.
    assert [p.name for p in (out / "saved" / task).iterdir()] == ["1"]
    assert report["export"] == str(out / "saved" / task / "1")
    assert "report:" in logs[0] and "report:" not in logs[1]
    assert not [p for p in (tmp / "tmp-worker1").iterdir() if "xent-worker" in p.name]
    return report


@pytest.mark.slow
def test_two_workers_train_the_binary_pipeline_like_one_process(tmp_path):
    _write_churn_csv(tmp_path / "churn.csv", n=400)
    args = [
        "--data",
        str(tmp_path / "churn.csv"),
        "--label",
        "churned",
        "--epochs",
        "2",
        "--set",
        "train.learning_rate=0.05",
        # The distribution mechanics on a linear model without dropout
        # (whose masks each worker draws for its own half of a batch).
        *("--set", "model.kind=mlp", "--set", "model.hidden=[]"),
        *("--set", "model.dropout=0.0", "--set", "train.schedule=constant"),
        *("--set", "train.weight_decay=0.0", "--set", "train.batch_size=32"),
    ]  # 272 training rows in global batches of 32: the last one splits 8 + 8
    single = _train_single("binary", args, tmp_path)
    report = _check_cluster_run(
        "binary", *_train_two_workers("binary", args, tmp_path), tmp_path
    )
    multi, one = report["metrics"]["test"], single["metrics"]["test"]
    assert multi["log_loss"] == pytest.approx(one["log_loss"], rel=1e-4)
    assert multi["auc"] == pytest.approx(one["auc"], abs=1e-3)
    assert multi["accuracy"] == pytest.approx(one["accuracy"], abs=0.01)
    assert report["training"]["epochs_run"] == single["training"]["epochs_run"]
    # The same command again: the chief refuses the finished run (its
    # backup is not the other workers'), and the other worker stops too.
    _, logs, codes = _train_two_workers("binary", args, tmp_path, again=True)
    assert codes[0] == 2 and codes[1] != 0
    assert "a multi_worker run is not resumed or reused" in logs[0]


@pytest.mark.slow
def test_two_workers_train_the_ctr_pipeline_like_one_process(tmp_path):
    args = [
        "--rows",
        "4005",  # 3205 training rows: the last batch of 133 splits 67 + 66
        "--epochs",
        "2",
        "--set",
        "data.synthetic.vocab_sizes=[10, 50, 500]",
        "--set",
        "data.synthetic.numeric=2",
        "--set",
        "data.synthetic.base_ctr=0.1",
        "--set",
        "data.group_field=c1",
        "--set",
        "train.batch_size=256",
        "--set",
        "train.learning_rate=0.01",
        "--set",
        "train.ema_momentum=0.9",  # averages the last ~10 of the 26 steps
    ]
    single = _train_single("ctr", args, tmp_path)  # also caches the log
    report = _check_cluster_run(
        "ctr", *_train_two_workers("ctr", args, tmp_path), tmp_path
    )
    multi, one = report["metrics"]["test"], single["metrics"]["test"]
    for key in ("log_loss", "normalized_entropy", "expected_log_loss"):
        assert multi[key] == pytest.approx(one[key], rel=1e-4), key
    for key in ("auc", "gauc"):
        assert multi[key] == pytest.approx(one[key], abs=1e-3), key
    assert report["baseline"]["logistic_regression"]  # the chief's baseline
