"""`xent train --on-bad-rows/--max-bad-rows`: flags, report, one-line errors."""

import json

import numpy as np
import pytest

from xent.cli import main


def _churn_csv(path, n=80, bad=()):
    """`tenure,plan,churned` rows; the lines in `bad` (1-based) replaced."""
    rng = np.random.default_rng(0)
    lines = [b"tenure,plan,churned"]
    for i in range(n):
        tenure = rng.integers(1, 60)
        churned = "yes" if tenure < 20 else "no"
        lines.append(f"{tenure},{'ab'[i % 2]},{churned}".encode())
    for line, text in bad:
        lines[line - 1] = text
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _click_csv(path, n=400, bad=()):
    rng = np.random.default_rng(0)
    lines = ["click,site,price"]
    for _ in range(n):
        site = rng.integers(0, 4)
        lines.append(
            f"{int(rng.random() < 0.2 + 0.1 * site)},s{site},{rng.random():.3f}"
        )
    for line, text in bad:
        lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(task, data, run_dir, *flags):
    args = ["train", task, "--data", str(data), "--run-dir", str(run_dir)]
    args += ["--epochs", "1", "--no-export", "--quiet", *flags]
    return main(args)


def _report(run):
    return json.loads((run / "report.json").read_text()), (
        run / "report.html"
    ).read_text()


def test_binary_csv_skips_and_reports_bad_rows(tmp_path, capsys):
    bad = [(5, b"12,a"), (9, b"30,b,n\xf6"), (14, b"30,a,")]
    data = _churn_csv(tmp_path / "churn.csv", bad=bad)
    flags = ["--label", "churned", "--on-bad-rows", "skip", "--max-bad-rows", "3"]
    assert _train("binary", data, tmp_path / "run", *flags) == 0
    report, html = _report(tmp_path / "run")
    assert report["config"]["data"]["on_bad_rows"] == "skip"
    assert report["config"]["data"]["max_bad_rows"] == 3
    bad_rows = report["dataset"]["bad_rows"]
    assert bad_rows["count"] == 3
    assert bad_rows["examples"][0] == (
        f"{data}:5: expected 3 fields (as in the header), found 2"
    )
    assert bad_rows["examples"][1].startswith(
        f"{data}:9: not UTF-8 text (invalid start byte at byte 7 of the line"
    )
    assert bad_rows["examples"][2] == (
        f"{data}:14: missing label (column 'churned' is '')"
    )
    assert sum(report["dataset"]["rows"].values()) == 77
    assert "Malformed rows skipped" in html and "churn.csv:14: missing label" in html
    # The same file with the default policy: one line naming file and line.
    assert _train("binary", data, tmp_path / "fails", "--label", "churned") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{data}:5: expected 3 fields" in err
    assert (
        _train("binary", data, tmp_path / "fails2", *flags[:4], "--max-bad-rows", "1")
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than max_bad_rows=1" in err


def test_ctr_file_skips_and_reports_bad_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    bad = [(3, "1,s1,cheap"), (7, "2,s0,0.5"), (11, "0,s2")]
    data = _click_csv(tmp_path / "clicks.csv", bad=bad)
    flags = ["--numeric", "price", "--set", "data.group_field=null"]
    flags += ["--on-bad-rows", "skip", "--set", "train.ensemble=1"]
    assert _train("ctr", data, tmp_path / "run", *flags) == 0
    report, html = _report(tmp_path / "run")
    assert report["dataset"]["bad_rows"]["count"] == 3
    assert report["dataset"]["bad_rows"]["examples"][0] == (
        f"{data}:3: column 'price' (field 3) is numeric but has the value 'cheap'"
    )
    assert sum(report["dataset"]["rows"].values()) == 397
    assert "Malformed rows skipped" in html and "clicks.csv:7: label column" in html
    assert _train("ctr", data, tmp_path / "fails", *flags[:4], *flags[6:]) == 2
    # Above the error, tensorflow-datasets may have drawn progress bars.
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    # The first malformed line of the split prepared first (the rows are split
    # by a hash of their line number).
    assert last.startswith(f"xent train: error: {data}:7: label column 'click'")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--on-bad-rows", "ignore"], "argument --on-bad-rows: invalid choice"),
        (["--max-bad-rows", "-1"], "argument --max-bad-rows: invalid value '-1'"),
        (["--max-bad-rows", "ten"], "argument --max-bad-rows: invalid value 'ten'"),
    ],
)
def test_invalid_flag_values_are_usage_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "binary", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_flags_need_a_task_that_reads_files(capsys):
    assert main(["train", "gan", "--on-bad-rows", "skip"]) == 2
    err = capsys.readouterr().err
    assert "--on-bad-rows applies to the tasks that read data files" in err
    assert "binary, ctr, multiclass" in err and err.count("\n") == 1
    assert main(["train", "ctr", "--set", "data.max_bad_rows=-2"]) == 2
    assert "data.max_bad_rows" in capsys.readouterr().err
