"""Tests of `xent.bench.cli`: the command line's arguments."""

import pytest

from xent.bench.cli import main


def test_out_is_required(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "--out" in capsys.readouterr().err


def test_only_names_the_benchmarks(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--only", "speed"])
    err = capsys.readouterr().err
    assert "quality" in err and "loss_step" in err
    assert not any(tmp_path.iterdir())
