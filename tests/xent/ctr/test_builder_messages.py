"""What preparing a click log prints: our one line, not tfds's."""

import logging

import tensorflow_datasets as tfds

from tests.xent.ctr.test_builder import SCHEMA
from tests.xent.ctr.test_builder import _write_log
from xent.ctr import builder


def test_preparing_prints_one_line_naming_the_file_and_cache(tmp_path, capsys, caplog):
    path, _ = _write_log(tmp_path / "log.csv", n=300)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO):
        builder.load_click_data(path, SCHEMA, data_dir=cache)
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert lines[0].startswith(f"preparing {path} once into {cache}")
    text = out + err + caplog.text
    for tfds_words in (
        "Downloading and preparing",
        "Unknown size",
        "examples/s",
        "Shuffling",
        "custom data configuration",
        "downloaded and prepared",
    ):
        assert tfds_words not in text
    # Cached: nothing at all.
    builder.load_click_data(path, SCHEMA, data_dir=cache)
    out, err = capsys.readouterr()
    assert out.strip() == ""


def test_quiet_preparation_prints_nothing(tmp_path, capsys):
    path, _ = _write_log(tmp_path / "log.csv", n=300)
    builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c", verbose=False)
    out, err = capsys.readouterr()
    assert out == ""
    assert "rows" not in err
    assert tfds.core.utils.tqdm_utils._active  # tfds's bars are back on.


def test_the_tfds_hooks_we_replace_still_exist():
    # ClickLogBuilder overrides these tfds internals to print its own line;
    # if the pinned tfds renames them, its messages come back: update then.
    for hook in ("_log_download_bytes", "_log_download_done"):
        assert callable(getattr(tfds.core.GeneratorBasedBuilder, hook))
