"""The shared progress output: lines, stages, bars and the run setting."""

import io
import sys

import pytest

from xent import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_outside_a_run_progress_is_shown_with_print(capsys):
    progress.current().line("shown")
    assert capsys.readouterr().out == "shown\n"


def test_a_disabled_setting_logs_no_line_stage_or_bar(monkeypatch):
    lines = []
    monkeypatch.setattr(sys, "stdout", _Terminal())
    with progress.reporting(enabled=False, log=lines.append) as shown:
        shown.line("a line")
        with shown.stage("a stage"), shown.bar(unit="row") as bar:
            bar.add(10)
    assert lines == []
    assert sys.stdout.getvalue() == ""
    assert bar.count == 10


def test_a_stage_logs_its_start_and_its_seconds():
    lines = []
    with (
        progress.reporting(enabled=True, log=lines.append) as shown,
        shown.stage("fitting"),
    ):
        shown.line("  inside")
    assert lines[:2] == ["fitting ...", "  inside"]
    assert lines[2].startswith("fitting: ") and lines[2].endswith(" s")
    assert len(lines) == 3


def test_a_failing_stage_logs_no_end_line():
    lines = []
    with (
        pytest.raises(ValueError),
        progress.reporting(enabled=True, log=lines.append) as shown,
        shown.stage("fitting"),
    ):
        raise ValueError("broken")
    assert lines == ["fitting ..."]


def test_the_setting_holds_in_its_block_only():
    outer = progress.current()
    with progress.reporting(enabled=False, log=len):
        assert progress.current() == progress.Progress(enabled=False, log=len)
        with progress.reporting(enabled=True, log=print):
            assert progress.current().enabled
        assert not progress.current().enabled
    assert progress.current() == outer


def test_a_bar_draws_on_a_terminal_only_and_erases_itself(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    with (
        progress.reporting(enabled=True, log=len) as shown,
        shown.bar(unit="row") as bar,
    ):
        bar.add(1000)
    drawn = terminal.getvalue()
    assert "1000/Unknown" in drawn and "/row" in drawn
    assert drawn.endswith("\r\x1b[2K")

    pipe = io.StringIO()  # Not a terminal: no carriage-return updates.
    monkeypatch.setattr(sys, "stdout", pipe)
    with (
        progress.reporting(enabled=True, log=len) as shown,
        shown.bar(unit="row") as bar,
    ):
        bar.add(1000)
    assert pipe.getvalue() == ""
