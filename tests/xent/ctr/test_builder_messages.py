"""What preparing a click log prints: our lines, not tfds's."""

import logging
import re

import tensorflow_datasets as tfds

from tests.xent.ctr.test_builder import SCHEMA
from tests.xent.ctr.test_builder import _write_log
from xent import progress
from xent.ctr import builder


def test_preparing_prints_the_file_the_cache_and_the_split_rows(
    tmp_path, capsys, caplog
):
    path, _ = _write_log(tmp_path / "log.csv", n=300)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO):
        data = builder.load_click_data(path, SCHEMA, data_dir=cache)
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 4, out
    assert lines[0].startswith(f"preparing {path} once into {cache}")
    for line, split in zip(lines[1:], builder.SPLITS, strict=True):
        rows = f"{data.rows[split]:,}"
        assert re.fullmatch(rf"  {split}: {rows} rows in \d+\.\d s", line), line
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


def test_preparation_follows_the_run_progress_setting(tmp_path, capsys):
    path, _ = _write_log(tmp_path / "log.csv", n=300)
    with progress.reporting(enabled=False):
        builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "quiet")
    assert capsys.readouterr().out == ""

    lines = []
    with progress.reporting(enabled=True, log=lines.append):
        builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "shown")
    assert capsys.readouterr().out == ""  # All of it went to the run's log.
    assert lines[0].startswith(f"preparing {path} once into")
    assert [line.split(":")[0] for line in lines[1:]] == [
        f"  {split}" for split in builder.SPLITS
    ]
